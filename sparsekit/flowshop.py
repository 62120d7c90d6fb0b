"""The constraint matrix of a flow-shop scheduling MIP, built for real as CSR.

A flow shop has ``n`` jobs that each visit machines ``0 .. m-1`` in that
order; ``p[j, k]`` is the processing time of job ``j`` on machine ``k``.  The
goal is the smallest makespan ``Cmax``.  The same problem can be written as a
mixed-integer program in several ways, and the choice changes the size and
the sparsity of the constraint matrix a solver has to store.  This module
writes three of them row by row (vectorised with numpy), so that the sizes a
lesson quotes are counted, not guessed:

``manne``
    Disjunctive model of Manne (1960), *Oper. Res.* 8:219-223: completion
    times ``C[j, k]``, one binary ``y`` per pair of jobs (permutation schedule)
    or per pair *and* machine (``per_machine=True``, job-shop style), and two
    big-M rows per pair and machine.
``liao_you``
    Liao & You (1992), *J. Oper. Res. Soc.* 43:1047-1054: the two big-M rows
    of each pair and machine become one equality with a bounded surplus
    variable ``q``.  The bound ``q <= H - p_jk - p_lk`` is either a row of
    its own (``bound_as_row=True``, as a textbook writes it) or a variable
    bound (what a solver would store).
``wilson``
    Position-based model of Wilson (1989), *J. Oper. Res. Soc.* 40:395-399,
    of the family started by Wagner (1959), *Naval Res. Logist. Q.* 6:131-140:
    an assignment binary ``Z[j, i]`` (job ``j`` in position ``i``) and start
    times ``S[i, k]`` per position; few rows, but each holds ``n + 2``
    nonzeros.

(Stafford, Tseng & Gupta (2005), *J. Oper. Res. Soc.* 56:88-101, compare
these families for the permutation flow shop.)

Every model is a :class:`FlowShopModel`: ``minimise c @ x`` subject to
``row_lower <= A @ x <= row_upper``, ``lb <= x <= ub`` and ``x`` integral
where ``integrality`` is 1 -- the form HiGHS (and ``scipy.optimize.milp``)
take.  ``A`` is a :class:`sparsekit.CSR`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .formats import CSR

__all__ = [
    "FlowShopModel",
    "processing_times",
    "manne",
    "liao_you",
    "wilson",
    "FORMULATIONS",
    "permutation_makespan",
    "best_permutation_makespan",
]


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
def processing_times(m: int, n: int, seed: int = 0) -> np.ndarray:
    """Random integer processing times in 1..99, shape ``(n, m)`` (Taillard's range)."""
    m, n = _check_sizes(m, n)
    rng = np.random.default_rng(seed)
    return rng.integers(1, 100, size=(n, m)).astype(np.float64)


def _check_sizes(m, n) -> tuple:
    for name, val in (("m", m), ("n", n)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {val!r}")
        if val < 1:
            raise ValueError(f"{name} must be >= 1, got {val}")
    return int(m), int(n)


def _check_p(p) -> np.ndarray:
    arr = np.asarray(p)
    if arr.dtype.kind not in "iuf" or arr.dtype.kind == "b":
        raise TypeError(f"processing times must be numbers, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"processing times must be a 2-D array of shape (n_jobs, n_machines), got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError("processing times must be finite and >= 0")
    return arr


def _big_m(p: np.ndarray, big_m, *, at_least: float = 0.0) -> float:
    """``H``: the sum of all processing times by default, else a finite ``big_m >= at_least`` (and > 0)."""
    if big_m is None:
        return float(p.sum())
    if isinstance(big_m, (str, bytes, bool, np.bool_)) or not np.isscalar(big_m) or np.iscomplexobj(big_m):
        raise TypeError(f"big_m must be a real number, got {big_m!r}")
    H = float(big_m)
    if not np.isfinite(H) or H <= 0 or H < at_least:
        need = f" and >= {at_least:g} (the largest p[j,k] + p[l,k] of two jobs on one machine)" if at_least else ""
        raise ValueError(f"big_m must be a finite number > 0{need}, got {big_m!r}")
    return H


# ---------------------------------------------------------------------------
# the model container
# ---------------------------------------------------------------------------
@dataclass
class FlowShopModel:
    """A MIP ``min c@x : row_lower <= A@x <= row_upper, lb <= x <= ub``.

    ``row_groups`` / ``var_groups`` map a constraint (variable) family name to
    the ``slice`` of rows (columns) it occupies, in order.
    """

    name: str
    A: CSR
    row_lower: np.ndarray
    row_upper: np.ndarray
    c: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    integrality: np.ndarray
    row_groups: dict = field(default_factory=dict)
    var_groups: dict = field(default_factory=dict)
    reference: str = ""

    @property
    def n_rows(self) -> int:
        return self.A.shape[0]

    @property
    def n_vars(self) -> int:
        return self.A.shape[1]

    @property
    def nnz(self) -> int:
        return self.A.nnz

    def row_nnz(self) -> np.ndarray:
        """Nonzeros in each row."""
        return np.diff(self.A.indptr)

    def dense_bytes(self, itemsize: int = 8) -> int:
        """Bytes a dense ``n_rows x n_vars`` float64 array would take."""
        return self.n_rows * self.n_vars * itemsize

    def counts(self) -> dict:
        """Variables (binary / continuous), rows, nonzeros, nonzeros per row, memory."""
        rn = self.row_nnz()
        return {
            "formulation": self.name,
            "variables": self.n_vars,
            "binary": int(np.count_nonzero(self.integrality)),
            "continuous": int(self.n_vars - np.count_nonzero(self.integrality)),
            "rows": self.n_rows,
            "nnz": self.nnz,
            "nnz_per_row": self.nnz / self.n_rows if self.n_rows else 0.0,
            "max_row_nnz": int(rn.max()) if rn.size else 0,
            "density": self.A.density,
            "dense_bytes": self.dense_bytes(),
            "csr_bytes": self.A.nbytes,
        }

    def group_counts(self) -> list:
        """``(family, rows, nnz per row)`` for each constraint family."""
        rn = self.row_nnz()
        out = []
        for name, sl in self.row_groups.items():
            part = rn[sl]
            out.append((name, int(part.size), float(part.mean()) if part.size else 0.0))
        return out

    def to_scipy(self):
        """``(c, constraints, integrality, bounds)`` for ``scipy.optimize.milp``."""
        from scipy.optimize import Bounds, LinearConstraint

        return (
            self.c,
            LinearConstraint(self.A.to_scipy(), self.row_lower, self.row_upper),
            self.integrality,
            Bounds(self.lb, self.ub),
        )

    def solve(self, time_limit: float = 60.0):
        """Solve with HiGHS through ``scipy.optimize.milp``; returns the OptimizeResult."""
        from scipy.optimize import milp

        c, cons, integ, bounds = self.to_scipy()
        return milp(c, constraints=cons, integrality=integ, bounds=bounds,
                    options={"time_limit": float(time_limit)})

    def __repr__(self) -> str:
        k = self.counts()
        return (f"<FlowShopModel {self.name}: {k['variables']} variables "
                f"({k['binary']} binary), {k['rows']} rows, nnz={k['nnz']}, "
                f"{k['nnz_per_row']:.2f} nnz/row>")


class _Builder:
    """Collects variable blocks and rows in COO form, then makes the CSR."""

    def __init__(self):
        self.n_vars = 0
        self.lb, self.ub, self.integ, self.c = [], [], [], []
        self.var_groups = {}
        self.rows, self.cols, self.vals = [], [], []
        self.lo, self.hi = [], []
        self.n_rows = 0
        self.row_groups = {}

    def add_vars(self, name, count, lb, ub, integer, cost=0.0):
        start = self.n_vars
        self.lb.append(np.broadcast_to(np.asarray(lb, dtype=np.float64), (count,)))
        self.ub.append(np.broadcast_to(np.asarray(ub, dtype=np.float64), (count,)))
        self.integ.append(np.full(count, 1 if integer else 0, dtype=np.uint8))
        self.c.append(np.broadcast_to(np.asarray(cost, dtype=np.float64), (count,)))
        self.n_vars += count
        self.var_groups[name] = slice(start, self.n_vars)
        return np.arange(start, self.n_vars)

    def add_rows(self, name, terms, lower, upper):
        """``terms`` is a list of ``(column array, coefficient array)``, one per
        term, each of the family's row count; row ``r`` of the family is
        ``sum_t coef_t[r] * x[col_t[r]]``."""
        count = len(np.atleast_1d(terms[0][0]))
        r0 = self.n_rows
        rows = np.arange(r0, r0 + count)
        for col, coef in terms:
            col = np.broadcast_to(np.asarray(col, dtype=np.int64), (count,))
            coef = np.broadcast_to(np.asarray(coef, dtype=np.float64), (count,))
            self.rows.append(rows)
            self.cols.append(col)
            self.vals.append(coef)
        self.lo.append(np.broadcast_to(np.asarray(lower, dtype=np.float64), (count,)))
        self.hi.append(np.broadcast_to(np.asarray(upper, dtype=np.float64), (count,)))
        self.n_rows += count
        self.row_groups[name] = slice(r0, self.n_rows)

    def add_sum_rows(self, name, row_of_term, col_of_term, coef_of_term, count, lower, upper):
        """Rows with a variable number of terms: term ``t`` goes to family row
        ``row_of_term[t]``."""
        r0 = self.n_rows
        self.rows.append(r0 + np.asarray(row_of_term, dtype=np.int64))
        self.cols.append(np.asarray(col_of_term, dtype=np.int64))
        self.vals.append(np.asarray(coef_of_term, dtype=np.float64))
        self.lo.append(np.broadcast_to(np.asarray(lower, dtype=np.float64), (count,)))
        self.hi.append(np.broadcast_to(np.asarray(upper, dtype=np.float64), (count,)))
        self.n_rows += count
        self.row_groups[name] = slice(r0, self.n_rows)

    def build(self, name, reference) -> FlowShopModel:
        rows = np.concatenate(self.rows)
        cols = np.concatenate(self.cols)
        vals = np.concatenate(self.vals)
        coo = sp.coo_array((vals, (rows, cols)), shape=(self.n_rows, self.n_vars))
        A = coo.tocsr()
        A.sort_indices()
        # int32 indices/indptr when they fit (12 B per nonzero + 4 B per row, as in
        # lessons 00 and 03); scipy keeps the int64 of the COO arrays otherwise
        fits = max(self.n_rows, self.n_vars, A.nnz) <= np.iinfo(np.int32).max
        itype = np.int32 if fits else np.int64
        return FlowShopModel(
            name=name,
            A=CSR(A.data, A.indices.astype(itype), A.indptr.astype(itype), A.shape),
            row_lower=np.concatenate(self.lo).copy(),
            row_upper=np.concatenate(self.hi).copy(),
            c=np.concatenate(self.c).copy(),
            lb=np.concatenate(self.lb).copy(),
            ub=np.concatenate(self.ub).copy(),
            integrality=np.concatenate(self.integ),
            row_groups=self.row_groups,
            var_groups=self.var_groups,
            reference=reference,
        )


def _pairs(n):
    j, l = np.triu_indices(n, k=1)
    return j, l  # j < l, n(n-1)/2 pairs


def _common_rows(b, p, C, cmax):
    """Routing rows shared by the completion-time models (Manne, Liao-You)."""
    n, m = p.shape
    inf = np.inf
    # C[j,0] >= p[j,0]
    b.add_rows("first machine: C[j,0] >= p[j,0]", [(C[:, 0], 1.0)], p[:, 0], inf)
    # C[j,k] - C[j,k-1] >= p[j,k]
    if m > 1:
        b.add_rows("routing: C[j,k] - C[j,k-1] >= p[j,k]",
                   [(C[:, 1:].ravel(), 1.0), (C[:, :-1].ravel(), -1.0)], p[:, 1:].ravel(), inf)
    # Cmax - C[j,m-1] >= 0
    b.add_rows("makespan: Cmax - C[j,m-1] >= 0", [(np.full(n, cmax), 1.0), (C[:, m - 1], -1.0)], 0.0, inf)


def manne(p, *, per_machine: bool = False, big_m: float | None = None) -> FlowShopModel:
    """Manne's disjunctive model with completion times ``C[j, k]``.

    For each pair of jobs ``j < l`` and each machine ``k`` (``y = 1``: ``j``
    before ``l``)::

        C[j,k] - C[l,k] + H*y        >= p[j,k]       (l before j when y = 0)
        C[l,k] - C[j,k] - H*y        >= p[l,k] - H   (j before l when y = 1)

    ``per_machine=False`` uses one ``y`` per pair (a permutation schedule);
    ``True`` one per pair and machine.  ``H`` (big-M) defaults to the sum of
    all processing times, which no schedule without idle waiting exceeds.
    """
    p = _check_p(p)
    n, m = p.shape
    H = _big_m(p, big_m)
    b = _Builder()
    C = b.add_vars("C[j,k] completion times", n * m, 0.0, np.inf, False).reshape(n, m)
    cmax = int(b.add_vars("Cmax", 1, 0.0, np.inf, False, cost=1.0)[0])
    j, l = _pairs(n)
    npair = j.size
    if per_machine:
        Y = b.add_vars("y[j,l,k] binary order", npair * m, 0.0, 1.0, True).reshape(npair, m)
    else:
        y = b.add_vars("y[j,l] binary order", npair, 0.0, 1.0, True)
        Y = np.repeat(y[:, None], m, axis=1)
    _common_rows(b, p, C, cmax)
    K = np.broadcast_to(np.arange(m), (npair, m))
    J = np.broadcast_to(j[:, None], (npair, m))
    L = np.broadcast_to(l[:, None], (npair, m))
    Cj, Cl = C[J, K].ravel(), C[L, K].ravel()
    pj, pl = p[J, K].ravel(), p[L, K].ravel()
    Yf = Y.ravel()
    b.add_rows("disjunction: C[j,k] - C[l,k] + H y >= p[j,k]",
               [(Cj, 1.0), (Cl, -1.0), (Yf, H)], pj, np.inf)
    b.add_rows("disjunction: C[l,k] - C[j,k] - H y >= p[l,k] - H",
               [(Cl, 1.0), (Cj, -1.0), (Yf, -H)], pl - H, np.inf)
    name = "Manne, y per pair and machine" if per_machine else "Manne, y per pair (permutation)"
    return b.build(name, "Manne, A. S. (1960). On the job-shop scheduling problem. Oper. Res. 8:219-223")


def liao_you(p, *, bound_as_row: bool = True, big_m: float | None = None) -> FlowShopModel:
    """Liao and You's model: one equality per pair and machine with a surplus ``q``.

    For each pair ``j < l`` and machine ``k``::

        C[j,k] - C[l,k] + H*y[j,l,k] - q[j,l,k] = p[j,k]
        0 <= q[j,l,k] <= H - p[j,k] - p[l,k]

    ``q >= 0`` is Manne's first row; the upper bound on ``q`` is Manne's
    second.  With ``bound_as_row=True`` the upper bound is a row ``q <= ...``
    (one nonzero); otherwise it is a bound on the variable and the matrix
    has half the rows.
    ``H`` (``big_m``, default the sum of all processing times) must cover the
    two longest jobs on one machine, or that upper bound would be negative.
    """
    p = _check_p(p)
    n, m = p.shape
    pair_max = float(np.sort(p, axis=0)[-2:].sum(axis=0).max()) if n > 1 else 0.0
    H = _big_m(p, big_m, at_least=pair_max)  # else q's upper bound H - p[j,k] - p[l,k] is negative
    b = _Builder()
    C = b.add_vars("C[j,k] completion times", n * m, 0.0, np.inf, False).reshape(n, m)
    cmax = int(b.add_vars("Cmax", 1, 0.0, np.inf, False, cost=1.0)[0])
    j, l = _pairs(n)
    npair = j.size
    Y = b.add_vars("y[j,l,k] binary order", npair * m, 0.0, 1.0, True)
    K = np.broadcast_to(np.arange(m), (npair, m))
    J = np.broadcast_to(j[:, None], (npair, m))
    L = np.broadcast_to(l[:, None], (npair, m))
    pj, pl = p[J, K].ravel(), p[L, K].ravel()
    qmax = H - pj - pl
    if bound_as_row:
        Q = b.add_vars("q[j,l,k] surplus", npair * m, 0.0, np.inf, False)
    else:
        Q = b.add_vars("q[j,l,k] surplus", npair * m, 0.0, qmax, False)
    _common_rows(b, p, C, cmax)
    Cj, Cl = C[J, K].ravel(), C[L, K].ravel()
    b.add_rows("pair equality: C[j,k] - C[l,k] + H y - q = p[j,k]",
               [(Cj, 1.0), (Cl, -1.0), (Y, H), (Q, -1.0)], pj, pj)
    if bound_as_row:
        b.add_rows("surplus bound: q <= H - p[j,k] - p[l,k]", [(Q, 1.0)], -np.inf, qmax)
    name = "Liao-You, bound as row" if bound_as_row else "Liao-You, bound on variable"
    return b.build(name, "Liao, C.-J. & You, C.-T. (1992). An improved formulation for the "
                         "job-shop scheduling problem. J. Oper. Res. Soc. 43:1047-1054")


def wilson(p) -> FlowShopModel:
    """Wilson's position-based model (Wagner's family).

    ``Z[j, i] = 1`` when job ``j`` takes position ``i`` of the permutation;
    ``S[i, k]`` is the start on machine ``k`` of whatever job is in position
    ``i``; ``sum_j p[j,k] Z[j,i]`` is that job's processing time::

        sum_i Z[j,i] = 1,  sum_j Z[j,i] = 1                      (assignment)
        S[i,k+1] - S[i,k] - sum_j p[j,k] Z[j,i] >= 0            (job: next machine)
        S[i+1,k] - S[i,k] - sum_j p[j,k] Z[j,i] >= 0            (machine: next position)
        Cmax - S[n-1,m-1] - sum_j p[j,m-1] Z[j,n-1] >= 0
    """
    p = _check_p(p)
    n, m = p.shape
    b = _Builder()
    Z = b.add_vars("Z[j,i] job j in position i", n * n, 0.0, 1.0, True).reshape(n, n)
    S = b.add_vars("S[i,k] start of position i", n * m, 0.0, np.inf, False).reshape(n, m)
    cmax = int(b.add_vars("Cmax", 1, 0.0, np.inf, False, cost=1.0)[0])
    inf = np.inf
    # assignment: row j sums Z[j, :]; row i sums Z[:, i]
    jj, ii = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    b.add_sum_rows("assignment: each job one position", jj.ravel(), Z[jj, ii].ravel(), np.ones(n * n), n, 1.0, 1.0)
    b.add_sum_rows("assignment: each position one job", ii.ravel(), Z[jj, ii].ravel(), np.ones(n * n), n, 1.0, 1.0)

    def chained(name, first, second, ks, is_):
        # rows r: S[second] - S[first] - sum_j p[j,k] Z[j,i] >= 0
        cnt = len(ks)
        r = np.arange(cnt)
        rows = [r, r]
        cols = [second, first]
        vals = [np.ones(cnt), -np.ones(cnt)]
        rows.append(np.repeat(r, n))
        cols.append(Z[np.tile(np.arange(n), cnt), np.repeat(is_, n)])
        vals.append(-p[np.tile(np.arange(n), cnt), np.repeat(ks, n)])
        b.add_sum_rows(name, np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), cnt, 0.0, inf)

    if m > 1:
        i_, k_ = np.meshgrid(np.arange(n), np.arange(m - 1), indexing="ij")
        i_, k_ = i_.ravel(), k_.ravel()
        chained("job: S[i,k+1] >= S[i,k] + p(i,k)", S[i_, k_], S[i_, k_ + 1], k_, i_)
    if n > 1:
        i_, k_ = np.meshgrid(np.arange(n - 1), np.arange(m), indexing="ij")
        i_, k_ = i_.ravel(), k_.ravel()
        chained("machine: S[i+1,k] >= S[i,k] + p(i,k)", S[i_, k_], S[i_ + 1, k_], k_, i_)
    chained("makespan: Cmax >= S[n-1,m-1] + p(n-1,m-1)", np.array([S[n - 1, m - 1]]),
            np.array([cmax]), np.array([m - 1]), np.array([n - 1]))
    return b.build("Wilson, position-based", "Wilson, J. M. (1989). Alternative formulations of a "
                   "flow-shop scheduling problem. J. Oper. Res. Soc. 40:395-399")


FORMULATIONS = {
    "manne": manne,
    "manne_per_machine": lambda p: manne(p, per_machine=True),
    "liao_you": liao_you,
    "liao_you_bounds": lambda p: liao_you(p, bound_as_row=False),
    "wilson": wilson,
}


# ---------------------------------------------------------------------------
# a reference to check the models against
# ---------------------------------------------------------------------------
def permutation_makespan(p, order) -> float:
    """Makespan of processing the jobs in ``order`` on every machine (the classic recurrence)."""
    p = _check_p(p)
    n, m = p.shape
    order = np.asarray(order)
    if order.dtype.kind not in "iu":
        raise TypeError(f"order must be a permutation of the job numbers 0..{n - 1} (integers), got dtype {order.dtype}")
    if sorted(order.tolist()) != list(range(n)):
        raise ValueError(f"order must be a permutation of 0..{n - 1}, got {order.tolist()}")
    done = np.zeros(m)
    for j in order:
        t = 0.0
        for k in range(m):
            t = max(t, done[k]) + p[j, k]
            done[k] = t
    return float(done[-1])


def best_permutation_makespan(p) -> float:
    """Optimal permutation makespan by enumerating all ``n!`` orders (small ``n`` only)."""
    from itertools import permutations

    p = _check_p(p)
    n = p.shape[0]
    if n > 9:
        raise ValueError(f"enumeration is for n <= 9 jobs, got n = {n}")
    return min(permutation_makespan(p, o) for o in permutations(range(n)))
