"""CSR and BCSR against numpy and scipy.sparse on random matrices, plus every malformed input."""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsekit import BCSR, CSR

BLOCKS = [(1, 1), (1, 4), (4, 1), (2, 2), (4, 4), (1, 8), (8, 1), (3, 2)]
DTYPES = [np.float32, np.float64]


def random_sparse(rng, m, n, density, dtype=np.float64):
    A = rng.standard_normal((m, n)).astype(dtype)
    A[rng.random((m, n)) >= density] = 0
    return A


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


@st.composite
def matrices(draw):
    m = draw(st.integers(0, 23))
    n = draw(st.integers(0, 23))
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    dtype = draw(st.sampled_from(DTYPES))
    return random_sparse(np.random.default_rng(seed), m, n, density, dtype), seed


@settings(max_examples=60, deadline=None)
@given(matrices(), st.sampled_from([np.int32, np.int64]))
def test_csr_matches_numpy_and_scipy(case, itype):
    A, seed = case
    rng = np.random.default_rng(seed + 1)
    C = CSR.from_dense(A, index_dtype=itype)
    assert C.indices.dtype == itype and C.indptr.dtype == itype and C.dtype == A.dtype
    np.testing.assert_array_equal(C.toarray(), A)
    assert C.nnz == np.count_nonzero(A)
    assert C.nbytes == C.data.nbytes + C.indices.nbytes + C.indptr.nbytes
    S = C.to_scipy()
    np.testing.assert_array_equal(S.toarray(), A)
    np.testing.assert_array_equal(CSR.from_scipy(S).toarray(), A)
    x = rng.standard_normal(A.shape[1]).astype(A.dtype)
    X = rng.standard_normal((A.shape[1], 5)).astype(A.dtype)
    y = C @ x
    assert y.dtype == A.dtype and y.shape == (A.shape[0],)
    np.testing.assert_allclose(y, A @ x, **tol(A.dtype))
    np.testing.assert_allclose(C @ X, S @ X, **tol(A.dtype))


@settings(max_examples=60, deadline=None)
@given(matrices(), st.sampled_from(BLOCKS))
def test_bcsr_matches_numpy_and_scipy(case, blocksize):
    A, seed = case
    rng = np.random.default_rng(seed + 2)
    B = BCSR.from_dense(A, blocksize=blocksize)
    r, c = blocksize
    assert B.data.shape[1:] == blocksize and B.blocksize == blocksize
    np.testing.assert_array_equal(B.toarray(), A)
    assert B.nnz == B.nblocks * r * c and B.count_nonzero() == np.count_nonzero(A)
    # every stored block holds a nonzero; every nonzero is in a stored block
    assert all(np.any(b) for b in B.data)
    np.testing.assert_array_equal(B.tocsr().toarray(), A)
    np.testing.assert_array_equal(BCSR.from_csr(CSR.from_dense(A), blocksize).toarray(), A)
    x = rng.standard_normal(A.shape[1]).astype(A.dtype)
    X = rng.standard_normal((A.shape[1], 3)).astype(A.dtype)
    np.testing.assert_allclose(B @ x, A @ x, **tol(A.dtype))
    np.testing.assert_allclose(B @ X, A @ X, **tol(A.dtype))
    if A.shape[0] % r == 0 and A.shape[1] % c == 0:
        S = B.to_scipy()
        assert S.blocksize == blocksize
        np.testing.assert_array_equal(S.toarray(), A)
        np.testing.assert_array_equal(BCSR.from_scipy(S).toarray(), A)
    else:
        with pytest.raises(ValueError, match="multiple of the block"):
            B.to_scipy()
    np.testing.assert_array_equal(B.to_scipy(format="csr").toarray(), A)


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0), (1, 9), (9, 1), (7, 5)])
@pytest.mark.parametrize("blocksize", BLOCKS)
def test_edge_shapes(shape, blocksize):
    rng = np.random.default_rng(0)
    A = random_sparse(rng, *shape, 0.5)
    if A.size:
        A[-1, -1] = 1.5  # a nonzero in the corner block, which is padded
    for M in (CSR.from_dense(A), BCSR.from_dense(A, blocksize)):
        np.testing.assert_array_equal(M.toarray(), A)
        x = np.ones(shape[1])
        np.testing.assert_allclose(M @ x, A @ x)
        np.testing.assert_allclose(M @ np.ones((shape[1], 2)), A @ np.ones((shape[1], 2)))


