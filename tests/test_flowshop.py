"""The flow-shop MIP matrices: sizes from closed formulas, feasibility of real
schedules, and optimal makespans from HiGHS equal to brute-force enumeration."""
import numpy as np
import pytest

from sparsekit import CSR
from sparsekit.flowshop import (
    FORMULATIONS,
    best_permutation_makespan,
    liao_you,
    manne,
    permutation_makespan,
    processing_times,
    wilson,
)


def expected_sizes(m, n):
    """(variables, rows, nnz) derived by hand from each formulation's rows."""
    P = n * (n - 1) // 2
    routing = n * 1 + n * (m - 1) * 2 + n * 2  # first machine, routing, makespan (nnz)
    routing_rows = n + n * (m - 1) + n
    return {
        "manne": (n * m + 1 + P, routing_rows + 2 * P * m, routing + 2 * P * m * 3),
        "manne_per_machine": (n * m + 1 + P * m, routing_rows + 2 * P * m, routing + 2 * P * m * 3),
        "liao_you": (n * m + 1 + 2 * P * m, routing_rows + 2 * P * m, routing + P * m * 4 + P * m),
        "liao_you_bounds": (n * m + 1 + 2 * P * m, routing_rows + P * m, routing + P * m * 4),
        "wilson": (n * n + n * m + 1, 2 * n + n * (m - 1) + (n - 1) * m + 1,
                   2 * n * n + (n * (m - 1) + (n - 1) * m + 1) * (n + 2)),
    }


@pytest.mark.parametrize("m,n", [(10, 100), (3, 7), (1, 1), (2, 1), (1, 5)])
def test_sizes_match_closed_formulas(m, n):
    p = processing_times(m, n, seed=m + n)
    exp = expected_sizes(m, n)
    for key, build in FORMULATIONS.items():
        model = build(p)
        assert isinstance(model.A, CSR)
        assert (model.n_vars, model.n_rows, model.nnz) == exp[key], key
        k = model.counts()
        assert k["binary"] + k["continuous"] == k["variables"]
        assert k["dense_bytes"] == model.n_rows * model.n_vars * 8
        assert k["csr_bytes"] == model.A.nbytes
        assert sum(g[1] for g in model.group_counts()) == model.n_rows
        assert model.row_lower.shape == model.row_upper.shape == (model.n_rows,)
        assert model.lb.shape == model.ub.shape == model.c.shape == (model.n_vars,)
        # no duplicate entries, no explicit zeros in the matrix
        S = model.A.to_scipy()
        S2 = S.copy()
        S2.sum_duplicates()
        assert S2.nnz == S.nnz
        assert np.all(model.A.data != 0)


def test_paper_scale_numbers():
    """The m=10, n=100 numbers the lesson quotes."""
    p = processing_times(10, 100, seed=0)
    ly = liao_you(p)
    assert (ly.n_vars, ly.n_rows, ly.nnz) == (100_001, 100_100, 249_600)
    assert ly.dense_bytes() == 100_100 * 100_001 * 8  # ~80 GB, the seed's figure
    assert ly.A.nbytes < 5e6  # a few MB, not 0.8 GB
    # int32 indices/indptr: 12 B per nonzero + 4 B per row pointer, as the lesson prints
    assert ly.A.indices.dtype == ly.A.indptr.dtype == np.int32
    assert ly.A.nbytes == 249_600 * 12 + 100_101 * 4
    w = wilson(p)
    assert w.row_nnz().max() == 102


def _schedule_vector(model_key, p, order):
    """The variable vector of a real schedule: jobs in ``order`` on every machine."""
    n, m = p.shape
    C = np.zeros((n, m))
    done = np.zeros(m)
    for j in order:
        t = 0.0
        for k in range(m):
            t = max(t, done[k]) + p[j, k]
            done[k] = t
            C[j, k] = t
    cmax = done[-1]
    pos = np.empty(n, dtype=int)
    pos[np.asarray(order)] = np.arange(n)
    H = p.sum()
    j, l = np.triu_indices(n, k=1)
    y = (pos[j] < pos[l]).astype(float)
    if model_key == "manne":
        return np.concatenate([C.ravel(), [cmax], y])
    if model_key == "manne_per_machine":
        return np.concatenate([C.ravel(), [cmax], np.repeat(y, m)])
    if model_key in ("liao_you", "liao_you_bounds"):
        Y = np.repeat(y[:, None], m, axis=1)
        q = C[j, :] - C[l, :] + H * Y - p[j, :]
        return np.concatenate([C.ravel(), [cmax], Y.ravel(), q.ravel()])
    Z = np.zeros((n, n))
    Z[np.asarray(order), np.arange(n)] = 1
    S = (C - p)[np.asarray(order)]
    return np.concatenate([Z.ravel(), S.ravel(), [cmax]])


