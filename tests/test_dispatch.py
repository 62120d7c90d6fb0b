"""The public entry points of sparsekit.dispatch: choice of kernel, out=, errors before kernels."""
import numba
import numpy as np
import pytest
import scipy.sparse as sp

from sparsekit import BCSR, CSR, callplan, dispatch
from sparsekit.quant import Int8BCSR
from sparsekit.kernels import spmm_bcsr_tiled as tiled


def make(block=(4, 1), m=24, n=16, hw=21, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((m, n)).astype(dtype)
    W[rng.random((m, n)) < 0.7] = 0
    X = rng.standard_normal((n, hw)).astype(dtype)
    return W, BCSR.from_dense(W, blocksize=block), X


def test_matmul_operator_is_auto_and_correct():
    W, A, X = make()
    np.testing.assert_allclose(A @ X, W @ X, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(A @ X[:, 0], W @ X[:, 0], rtol=1e-5, atol=1e-5)
    C = CSR.from_dense(W)
    np.testing.assert_allclose(C @ X, W @ X, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(C @ X[:, 1], W @ X[:, 1], rtol=1e-5, atol=1e-5)
    assert np.array_equal(A @ X, dispatch.spmm(A, X))


def test_available_variants_tiles_and_choice():
    W, A, X = make(block=(4, 1))
    assert dispatch.available_variants(A) == ("auto", "reference", "scalar", "simd", "parallel")
    assert dispatch.tiles(A) == tiled.TILES
    assert dispatch.tiles(BCSR.from_dense(W, blocksize=(3, 2))) == ()
    variant, tile = dispatch.choose(A, X)
    assert variant in ("simd", "parallel")
    assert tile == dispatch.AUTO_TILE[((4, 1), "float32")]
    assert dispatch.kernel_name(A, X, "simd", 16) == "spmm_bcsr_4x1_t16_simd"
    assert dispatch.kernel_name(A, X, "reference") == "spmm_bcsr"
    assert dispatch.kernel_name(A, X[:, 0], "scalar") == "spmv_bcsr_4x1_scalar"
    assert dispatch.kernel_name(A, X[:, 0], "reference") == "spmv_bcsr"
    assert dispatch.kernel_name(BCSR.from_dense(W, blocksize=(3, 2)), X[:, 0], "simd") == "spmv_bcsr_simd"
    assert dispatch.kernel_name(BCSR.from_dense(W, blocksize=(1, 1)), X[:, 0], "simd") == "spmv_csr_simd"
    assert dispatch.kernel_name(CSR.from_dense(W), X[:, 0], "parallel") == "spmv_csr_parallel"
    assert dispatch.kernel_name(CSR.from_dense(W), X, "simd", 8) == "spmm_bcsr_1x1_t8_simd"
    assert dispatch.kernel_name(BCSR.from_dense(W, blocksize=(3, 2)), X, "parallel") == "spmm_bcsr_general_parallel"
    # every tiled block has a measured tile for both dtypes
    for block in tiled.BLOCKS:
        for dt in ("float32", "float64"):
            assert dispatch.AUTO_TILE[(block, dt)] in tiled.TILES


def test_auto_goes_parallel_only_for_large_work_with_threads():
    W, A, X = make(m=8, n=8, hw=3)
    assert dispatch.choose(A, X)[0] == "simd"  # tiny: never worth the thread pool
    rng = np.random.default_rng(1)
    Wl = rng.standard_normal((512, 512)).astype(np.float32)
    Wl[rng.random(Wl.shape) < 0.5] = 0
    Al = CSR.from_dense(Wl)
    Xl = np.zeros((512, 196), np.float32)
    expected = "parallel" if numba.get_num_threads() > 1 else "simd"
    assert dispatch.choose(Al, Xl)[0] == expected
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert dispatch.choose(Al, Xl)[0] == "simd"
    finally:
        numba.set_num_threads(old)


def test_out_argument_is_filled_and_returned():
    W, A, X = make(block=(8, 1), m=21)  # 21 rows: the last block row is padded
    out = np.full((21, X.shape[1]), np.nan, dtype=np.float32)
    res = dispatch.spmm(A, X, variant="simd", out=out)
    assert res is out
    np.testing.assert_allclose(out, W @ X, rtol=1e-5, atol=1e-5)
    W2, A2, X2 = make(block=(4, 1), m=24)
    out2 = np.empty((24, X2.shape[1]), np.float32)
    assert dispatch.spmm(A2, X2, out=out2) is out2
    np.testing.assert_allclose(out2, W2 @ X2, rtol=1e-5, atol=1e-5)


def test_dtype_promotion_and_int_operands():
    W, A, X = make(dtype=np.float32)
    Y = dispatch.spmm(A, X.astype(np.float64))
    assert Y.dtype == np.float64
    np.testing.assert_allclose(Y, W.astype(np.float64) @ X.astype(np.float64), rtol=1e-6)
    Xi = np.arange(16 * 5).reshape(16, 5)
    Yi = dispatch.spmm(A, Xi)
    assert Yi.dtype == np.float32
    np.testing.assert_allclose(Yi, W @ Xi.astype(np.float32), rtol=1e-5)


def test_non_contiguous_operand_is_accepted():
    W, A, X = make(hw=40)
    Xs = X[:, ::2]
    np.testing.assert_allclose(dispatch.spmm(A, Xs), W @ Xs, rtol=1e-5, atol=1e-5)
    XF = np.asfortranarray(X)
    np.testing.assert_allclose(dispatch.spmm(A, XF), W @ X, rtol=1e-5, atol=1e-5)


def test_speed_order_on_a_pruned_layer_is_sane():
    """Not a timing test: just that every variant gives the same numbers as scipy on one layer."""
    rng = np.random.default_rng(3)
    W = rng.standard_normal((128, 64)).astype(np.float32)
    W[rng.random(W.shape) < 0.9] = 0
    X = rng.standard_normal((64, 196)).astype(np.float32)
    ref = sp.csr_array(W) @ X
    A = BCSR.from_dense(W, blocksize=(1, 1))
    for v in dispatch.available_variants(A):
        np.testing.assert_allclose(dispatch.spmm(A, X, variant=v), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda A, X: dispatch.spmm(np.eye(3), X), TypeError, "CSR or BCSR"),
        (lambda A, X: dispatch.spmm(sp.csr_array(np.eye(16)), X), TypeError, "CSR or BCSR"),
        (lambda A, X: dispatch.spmm(A, X, variant="fast"), ValueError, "variant must be one of"),
        (lambda A, X: dispatch.spmm(A, X, variant=None), ValueError, "variant must be one of"),
        (lambda A, X: dispatch.spmm(A, X, tile=12), ValueError, "tile must be one of"),
        (lambda A, X: dispatch.spmm(A, X, tile=8.0), TypeError, "tile must be an int"),
        (lambda A, X: dispatch.spmm(A, X, tile=True), TypeError, "tile must be an int"),
        (lambda A, X: dispatch.spmm(A, X, tile=[8]), TypeError, "tile must be an int"),
        (lambda A, X: dispatch.spmm(A, X, variant=["simd"]), ValueError, "variant must be one of"),
        (lambda A, X: dispatch.spmm(A, X[:5]), ValueError, "dimension mismatch"),
        (lambda A, X: dispatch.spmm(A, X[:, 0]), ValueError, "2-D X"),
        (lambda A, X: dispatch.spmv(A, X), ValueError, "1-D x"),
        (lambda A, X: dispatch.spmv(A, X[:3, 0]), ValueError, "dimension mismatch"),
        (lambda A, X: dispatch.spmm(A, X.astype(complex)), TypeError, "complex"),
        (lambda A, X: dispatch.spmm(A, X.astype(str)), TypeError, "numbers"),
        (lambda A, X: dispatch.spmm(A, X[None]), ValueError, "1-D or 2-D"),
        (lambda A, X: dispatch.spmm(A, X, out=np.empty((3, 3), np.float32)), ValueError, "out must have shape"),
        (lambda A, X: dispatch.spmm(A, X, out=np.empty((24, 21), np.float64)), ValueError, "out must have dtype"),
        (lambda A, X: dispatch.spmm(A, X, out=np.empty((21, 24), np.float32).T), ValueError, "C-contiguous"),
        (lambda A, X: dispatch.spmm(A, X, out=[[0.0]]), TypeError, "out must be a numpy array"),
        (lambda A, X: dispatch.available_variants("A"), TypeError, "CSR or BCSR"),
    ],
)
def test_bad_input_raises_before_any_kernel(call, exc, match):
    W, A, X = make()
    dispatch.spmm(A, X)  # a cached plan for A must not let bad arguments through
    with pytest.raises(exc, match=match):
        call(A, X)


def test_general_block_rejects_a_tile():
    W, A, X = make(block=(3, 2))
    with pytest.raises(ValueError, match="no register-tiled kernel"):
        dispatch.spmm(A, X, tile=8)
    np.testing.assert_allclose(dispatch.spmm(A, X), W @ X, rtol=1e-5, atol=1e-5)


def test_empty_matrices_and_operands():
    A = BCSR.from_dense(np.zeros((5, 7), np.float32), blocksize=(4, 1))
    for v in dispatch.available_variants(A):
        assert np.array_equal(dispatch.spmm(A, np.ones((7, 9), np.float32), variant=v), np.zeros((5, 9)))
        assert np.array_equal(dispatch.spmv(A, np.ones(7, np.float32), variant=v), np.zeros(5))
    W, A, X = make()
    assert dispatch.spmm(A, X[:, :0]).shape == (24, 0)
    Z = BCSR.from_dense(np.zeros((0, 16), np.float32), blocksize=(2, 2))
    assert dispatch.spmm(Z, X).shape == (0, 21)
    assert dispatch.spmv(Z, X[:, 0]).shape == (0,)


def test_cached_plan_follows_the_matrix_and_dies_with_it():
    import gc

    W, A, X = make(block=(4, 1), hw=37)
    for v in ("simd", "parallel", "reference", "auto"):
        np.testing.assert_allclose(dispatch.spmm(A, X, variant=v), W @ X, rtol=1e-5, atol=1e-5)
    # in place: the plan holds views of A's arrays
    A.data *= 2
    np.testing.assert_allclose(dispatch.spmm(A, X, variant="simd"), 2 * W @ X, rtol=1e-5, atol=1e-5)
    # replaced arrays: the plan is rebuilt
    B = BCSR.from_dense(-W[::-1], blocksize=(4, 1))
    A.data, A.indices, A.indptr = B.data, B.indices, B.indptr
    np.testing.assert_allclose(dispatch.spmm(A, X, variant="simd"), -W[::-1] @ X, rtol=1e-5, atol=1e-5)
    # other operands of the same matrix: HW, dtype, a read-only X, a thread count
    X2 = np.ascontiguousarray(X[:, :9])
    X2.flags.writeable = False
    np.testing.assert_allclose(A @ X2, -W[::-1] @ X2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(A @ X.astype(np.float64), -W[::-1] @ X, rtol=1e-5, atol=1e-5)
    A.data *= 3  # float32 weights, float64 product: the converted weights follow too
    np.testing.assert_allclose(A @ X.astype(np.float64), -3 * W[::-1] @ X, rtol=1e-5, atol=1e-5)
    A.data /= 3
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        np.testing.assert_allclose(dispatch.spmm(A, X, variant="parallel"), -W[::-1] @ X, rtol=1e-5, atol=1e-5)
    finally:
        numba.set_num_threads(before)
    key = id(A)
    assert key in callplan.plans
    del A
    gc.collect()
    assert key not in callplan.plans


def test_arrays_assigned_after_construction_are_checked_before_a_kernel():
    W, A, X = make(block=(4, 1))
    dispatch.spmm(A, X)
    good = A.indices
    A.indices = good + 1000  # out of range: the kernel would read outside X
    with pytest.raises(ValueError, match="indices"):
        A @ X
    A.indices = good
    A.indptr = A.indptr[::-1].copy()  # decreasing
    with pytest.raises(ValueError, match="indptr"):
        dispatch.spmm(A, X, variant="simd")
    C = CSR.from_dense(W)
    C.indices = C.indices.astype(np.int64) * 0 - 1
    with pytest.raises(ValueError, match="indices"):
        C @ X
    with pytest.raises(ValueError, match="indices"):
        C @ X[:, 0]  # SpMV checks too
    C.indices = list(CSR.from_dense(W).indices)  # a list passes and becomes an array
    np.testing.assert_allclose(C @ X, W @ X, rtol=1e-5, atol=1e-5)
    assert isinstance(C.indices, np.ndarray)
    # edited in place: refused at once (the checked arrays are read-only copies)
    with pytest.raises(ValueError, match="read-only"):
        C.indices[0] = 10 ** 6
    with pytest.raises(ValueError, match="read-only"):
        C.indptr[1] += 1
    np.testing.assert_allclose(C @ X, W @ X, rtol=1e-5, atol=1e-5)


MATRIX_KINDS = [
    lambda W: CSR.from_dense(W),
    lambda W: BCSR.from_dense(W, blocksize=(4, 1)),
    lambda W: Int8BCSR.from_bcsr(BCSR.from_dense(W, blocksize=(2, 2))),
]


def _product(A, X):
    if isinstance(A, Int8BCSR):
        from sparsekit.quant import spmm_int8

        return spmm_int8(A, np.clip(np.rint(X * 20), -127, 127).astype(np.int8))
    return A @ X


@pytest.mark.parametrize("make_matrix", MATRIX_KINDS, ids=["CSR", "BCSR", "Int8BCSR"])
def test_structure_is_read_only_and_the_callers_arrays_are_not(make_matrix):
    W = np.random.default_rng(4).standard_normal((8, 6)).astype(np.float32)
    A = make_matrix(W)
    for name in ("indices", "indptr"):
        arr = getattr(A, name)
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[...] = 0
        with pytest.raises(ValueError):
            arr[:].flags.writeable = True  # nor through a view
        with pytest.raises(ValueError):
            arr.setflags(write=True)  # nor by asking numpy (a read-only array owning its memory allowed it)
    assert A.data.flags.writeable  # values may be edited: they cannot send a kernel astray
    # the caller's arrays are copied, not frozen, and later edits to them do not reach A
    indices, indptr = A.indices.copy(), A.indptr.copy()
    B = type(A)(A.data, indices, indptr, A.shape, *([A.blocksize] if hasattr(A, "blocksize") else []),
                *([A.scale] if hasattr(A, "scale") else []))
    assert indices.flags.writeable and indptr.flags.writeable
    indices[...] = 10 ** 6
    assert B.indices.max() < 10 ** 6
    # a matrix built from another's read-only arrays shares them (no copy needed)
    C = type(A)(A.data, A.indices, A.indptr, A.shape, *([A.blocksize] if hasattr(A, "blocksize") else []),
                *([A.scale] if hasattr(A, "scale") else []))
    assert C.indices is A.indices and C.indptr is A.indptr


@pytest.mark.parametrize("make_matrix", MATRIX_KINDS, ids=["CSR", "BCSR", "Int8BCSR"])
def test_shape_and_blocksize_cannot_be_assigned(make_matrix):
    W = np.random.default_rng(5).standard_normal((8, 6)).astype(np.float32)
    A = make_matrix(W)
    for name in ("shape", "blocksize") if hasattr(A, "blocksize") else ("shape",):
        before = getattr(A, name)
        with pytest.raises(AttributeError, match=f"{type(A).__name__}.{name} is fixed"):
            setattr(A, name, (1, 1))
        assert getattr(A, name) == before


@pytest.mark.parametrize("make_matrix", MATRIX_KINDS, ids=["CSR", "BCSR", "Int8BCSR"])
def test_arrays_reshaped_or_retyped_in_place_are_checked_again(make_matrix):
    """numpy lets ``a.dtype = ...`` and ``a.shape = ...`` change an array in place (read-only
    or not): the same objects with another layout must not reach a kernel unchecked."""
    rng = np.random.default_rng(6)
    W = rng.standard_normal((16, 12)).astype(np.float32)
    X = rng.standard_normal((12, 9)).astype(np.float32)
    for edit in ("data-dtype", "data-shape", "indptr-dtype", "indices-shape"):
        A = make_matrix(W)
        _product(A, X)  # a call plan is kept for these arrays
        if edit == "data-dtype":  # reinterprets the bytes: half or twice as many values
            try:
                A.data.dtype = np.int16 if A.data.dtype == np.int8 else np.float64
            except ValueError:  # a last axis of one value: read it as two smaller ones
                A.data.dtype = np.float16
        elif edit == "data-shape":
            A.data.shape = (A.data.size, 1) + (() if A.data.ndim == 1 else (1,))
        elif edit == "indptr-dtype":
            A.indptr.dtype = np.int16
        else:
            A.indices.shape = (A.indices.size, 1)
        with pytest.raises((ValueError, TypeError), match="data|indices|indptr"):  # the checks name it
            _product(A, X)


@pytest.mark.parametrize("make_matrix", MATRIX_KINDS, ids=["CSR", "BCSR", "Int8BCSR"])
def test_pickle_and_copies_keep_the_structure_read_only(make_matrix):
    import copy
    import pickle

    rng = np.random.default_rng(7)
    W = rng.standard_normal((16, 12)).astype(np.float32)
    X = rng.standard_normal((12, 9)).astype(np.float32)
    A = make_matrix(W)
    for B in (pickle.loads(pickle.dumps(A)), copy.deepcopy(A), copy.copy(A)):
        assert type(B) is type(A) and B.shape == A.shape
        assert not B.indices.flags.writeable and not B.indptr.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            B.indices[0] = 10 ** 6
        np.testing.assert_array_equal(_product(B, X), _product(A, X))
    assert copy.copy(A).data is A.data and copy.deepcopy(A).data is not A.data


def test_out_sharing_memory_with_x_is_refused():
    W, A, X = make(block=(4, 1), m=16, n=16)
    with pytest.raises(ValueError, match="share memory with X"):
        dispatch.spmm(A, X, out=X)
    Y = np.empty_like(X)
    np.testing.assert_allclose(dispatch.spmm(A, X, out=Y), W @ X, rtol=1e-5, atol=1e-5)


def test_edits_that_used_to_crash_the_process_are_refused(run_python):
    """Each of these once ended in a segmentation fault (an index edited in place; the shape
    shrunk after the checks; a pickled copy whose indices came back writeable); run in a child
    process so that a regression shows as a failed test, not a dead test run."""
    code = (
        "import pickle\n"
        "import numpy as np\n"
        "from sparsekit import CSR\n"
        "A = CSR.from_dense(np.eye(4096, dtype=np.float32))\n"
        "X = np.ones((4096, 256), np.float32)\n"
        "B = pickle.loads(pickle.dumps(A))\n"
        "for edit in ('A.indices[0] = 10 ** 9', 'A.shape = (1, 1)', 'B.indices[5] = 10 ** 9'):\n"
        "    try:\n"
        "        exec(edit)\n"
        "    except (ValueError, AttributeError) as e:\n"
        "        print('refused:', e)\n"
        "print(float((A @ X).sum()), float((B @ X).sum()))\n"
    )
    stdout = run_python(code)
    assert "refused: CSR.shape is fixed" in stdout
    assert stdout.count("refused: assignment destination is read-only") == 2
    assert stdout.strip().endswith(f"{4096.0 * 256} {4096.0 * 256}")


def test_attacks_found_by_review_are_refused(run_python):
    """An adversarial review (2026-11-25) crashed the process three ways: an indptr whose
    steps overflow ``np.diff`` (it wrapped around to non-decreasing), ``strides`` changed in
    place on ``indices``/``indptr`` (the re-check looked at shape and dtype only), and a sparse
    vector's buffer retyped through ``values.base``.  Each must now raise and leave the
    process alive; run in a child so that a regression is a failed test, not a dead run."""
    code = (
        "import warnings\n"
        "import numpy as np\n"
        "from sparsekit import BCSR, CSR, SparseVector, Workspace\n"
        "warnings.simplefilter('ignore')\n"
        "def attempt(name, f):\n"
        "    try:\n"
        "        f()\n"
        "        print(name, 'ACCEPTED')\n"
        "    except (ValueError, TypeError) as e:\n"
        "        print(name, 'refused:', e)\n"
        "big = np.array([0, 8 * 10**18, -8 * 10**18, 2], dtype=np.int64)\n"
        "small = np.array([0, 2 * 10**9, -2 * 10**9, 2], dtype=np.int32)\n"
        "attempt('int64 indptr', lambda: CSR([1., 2.], [0, 1], big, (3, 2)) @ np.ones(2))\n"
        "attempt('int32 indptr', lambda: CSR([1., 2.], [0, 1], small, (3, 2)) @ np.ones(2))\n"
        "attempt('bcsr indptr', lambda: BCSR(np.ones((2, 1, 1)), [0, 1], small, (3, 2), (1, 1)) @ np.ones(2))\n"
        "W = np.random.default_rng(0).random((200, 300))\n"
        "X = np.ones((300, 64))\n"
        "def restride(arr):\n"
        "    arr.strides = (1,)\n"
        "for name in ('indices', 'indptr'):\n"
        "    B = CSR.from_dense(W)\n"
        "    B @ X\n"
        "    restride(getattr(B, name))\n"
        "    attempt('strides ' + name, lambda: B @ X)\n"
        "n = 400_000\n"
        "u = SparseVector(np.arange(n), np.ones(n), n)\n"
        "u.values.base.dtype = np.complex128\n"
        "attempt('vector buffer', lambda: u.axpy(1.0, SparseVector([], [], n), Workspace(n), drop_tol=0.5))\n"
        "print('alive')\n"
    )
    stdout = run_python(code)
    assert "ACCEPTED" not in stdout, stdout
    for name in ("int64 indptr", "int32 indptr", "bcsr indptr"):
        assert f"{name} refused: indptr must be non-decreasing" in stdout, stdout
    for name in ("strides indices", "strides indptr", "vector buffer"):
        assert f"{name} refused:" in stdout, stdout
    assert "storage was changed in place" in stdout
    assert stdout.strip().endswith("alive")


def test_out_sharing_memory_with_the_weights_is_refused():
    W, _, X = make(block=(1, 1), m=8, n=8)
    A = CSR.from_dense(W)
    buf = np.zeros(A.nnz + W.shape[0] * X.shape[1], dtype=A.data.dtype)
    buf[: A.nnz] = A.data
    B = CSR(buf[: A.nnz], A.indices, A.indptr, A.shape)
    out = buf[: W.shape[0] * X.shape[1]].reshape(W.shape[0], X.shape[1])
    with pytest.raises(ValueError, match="share memory with the matrix's data"):
        dispatch.spmm(B, X, out=out)


def test_a_float_tile_is_refused_after_an_int_one_was_cached():
    W, A, X = make(block=(4, 1), m=16, n=16)
    dispatch.spmm(A, X, tile=8)
    for bad in (8.0, True):
        with pytest.raises(TypeError, match="tile must be an int"):
            dispatch.spmm(A, X, tile=bad)


def test_the_unchecked_product_is_private():
    """dispatch.matmul checked nothing (an x of the wrong length was read past its end); what
    A @ x runs after its checks is private now, and the public entry points check."""
    import sparsekit.dispatch as d

    assert "matmul" not in d.__all__ and not hasattr(d, "matmul")
    A = CSR.from_dense(np.eye(50))
    with pytest.raises(ValueError):
        A @ np.ones(3)
    with pytest.raises(ValueError):
        d.spmv(A, np.ones(3))


def test_checks_run_once_per_set_of_arrays_not_per_call(monkeypatch):
    """``callplan.checked`` re-runs ``check_format`` only for arrays it has not seen: a repeated
    product (SpMV has no plan; a new HW misses the plan cache) must not pay an O(nnz) check."""
    rng = np.random.default_rng(3)
    W = np.where(rng.random((40, 24)) < 0.3, rng.standard_normal((40, 24)), 0).astype(np.float32)
    for A in (CSR.from_dense(W), BCSR.from_dense(W, blocksize=(4, 1))):
        calls = []
        original = type(A).check_format
        monkeypatch.setattr(type(A), "check_format", lambda self: (calls.append(1), original(self))[1])
        x = rng.standard_normal(24).astype(np.float32)
        for hw in (1, 5, 9):
            np.testing.assert_allclose(A @ x, W @ x, rtol=1e-5, atol=1e-5)
            X = rng.standard_normal((24, hw)).astype(np.float32)
            np.testing.assert_allclose(A @ X, W @ X, rtol=1e-5, atol=1e-5)
        assert calls == []
        A.indices = A.indices.copy()  # new arrays: checked once, before the next kernel
        np.testing.assert_allclose(A @ x, W @ x, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(A @ x, W @ x, rtol=1e-5, atol=1e-5)
        assert calls == [1]
