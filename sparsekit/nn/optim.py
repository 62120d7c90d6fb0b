"""Optimisers over a model's ``parameters()``: SGD with momentum and Adam."""
import numpy as np

__all__ = ["SGD", "Adam"]


class SGD:
    """``v = momentum * v + g (+ weight_decay * p); p -= lr * v`` (PyTorch's convention)."""

    def __init__(self, lr=0.01, momentum=0.9, weight_decay=0.0):
        if lr <= 0 or not 0 <= momentum < 1 or weight_decay < 0:
            raise ValueError(f"need lr > 0, 0 <= momentum < 1, weight_decay >= 0; got {lr}, {momentum}, {weight_decay}")
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.state = {}

    def step(self, model):
        for key, p, g in model.parameters():
            if self.weight_decay and key[-1] == "W":
                g = g + self.weight_decay * p
            v = self.state.get(key)
            if v is None:
                v = self.state[key] = np.zeros_like(p)
            v *= self.momentum
            v += g
            p -= self.lr * v


class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction."""

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if lr <= 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"need lr > 0 and betas in [0, 1); got {lr}, {betas}")
        self.lr, self.b1, self.b2, self.eps, self.weight_decay = lr, betas[0], betas[1], eps, weight_decay
        self.state = {}
        self.t = 0

    def step(self, model):
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for key, p, g in model.parameters():
            if self.weight_decay and key[-1] == "W":
                g = g + self.weight_decay * p
            st = self.state.get(key)
            if st is None:
                st = self.state[key] = (np.zeros_like(p), np.zeros_like(p))
            m, v = st
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            p -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)