def test_empty_rows_and_columns():
    A = np.zeros((6, 6))
    A[1, 4] = 2.0
    A[4, 1] = -3.0
    for M in (CSR.from_dense(A), BCSR.from_dense(A, (2, 2))):
        np.testing.assert_allclose(M @ np.arange(6.0), A @ np.arange(6.0))


def test_csr_duplicates_are_summed_like_scipy():
    data, indices, indptr = [1.0, 2.0, 3.0], [1, 1, 0], [0, 2, 3]
    C = CSR(data, indices, indptr, (2, 2))
    S = sp.csr_array((data, indices, indptr), shape=(2, 2))
    np.testing.assert_array_equal(C.toarray(), S.toarray())
    np.testing.assert_array_equal(C @ np.array([1.0, 1.0]), S @ np.array([1.0, 1.0]))


def test_from_scipy_any_format_and_mixed_dtypes():
    S = sp.random_array((9, 7), density=0.3, format="coo", random_state=3)
    np.testing.assert_allclose(CSR.from_scipy(S).toarray(), S.toarray())
    np.testing.assert_allclose(BCSR.from_scipy(S, blocksize=(2, 3)).toarray(), S.toarray())
    C = CSR.from_dense(S.toarray(), dtype=np.float32)
    assert (C @ np.ones(7)).dtype == np.float64  # float32 matrix x float64 vector -> float64
    assert (C @ np.ones(7, dtype=np.float32)).dtype == np.float32
    assert (C @ np.ones(7, dtype=np.int64)).dtype == np.float32
    with pytest.raises(TypeError, match="scipy.sparse"):
        CSR.from_scipy(np.eye(3))


def test_padding_documented_and_checked():
    # A 3x3 matrix in 2x2 blocks: the bottom-right block reaches past the matrix.
    B = BCSR.from_dense(np.ones((3, 3)), blocksize=(2, 2))
    assert B.data.shape == (4, 2, 2)  # blocks (0,0) (0,1) (1,0) (1,1)
    np.testing.assert_array_equal(B.data[3], [[1, 0], [0, 0]])  # padding holds zeros
    data = B.data.copy()
    data[2, 1, 0] = 7.0  # block (1, 0): row 3 does not exist
    with pytest.raises(ValueError, match="padded rows"):
        BCSR(data, B.indices, B.indptr, (3, 3))
    data = B.data.copy()
    data[1, 0, 1] = 7.0  # block (0, 1): column 3 does not exist
    with pytest.raises(ValueError, match="padded columns"):
        BCSR(data, B.indices, B.indptr, (3, 3))


GOOD = dict(data=[1.0, 2.0, 3.0], indices=[0, 2, 1], indptr=[0, 2, 3], shape=(2, 3))


@pytest.mark.parametrize(
    "change, err, match",
    [
        (dict(indptr=[0, 2]), ValueError, "indptr must have length 3"),
        (dict(indptr=[1, 2, 3]), ValueError, "indptr must start at 0"),
        (dict(indptr=[0, 3, 2]), ValueError, "non-decreasing"),
        (dict(indptr=[0, 1, 2]), ValueError, "must end at"),
        (dict(indices=[0, 3, 1]), ValueError, "out of range"),
        (dict(indices=[0, -1, 1]), ValueError, "non-negative"),
        (dict(indices=[0, 2]), ValueError, "same length"),
        (dict(data=[[1.0, 2.0, 3.0]]), ValueError, "1-D"),
        (dict(data=["a", "b", "c"]), TypeError, "numbers"),
        (dict(data=[1j, 2, 3]), TypeError, "complex"),
        (dict(indices=[0.0, 2.0, 1.0]), TypeError, "integer dtype"),
        (dict(shape=(2, -3)), ValueError, "non-negative"),
        (dict(shape=(2,)), ValueError, "2 entries"),
        (dict(shape=(2.0, 3)), TypeError, "integers"),
        (dict(shape=None), TypeError, "tuple"),
    ],
)
def test_csr_rejects_malformed(change, err, match):
    kw = {**GOOD, **change}
    with pytest.raises(err, match=match):
        CSR(kw["data"], kw["indices"], kw["indptr"], kw["shape"])


