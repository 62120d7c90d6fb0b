"""Training loop with optional pruning masks, and accuracy.

:func:`train` runs mini-batch epochs of forward, softmax cross-entropy,
backward, optimiser step and mask re-application; a ``pruner`` callback
(see :class:`sparsekit.prune.GradualPruner`) may change the masks at any
step, which is how gradual pruning with fine-tuning is done.
"""
import numpy as np

from .loss import softmax_cross_entropy

__all__ = ["train", "accuracy", "predict"]


def predict(model, X, batch_size=512):
    out = [model.forward(X[i:i + batch_size], train=False).argmax(axis=1) for i in range(0, len(X), batch_size)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def accuracy(model, X, y) -> float:
    """Fraction of ``X`` classified as ``y``."""
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
    return float((predict(model, X) == y).mean())


def train(model, X, y, optimizer, *, epochs, batch_size=64, seed=0, pruner=None, layers=None, step0=0):
    """Train ``model`` in place; returns the per-epoch mean losses.

    ``pruner`` -- if given, a :class:`sparsekit.prune.GradualPruner` -- is asked
    ``pruner.step(step, [layer.W for layer in layers])`` before every step, and
    each mask it returns is set on its layer (``layers`` defaults to the model's
    matrix layers).  Masks already set on the layers are kept and re-applied after
    every optimiser step, so pruned weights stay exactly zero.
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
    rng = np.random.default_rng(seed)
    layers = model.matrix_layers() if layers is None else layers
    losses, step = [], step0
    for _ in range(epochs):
        order = rng.permutation(len(X))
        total = 0.0
        for i in range(0, len(X), batch_size):
            idx = order[i:i + batch_size]
            if pruner is not None:
                masks = pruner.step(step, [l.W for l in layers])
                for l, m in zip(layers, masks):
                    if l.mask is None or l.mask is not m:
                        l.set_mask(m)
            logits = model.forward(X[idx], train=True)
            loss, d = softmax_cross_entropy(logits, y[idx])
            model.backward(d)
            model.apply_masks()
            optimizer.step(model)
            model.apply_masks()
            total += loss * len(idx)
            step += 1
        losses.append(total / len(X))
    return losses
