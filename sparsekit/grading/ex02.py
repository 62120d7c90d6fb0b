"""Exercise set 02: why solvers must be sparse (memory, elimination with the scatter array, fill-in)."""
from __future__ import annotations

import numpy as np

from .engine import Case, CaseFailure, question
from .ex01 import random_pair_vectors
from .helpers import (as_array, as_pair, as_tuple, assert_clean, assert_close, assert_cost_independent_of_n,
                      assert_equal, assert_new_arrays, assert_unchanged, blaming_leftovers, snapshot)


def ref_bytes(n_rows, n_cols, nnz):
    """Dense float64 matrix vs CSR with float64 values and int64 indices."""
    return n_rows * n_cols * 8, nnz * (8 + 8) + (n_rows + 1) * 8


@question("ex02.dense_vs_sparse_bytes", "memory of a dense and a CSR constraint matrix")
def _bytes():
    def check_one(call, n_rows, n_cols, nnz, hint):
        inp = dict(n_rows=n_rows, n_cols=n_cols, nnz=nnz)
        dense, sparse = as_tuple(call(n_rows, n_cols, nnz), 2, "the result", "dense, sparse", input=inp)
        e_dense, e_sparse = ref_bytes(n_rows, n_cols, nnz)
        for got, exp, name in ((dense, e_dense, "dense bytes"), (sparse, e_sparse, "sparse bytes")):
            try:
                ok = int(got) == exp and float(got) == float(exp)
            except (TypeError, ValueError, OverflowError):
                ok = False
            if not ok:
                raise CaseFailure(f"{name} is wrong", input=inp, expected=exp, actual=got, hint=hint)

    def seed_sizes(call, rng):
        # the seed's flow-shop model: about 1e5 rows and columns, 3 to 4 nonzeros a row
        check_one(call, 100_000, 100_000, 350_000,
                  "8-byte values everywhere; mind integer overflow for 1e10 entries")

    def random(call, rng):
        for _ in range(20):
            m, n = int(rng.integers(1, 10**6)), int(rng.integers(1, 10**6))
            nnz = int(rng.integers(0, min(m * n, 10**7)))
            check_one(call, m, n, nnz, "CSR stores data and indices (nnz each) and indptr (n_rows + 1)")

    return [Case("the seed's flow-shop sizes (1e5 x 1e5, 3.5 nonzeros a row)", 1, seed_sizes),
            Case("20 random sizes", 2, random)]


def ref_eliminate(row_idx, row_val, piv_idx, piv_val, col):
    row = dict(zip(row_idx.tolist(), row_val.tolist()))
    piv = dict(zip(piv_idx.tolist(), piv_val.tolist()))
    if col not in row:
        return row_idx.copy(), row_val.copy()
    f = row[col] / piv[col]
    idx, val = [], []
    for i, x in zip(row_idx.tolist(), row_val.tolist()):
        if i == col:
            continue
        idx.append(i)
        val.append(x - f * piv.get(i, 0.0))
    for i, x in zip(piv_idx.tolist(), piv_val.tolist()):
        if i not in row and x != 0.0:
            idx.append(i)
            val.append(-f * x)
    return np.array(idx, dtype=np.int64), np.array(val, dtype=np.float64)


def _elim_case(rng, n, nr, npv, ov, with_col=True):
    """Row and pivot sharing ``ov`` >= 1 indices; ``col`` is one shared index (or absent from the row)."""
    r_idx, r_val, p_idx, p_val = random_pair_vectors(rng, n, nr, npv, ov)
    p_val[p_val == 0.0] = 1.0
    shared = np.intersect1d(r_idx, p_idx)
    if with_col and shared.size:
        col = int(rng.choice(shared))
    else:
        col = int(rng.choice(p_idx[~np.isin(p_idx, r_idx)])) if np.any(~np.isin(p_idx, r_idx)) else n + 1
    return r_idx, r_val, p_idx, p_val, col


_NAMES = ["row_idx", "row_val", "piv_idx", "piv_val"]


