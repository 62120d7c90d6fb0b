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
from sparsekit.kernels import spmm_bcsr_tiled as tiled

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


def test_large_operand_parallel_matches_serial_bitwise():
    # Same tile, same summation order per output: parallel and serial agree exactly.
    rng = np.random.default_rng(7)
    W = block_sparse(rng, 256, 128, (4, 1), 0.2, np.float32)
    X = rng.standard_normal((128, 200)).astype(np.float32)
    A = BCSR.from_dense(W, blocksize=(4, 1))
    Ys = dispatch.spmm(A, X, variant="simd", tile=16)
    Yp = dispatch.spmm(A, X, variant="parallel", tile=16)
    assert np.array_equal(Ys, Yp)
    np.testing.assert_allclose(Ys, W @ X, **tol(np.float32))


def test_generated_files_match_the_template():
    """sparsekit/kernels/gen/ is written by the template; regenerate after editing it."""
    for r, c in tiled.BLOCKS:
        with open(tiled.module_path(r, c)) as f:
            assert f.read() == tiled.module_source(r, c), (
                f"gen/spmm_bcsr_{r}x{c}.py is stale: run python -m sparsekit.kernels.spmm_bcsr_tiled"
            )


def test_kernel_source_rejects_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        tiled.kernel_source(4, 1, 8, "avx")
    with pytest.raises(ValueError, match="positive"):
        tiled.kernel_source(0, 1, 8, "simd")
    with pytest.raises(KeyError):
        tiled.get_kernel(3, 2, 8, "simd")
