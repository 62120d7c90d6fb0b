"""Batch-norm folding: merge an inference-mode BatchNorm into the layer before it.

``BN(conv(x)) = s * (W x + b - mean) + beta`` with ``s = gamma / sqrt(var + eps)``
is again a convolution, with weights ``s[:, None] * W`` and bias
``s * (b - mean) + beta``.  Folding removes a pass over the activations and
keeps zero weights zero, so a pruned layer stays exactly as sparse.
"""
import copy

import numpy as np

from .layers import BatchNorm2d, Conv2d, DepthwiseConv2d, Layer, ReLU

__all__ = ["fold_batchnorm", "fuse_relu"]


def _fold_into(layer: Layer, bn: BatchNorm2d) -> Layer:
    new = copy.deepcopy(layer)
    W = new.params["W"]
    dt = W.dtype
    s = bn.params["gamma"] / np.sqrt(bn.running_var + bn.eps)
    b = new.params.get("b", np.zeros(W.shape[0], dt))
    new.params["W"] = (W * s.reshape((-1,) + (1,) * (W.ndim - 1))).astype(dt)
    new.params["b"] = (s * (b - bn.running_mean) + bn.params["beta"]).astype(dt)
    new.grads = {k: np.zeros_like(v) for k, v in new.params.items()}
    if getattr(new, "kernel", None) is not None:
        new.kernel = None
    return new


def fold_batchnorm(model):
    """A copy of ``model`` (a :class:`~sparsekit.nn.models.Sequential`) with every BN folded away.

    Each :class:`BatchNorm2d` must follow a :class:`Conv2d` (pointwise
    included) or :class:`DepthwiseConv2d`; anything else raises ``ValueError``.
    """
    from .models import Sequential

    out = []
    for layer in model.layers:
        if isinstance(layer, BatchNorm2d):
            if not out or not isinstance(out[-1], (Conv2d, DepthwiseConv2d)):
                prev = type(out[-1]).__name__ if out else "nothing"
                raise ValueError(f"BatchNorm2d must follow a convolution to be folded, it follows {prev}")
            if out[-1].params["W"].shape[0] != layer.c:
                raise ValueError("BatchNorm2d channels do not match the convolution's output channels")
            out[-1] = _fold_into(out[-1], layer)
        else:
            out.append(copy.deepcopy(layer))
    return Sequential(out)


def fuse_relu(model):
    """A copy of ``model`` where each ReLU after a convolution is done inside it (inference only).

    The convolution clamps its output in the same pass that adds the bias,
    which saves a full read and write of the activations per layer.  The
    fused model refuses ``forward(..., train=True)``.
    """
    from .models import Sequential

    out = []
    for layer in model.layers:
        if isinstance(layer, ReLU) and out and isinstance(out[-1], (Conv2d, DepthwiseConv2d)) and not out[-1].relu:
            out[-1].relu = True
        else:
            out.append(copy.deepcopy(layer))
    return Sequential(out)