@question("ex02.eliminate", "one elimination step on sparse rows, with fill-in")
def _eliminate():
    def one(call, vecs, col, work, copy=True):
        inp = dict(zip(_NAMES, vecs), col=col)
        left = np.flatnonzero(work)
        args = [v.copy() for v in vecs] if copy else vecs
        out = call(*args, col, work)
        with blaming_leftovers(left):
            check_result(out, vecs, col, inp)
        assert_new_arrays(list(out), args, input=inp)

    def check_result(out, vecs, col, inp):
        idx, val = as_pair(out, input=inp)
        idx = as_array(idx, "idx", kind="i", ndim=1, input=inp)
        val = as_array(val, "val", kind="f", ndim=1, input=inp)
        e_idx, e_val = ref_eliminate(*vecs, col)
        if col in idx.tolist():
            hint = ("the eliminated entry is zero by construction: leave it out" if col in vecs[0].tolist() else
                    f"col {col} is not in the row: there is nothing to eliminate, return copies of the row unchanged")
            raise CaseFailure(f"column {col} is still in the row", input=inp, expected=e_idx, actual=idx, hint=hint)
        assert_equal(idx, e_idx, "idx (order: the row's entries, then fill-in in the pivot's order)",
                     input=inp, hint="the row's own entries first, then the fill-in in the pivot row's order")
        assert_close(val, e_val, "val", input=inp, hint="row <- row - (row[col] / pivot[col]) * pivot")

    def random(call, rng):
        work = np.zeros(60)
        for _ in range(20):
            nr, npv = int(rng.integers(1, 20)), int(rng.integers(1, 20))
            ov = int(rng.integers(1, min(nr, npv) + 1))
            *vecs, col = _elim_case(rng, 60, nr, npv, ov)
            one(call, vecs, col, work)

    def col_absent(call, rng):
        *vecs, col = _elim_case(rng, 40, 8, 8, 3, with_col=False)
        one(call, vecs, col, np.zeros(50))

    def emptied(call, rng):  # the row and the pivot hold only col: nothing is left
        one(call, [np.array([2], np.int64), np.array([3.0]), np.array([2], np.int64), np.array([1.5])], 2,
            np.zeros(5))

    def work_clean(call, rng):
        work = np.zeros(60)
        for _ in range(10):
            *vecs, col = _elim_case(rng, 60, 15, 15, 5)
            one(call, vecs, col, work)
            assert_clean(work, input=dict(zip(_NAMES, vecs), col=col))

    def inputs_unchanged(call, rng):
        *vecs, col = _elim_case(rng, 60, 15, 15, 5)
        before = snapshot(*vecs)
        try:
            one(call, vecs, col, np.zeros(60), copy=False)
        finally:
            assert_unchanged(before, vecs, _NAMES)

    return [Case("20 random row/pivot pairs against a reference", 2, random),
            Case("col not in the row: the row comes back unchanged, as new arrays", 1, col_absent),
            Case("a row that elimination empties: empty int and float arrays", 1, emptied),
            Case("work array all zeros after every call", 1, work_clean),
            Case("inputs not modified", 1, inputs_unchanged)]


def _check_fill(call, u_idx, v_idx, mark, copy=True):
    inp = dict(u_idx=u_idx, v_idx=v_idx)
    args = (u_idx.copy(), v_idx.copy()) if copy else (u_idx, v_idx)
    left = np.flatnonzero(mark)
    got = call(*args, mark)
    with blaming_leftovers(left, "the mark array"):
        got = as_array(got, "the result", kind="i", ndim=1, input=inp)
        exp = v_idx[~np.isin(v_idx, u_idx)]
        assert_equal(got, exp, "the new indices", input=inp, hint="keep v's order; do not sort")


@question("ex02.fill_in", "which entries of v are new to u (the mark trick)")
def _fill_in():
    def random(call, rng):
        mark = np.zeros(70, dtype=np.int8)
        for _ in range(20):
            nu, nv = int(rng.integers(0, 25)), int(rng.integers(0, 25))
            ov = int(rng.integers(0, min(nu, nv) + 1))
            u_idx, _, v_idx, _ = random_pair_vectors(rng, 70, nu, nv, ov)
            _check_fill(call, u_idx, v_idx, mark)

    def mark_clean(call, rng):
        mark = np.zeros(50, dtype=np.int8)
        for _ in range(10):
            u_idx, _, v_idx, _ = random_pair_vectors(rng, 50, 10, 10, 4)
            _check_fill(call, u_idx, v_idx, mark)
            assert_clean(mark, "the mark array", input=dict(u_idx=u_idx, v_idx=v_idx))

    def inputs_unchanged(call, rng):
        u_idx, _, v_idx, _ = random_pair_vectors(rng, 50, 10, 10, 4)
        before = snapshot(u_idx, v_idx)
        try:
            _check_fill(call, u_idx, v_idx, np.zeros(50, dtype=np.int8), copy=False)
        finally:
            assert_unchanged(before, [u_idx, v_idx], ["u_idx", "v_idx"])

    def cost(call, rng):
        u_idx, _, v_idx, _ = random_pair_vectors(rng, 1000, 300, 300, 100)
        # 1e8 one-byte slots: clearing all of them takes milliseconds; 1e7 (10 MB) cleared in ~0.2 ms,
        # inside the timing's allowance for noise, so an O(n) reset passed
        m_small, m_big = np.zeros(1000, np.int8), np.zeros(100_000_000, np.int8)
        _check_fill(call, u_idx, v_idx, m_big)
        assert_cost_independent_of_n(lambda: call(u_idx, v_idx, m_small), lambda: call(u_idx, v_idx, m_big),
                                     n_small=1000, n_big=100_000_000, max_bytes=2_000_000)

    return [Case("20 random pairs", 2, random),
            Case("mark array all zeros after every call", 1, mark_clean),
            Case("inputs not modified", 1, inputs_unchanged),
            Case("cost does not grow with n (1e3 vs 1e8, same nnz)", 1, cost, timed=True)]
