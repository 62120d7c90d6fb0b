"""Exercise set 07: speedups, break-even sparsity and a latency model from timings."""
from __future__ import annotations

import numpy as np

from .engine import Case, CaseFailure, question
from .helpers import as_number, as_tuple, assert_close, assert_unchanged, snapshot


def ref_break_even(sparsity, speedup):
    s = np.asarray(sparsity, dtype=float)
    v = np.asarray(speedup, dtype=float)
    above = np.flatnonzero(v >= 1.0)
    if above.size == 0:
        return float("nan")
    j = int(above[0])
    if j == 0:
        return float(s[0])
    return float(s[j - 1] + (1.0 - v[j - 1]) * (s[j] - s[j - 1]) / (v[j] - v[j - 1]))


def _timings(rng, n, centre):
    return centre * np.exp(rng.normal(0, 0.1, n)) + rng.exponential(centre * 0.5, n) * (rng.random(n) < 0.2)


@question("ex07.median_speedup", "speedup from repeated timings (median over median)")
def _median_speedup():
    def random(call, rng):
        for _ in range(15):
            nd, ns = int(rng.integers(3, 12)), int(rng.integers(3, 12))
            dense = _timings(rng, nd, float(rng.uniform(1e-4, 1e-2)))
            sparse = _timings(rng, ns, float(rng.uniform(1e-4, 1e-2)))
            inp = dict(dense_times=dense, sparse_times=sparse)
            got = as_number(call(dense.copy(), sparse.copy()), "the speedup", input=inp)
            assert_close(got, np.median(dense) / np.median(sparse), "the speedup", input=inp,
                         hint="speedup > 1 means the sparse code is faster; the median ignores outliers")

    def outlier(call, rng):
        dense = np.array([2.0, 2.0, 2.0, 2.0, 50.0])  # one run hit by a noisy neighbour
        sparse = np.array([1.0, 1.0, 1.0])
        inp = dict(dense_times=dense, sparse_times=sparse)
        got = as_number(call(dense, sparse), "the speedup", input=inp)
        assert_close(got, 2.0, "the speedup", input=inp, hint="one slow run must not move the result")

    def inputs_unchanged(call, rng):
        dense, sparse = _timings(rng, 7, 1e-3), _timings(rng, 6, 5e-4)
        before = snapshot(dense, sparse)
        got = call(dense, sparse)
        assert_unchanged(before, [dense, sparse], ["dense_times", "sparse_times"])
        assert_close(as_number(got, "the speedup"), np.median(before[0]) / np.median(before[1]), "the speedup")

    return [Case("15 random sets of timings", 2, random),
            Case("an outlier run does not move the speedup", 1, outlier),
            Case("inputs not modified (no in-place sort)", 1, inputs_unchanged)]


@question("ex07.break_even", "break-even sparsity by linear interpolation")
def _break_even():
    def one(call, s, v):
        inp = dict(sparsity=s, speedup=v)
        got = as_number(call(s.copy(), v.copy()), "the break-even sparsity", input=inp)
        exp = ref_break_even(s, v)
        if np.isnan(exp) != np.isnan(got):
            raise CaseFailure("the break-even sparsity is wrong", input=inp, expected=exp, actual=got,
                              hint="return nan when the speedup never reaches 1")
        assert_close(got, exp, "the break-even sparsity", input=inp,
                     hint="interpolate linearly between the last point below 1 and the first at or above")

    def random(call, rng):
        for _ in range(15):
            s = np.round(np.sort(rng.choice(np.arange(1, 20), size=int(rng.integers(3, 10)), replace=False)) * 0.05, 2)
            a = float(rng.uniform(1.5, 4.0))
            v = 0.4 + a * (s - s[0]) / (s[-1] - s[0] + 1e-9) * rng.uniform(0.9, 1.1, s.size)
            v = np.maximum.accumulate(v)
            one(call, s, v)

    def at_start(call, rng):
        one(call, np.array([0.1, 0.3, 0.5]), np.array([1.2, 1.5, 2.0]))

    def never(call, rng):
        one(call, np.array([0.1, 0.3, 0.5, 0.7]), np.array([0.3, 0.5, 0.7, 0.95]))

    def exact(call, rng):
        one(call, np.array([0.1, 0.3, 0.5, 0.7]), np.array([0.5, 1.0, 1.4, 2.0]))
        one(call, np.array([0.1, 0.3, 0.5]), np.array([0.5, 0.8, 1.0]))  # reaches 1 only at its last point

    def first_crossing(call, rng):  # measured curves wobble: the first crossing counts, not the last
        one(call, np.array([0.1, 0.3, 0.5, 0.7]), np.array([0.5, 1.5, 0.8, 2.0]))

    return [Case("15 random speedup curves", 2, random),
            Case("a curve that dips below 1 again: the first crossing", 1, first_crossing),
            Case("already faster at the first sparsity", 1, at_start),
            Case("never faster: nan", 1, never),
            Case("a point exactly at speedup 1", 1, exact)]


def _slope_intercept(out, inp) -> list:
    """The learner's (slope, intercept) as two floats; np.polyfit's array of two is fine too."""
    if isinstance(out, np.ndarray) and out.shape == (2,):
        out = tuple(out)
    slope, intercept = as_tuple(out, 2, "the result", "slope, intercept", input=inp)
    return [as_number(slope, "slope", inp), as_number(intercept, "intercept", inp)]


@question("ex07.latency_fit", "a straight-line latency model: latency = slope * sparsity + intercept")
def _latency_fit():
    def random(call, rng):
        for _ in range(15):
            s = np.sort(rng.uniform(0, 0.95, int(rng.integers(4, 12))))
            lat = float(rng.uniform(2, 10)) * (1 - 0.8 * s) + rng.normal(0, 0.1, s.size)
            inp = dict(sparsity=s, latency=lat)
            got = _slope_intercept(call(s.copy(), lat.copy()), inp)
            assert_close(got, np.polyfit(s, lat, 1), "(slope, intercept)", input=inp,
                         hint="least squares in the latency; the slope is negative when sparsity helps")

    def exact_line(call, rng):
        s = np.array([0.0, 0.5, 0.9])
        lat = 10.0 - 8.0 * s
        inp = dict(sparsity=s, latency=lat)
        assert_close(_slope_intercept(call(s, lat), inp), [-8.0, 10.0], "(slope, intercept)", input=inp)

    return [Case("15 random noisy measurements", 2, random),
            Case("points exactly on a line", 1, exact_line)]
