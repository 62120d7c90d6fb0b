"""Exercise set 01: sparse vectors as unsorted (index, value) pairs and the scatter array."""
from __future__ import annotations

import numpy as np

from .engine import Case, CaseFailure, question
from .helpers import (as_array, as_number, as_pair, assert_clean, assert_close, assert_cost_independent_of_n,
                      assert_equal, assert_new_arrays, assert_unchanged, blaming_leftovers, snapshot)

# The seed article's worked example: length 15, u <- u - 2 v.
SEED_U = ([0, 1, 3, 7, 10, 11, 12, 14], [1.0, 6, -3, 7, -10, -3, -7, -8])
SEED_V = ([0, 1, 5, 6, 7, 11], [-10.0, 0, 3, -3, 2, 7])
SEED_R = -2.0
SEED_RESULT = ([0, 1, 3, 7, 10, 11, 12, 14, 5, 6], [21.0, 6, -3, 3, -10, -17, -7, -8, -6, 6])


def ref_axpy(u_idx, u_val, v_idx, v_val, r):
    """u + r v in the scatter algorithm's order: u's entries, then v's new nonzeros in v's order."""
    v = {int(i): float(x) for i, x in zip(v_idx, v_val)}
    in_u = set(int(i) for i in u_idx)
    idx = [int(i) for i in u_idx]
    val = [float(x) + r * v.get(int(i), 0.0) for i, x in zip(u_idx, u_val)]
    for i, x in zip(v_idx, v_val):
        if int(i) not in in_u and x != 0.0:
            idx.append(int(i))
            val.append(r * float(x))
    return np.array(idx, dtype=np.int64), np.array(val, dtype=np.float64)


def random_pair_vectors(rng, n, nu, nv, overlap):
    """Two sparse vectors with ``overlap`` shared indices; v may hold explicit zeros where u has entries."""
    pool = rng.permutation(n)[: nu + nv - overlap]
    u_idx = pool[:nu].copy()
    shared = rng.choice(u_idx, size=overlap, replace=False) if overlap else np.empty(0, np.int64)
    v_idx = np.concatenate([shared, pool[nu:]])
    rng.shuffle(v_idx)
    u_val = rng.uniform(-5, 5, nu)
    v_val = rng.uniform(-5, 5, nv)
    if overlap and rng.random() < 0.5:  # an explicit zero stored in v, like the seed's v_1 = 0
        k = int(np.flatnonzero(np.isin(v_idx, shared))[0])
        v_val[k] = 0.0
    return u_idx.astype(np.int64), u_val, v_idx.astype(np.int64), v_val


def _axpy_result(out, inp):
    idx, val = as_pair(out, input=inp)
    idx = as_array(idx, "idx", kind="i", ndim=1, input=inp)
    val = as_array(val, "val", kind="f", ndim=1, input=inp)
    if idx.shape != val.shape:
        raise CaseFailure(f"idx and val have different lengths {idx.shape[0]} and {val.shape[0]}", input=inp)
    return idx, val


_ORDER_HINT = "u's entries first, in u's order, then the indices new to u in v's order"


def _check_axpy(call, u_idx, u_val, v_idx, v_val, r, work):
    left = np.flatnonzero(work)
    out = call(u_idx.copy(), u_val.copy(), v_idx.copy(), v_val.copy(), r, work)
    with blaming_leftovers(left):
        _verify_axpy(out, u_idx, u_val, v_idx, v_val, r)
    return work


def _verify_axpy(out, u_idx, u_val, v_idx, v_val, r):
    inp = dict(u_idx=u_idx, u_val=u_val, v_idx=v_idx, v_val=v_val, r=r)
    idx, val = _axpy_result(out, inp)
    e_idx, e_val = ref_axpy(u_idx, u_val, v_idx, v_val, r)
    if set(idx.tolist()) != set(e_idx.tolist()) or len(idx) != len(e_idx):
        raise CaseFailure("the result holds the wrong set of indices", input=inp, expected=e_idx, actual=idx,
                          hint="an index appears once; entries of v that are stored zeros add nothing new")
    assert_equal(idx, e_idx, "the order of the indices", input=inp, hint=_ORDER_HINT)
    assert_close(val, e_val, "val", input=inp, hint="each value is u_i + r * v_i")