def _bcsr_good():
    return dict(data=np.ones((2, 2, 2)), indices=[0, 1], indptr=[0, 1, 2], shape=(4, 4), blocksize=(2, 2))


@pytest.mark.parametrize(
    "change, err, match",
    [
        (dict(data=np.ones((2, 2))), ValueError, "3-D"),
        (dict(blocksize=(2, 3)), ValueError, "blocksize is"),
        (dict(blocksize=(0, 2)), ValueError, "positive"),
        (dict(blocksize="ab"), TypeError, "blocksize"),  # a string is no pair of integers
        (dict(indices=[0, 2]), ValueError, "out of range"),
        (dict(indices=[0]), ValueError, "same number of blocks"),
        (dict(indptr=[0, 2]), ValueError, "block rows"),
        (dict(indptr=[0, 2, 1]), ValueError, "non-decreasing"),
        (dict(shape=(4, -1)), ValueError, "non-negative"),
    ],
)
def test_bcsr_rejects_malformed(change, err, match):
    kw = {**_bcsr_good(), **change}
    with pytest.raises(err, match=match):
        BCSR(kw["data"], kw["indices"], kw["indptr"], kw["shape"], kw["blocksize"])


@pytest.mark.parametrize("M", [CSR.from_dense(np.eye(3)), BCSR.from_dense(np.eye(3), (2, 2))])
@pytest.mark.parametrize(
    "x, err, match",
    [
        (np.ones(4), ValueError, "dimension mismatch"),
        (np.ones((2, 3)), ValueError, "dimension mismatch"),
        (np.ones((3, 1, 1)), ValueError, "1-D or 2-D"),
        (np.array(["a", "b", "c"]), TypeError, "numbers"),
        (np.ones(3, dtype=complex), TypeError, "complex"),
    ],
)
def test_matmul_rejects_bad_operands(M, x, err, match):
    with pytest.raises(err, match=match):
        M @ x


def test_huge_index_values_never_reach_a_kernel():
    with pytest.raises(ValueError, match="out of range"):
        CSR([1.0], np.array([2**40]), [0, 1], (1, 3))
    with pytest.raises(ValueError, match="too large"):
        CSR([1.0], np.array([0]), np.array([0, 2**63 + 1], dtype=np.uint64), (1, 3))
    with pytest.raises(ValueError, match="must end at"):
        CSR([1.0], np.array([0]), np.array([0, 2**40], dtype=np.uint64), (1, 3))


def test_memory_formula():
    A = random_sparse(np.random.default_rng(5), 100, 80, 0.1)
    C = CSR.from_dense(A)
    assert C.nbytes == C.nnz * (8 + 4) + (100 + 1) * 4
    B = BCSR.from_dense(A, (4, 1))
    assert B.nbytes == B.nblocks * (4 * 8 + 4) + (25 + 1) * 4


def test_views_do_not_alias_input_when_copy_requested():
    data = np.array([1.0, 2.0])
    C = CSR(data, [0, 1], [0, 1, 2], (2, 2), copy=True)
    data[0] = 99.0
    assert C.data[0] == 1.0


