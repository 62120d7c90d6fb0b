"""Exercise set 08: inference pieces: BN folding, sparse-or-dense by a threshold, im2col convolution."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .engine import Case, CaseFailure, question
from .helpers import as_array, as_tuple, assert_close, assert_unchanged, snapshot


def ref_fold_bn(W, b, gamma, beta, mean, var, eps):
    scale = gamma / np.sqrt(var + eps)
    return W * scale.reshape((-1,) + (1,) * (W.ndim - 1)), (b - mean) * scale + beta


def ref_conv2d(x, W, b, stride, pad):
    """Cross-correlation (what deep-learning frameworks call convolution), x: (C, H, W), W: (OC, C, k, k)."""
    k = W.shape[2]
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::stride, ::stride]  # (C, Ho, Wo, k, k)
    return np.einsum("chwij,ocij->ohw", win, W) + b[:, None, None]


def ref_im2col(x, k, stride, pad):
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::stride, ::stride]  # (C, Ho, Wo, k, k)
    C, Ho, Wo = win.shape[:3]
    return win.transpose(0, 3, 4, 1, 2).reshape(C * k * k, Ho * Wo)


def _bn_params(rng, oc):
    return (rng.uniform(0.5, 2.0, oc), rng.normal(size=oc), rng.normal(size=oc), rng.uniform(0.1, 2.0, oc))


_BN = ["W", "b", "gamma", "beta", "mean", "var"]


@question("ex08.fold_bn", "fold batch normalisation into the weights and bias")
def _fold_bn():
    def one(call, W, rng, eps=1e-5):
        oc = W.shape[0]
        b = rng.normal(size=oc)
        gamma, beta, mean, var = _bn_params(rng, oc)
        args = (W, b, gamma, beta, mean, var)
        inp = dict(zip(_BN, args), eps=eps)
        out = as_tuple(call(*(a.copy() for a in args), eps), 2, "the result", "W_folded, b_folded", input=inp)
        eW, eb = ref_fold_bn(*args, eps)
        w2 = as_array(out[0], "W_folded", kind="f", shape=W.shape, input=inp)
        b2 = as_array(out[1], "b_folded", kind="f", shape=(oc,), input=inp)
        hint = "BN(z) = gamma * (z - mean) / sqrt(var + eps) + beta, with z = W x + b"
        assert_close(w2, eW, "W_folded", input=inp, hint=hint)
        assert_close(b2, eb, "b_folded", input=inp, hint=hint)

    def dense_layers(call, rng):
        for _ in range(10):
            one(call, rng.normal(size=(int(rng.integers(1, 10)), int(rng.integers(1, 10)))), rng)

    def conv_layers(call, rng):
        for _ in range(5):
            one(call, rng.normal(size=(int(rng.integers(1, 6)), int(rng.integers(1, 4)), 3, 3)), rng)

    def eps_matters(call, rng):
        W = rng.normal(size=(3, 4))
        b = np.zeros(3)
        args = (W, b, np.ones(3), np.zeros(3), np.zeros(3), np.zeros(3) + 1e-4)
        inp = dict(zip(_BN, args), eps=1e-3)
        out = as_tuple(call(*(a.copy() for a in args), 1e-3), 2, "the result", "W_folded, b_folded", input=inp)
        assert_close(as_array(out[0], "W_folded", kind="f", input=inp), ref_fold_bn(*args, 1e-3)[0],
                     "W_folded", input=inp, hint="eps sits inside the square root")

    def inputs_unchanged(call, rng):
        W = rng.normal(size=(4, 5))
        args = (W, rng.normal(size=4)) + _bn_params(rng, 4)
        before = snapshot(*args)
        out = as_tuple(call(*args, 1e-5), 2, "the result", "W_folded, b_folded")
        assert_unchanged(before, list(args), _BN)
        eW, eb = ref_fold_bn(*before, 1e-5)
        assert_close(as_array(out[0], "W_folded", kind="f"), eW, "W_folded")
        assert_close(as_array(out[1], "b_folded", kind="f"), eb, "b_folded")

    return [Case("10 random dense layers", 2, dense_layers),
            Case("5 random conv layers (OC, C, 3, 3)", 1, conv_layers),
            Case("a tiny variance: eps matters", 1, eps_matters),
            Case("inputs not modified", 1, inputs_unchanged)]


@question("ex08.choose_format", "sparse or dense: pick by a sparsity threshold")
def _choose():
    def one(call, W, threshold):
        inp = dict(W=W, threshold=threshold)
        got = call(W.copy(), threshold)
        exp = "sparse" if np.mean(W == 0) > threshold else "dense"
        if got != exp:
            raise CaseFailure("wrong choice", input=inp, expected=exp, actual=got,
                              hint="sparsity is the fraction of exact zeros; only above the threshold "
                                   "(strictly) is the sparse kernel chosen")

    def random(call, rng):
        for _ in range(20):
            W = rng.normal(size=(int(rng.integers(2, 20)), int(rng.integers(2, 20))))
            W[rng.random(W.shape) < rng.uniform()] = 0.0
            one(call, W, float(rng.uniform(0.2, 0.9)))

    def at_threshold(call, rng):
        W = np.arange(1.0, 11.0).reshape(2, 5)
        W[0, :3] = 0.0  # 3 of 10 are zero: sparsity exactly 0.3
        one(call, W, 0.3)

    def small_not_zero(call, rng):
        for tiny in (1e-6, 1e-12, 1e-300):  # nonzero however small (np.isclose(W, 0) calls 1e-12 zero)
            one(call, np.full((4, 4), tiny), 0.5)

    return [Case("20 random matrices and thresholds", 2, random),
            Case("sparsity exactly at the threshold stays dense", 1, at_threshold),
            Case("tiny weights are not zeros", 1, small_not_zero)]


def _conv_setup(rng):
    C = int(rng.integers(1, 4))
    k = int(rng.choice([1, 3, 5]))
    stride = int(rng.integers(1, 3))
    pad = int(rng.integers(0, k // 2 + 1))
    H, Wd = int(rng.integers(k, 10)), int(rng.integers(k, 10))
    return rng.normal(size=(C, H, Wd)), k, stride, pad


@question("ex08.im2col", "im2col: unfold a (C, H, W) image into columns")
def _im2col():
    def one(call, x, k, stride, pad):
        inp = dict(x=x, k=k, stride=stride, pad=pad)
        exp = ref_im2col(x, k, stride, pad)
        got = as_array(call(x.copy(), k, stride, pad), "the columns", kind="f", ndim=2, input=inp)
        if got.shape != exp.shape:
            raise CaseFailure(f"the columns have shape {got.shape}, expected {exp.shape}", input=inp,
                              hint="rows: C * k * k; columns: H_out * W_out with "
                                   "H_out = (H + 2 pad - k) // stride + 1")
        assert_close(got, exp, "the columns", input=inp,
                     hint="row index (c, i, j) in that order; column index (out_row, out_col) row-major")

    def random(call, rng):
        for _ in range(15):
            one(call, *_conv_setup(rng))

    def padded(call, rng):
        one(call, rng.normal(size=(2, 4, 4)), 3, 1, 1)

    def inputs_unchanged(call, rng):
        x = rng.normal(size=(2, 5, 5))
        before = snapshot(x)
        got = call(x, 3, 1, 1)
        assert_unchanged(before, [x], ["x"])
        assert_close(as_array(got, "the columns", kind="f"), ref_im2col(x, 3, 1, 1), "the columns")

    return [Case("15 random images, kernels, strides and paddings", 2, random),
            Case("3 x 3 kernel, padding 1 keeps the size", 1, padded),
            Case("input not modified", 1, inputs_unchanged)]


@question("ex08.conv2d", "a convolution layer as one matrix product on im2col columns")
def _conv2d():
    def one(call, x, W, b, stride, pad):
        inp = dict(x=x, W=W, b=b, stride=stride, pad=pad)
        exp = ref_conv2d(x, W, b, stride, pad)
        got = as_array(call(x.copy(), W.copy(), b.copy(), stride, pad), "the output", kind="f", ndim=3,
                       input=inp)
        if got.shape != exp.shape:
            raise CaseFailure(f"the output has shape {got.shape}, expected (OC, H_out, W_out) = {exp.shape}",
                              input=inp)
        assert_close(got, exp, "the output", input=inp,
                     hint="like deep-learning frameworks: no kernel flip; add the bias per output channel")

    def random(call, rng):
        for _ in range(12):
            x, k, stride, pad = _conv_setup(rng)
            OC = int(rng.integers(1, 5))
            one(call, x, rng.normal(size=(OC, x.shape[0], k, k)), rng.normal(size=OC), stride, pad)

    def pointwise(call, rng):
        x = rng.normal(size=(3, 4, 5))
        one(call, x, rng.normal(size=(6, 3, 1, 1)), rng.normal(size=6), 1, 0)

    def inputs_unchanged(call, rng):
        x, W, b = rng.normal(size=(2, 5, 5)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
        before = snapshot(x, W, b)
        got = call(x, W, b, 1, 1)
        assert_unchanged(before, [x, W, b], ["x", "W", "b"])
        assert_close(as_array(got, "the output", kind="f"), ref_conv2d(x, W, b, 1, 1), "the output")

    return [Case("12 random layers against a direct convolution", 2, random),
            Case("a 1 x 1 (pointwise) convolution", 1, pointwise),
            Case("inputs not modified", 1, inputs_unchanged)]