@question("ex01.axpy_scatter", "u <- u + r*v with the scatter array")
def _axpy_scatter():
    def seed_example(call, rng):
        u_idx, u_val = (np.array(a) for a in SEED_U)
        v_idx, v_val = (np.array(a) for a in SEED_V)
        _check_axpy(call, u_idx.astype(np.int64), u_val, v_idx.astype(np.int64), v_val, SEED_R, np.zeros(15))

    def cancellation(call, rng):  # 2 + (-2) * 1 is exactly 0: the entry stays, as the prompt says
        _check_axpy(call, np.array([3], np.int64), np.array([2.0]), np.array([3, 1], np.int64),
                    np.array([1.0, 0.5]), -2.0, np.zeros(5))

    def random(call, rng):
        for trial in range(25):
            n = int(rng.integers(1, 60))
            nu = int(rng.integers(0, n + 1))
            overlap = int(rng.integers(0, nu + 1))
            nv = overlap + int(rng.integers(0, n - nu + 1))
            vecs = random_pair_vectors(rng, n, nu, nv, overlap)
            _check_axpy(call, *vecs, float(rng.uniform(-3, 3)) or 1.0, np.zeros(n + int(rng.integers(0, 5))))

    def work_clean(call, rng):
        work = np.zeros(40)
        for trial in range(10):
            u_idx, u_val, v_idx, v_val = random_pair_vectors(rng, 40, 12, 12, 5)
            _check_axpy(call, u_idx, u_val, v_idx, v_val, 1.5, work)
            assert_clean(work, input=dict(u_idx=u_idx, u_val=u_val, v_idx=v_idx, v_val=v_val, r=1.5),
                         hint="pass 2 clears the slots u shares with v, pass 3 the others")

    def inputs_unchanged(call, rng):
        vecs = random_pair_vectors(rng, 30, 10, 10, 4)
        before = snapshot(*vecs)
        out = call(*vecs, -0.5, np.zeros(30))
        assert_unchanged(before, vecs, ["u_idx", "u_val", "v_idx", "v_val"],
                         input=dict(zip(["u_idx", "u_val", "v_idx", "v_val"], before)))
        _verify_axpy(out, *before, -0.5)
        assert_new_arrays(list(out), vecs, input=dict(zip(["u_idx", "u_val", "v_idx", "v_val"], before)))

    def cost(call, rng):
        u_idx, u_val, v_idx, v_val = random_pair_vectors(rng, 1000, 300, 300, 100)
        w_small, w_big = np.zeros(1000), np.zeros(10_000_000)
        _check_axpy(call, u_idx, u_val, v_idx, v_val, 2.0, w_big)
        assert_cost_independent_of_n(lambda: call(u_idx, u_val, v_idx, v_val, 2.0, w_small),
                                     lambda: call(u_idx, u_val, v_idx, v_val, 2.0, w_big),
                                     n_small=1000, n_big=10_000_000)

    return [Case("the seed's worked example (n = 15, r = -2)", 1, seed_example),
            Case("an entry that cancels to exactly 0 stays in the result", 1, cancellation),
            Case("25 random vector pairs against a reference", 2, random),
            Case("work array all zeros after every call", 1, work_clean),
            Case("inputs not modified, new arrays returned", 1, inputs_unchanged),
            Case("cost does not grow with n (1e3 vs 1e7, same nnz)", 1, cost, timed=True)]


def ref_dot(u_idx, u_val, v_idx, v_val, n):
    a = np.zeros(n)
    b = np.zeros(n)
    a[u_idx] = u_val
    b[v_idx] = v_val
    return float(a @ b)


def _check_dot(call, vecs, work, copy=True):
    inp = dict(zip(["u_idx", "u_val", "v_idx", "v_val"], vecs))
    args = [a.copy() for a in vecs] if copy else vecs
    left = np.flatnonzero(work)
    got = as_number(call(*args, work), "the dot product", input=inp)
    expected = ref_dot(*vecs, len(work))
    with blaming_leftovers(left):
        # a float32 accumulator comes back as a Python float: recognise it by its error, which stays
        # within float32 roundings of the sum of |u_i v_i| (numba returns float32 scalars as float)
        scale = ref_dot(vecs[0], np.abs(vecs[1]), vecs[2], np.abs(vecs[3]), len(work))
        err = abs(got - expected)
        if err > 1e-9 * abs(expected) + 1e-12 and err <= 1e3 * float(np.finfo(np.float32).eps) * scale:
            raise CaseFailure("the dot product agrees with the reference only to float32 rounding",
                              input=inp, expected=expected, actual=got,
                              hint="add up in float64: start the sum at 0.0 (np.float32(0) or a float32 "
                                   "work array keeps about 6 digits)")
        assert_close(got, expected, "the dot product", input=inp,
                     hint="only indices present in both vectors contribute")


@question("ex01.sparse_dot", "the sparse dot product with the scatter array")
def _sparse_dot():
    def random(call, rng):
        work = np.zeros(80)
        for trial in range(25):
            nu, nv = int(rng.integers(0, 30)), int(rng.integers(0, 30))
            ov = int(rng.integers(0, min(nu, nv) + 1))
            _check_dot(call, random_pair_vectors(rng, 80, nu, nv, ov), work)

    def work_clean(call, rng):
        work = np.zeros(50)
        for trial in range(10):
            vecs = random_pair_vectors(rng, 50, 10, 10, 4)
            _check_dot(call, vecs, work)
            assert_clean(work, input=dict(zip(["u_idx", "u_val", "v_idx", "v_val"], vecs)))

    def inputs_unchanged(call, rng):
        vecs = random_pair_vectors(rng, 30, 10, 10, 4)
        before = snapshot(*vecs)
        _check_dot(call, vecs, np.zeros(30), copy=False)
        assert_unchanged(before, vecs, ["u_idx", "u_val", "v_idx", "v_val"])

    def cost(call, rng):
        vecs = random_pair_vectors(rng, 1000, 300, 300, 100)
        w_small, w_big = np.zeros(1000), np.zeros(10_000_000)
        _check_dot(call, vecs, w_small)
        assert_cost_independent_of_n(lambda: call(*vecs, w_small), lambda: call(*vecs, w_big),
                                     n_small=1000, n_big=10_000_000)

    return [Case("25 random pairs against a dense dot product", 2, random),
            Case("work array all zeros after every call", 1, work_clean),
            Case("inputs not modified", 1, inputs_unchanged),
            Case("cost does not grow with n (1e3 vs 1e7, same nnz)", 1, cost, timed=True)]


