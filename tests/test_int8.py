"""int8 BCSR SpMM: exact against numpy's int64 product; quantisation error bounded; errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsekit import BCSR
from sparsekit.kernels import spmm_bcsr_tiled as tiled
from sparsekit.quant import Int8BCSR, qmatmul, quantize, spmm_int8


def random_int8_blocks(rng, m, n, block, density):
    r, c = block
    mb, nb = -(-m // r), -(-n // c)
    keep = rng.random((mb, nb)) < density
    mask = np.repeat(np.repeat(keep, r, 0), c, 1)[:m, :n]
    W = rng.integers(-127, 128, size=(m, n)).astype(np.int8) * mask.astype(np.int8)
    return W


@pytest.mark.parametrize("block", tiled.BLOCKS, ids=lambda b: f"{b[0]}x{b[1]}")
@settings(max_examples=8, deadline=None)
@given(
    m=st.integers(0, 33), n=st.integers(0, 33), hw=st.integers(0, 60),
    density=st.sampled_from([0.0, 0.2, 1.0]), seed=st.integers(0, 2**32 - 1),
)
def test_int8_spmm_is_exact(block, m, n, hw, density, seed):
    rng = np.random.default_rng(seed)
    W = random_int8_blocks(rng, m, n, block, density)
    X = rng.integers(-128, 128, size=(n, hw)).astype(np.int8)  # -128 too: the kernel must widen first
    A = BCSR.from_dense(W.astype(np.float32), blocksize=block)
    Q = Int8BCSR(A.data.astype(np.int8), A.indices, A.indptr, A.shape, block, scale=1.0)
    Y = spmm_int8(Q, X)
    assert Y.dtype == np.int32 and Y.shape == (m, hw)
    assert np.array_equal(Y, W.astype(np.int64) @ X.astype(np.int64))


@pytest.mark.parametrize("tile", tiled.TILES)
def test_int8_every_tile_and_out(tile):
    rng = np.random.default_rng(tile)
    W = random_int8_blocks(rng, 20, 24, (4, 1), 0.4)
    X = rng.integers(-128, 128, size=(24, 2 * tile + 5)).astype(np.int8)
    Q = Int8BCSR.from_bcsr(BCSR.from_dense(W.astype(np.float32), blocksize=(4, 1)), scale=1.0)
    out = np.empty((20, X.shape[1]), np.int32)
    assert spmm_int8(Q, X, tile=tile, out=out) is out
    assert np.array_equal(out, W.astype(np.int64) @ X.astype(np.int64))


def test_quantised_product_approximates_the_float_one():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((64, 48)).astype(np.float32)
    W[rng.random(W.shape) < 0.8] = 0
    X = rng.standard_normal((48, 50)).astype(np.float32)
    Q = Int8BCSR.from_bcsr(BCSR.from_dense(W, blocksize=(8, 1)))
    assert Q.scale == pytest.approx(np.abs(W).max() / 127)
    Y = qmatmul(Q, X)
    ref = W @ X
    assert Y.dtype == np.float32
    # error of symmetric int8 quantisation: a few percent of the output range
    assert np.abs(Y - ref).max() < 0.03 * np.abs(ref).max()
    assert np.abs(Q.toarray() - W).max() <= Q.scale / 2 + 1e-7


def test_quantize_round_trip_and_saturation():
    q, s = quantize(np.array([-2.0, 0.0, 1.0, 2.0]))
    assert q.dtype == np.int8 and s == pytest.approx(2 / 127)
    assert q.tolist() == [-127, 0, 64, 127]
    q, s = quantize(np.array([5.0, -5.0]), scale=0.01)
    assert q.tolist() == [127, -127]
    q, s = quantize(np.zeros(3))
    assert s == 1.0 and not q.any()


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: Int8BCSR(np.zeros((1, 4, 1), np.float32), [0], [0, 1], (4, 4), (4, 1), 1.0), TypeError, "int8"),
        (lambda: Int8BCSR(np.zeros((1, 4, 1), np.int8), [0], [0, 1], (4, 4), (4, 2), 1.0), ValueError, "blocksize"),
        (lambda: Int8BCSR(np.zeros((1, 3, 2), np.int8), [0], [0, 1], (3, 2), (3, 2), 1.0), ValueError, "int8 kernels exist"),
        (lambda: Int8BCSR(np.zeros((1, 4, 1), np.int8), [9], [0, 1], (4, 4), (4, 1), 1.0), ValueError, "out of range"),
        (lambda: Int8BCSR(np.zeros((1, 4, 1), np.int8), [0], [0, 2], (4, 4), (4, 1), 1.0), ValueError, "indptr"),
        (lambda: Int8BCSR(np.zeros((1, 4, 1), np.int8), [0], [0, 1], (4, 4), (4, 1), 0.0), ValueError, "scale"),
        (lambda: Int8BCSR(np.zeros((1, 4, 1), np.int8), [0], [0, 1], (4, 4), (4, 1), "1"), TypeError, "scale"),
        (lambda: Int8BCSR(np.ones((1, 4, 1), np.int8), [0], [0, 1], (3, 4), (4, 1), 1.0), ValueError, "padded rows"),
        (lambda: Int8BCSR.from_bcsr(np.eye(4)), TypeError, "BCSR"),
        (lambda: quantize(np.array([1.0, np.nan])), ValueError, "NaN"),
    ],
)
def test_bad_containers(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_bad_operands():
    Q = Int8BCSR(np.ones((1, 4, 1), np.int8), [0], [0, 1], (4, 4), (4, 1), 1.0)
    X = np.ones((4, 9), np.int8)
    with pytest.raises(TypeError, match="int8"):
        spmm_int8(Q, X.astype(np.float32))
    with pytest.raises(ValueError, match="dimension mismatch"):
        spmm_int8(Q, X[:3])
    with pytest.raises(ValueError, match="2-D"):
        spmm_int8(Q, X[:, 0])
    with pytest.raises(ValueError, match="tile"):
        spmm_int8(Q, X, tile=7)
    for bad_type in ({"tile": 8.0}, {"out": [[0] * 9] * 4}):  # the same errors as spmm gives
        with pytest.raises(TypeError, match="tile must be an int|out must be a numpy array"):
            spmm_int8(Q, X, **bad_type)
    with pytest.raises(ValueError, match="out"):
        spmm_int8(Q, X, out=np.empty((4, 9), np.int64))
    with pytest.raises(TypeError, match="Int8BCSR"):
        spmm_int8(BCSR.from_dense(np.eye(4)), X)


def test_int8_arrays_assigned_later_are_checked_before_the_kernel():
    rng = np.random.default_rng(3)
    W = random_int8_blocks(rng, 16, 12, (4, 1), 0.5)
    X = rng.integers(-128, 128, size=(12, 20)).astype(np.int8)
    Q = Int8BCSR.from_bcsr(BCSR.from_dense(W.astype(np.float32), blocksize=(4, 1)), scale=1.0)
    assert np.array_equal(spmm_int8(Q, X), W.astype(np.int64) @ X.astype(np.int64))
    Q.indices = Q.indices + 100
    with pytest.raises(ValueError, match="indices"):
        spmm_int8(Q, X)


@pytest.mark.parametrize("value, exc", [(-0.5, ValueError), (0.0, ValueError), (float("nan"), ValueError),
                                        (float("inf"), ValueError), ("0.5", TypeError), (True, TypeError)])
def test_int8_scale_assigned_later_is_checked(value, exc):
    rng = np.random.default_rng(5)
    W = rng.standard_normal((8, 12)).astype(np.float32)
    X = rng.standard_normal((12, 10)).astype(np.float32)
    Q = Int8BCSR.from_bcsr(BCSR.from_dense(W, blocksize=(4, 1)))
    before = qmatmul(Q, X)
    with pytest.raises(exc, match="scale"):
        Q.scale = value
    assert np.array_equal(qmatmul(Q, X), before)  # the refused value left the old scale
    Q.scale = 2 * Q.scale  # a good value is taken, and the product follows it
    np.testing.assert_allclose(qmatmul(Q, X), 2 * before, rtol=1e-6)


def test_int8_plan_is_kept_follows_the_arrays_and_goes_with_the_matrix():
    import gc

    from sparsekit import callplan

    rng = np.random.default_rng(5)
    W = random_int8_blocks(rng, 16, 12, (4, 1), 0.5)
    X = rng.integers(-128, 128, size=(12, 20)).astype(np.int8)
    Q = Int8BCSR.from_bcsr(BCSR.from_dense(W.astype(np.float32), blocksize=(4, 1)), scale=1.0)
    ref = W.astype(np.int64) @ X.astype(np.int64)
    assert np.array_equal(spmm_int8(Q, X), ref)
    (p,) = callplan.plans[id(Q)].values()
    assert np.array_equal(spmm_int8(Q, X), ref)  # the second call reuses it
    assert list(callplan.plans[id(Q)].values()) == [p]
    Q.data[...] = -Q.data  # values edited in place: the kept plan holds the same array
    assert np.array_equal(spmm_int8(Q, X), -ref)
    assert np.array_equal(spmm_int8(Q, X[:, :7], tile=8), -ref[:, :7])  # another HW and tile
    assert len(callplan.plans[id(Q)]) == 2
    B = Int8BCSR.from_bcsr(BCSR.from_dense(W[::-1].astype(np.float32), blocksize=(4, 1)), scale=1.0)
    Q.data, Q.indices, Q.indptr = B.data, B.indices, B.indptr  # new arrays: checked, new plan
    assert np.array_equal(spmm_int8(Q, X), W[::-1].astype(np.int64) @ X.astype(np.int64))
    key = id(Q)
    del Q
    gc.collect()
    assert key not in callplan.plans


def test_rows_that_could_overflow_int32_are_refused():
    """131 071 products of 128 x 128 fit an int32 sum; one more row entry could wrap around
    (it did, silently: a review found -2.04e9 for +2.26e9)."""
    from sparsekit.quant import MAX_PRODUCTS_PER_ROW

    assert MAX_PRODUCTS_PER_ROW * 128 * 128 < 2 ** 31 <= (MAX_PRODUCTS_PER_ROW + 1) * 128 * 128
    for n, ok in ((MAX_PRODUCTS_PER_ROW, True), (MAX_PRODUCTS_PER_ROW + 1, False)):
        Q = Int8BCSR(np.full((n, 1, 1), -128, np.int8), np.arange(n), [0, n], (1, n), (1, 1), 1.0)
        X8 = np.full((n, 8), -128, np.int8)
        if ok:
            assert int(spmm_int8(Q, X8)[0, 0]) == n * 128 * 128
        else:
            with pytest.raises(ValueError, match="int32 accumulator"):
                spmm_int8(Q, X8)
            with pytest.raises(ValueError, match="int32 accumulator"):
                qmatmul(Q, X8.astype(np.float32))
