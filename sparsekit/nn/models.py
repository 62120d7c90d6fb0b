"""Models: :class:`Sequential` plus the three networks the course uses.

* :func:`mlp` -- a multi-layer perceptron for the 8x8 digits.
* :func:`ds_cnn` -- a small depthwise-separable CNN for the digits
  (MobileNet's building block: 3x3 depthwise, then a 1x1 pointwise).
* :func:`mobilenet_v1` -- MobileNetV1 (Howard et al., 2017) at any width and
  resolution, with random weights and batch norms calibrated on a random
  input, ready for :func:`~sparsekit.nn.fold.fold_batchnorm`.
"""
from __future__ import annotations

import numpy as np

from .layers import (
    BatchNorm2d, Conv2d, Dense, DepthwiseConv2d, GlobalAvgPool2d, Layer, MatrixLayer,
    MaxPool2d, PointwiseConv2d, ReLU,
)

__all__ = ["Sequential", "mlp", "ds_cnn", "mobilenet_v1", "MOBILENET_V1_BLOCKS"]


class Sequential(Layer):
    """Layers applied in order; ``backward`` runs them in reverse."""

    def __init__(self, layers):
        super().__init__()
        layers = list(layers)
        for i, l in enumerate(layers):
            if not isinstance(l, Layer):
                raise TypeError(f"layers[{i}] is a {type(l).__name__}, not a sparsekit.nn Layer")
        self.layers = layers

    def forward(self, x, train=False):
        for l in self.layers:
            x = l.forward(x, train)
        return x

    def backward(self, dy):
        for l in reversed(self.layers):
            dy = l.backward(dy)
        return dy

    def parameters(self):
        """``(key, param, grad)`` for every parameter; keys are stable ``(layer index, name)``."""
        for i, l in enumerate(self.layers):
            for name, p in l.params.items():
                yield (i, name), p, l.grads[name]

    def matrix_layers(self):
        """The layers whose weight is a matrix (prunable, with sparse dispatch)."""
        return [l for l in self.layers if isinstance(l, MatrixLayer)]

    def apply_masks(self):
        for l in self.matrix_layers():
            l.apply_mask()

    def sparsify(self, layers=None, **kw):
        """Call :meth:`MatrixLayer.sparsify` on ``layers`` (default: every pointwise conv); returns the choices."""
        layers = [l for l in self.layers if isinstance(l, PointwiseConv2d)] if layers is None else layers
        return [l.sparsify(**kw) for l in layers]

    def densify(self):
        for l in self.matrix_layers():
            l.densify()

    def n_params(self):
        return int(sum(p.size for _, p, _ in self.parameters()))

    def __repr__(self):
        inner = "\n  ".join(repr(l) for l in self.layers)
        return f"Sequential(\n  {inner}\n)"


def mlp(sizes=(64, 256, 256, 10), *, rng=0, dtype=np.float64) -> Sequential:
    """Dense + ReLU layers of the given widths (no ReLU after the last)."""
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least an input and an output width, got {sizes}")
    rng = np.random.default_rng(rng)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(a, b, rng=rng, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(ReLU())
    return Sequential(layers)


def ds_cnn(in_channels=1, n_classes=10, widths=(32, 64, 128), *, rng=0, dtype=np.float64) -> Sequential:
    """A small depthwise-separable CNN for 8x8 images.

    conv3x3(in->w0)+BN+ReLU, [dw3x3+BN+ReLU, pw(w0->w1)+BN+ReLU], maxpool 2,
    [dw3x3+BN+ReLU, pw(w1->w2)+BN+ReLU], global average pool, dense(w2->classes).
    """
    rng = np.random.default_rng(rng)
    w0, w1, w2 = widths
    kw = dict(rng=rng, dtype=dtype)
    return Sequential([
        Conv2d(in_channels, w0, 3, padding=1, bias=False, **kw), BatchNorm2d(w0, dtype=dtype), ReLU(),
        DepthwiseConv2d(w0, 3, padding=1, **kw), BatchNorm2d(w0, dtype=dtype), ReLU(),
        PointwiseConv2d(w0, w1, bias=False, **kw), BatchNorm2d(w1, dtype=dtype), ReLU(),
        MaxPool2d(2),
        DepthwiseConv2d(w1, 3, padding=1, **kw), BatchNorm2d(w1, dtype=dtype), ReLU(),
        PointwiseConv2d(w1, w2, bias=False, **kw), BatchNorm2d(w2, dtype=dtype), ReLU(),
        GlobalAvgPool2d(),
        Dense(w2, n_classes, **kw),
    ])


#: (stride of the depthwise conv, output channels of the pointwise conv) at width 1.0
MOBILENET_V1_BLOCKS = [(1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
                       (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024)]


def mobilenet_v1(width=1.0, resolution=224, n_classes=1000, *, rng=0, dtype=np.float32,
                 calibrate=True) -> Sequential:
    """MobileNetV1 with random weights: conv3x3/2, 13 depthwise-separable blocks, avg pool, FC.

    With ``calibrate`` each BatchNorm's running statistics are set from one
    forward pass on a random input (so activations keep a sane scale through
    27 layers of random weights), with random ``gamma``/``beta`` around 1/0.
    Fold the BNs with :func:`~sparsekit.nn.fold.fold_batchnorm` for inference.
    """
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    rng = np.random.default_rng(rng)
    kw = dict(rng=rng, dtype=dtype)

    def ch(c):
        return max(8, int(round(c * width)))

    c = ch(32)
    layers = [Conv2d(3, c, 3, stride=2, padding=1, bias=False, **kw), BatchNorm2d(c, dtype=dtype), ReLU()]
    for stride, out in MOBILENET_V1_BLOCKS:
        o = ch(out)
        layers += [DepthwiseConv2d(c, 3, stride=stride, padding=1, **kw), BatchNorm2d(c, dtype=dtype), ReLU(),
                   PointwiseConv2d(c, o, bias=False, **kw), BatchNorm2d(o, dtype=dtype), ReLU()]
        c = o
    layers += [GlobalAvgPool2d(), Dense(c, n_classes, **kw)]
    model = Sequential(layers)
    for l in model.layers:
        if isinstance(l, BatchNorm2d):
            l.params["gamma"][...] = rng.uniform(0.8, 1.2, l.c).astype(dtype)
            l.params["beta"][...] = rng.uniform(-0.1, 0.1, l.c).astype(dtype)
    if calibrate:
        x = rng.standard_normal((1, 3, resolution, resolution)).astype(dtype)
        for l in model.layers:
            if isinstance(l, BatchNorm2d):
                l.momentum = 1.0
            x = l.forward(x, train=isinstance(l, BatchNorm2d))
            if isinstance(l, BatchNorm2d):
                l.momentum = 0.1
    return model
