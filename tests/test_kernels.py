"""Every fast kernel (block x dtype x variant x tile) against the dense numpy product.

Hypothesis draws random shapes (including 0 rows/columns, shapes that are not
a multiple of the block, empty rows and HW that is not a multiple of the
tile) and random sparsity; the reference is ``W_dense @ X`` in numpy.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsekit import BCSR, CSR
from sparsekit import dispatch
from sparsekit.kernels import codegen, work_split
from sparsekit.kernels import spmm_bcsr_tiled as tiled
from sparsekit.kernels import spmv_bcsr_unrolled as unrolled

BLOCKS = list(tiled.BLOCKS) + [(3, 2), (2, 5)]  # the last two run the general kernels
DTYPES = [np.float32, np.float64]
VARIANTS = ["reference", "scalar", "simd", "parallel", "auto"]


def tol(dtype):
    return dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


def block_sparse(rng, m, n, block, density, dtype, empty_rows=True):
    """Random m x n matrix whose nonzeros fill random r x c blocks (block-structured pruning)."""
    r, c = block
    mb, nb = -(-m // r), -(-n // c)
    keep = rng.random((mb, nb)) < density
    if empty_rows and mb > 1:
        keep[rng.integers(0, mb)] = False  # at least one empty block row
    mask = np.repeat(np.repeat(keep, r, 0), c, 1)[:m, :n]
    W = rng.standard_normal((m, n)).astype(dtype) * mask
    W[rng.random((m, n)) < 0.1] = 0  # some zeros inside kept blocks too
    return W


@st.composite
def problems(draw, max_dim=40, max_hw=70):
    m = draw(st.integers(0, max_dim))
    n = draw(st.integers(0, max_dim))
    hw = draw(st.integers(0, max_hw))
    density = draw(st.sampled_from([0.0, 0.1, 0.4, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    return m, n, hw, density, seed


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: f"{b[0]}x{b[1]}")
@settings(max_examples=8, deadline=None)
@given(problems())
def test_bcsr_spmm_and_spmv_match_numpy(block, dtype, variant, prob):
    m, n, hw, density, seed = prob
    rng = np.random.default_rng(seed)
    W = block_sparse(rng, m, n, block, density, dtype)
    X = rng.standard_normal((n, hw)).astype(dtype)
    A = BCSR.from_dense(W, blocksize=block)
    Y = dispatch.spmm(A, X, variant=variant)
    assert Y.shape == (m, hw) and Y.dtype == dtype and Y.flags.c_contiguous
    np.testing.assert_allclose(Y, W @ X, **tol(dtype))
    x = X[:, 0].copy() if hw else rng.standard_normal(n).astype(dtype)
    y = dispatch.spmv(A, x, variant=variant)
    assert y.shape == (m,) and y.dtype == dtype
    np.testing.assert_allclose(y, W @ x, **tol(dtype))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@settings(max_examples=10, deadline=None)
@given(problems(), st.sampled_from([np.int32, np.int64]))
def test_csr_spmm_and_spmv_match_numpy(dtype, variant, prob, itype):
    m, n, hw, density, seed = prob
    rng = np.random.default_rng(seed)
    W = block_sparse(rng, m, n, (1, 1), density, dtype)
    X = rng.standard_normal((n, hw)).astype(dtype)
    A = CSR.from_dense(W, index_dtype=itype)
    np.testing.assert_allclose(dispatch.spmm(A, X, variant=variant), W @ X, **tol(dtype))
    x = rng.standard_normal(n).astype(dtype)
    np.testing.assert_allclose(dispatch.spmv(A, x, variant=variant), W @ x, **tol(dtype))


def test_csr_with_duplicates_and_unsorted_columns_sums_them():
    # CSR allows duplicate, unsorted column indices (as scipy): products sum them.
    A = CSR([1.0, 2.0, 3.0, 4.0], [2, 0, 2, 1], [0, 3, 4], (2, 3))
    dense = np.array([[2.0, 0.0, 4.0], [0.0, 4.0, 0.0]])
    X = np.arange(3 * 19, dtype=np.float64).reshape(3, 19)
    for v in VARIANTS:
        np.testing.assert_allclose(dispatch.spmm(A, X, variant=v), dense @ X)
        np.testing.assert_allclose(dispatch.spmv(A, X[:, 3], variant=v), dense @ X[:, 3])


@pytest.mark.slow
@pytest.mark.parametrize("tile", tiled.TILES)
@pytest.mark.parametrize("block", [(1, 1), (4, 1), (1, 4), (2, 2)], ids=lambda b: f"{b[0]}x{b[1]}")
def test_every_tile_width_float32(block, tile):
    """Every tile width of the template (the auto tiles are covered above), on blocks with
    one, several and many rows and columns: HW below, at and above a tile multiple.
    (Not all 8 x 6 kernels: each costs a compilation on a cold cache.)"""
    rng = np.random.default_rng(tile * 100 + block[0] * 10 + block[1])
    W = block_sparse(rng, 29, 35, block, 0.3, np.float32)
    A = BCSR.from_dense(W, blocksize=block)
    for hw in (tile - 1, 2 * tile, 2 * tile + 8 + 3):
        X = rng.standard_normal((35, hw)).astype(np.float32)
        np.testing.assert_allclose(dispatch.spmm(A, X, variant="simd", tile=tile), W @ X, **tol(np.float32))


def parallel_kernel(A, X, tile, n_threads):
    """``A @ X`` by the generated parallel kernel, its work cut into ``n_threads`` pieces."""
    Y = np.empty((A.shape[0], X.shape[1]), X.dtype)
    kern = tiled.get_kernel(*A.blocksize, tile, "parallel")
    args = (A.data.reshape(-1), A.indices, A.indptr, X.reshape(-1), Y.reshape(-1), X.shape[1], n_threads)
    codegen.compile_for(kern, args, "parallel")
    kern(*args)
    return Y


@pytest.mark.parametrize("n_threads, tiles_split", [(2, False), (3, True)])
def test_large_operand_parallel_matches_serial_bitwise(n_threads, tiles_split):
    # Same tile, same summation order per output: parallel and serial agree exactly,
    # whether the rows or the HW tiles are split (16 block rows, 25 tiles of 16).
    rng = np.random.default_rng(7)
    W = block_sparse(rng, 64, 128, (4, 1), 0.2, np.float32)
    X = rng.standard_normal((128, 403)).astype(np.float32)
    A = BCSR.from_dense(W, blocksize=(4, 1))
    plan = work_split.split_work(A.indptr, 403 // 16, n_threads)
    assert (plan[0, 3] - plan[0, 2] < 403 // 16) == tiles_split
    Ys = dispatch.spmm(A, X, variant="simd", tile=16)
    assert np.array_equal(Ys, parallel_kernel(A, X, 16, n_threads))
    np.testing.assert_allclose(Ys, W @ X, **tol(np.float32))
    assert np.array_equal(dispatch.spmm(A, X, variant="parallel", tile=16), Ys)


@pytest.mark.parametrize("n_threads", [1, 2, 3, 7])
def test_parallel_row_split_matches_serial_bitwise(n_threads):
    # HW too narrow to split the tiles: the rows are split, here with very uneven rows.
    rng = np.random.default_rng(n_threads)
    W = block_sparse(rng, 64, 96, (4, 1), 0.3, np.float32)
    W[:8] = rng.standard_normal((8, 96))  # two dense block rows at the top
    X = rng.standard_normal((96, 21)).astype(np.float32)
    A = BCSR.from_dense(W, blocksize=(4, 1))
    Ys = dispatch.spmm(A, X, variant="simd", tile=8)
    assert np.array_equal(Ys, parallel_kernel(A, X, 8, n_threads))


@given(st.lists(st.integers(0, 50), max_size=40), st.integers(0, 60), st.integers(1, 8))
@settings(max_examples=200, deadline=None)
def test_split_work_covers_everything_once_and_balances(row_nnz, n_tiles, n_parts):
    indptr = np.concatenate([[5], 5 + np.cumsum(row_nnz)]).astype(np.int32)  # need not start at 0
    plan = work_split.split_work(indptr, n_tiles, n_parts)
    n_rows = len(row_nnz)
    assert plan.shape == (n_parts, 5)
    covered = np.zeros((n_rows, n_tiles + 1), int)  # the last column stands for the leftover HW
    for b0, b1, t0, t1, last in plan:
        assert 0 <= b0 <= b1 <= n_rows and 0 <= t0 <= t1 <= n_tiles
        covered[b0:b1, t0:t1] += 1
        covered[b0:b1, n_tiles] += last
    assert (covered == 1).all()
    if n_rows < work_split.MIN_ROWS_PER_THREAD * n_parts and n_tiles >= work_split.MIN_TILES_PER_THREAD * n_parts:
        # tiles split: equal shares, +-1 tile
        shares = plan[:, 3] - plan[:, 2]
        assert shares.max() - shares.min() <= 1
    else:  # rows split: no piece exceeds its fair share by more than one row's cost
        cost = np.array(row_nnz) + 1
        pieces = [cost[b0:b1].sum() for b0, b1, *_ in plan]
        worst_row = cost.max() if n_rows else 0
        assert max(pieces) <= cost.sum() / n_parts + worst_row


def test_generated_files_match_the_template():
    """sparsekit/kernels/gen/ is written by the template; regenerate after editing it."""
    for r, c in tiled.BLOCKS:
        with open(tiled.module_path(r, c)) as f:
            assert f.read() == tiled.module_source(r, c), (
                f"gen/spmm_bcsr_{r}x{c}.py is stale: run python -m sparsekit.kernels.spmm_bcsr_tiled"
            )


def test_generated_spmv_files_match_the_template():
    for r, c in unrolled.BLOCKS:
        with open(unrolled.module_path(r, c)) as f:
            assert f.read() == unrolled.module_source(r, c), (
                f"gen/spmv_bcsr_{r}x{c}.py is stale: run python -m sparsekit.kernels.spmv_bcsr_unrolled"
            )


def test_spmv_kernel_source_rejects_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        unrolled.kernel_source(4, 1, "int8")
    with pytest.raises(ValueError, match="positive"):
        unrolled.kernel_source(4, 0, "simd")
    with pytest.raises(KeyError):
        unrolled.get_kernel(1, 1, "simd")  # 1x1 runs the CSR kernels
    with pytest.raises(KeyError):
        unrolled.get_kernel(4, 1, "reference")


@pytest.mark.parametrize("variant", ["simd", "scalar", "parallel"])
@pytest.mark.parametrize("block", unrolled.BLOCKS, ids=lambda b: f"{b[0]}x{b[1]}")
def test_unrolled_spmv_kernels_overwrite_y_row_by_row(block, variant):
    """Called directly (as the dispatcher does): every row written, rows of empty block rows 0,
    a NaN left in ``y`` from before never leaks in."""
    rng = np.random.default_rng(sum(block))
    r, c = block
    W = block_sparse(rng, 6 * r, 5 * c, block, 0.5, np.float64)
    W[:r] = 0  # the first block row empty
    A = BCSR.from_dense(W, blocksize=block)
    x = rng.standard_normal(W.shape[1])
    y = np.full(W.shape[0], np.nan)
    k = unrolled.get_kernel(r, c, variant)
    args = (A.data.reshape(-1), A.indices, A.indptr, x, y)
    codegen.compile_for(k, args, variant)
    k(*args)
    np.testing.assert_allclose(y, W @ x, rtol=1e-12, atol=1e-12)


def test_kernel_source_rejects_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        tiled.kernel_source(4, 1, 8, "avx")
    with pytest.raises(ValueError, match="positive"):
        tiled.kernel_source(0, 1, 8, "simd")
    with pytest.raises(KeyError):
        tiled.get_kernel(3, 2, 8, "simd")