@question("ex01.from_dense", "gather the nonzeros of a dense vector")
def _from_dense():
    def random(call, rng):
        for trial in range(15):
            n = int(rng.integers(1, 50))
            x = rng.normal(size=n)
            x[rng.random(n) < 0.6] = 0.0
            if n > 2:
                x[int(rng.integers(0, n))] = 1e-300  # tiny but not zero
            inp = dict(x=x)
            idx, val = as_pair(call(x.copy()), input=inp)
            idx = as_array(idx, "idx", kind="i", ndim=1, input=inp)
            val = as_array(val, "val", kind="f", ndim=1, input=inp)
            e = np.flatnonzero(x)
            assert_equal(idx, e, "idx", input=inp, hint="every nonzero, however small or negative, "
                                                        "in increasing index order")
            assert_equal(val, x[e], "val", input=inp)

    def all_zero(call, rng):
        x = np.zeros(7)
        idx, val = as_pair(call(x), input=dict(x=x))
        idx = as_array(idx, "idx", kind="i", ndim=1, shape=(0,), input=dict(x=x))
        as_array(val, "val", kind="f", ndim=1, shape=(0,), input=dict(x=x))

    def inputs_unchanged(call, rng):
        x = rng.normal(size=20)
        x[::3] = 0.0
        before = snapshot(x)
        out = call(x)
        assert_unchanged(before, [x], ["x"])
        idx, val = as_pair(out, input=dict(x=x))
        assert_equal(as_array(idx, "idx", kind="i", ndim=1), np.flatnonzero(x), "idx", input=dict(x=x))
        assert_equal(as_array(val, "val", kind="f", ndim=1), x[x != 0], "val", input=dict(x=x))

    return [Case("15 random dense vectors", 2, random),
            Case("an all-zero vector gives empty int/float arrays", 1, all_zero),
            Case("input not modified", 1, inputs_unchanged)]


@question("ex01.drop_small", "drop entries with |value| <= tol, keeping the order")
def _drop_small():
    def random(call, rng):
        for trial in range(15):
            n = int(rng.integers(0, 30))
            idx = rng.permutation(100)[:n].astype(np.int64)
            val = rng.normal(size=n)
            tol = float(rng.uniform(0.1, 1.0))
            if n:
                val[int(rng.integers(0, n))] = tol  # exactly at the tolerance: dropped
                val[int(rng.integers(0, n))] = -2 * tol
            inp = dict(idx=idx, val=val, tol=tol)
            ri, rv = as_pair(call(idx.copy(), val.copy(), tol), input=inp)
            ri = as_array(ri, "idx", kind="i", ndim=1, input=inp)
            rv = as_array(rv, "val", kind="f", ndim=1, input=inp)
            keep = np.abs(val) > tol
            assert_equal(ri, idx[keep], "idx", input=inp,
                         hint="keep |value| > tol (negative values too), in the original order")
            assert_equal(rv, val[keep], "val", input=inp)

    def empty_results(call, rng):
        for idx, val, tol in ((np.empty(0, np.int64), np.empty(0), 0.5),
                              (np.array([4, 1, 7], np.int64), np.array([0.1, -0.2, 0.3]), 0.5)):
            inp = dict(idx=idx, val=val, tol=tol)
            ri, rv = as_pair(call(idx.copy(), val.copy(), tol), input=inp)
            as_array(ri, "idx", kind="i", ndim=1, shape=(0,), input=inp)
            as_array(rv, "val", kind="f", ndim=1, shape=(0,), input=inp)

    def inputs_unchanged(call, rng):
        idx = rng.permutation(50)[:20].astype(np.int64)
        val = rng.normal(size=20)
        before = snapshot(idx, val)
        for tol in (0.5, 1e9, -1.0):  # some dropped, all dropped, none dropped
            out = call(idx, val, tol)
            assert_unchanged(before, [idx, val], ["idx", "val"])
            ri, rv = as_pair(out)
            keep = np.abs(val) > tol
            assert_equal(as_array(ri, "idx", kind="i", ndim=1), idx[keep], "idx")
            assert_equal(as_array(rv, "val", kind="f", ndim=1), val[keep], "val")
            assert_new_arrays([ri, rv], [idx, val], input=dict(idx=idx, val=val, tol=tol))

    return [Case("15 random vectors, including values exactly at tol", 2, random),
            Case("an empty vector, and one with nothing kept: empty int and float arrays", 1, empty_results),
            Case("inputs not modified, new arrays returned", 1, inputs_unchanged)]
