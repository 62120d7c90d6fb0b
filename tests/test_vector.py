"""SparseVector and Workspace: the seed's example, every documented decision, random checks vs numpy."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsekit import SparseVector, Workspace

SEED_U = [(0, 1), (1, 6), (3, -3), (7, 7), (10, -10), (11, -3), (12, -7), (14, -8)]
SEED_V = [(0, -10), (1, 0), (5, 3), (6, -3), (7, 2), (11, 7)]
SEED_RESULT = [(0, 21), (1, 6), (3, -3), (7, 3), (10, -10), (11, -17), (12, -7), (14, -8), (5, -6), (6, 6)]


def test_seed_worked_example_exact_order():
    u = SparseVector.from_pairs(SEED_U, 15)
    v = SparseVector.from_pairs(SEED_V, 15)
    w = Workspace(15)
    u.axpy(-2, v, w)
    assert u.pairs() == [(i, float(x)) for i, x in SEED_RESULT]
    assert repr(u).endswith("(0,21) (1,6) (3,-3) (7,3) (10,-10) (11,-17) (12,-7) (14,-8) (5,-6) (6,6)")
    assert w.is_clean()
    assert v.pairs() == [(i, float(x)) for i, x in SEED_V]  # v untouched


def test_workspace_reused_many_times_without_clearing():
    rng = np.random.default_rng(1)
    n = 50
    w = Workspace(n)
    u = SparseVector.from_dense(np.zeros(n))
    dense = np.zeros(n)
    for _ in range(200):
        k = rng.integers(0, 10)
        idx = rng.choice(n, size=k, replace=False)
        val = rng.standard_normal(k)
        r = rng.standard_normal()
        u.axpy(r, SparseVector(idx, val, n), w)
        dense[idx] += r * val
        assert w.is_clean()
    np.testing.assert_allclose(u.toarray(), dense, rtol=1e-12, atol=1e-12)


@st.composite
def vector_pair(draw):
    n = draw(st.integers(1, 60))
    finite = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)

    def one():
        idx = draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n))
        val = draw(st.lists(finite, min_size=len(idx), max_size=len(idx)))
        return SparseVector(np.array(idx, dtype=np.int64), np.array(val), n)

    return n, one(), one(), draw(finite)


@settings(max_examples=150, deadline=None)
@given(vector_pair())
def test_axpy_matches_dense_and_keeps_order(case):
    n, u, v, r = case
    expected = u.toarray() + r * v.toarray()
    u_pairs = u.pairs()
    w = Workspace(n + 3)  # a larger workspace is fine
    u.axpy(r, v, w)
    assert w.is_clean()
    np.testing.assert_allclose(u.toarray(), expected, rtol=1e-12, atol=1e-9)
    # u's old entries keep their positions; new ones follow in v's order
    old = [i for i, _ in u_pairs]
    assert list(u.indices[: len(old)]) == old if r != 0 else True
    if r != 0:
        new = [i for i, x in v.pairs() if i not in set(old) and x != 0]
        assert list(u.indices[len(old):]) == new
    assert len(set(u.indices.tolist())) == u.nnz  # never a duplicate


@settings(max_examples=100, deadline=None)
@given(vector_pair())
def test_dot_matches_numpy(case):
    n, u, v, _ = case
    w = Workspace(n)
    assert u.dot(v, w) == pytest.approx(float(u.toarray() @ v.toarray()), rel=1e-9, abs=1e-6)
    assert w.is_clean()


def test_cost_does_not_depend_on_dimension():
    # Operation count, not time: the kernel touches only the stored entries, so a
    # dirty slot far from them survives (a dense O(n) pass would have wiped it).
    n = 10_000_000
    w = Workspace(n)
    w.array[n - 1] = 5.0  # dirt where nothing is touched
    u = SparseVector([1, 2], [1.0, 2.0], n)
    v = SparseVector([2, 3], [1.0, 1.0], n)
    u.axpy(1.0, v, w)
    assert u.pairs() == [(1, 1.0), (2, 3.0), (3, 1.0)]
    assert w.array[n - 1] == 5.0


def test_explicit_zero_in_v_is_not_appended():
    u = SparseVector([0], [1.0], 4)
    v = SparseVector([0, 2], [1.0, 0.0], 4)
    u.axpy(3.0, v, Workspace(4))
    assert u.pairs() == [(0, 4.0)]


def test_explicit_zero_in_u_is_kept():
    u = SparseVector([1, 0], [0.0, 1.0], 4)
    u.axpy(1.0, SparseVector([3], [2.0], 4), Workspace(4))
    assert u.pairs() == [(1, 0.0), (0, 1.0), (3, 2.0)]


def test_cancellation_kept_by_default_and_dropped_with_tolerance():
    w = Workspace(5)
    u = SparseVector([0, 1], [2.0, 0.3], 5)
    u.axpy(-1.0, SparseVector([0], [2.0], 5), w)
    assert u.pairs() == [(0, 0.0), (1, 0.3)]  # stored zero
    u = SparseVector([0, 1], [0.3, 1.0], 5)
    u.axpy(3.0, SparseVector([0, 4], [-0.1, 1e-20], 5), w, drop_tol=1e-14)
    assert u.pairs() == [(1, 1.0)]  # 0.3 - 3*0.1 = -5.6e-17 and 3e-20 both dropped
    assert w.is_clean()


def test_nan_propagates_and_is_never_dropped():
    w = Workspace(3)
    u = SparseVector([0], [1.0], 3)
    u.axpy(1.0, SparseVector([0, 2], [np.nan, np.inf], 3), w, drop_tol=1e-3)
    assert np.isnan(u.values[0]) and u.indices.tolist() == [0, 2] and np.isinf(u.values[1])
    assert w.is_clean()


def test_r_zero_leaves_u_unchanged():
    u = SparseVector([0], [1.0], 3)
    u.axpy(0.0, SparseVector([1, 2], [np.inf, 2.0], 3), Workspace(3))
    assert u.pairs() == [(0, 1.0)]


def test_u_is_v():
    u = SparseVector([4, 1], [1.0, -2.0], 5)
    w = Workspace(5)
    u.axpy(2.0, u, w)
    assert u.pairs() == [(4, 3.0), (1, -6.0)]
    assert u.dot(u, w) == 45.0
    assert w.is_clean()


@pytest.mark.parametrize(
    "indices, values, size, err, match",
    [
        ([0, 0], [1.0, 2.0], 3, ValueError, "duplicate"),
        ([3], [1.0], 3, ValueError, "out of range"),
        ([-1], [1.0], 3, ValueError, "non-negative"),
        ([0, 1], [1.0], 3, ValueError, "same length"),
        ([0.5], [1.0], 3, TypeError, "integer dtype"),
        ([0], [1j], 3, TypeError, "complex"),
        ([0], ["a"], 3, TypeError, "numbers"),
        ([0], [1.0], -1, ValueError, "non-negative"),
        ([[0]], [1.0], 3, ValueError, "1-D"),
    ],
)
def test_constructor_rejects_bad_input(indices, values, size, err, match):
    with pytest.raises(err, match=match):
        SparseVector(indices, values, size)


def test_workspace_errors_and_clean_after_failure():
    u = SparseVector([0, 5], [1.0, 1.0], 6)
    v = SparseVector([1], [1.0], 6)
    with pytest.raises(ValueError, match="too small"):
        u.axpy(1.0, v, Workspace(5))
    w = Workspace(6)
    w.array[5] = 9.0  # dirt under one of u's entries
    with pytest.raises(ValueError, match="not clean"):
        u.axpy(1.0, v, w)
    with pytest.raises(ValueError, match="not clean"):
        u.dot(v, w)
    assert u.pairs() == [(0, 1.0), (5, 1.0)]  # nothing changed
    w.clear()
    with pytest.raises(ValueError, match="size mismatch"):
        u.axpy(1.0, SparseVector([1], [1.0], 7), w)
    with pytest.raises(TypeError, match="Workspace"):
        u.axpy(1.0, v, np.zeros(6))
    with pytest.raises(TypeError, match="SparseVector"):
        u.axpy(1.0, v.toarray(), w)
    with pytest.raises(ValueError, match="drop_tol"):
        u.axpy(1.0, v, w, drop_tol=-1)
    with pytest.raises(TypeError, match="real number"):
        u.axpy("x", v, w)
    assert w.is_clean()


def test_from_dense_toarray_roundtrip_and_sorted():
    x = np.array([0.0, 2.0, 0.0, -1.0])
    u = SparseVector.from_dense(x)
    assert u.nnz == 2 and u.size == 4 and len(u) == 4
    np.testing.assert_array_equal(u.toarray(), x)
    s = SparseVector([3, 1], [1.0, 2.0], 4).sorted()
    assert s.pairs() == [(1, 2.0), (3, 1.0)]
    assert u.indices.dtype == np.int64 and u.values.dtype == np.float64


def test_drop_keeps_nan():
    u = SparseVector([0, 1, 2], [0.0, np.nan, 1e-20], 3).drop(1e-10)
    assert u.indices.tolist() == [1]


def test_empty_and_growth():
    u = SparseVector([], [], 1000)
    w = Workspace(1000)
    for k in range(100):  # buffers grow as entries are appended
        u.axpy(1.0, SparseVector([k], [float(k + 1)], 1000), w)
    assert u.nnz == 100 and u.indices.tolist() == list(range(100))
    assert repr(SparseVector([], [], 2)) == "SparseVector(size=2, nnz=0):"


def test_indices_are_read_only_and_values_editable():
    """An index edited in place would skip the range and duplicate checks of the constructor."""
    u = SparseVector([3, 0, 7], [1.0, 2.0, 3.0], size=8)
    with pytest.raises(ValueError, match="read-only"):
        u.indices[0] = -1
    with pytest.raises(ValueError, match="read-only"):
        u.indices[1] = 3  # a duplicate
    with pytest.raises(ValueError):
        u.indices.setflags(write=True)  # asking numpy does not help either
    u.values[0] = 5.0
    np.testing.assert_array_equal(u.toarray(), [2, 0, 0, 5, 0, 0, 0, 3])
    w = Workspace(8)
    u.axpy(1.0, SparseVector([5], [1.0], size=8), w)  # the buffers grow: still read-only
    assert not u.indices.flags.writeable and sorted(u.indices.tolist()) == [0, 3, 5, 7]
    assert w.is_clean()


def test_review_findings_on_sparse_vectors():
    """From an adversarial review (2026-11-25): conversions that hid a mistake."""
    for bad in ([(2.5, 1.0)], [("1", 1.0)]):
        with pytest.raises(TypeError, match="integer dtype"):
            SparseVector.from_pairs(bad, 3)
    with pytest.raises(ValueError, match=r"pairs\[1\] must be an \(index, value\) pair"):
        SparseVector.from_pairs([(0, 1.0), (2,)], 3)
    assert SparseVector.from_pairs([(2, 1.0), (0, 3)], 3).pairs() == [(2, 1.0), (0, 3.0)]
    u, v, w = SparseVector([0], [1.0], 3), SparseVector([1], [2.0], 3), Workspace(3)
    with pytest.raises(TypeError, match="r must be a real number"):
        u.axpy("2", v, w)
    with pytest.raises(TypeError, match="tol must be a real number"):
        u.drop("x")
    with pytest.raises(TypeError, match="tol must be a real number"):
        u.drop(np.array([0.5, 0.5]))
    w.array = [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="workspace.array must be a numpy array"):
        u.dot(v, w)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.integers(0, 2**31), st.sampled_from([np.float64, np.float32]))
def test_scatter_and_gather_clear_kernels(n, seed, dtype):
    """The two passes of the scatter algorithm as kernels: w[idx] = val, then read back and clear."""
    from sparsekit.kernels.spvec_scatter import spvec_gather_clear, spvec_scatter

    rng = np.random.default_rng(seed)
    nnz = int(rng.integers(0, n + 1))
    idx = rng.choice(n, size=nnz, replace=False).astype(np.int64)
    val = rng.standard_normal(nnz).astype(dtype)
    w = np.zeros(n, dtype=dtype)
    spvec_scatter(idx, val, nnz, w)
    expected = np.zeros(n, dtype=dtype)
    expected[idx] = val
    np.testing.assert_array_equal(w, expected)
    out = np.empty(nnz, dtype=dtype)
    spvec_gather_clear(idx, nnz, w, out)
    np.testing.assert_array_equal(out, val)
    assert not w.any()  # the work array is all zeros again