def _feasible(model, x, tol=1e-7):
    Ax = model.A.to_scipy() @ x
    return (np.all(Ax >= model.row_lower - tol) and np.all(Ax <= model.row_upper + tol)
            and np.all(x >= model.lb - tol) and np.all(x <= model.ub + tol))


@pytest.mark.parametrize("seed", range(6))
def test_real_schedules_are_feasible_and_cost_their_makespan(seed):
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(1, 5)), int(rng.integers(2, 7))
    p = processing_times(m, n, seed=seed)
    order = rng.permutation(n)
    for key, build in FORMULATIONS.items():
        model = build(p)
        x = _schedule_vector(key, p, order)
        assert _feasible(model, x), key
        assert model.c @ x == pytest.approx(permutation_makespan(p, order))
        # a makespan one unit too small violates a row
        x_bad = x.copy()
        x_bad[model.var_groups["Cmax"]] -= 1.0
        assert not _feasible(model, x_bad), key
        # the surplus model's upper bound matters: a too-large surplus is infeasible
        if key.startswith("liao_you"):
            qs = model.var_groups["q[j,l,k] surplus"]
            x_q = x.copy()
            x_q[qs.start] = p.sum() + 1
            assert not _feasible(model, x_q)


@pytest.mark.parametrize("seed", range(3))
def test_optimum_equals_enumeration(seed):
    # with m <= 3 machines a permutation schedule is optimal (Johnson; Conway,
    # Maxwell & Miller), so every formulation has the enumerated optimum
    rng = np.random.default_rng(100 + seed)
    m, n = int(rng.integers(2, 4)), int(rng.integers(3, 6))
    p = processing_times(m, n, seed=seed)
    best = best_permutation_makespan(p)
    for key, build in FORMULATIONS.items():
        res = build(p).solve(time_limit=30)
        assert res.status == 0, key
        assert res.fun == pytest.approx(best, abs=1e-6), key


def test_formulations_differ_in_shape():
    p = processing_times(10, 100, seed=0)
    assert manne(p).row_nnz().max() == 3
    # moving the surplus bound from a row to a variable bound removes P*m one-nonzero rows
    assert liao_you(p).n_rows - liao_you(p, bound_as_row=False).n_rows == 4950 * 10
    assert wilson(p).n_rows < manne(p).n_rows / 40
    assert wilson(p).counts()["nnz_per_row"] > 30 * manne(p).counts()["nnz_per_row"]


@pytest.mark.parametrize("bad,exc", [
    ([1, 2, 3], ValueError),            # 1-D
    (np.zeros((0, 3)), ValueError),     # no jobs
    ([[1, -2]], ValueError),            # negative time
    ([[1, np.nan]], ValueError),        # NaN
    ([["a", "b"]], TypeError),          # strings
    ([[True, False]], TypeError),       # booleans
])
def test_bad_processing_times(bad, exc):
    for build in (manne, liao_you, wilson, best_permutation_makespan):
        with pytest.raises(exc):
            build(bad)


def test_bad_sizes_and_orders():
    with pytest.raises(ValueError, match="m must be"):
        processing_times(0, 5)
    with pytest.raises(TypeError, match="n must be"):
        processing_times(3, 2.5)
    with pytest.raises(ValueError, match="permutation"):
        permutation_makespan(np.ones((3, 2)), [0, 0, 1])
    with pytest.raises(ValueError, match="n <= 9"):
        best_permutation_makespan(np.ones((10, 2)))
    with pytest.raises(TypeError, match="integers"):
        permutation_makespan(np.ones((3, 2)), [0.0, 2.0, 1.0])  # numpy would index with floats no further


@pytest.mark.parametrize("bad,exc", [(0.0, ValueError), (-5, ValueError), (np.nan, ValueError), (np.inf, ValueError),
                                     ("100", TypeError), (True, TypeError), ([100.0], TypeError)])
def test_big_m_is_checked(bad, exc):
    p = np.array([[3.0, 4.0], [5.0, 1.0], [2.0, 6.0]])
    for build in (manne, liao_you):
        with pytest.raises(exc, match="big_m"):
            build(p, big_m=bad)


def test_liao_you_big_m_must_cover_two_jobs():
    p = np.array([[3.0, 4.0], [5.0, 1.0], [2.0, 6.0]])  # largest pair: 4 + 6 on machine 1
    with pytest.raises(ValueError, match=">= 10"):
        liao_you(p, big_m=9.5)
    model = liao_you(p, big_m=10, bound_as_row=False)
    assert model.ub.min() >= 0  # q <= H - p[j,k] - p[l,k] is a real bound
    assert manne(p, big_m=9.5).n_rows == manne(p).n_rows  # Manne takes any positive H
