"""Exercise set 04: pruning masks (magnitude, block, N:M) and the cubic sparsity schedule."""
from __future__ import annotations

import numpy as np

from .engine import Case, CaseFailure, LearnerError, question
from .helpers import as_array, as_number, assert_close, assert_equal, assert_unchanged, snapshot


def ref_magnitude_mask(W, amount):
    k = round(amount * W.size)
    order = np.argsort(np.abs(W), axis=None, kind="stable")
    keep = np.ones(W.size, dtype=bool)
    keep[order[:k]] = False
    return keep.reshape(W.shape)


def ref_block_mask(W, blocksize, amount):
    r, c = blocksize
    m, n = W.shape
    norms = np.sqrt((W.reshape(m // r, r, n // c, c) ** 2).sum(axis=(1, 3)))
    k = round(amount * norms.size)
    order = np.argsort(norms, axis=None, kind="stable")
    keep = np.ones(norms.size, dtype=bool)
    keep[order[:k]] = False
    return np.repeat(np.repeat(keep.reshape(norms.shape), r, axis=0), c, axis=1)


def ref_nm_mask(W, n, m):
    rows, cols = W.shape
    groups = np.abs(W).reshape(rows, cols // m, m)
    order = np.argsort(-groups, axis=2, kind="stable")
    keep = np.zeros_like(groups, dtype=bool)
    np.put_along_axis(keep, order[:, :, :n], True, axis=2)
    return keep.reshape(rows, cols)


def ref_cubic(t, s_init, s_final, t_start, t_end):
    if t <= t_start:
        return s_init
    if t >= t_end:
        return s_final
    return s_final + (s_init - s_final) * (1.0 - (t - t_start) / (t_end - t_start)) ** 3


def _weights(rng, shape):
    return rng.normal(size=shape)  # continuous values: no ties in |w|


def _mask(out, shape, inp):
    return as_array(out, "the mask", kind="b", shape=shape, input=inp)


_MASK_HINT = "True keeps a weight; prune the smallest magnitudes, whatever their sign"


@question("ex04.magnitude_mask", "global magnitude pruning mask")
def _magnitude():
    def random(call, rng):
        for _ in range(15):
            shape = (int(rng.integers(1, 12)), int(rng.integers(1, 12)))
            W = _weights(rng, shape)
            amount = float(rng.choice([0.0, 0.3, 0.5, 0.75, 0.9, 1.0, rng.uniform()]))
            inp = dict(W=W, amount=amount)
            mask = _mask(call(W.copy(), amount), shape, inp)
            exp = ref_magnitude_mask(W, amount)
            if mask.sum() != exp.sum():
                raise CaseFailure(f"the mask keeps {int(mask.sum())} weights, expected {int(exp.sum())}",
                                  input=inp, hint="prune round(amount * W.size) weights, with Python's round: "
                                                  "a half goes to the even number (round(38.5) == 38)")
            assert_equal(mask, exp, "the mask", input=inp, hint=_MASK_HINT)

    def rounding(call, rng):
        W = _weights(rng, (3, 4))  # 12 weights, amount 0.3 -> round(3.6) = 4 pruned
        inp = dict(W=W, amount=0.3)
        mask = _mask(call(W.copy(), 0.3), (3, 4), inp)
        assert_equal(int(mask.sum()), 8, "the number of kept weights", input=inp,
                     hint="the number pruned is round(amount * W.size), as torch.nn.utils.prune does; Python's round "
                          "sends a half to the even number (round(38.5) == 38)")

    def inputs_unchanged(call, rng):
        W = _weights(rng, (8, 8))
        before = snapshot(W)
        mask = call(W, 0.5)
        assert_unchanged(before, [W], ["W"])
        assert_equal(_mask(mask, W.shape, None), ref_magnitude_mask(W, 0.5), "the mask")

    return [Case("15 random matrices and amounts", 2, random),
            Case("the count is round(amount * size)", 1, rounding),
            Case("input not modified (return a mask, do not zero W)", 1, inputs_unchanged)]


@question("ex04.block_mask", "block pruning mask by block L2 norm")
def _block():
    def random(call, rng):
        for _ in range(15):
            r, c = [(1, 4), (4, 1), (2, 2), (1, 2), (2, 4)][int(rng.integers(0, 5))]
            shape = (r * int(rng.integers(1, 6)), c * int(rng.integers(1, 6)))
            W = _weights(rng, shape)
            amount = float(rng.choice([0.25, 0.5, 0.8, rng.uniform()]))
            inp = dict(W=W, blocksize=(r, c), amount=amount)
            mask = _mask(call(W.copy(), (r, c), amount), shape, inp)
            assert_equal(mask, ref_block_mask(W, (r, c), amount), "the mask", input=inp,
                         hint="score each r x c block by its L2 norm and prune round(amount * n_blocks) "
                              "whole blocks (Python's round: a half goes to the even number)")

    def whole_blocks(call, rng):
        W = _weights(rng, (8, 8))
        inp = dict(W=W, blocksize=(1, 4), amount=0.5)
        mask = _mask(call(W.copy(), (1, 4), 0.5), (8, 8), inp)
        blocks = mask.reshape(8, 1, 2, 4)
        if not np.all(blocks.all(axis=(1, 3)) | ~blocks.any(axis=(1, 3))):
            raise CaseFailure("some 1 x 4 blocks are only partly pruned", input=inp, actual=mask,
                              hint="a block is kept or pruned as a whole; blocksize is (rows, cols)")

    def bad_shape(call, rng):
        ok = _weights(rng, (8, 4))  # a shape that does fit must still work
        assert_equal(_mask(call(ok.copy(), (4, 1), 0.5), ok.shape, None), ref_block_mask(ok, (4, 1), 0.5),
                     "the mask of an 8 x 4 matrix with 4 x 1 blocks")
        W = _weights(rng, (6, 6))
        try:
            call(W, (4, 1), 0.5)
        except LearnerError as exc:  # the learner's exception arrives wrapped
            if isinstance(exc.exc, ValueError):
                return
            raise CaseFailure(f"expected a ValueError, got {exc}", input=dict(W_shape=(6, 6), blocksize=(4, 1)))
        raise CaseFailure("a 6 x 6 matrix cannot be cut into 4 x 1 blocks, but no ValueError was raised",
                          input=dict(W_shape=(6, 6), blocksize=(4, 1)),
                          hint="check that both dimensions are multiples of the block shape")

    return [Case("15 random matrices, block shapes and amounts", 2, random),
            Case("blocks are pruned whole", 1, whole_blocks),
            Case("ValueError when the shape is not a multiple of the block", 1, bad_shape)]


@question("ex04.nm_mask", "N:M structured sparsity mask")
def _nm():
    def random(call, rng):
        for _ in range(15):
            n, m = [(2, 4), (1, 4), (1, 2), (4, 8), (3, 4)][int(rng.integers(0, 5))]
            shape = (int(rng.integers(1, 8)), m * int(rng.integers(1, 5)))
            W = _weights(rng, shape)
            inp = dict(W=W, n=n, m=m)
            mask = _mask(call(W.copy(), n, m), shape, inp)
            assert_equal(mask, ref_nm_mask(W, n, m), "the mask", input=inp,
                         hint="in each group of m consecutive weights of a row, keep the n largest |w|")

    def counts(call, rng):
        W = _weights(rng, (6, 16))
        inp = dict(W=W, n=2, m=4)
        mask = _mask(call(W.copy(), 2, 4), (6, 16), inp)
        per_group = mask.reshape(6, 4, 4).sum(axis=2)
        if not np.all(per_group == 2):
            raise CaseFailure("not every group of 4 along a row keeps exactly 2 weights", input=inp,
                              actual=per_group, hint="groups run along the rows (the last axis)")

    def inputs_unchanged(call, rng):
        W = _weights(rng, (4, 8))
        before = snapshot(W)
        mask = call(W, 2, 4)
        assert_unchanged(before, [W], ["W"])
        assert_equal(_mask(mask, W.shape, None), ref_nm_mask(W, 2, 4), "the mask")

    return [Case("15 random matrices and N:M patterns", 2, random),
            Case("exactly 2 of every 4 kept", 1, counts),
            Case("input not modified", 1, inputs_unchanged)]


@question("ex04.cubic_sparsity", "the cubic sparsity schedule of gradual pruning (Zhu & Gupta)")
def _cubic():
    def random(call, rng):
        for _ in range(10):
            s_i, s_f = float(rng.uniform(0, 0.3)), float(rng.uniform(0.5, 0.95))
            t0 = int(rng.integers(0, 50))
            t1 = t0 + int(rng.integers(10, 200))
            for t in np.linspace(t0 + 1, t1 - 1, 7).astype(int):
                inp = dict(t=int(t), s_init=s_i, s_final=s_f, t_start=t0, t_end=t1)
                got = as_number(call(int(t), s_i, s_f, t0, t1), "the sparsity", input=inp)
                assert_close(got, ref_cubic(int(t), s_i, s_f, t0, t1), "the sparsity", input=inp,
                             hint="the remaining distance to s_final shrinks like (1 - progress)^3")

    def ends(call, rng):
        for t, exp in ((0, 0.1), (10, 0.1), (110, 0.9), (500, 0.9)):
            inp = dict(t=t, s_init=0.1, s_final=0.9, t_start=10, t_end=110)
            got = as_number(call(t, 0.1, 0.9, 10, 110), "the sparsity", input=inp)
            assert_close(got, exp, "the sparsity", input=inp,
                         hint="before t_start the sparsity is s_init, after t_end it is s_final")

    def early_steep(call, rng):
        # the schedule prunes fast early: a quarter of the way, more than half the change is done
        inp = dict(t=25, s_init=0.0, s_final=0.8, t_start=0, t_end=100)
        got = as_number(call(25, 0.0, 0.8, 0, 100), "the sparsity", input=inp)
        assert_close(got, ref_cubic(25, 0.0, 0.8, 0, 100), "the sparsity", input=inp)

    return [Case("70 points on 10 random schedules", 2, random),
            Case("flat before t_start and after t_end", 1, ends),
            Case("fast early pruning (t = 25 of 100)", 1, early_steep)]