def test_review_findings_on_construction():
    """From an adversarial review (2026-11-25): each was silently accepted or failed far from
    its cause."""
    W = np.zeros((1, 300))
    W[0, 0], W[0, 256] = 1.0, 2.0
    for build in (lambda t: CSR.from_dense(W, index_dtype=t), lambda t: BCSR.from_dense(W, (1, 1), index_dtype=t)):
        for narrow in (np.int8, np.int16, np.uint8, "float32"):
            with pytest.raises(TypeError, match="index dtype must be int32 or int64"):
                build(narrow)
        np.testing.assert_array_equal(build(np.int64).toarray(), W)  # column 256 stays 256
    with pytest.raises(ValueError, match="fit an int64 index"):
        CSR([1.0], [5], [0, 1], (1, 2 ** 70))
    with pytest.raises(TypeError, match="blocksize must be a pair of positive integers"):
        BCSR.from_scipy(sp.bsr_matrix(np.eye(4)), blocksize=3)
    A = CSR.from_dense(np.eye(3))
    for sparse in (sp.eye(3, format="csr"), A):
        with pytest.raises(TypeError, match="needs a dense B"):
            A @ sparse


def test_csr_tobcsr_and_row_lengths_against_scipy():
    rng = np.random.default_rng(11)
    for shape, bs in (((7, 10), (2, 3)), ((8, 8), (4, 1)), ((5, 1), (1, 1))):
        D = rng.standard_normal(shape) * (rng.random(shape) < 0.3)
        A = CSR.from_dense(D)
        np.testing.assert_array_equal(A.row_lengths(), np.diff(sp.csr_array(D).indptr))
        B = A.tobcsr(bs)
        assert isinstance(B, BCSR) and B.blocksize == bs and B.shape == shape
        np.testing.assert_array_equal(B.toarray(), D)


@pytest.mark.parametrize("bad, exc", [((2.5, 1), TypeError), ((True, 1), TypeError), ((2.0, 2.0), TypeError),
                                      ("4x1", TypeError), (4, TypeError), ((0, 1), ValueError), ((1,), ValueError)])
def test_every_entry_point_checks_a_block_shape_alike(bad, exc):
    """Five modules had five block-shape checks that answered differently (a float pair was a
    ValueError here, a TypeError there, and accepted by the GPU sweep); one check serves them all."""
    from sparsekit import gpu
    from sparsekit.backends import get_backend
    from sparsekit.prune import block_mask
    from sparsekit.widgets.blocks import block_sparse_matrix

    calls = [lambda b: BCSR.from_dense(np.eye(4), blocksize=b), lambda b: block_mask(np.ones((4, 4)), 0.5, b),
             lambda b: get_backend("numba-simd").prepare(np.eye(4), np.ones((4, 2)), b),
             lambda b: block_sparse_matrix((4, 4), 0.5, b), gpu._check_blocksize]
    for call in calls:
        with pytest.raises(exc, match="must be a pair of positive integers"):
            call(bad)


@pytest.mark.parametrize("text, expected", [("4x1", (4, 1)), ("4X1", (4, 1)), (" 8x1 ", (8, 1)), ("16x2", (16, 2))])
def test_parse_blocksize_reads_rxc(text, expected):
    from sparsekit.formats.validation import parse_blocksize

    assert parse_blocksize(text) == expected


@pytest.mark.parametrize("bad, words", [("3x", "must look like 'RxC'"), ("x1", "must look like"), ("4x1x2", "must look like"),
                                        ("-4x1", "must look like"), ("4.0x1", "must look like"), ("²x1", "must look like"),
                                        ("0x1", "entries must be >= 1"), ("4x00", "entries must be >= 1")])
def test_every_rxc_label_is_parsed_alike(bad, words):
    """The benchmark's --blocks, the break-even file's keys and the pruning patterns read "RxC" with one parser."""
    from sparsekit.bench.cases import parse_block
    from sparsekit.formats.validation import parse_blocksize
    from sparsekit.prune import _parse_key, parse_pattern

    for call in (parse_blocksize, parse_block, _parse_key):
        with pytest.raises(ValueError, match=words):
            call(bad)
    if bad in ("0x1", "4x00"):  # the rest are not block patterns at all: "unknown method"
        with pytest.raises(ValueError, match="block method entries must be >= 1"):
            parse_pattern(bad)


def test_parse_pattern_reads_block_labels_as_the_other_parsers_do():
    from sparsekit.prune import parse_pattern

    assert parse_pattern("4X1") == parse_pattern(" 4x1 ") == ("block", (4, 1))
    assert parse_pattern("Magnitude") == parse_pattern("1X1") == ("magnitude", None)
