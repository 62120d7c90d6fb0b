"""Layers with a forward and a backward pass, NCHW, in numpy + numba.

Every layer has ``params`` and ``grads`` (dicts of arrays with the same
keys), ``forward(x, train=False)`` (which caches what ``backward`` needs when
``train`` is true) and ``backward(dy) -> dx`` (which fills ``grads``).

Layers whose weight is a matrix -- :class:`Dense`, :class:`Conv2d` (im2col:
``W`` is ``(out, in * kh * kw)``) and :class:`PointwiseConv2d` (``W`` is
``(out, in)``) -- can be pruned (``mask``) and have **automatic sparse
dispatch**: :meth:`MatrixLayer.sparsify` stores the pruned weight in the
format :func:`sparsekit.prune.to_sparse` picks (dense, CSR or BCSR, by the
measured break-even sparsity), and inference then runs ``kernel @ X``.  A
layer with a pruning mask does this by itself at its first inference call
(and again after training changed it).  The call is the same either way;
the choice is made inside the layer.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..formats.validation import FLOAT_DTYPES
from ..kernels.bias_relu import bias_relu_
from ..kernels.conv_depthwise import depthwise3x3_pad1, depthwise_backward, depthwise_forward
from ..kernels.im2col import col2im, im2col, pad_nchw

__all__ = [
    "Layer", "MatrixLayer", "Dense", "Conv2d", "PointwiseConv2d", "DepthwiseConv2d",
    "BatchNorm2d", "ReLU", "MaxPool2d", "GlobalAvgPool2d", "Flatten",
]


def _check_int(name, v, lo=1):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Integral, np.integer)) or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    return int(v)


def _check_ints(layer, names_and_bounds):
    """``_check_int`` on attributes of ``layer`` (plain ints >= their bound pass in ~0.1 us)."""
    for name, lo in names_and_bounds:
        v = getattr(layer, name)
        if type(v) is not int or v < lo:
            _check_int(f"{type(layer).__name__}.{name}", v, lo)


_FLOATS = FLOAT_DTYPES  # what every numba loop of the layers is compiled for


def _check_dtype(dtype):
    dt = np.dtype(dtype)
    if dt not in _FLOATS:
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def _check_input(layer, x, ndim, channels=None):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{type(layer).__name__} expects a numpy array, got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{type(layer).__name__} expects a {ndim}-D input, got shape {x.shape}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{type(layer).__name__} expects {channels} channels on axis 1, got shape {x.shape}")
    if x.dtype not in _FLOATS:
        raise TypeError(f"{type(layer).__name__} expects a float32 or float64 array, got dtype {x.dtype}")


def _check_array(layer, x, min_ndim=1):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{type(layer).__name__} expects a numpy array, got {type(x).__name__}")
    if x.ndim < min_ndim:
        raise ValueError(f"{type(layer).__name__} expects at least a {min_ndim}-D input, got shape {x.shape}")


class Layer:
    """Base class: no parameters, identity.

    ``forward(x, train=True)`` keeps what ``backward(dy)`` needs and the shape of its
    output; ``backward`` checks ``dy`` against that shape before any loop (numba kernels
    included) sees it, and refuses to run without a training forward pass first.
    """

    def __init__(self):
        self.params: dict = {}
        self.grads: dict = {}

    def forward(self, x, train: bool = False):
        return x

    def backward(self, dy):
        return dy

    #: integer attributes a numba loop trusts, with their lower bounds (checked before each pass)
    _SIZES: tuple = ()

    def _kept(self, y):
        """Remember the shape of a training forward pass's output ``y`` and the layer's sizes
        (returns ``y``)."""
        self._y_shape = y.shape
        self._fwd_sizes = tuple(getattr(self, name) for name, _ in self._SIZES)
        return y

    def _check_sizes(self, backward=False):
        """Refuse sizes assigned by hand that are no integers >= their bound or, in ``backward``,
        differ from those of the forward pass the gradient belongs to."""
        _check_ints(self, self._SIZES)
        if backward:
            for (name, _), old in zip(self._SIZES, self._fwd_sizes):
                if getattr(self, name) != old:
                    raise ValueError(f"{type(self).__name__}.{name} changed since the forward pass "
                                     f"({old} -> {getattr(self, name)}); run forward(x, train=True) again")

    def _check_grad(self, dy):
        """Refuse a ``dy`` that is not the gradient of the last training forward's output."""
        name = type(self).__name__
        shape = getattr(self, "_y_shape", None)
        if shape is None:
            raise RuntimeError(f"{name}.backward needs a forward(x, train=True) first")
        if not isinstance(dy, np.ndarray):
            raise TypeError(f"{name}.backward expects a numpy array, got {type(dy).__name__}")
        if dy.shape != shape:
            raise ValueError(f"{name}.backward expects dy of shape {shape} (the output of the last "
                             f"forward(train=True)), got {dy.shape}")
        if dy.dtype not in _FLOATS:
            raise TypeError(f"{name}.backward expects a float32 or float64 array, got dtype {dy.dtype}")

    def _check_param(self, name, shape, dtype=None, where="params"):
        """Refuse a parameter (or gradient buffer) that a numba loop would index past its end;
        returns it.  ``dtype=None`` accepts either float dtype.

        ``params`` and ``grads`` are plain dicts a user may assign into (loading weights,
        trying things); the loops trust the shapes the layer was built with.
        """
        a = getattr(self, where).get(name)
        ok = isinstance(a, np.ndarray) and a.shape == shape
        if not ok or (a.dtype != dtype if dtype is not None else a.dtype not in _FLOATS):
            want = "float32 or float64" if dtype is None else str(np.dtype(dtype))
            got = f"{a.dtype} array of shape {a.shape}" if isinstance(a, np.ndarray) else repr(type(a).__name__)
            raise ValueError(f"{type(self).__name__}.{where}[{name!r}] must be a {want} array "
                             f"of shape {shape}, got {got}")
        return a

    def __call__(self, x):
        return self.forward(x, train=False)

    def __repr__(self):
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"


class MatrixLayer(Layer):
    """A layer whose weight ``params['W']`` is a matrix: prunable, with sparse dispatch."""

    prunable = True

    def __init__(self):
        super().__init__()
        self.mask = None  # boolean keep-mask of W's shape, or None
        self.relu = False  # a ReLU fused in for inference (see sparsekit.nn.fold.fuse_relu)
        self.kernel = None  # what inference multiplies by: W, a CSR or a BCSR
        self.choice = None  # choose_format's report for the current kernel

    @property
    def W(self):
        return self.params["W"]

    def set_mask(self, mask):
        mask = np.asarray(mask)
        if mask.shape != self.W.shape or mask.dtype != bool:
            raise ValueError(f"mask must be a bool array of shape {self.W.shape}, got {mask.dtype} {mask.shape}")
        self.mask = mask
        self.W[...] = self.W * mask
        self.kernel = None

    def apply_mask(self):
        """Zero the pruned weights and their gradients (call after each optimiser step)."""
        if self.mask is not None:
            self.W[...] = self.W * self.mask
            if "W" in self.grads:
                self.grads["W"][...] = self.grads["W"] * self.mask

    def sparsify(self, blocksizes=None, *, table=None, force=None):
        """Store ``W`` for inference in the format :func:`~sparsekit.prune.to_sparse` picks.

        Returns the decision (a dict; ``force`` skips it: ``"dense"``,
        ``"csr"`` or a block shape).  The stored kernel is a copy of ``W``: a new array
        assigned to ``params["W"]`` is noticed at the next inference (the kernel is rebuilt
        with the same arguments), but after editing ``W`` in place call ``sparsify`` again
        (or :meth:`set_mask`, or :meth:`densify`).
        """
        from ..prune import choose_format, to_sparse

        W = self.W
        if force is None:
            self.choice = choose_format(W, blocksizes, table)
        else:
            self.choice = {"format": "forced", "force": force}
        self.kernel = to_sparse(W, blocksizes, dtype=W.dtype, table=table, force=force)
        self._kernel_of = (W, W.shape, W.dtype, dict(blocksizes=blocksizes, table=table, force=force))
        return self.choice

    def densify(self):
        self.kernel = None
        self.choice = None

    def _kernel_current(self) -> bool:
        """False when ``params["W"]`` is another array (or reshaped, retyped) than the kernel's."""
        made = getattr(self, "_kernel_of", None)
        W = self.W
        return made is not None and made[0] is W and made[1] == W.shape and made[2] == W.dtype

    @property
    def is_sparse(self) -> bool:
        return self.kernel is not None and not isinstance(self.kernel, np.ndarray)

    def _matmul(self, X, train):
        """``W @ X[n]`` for each ``n`` of a 3-D ``X`` (n, K, P), through the sparse kernel when set."""
        if train:
            self.kernel = None  # weights are changing; a stored kernel would go stale
            return np.matmul(self.W, X)
        if self.kernel is not None and not self._kernel_current():
            self.sparsify(**self._kernel_of[3])  # new weights assigned: rebuild with the same arguments
        if self.kernel is None and self.mask is not None:
            self.sparsify()  # a pruned layer picks its format at its first inference
        if not self.is_sparse:
            return np.matmul(self.W, X)
        if X.shape[0] == 1:  # batch 1 (inference): no copy of the product
            return np.ascontiguousarray(self.kernel @ X[0])[None]
        out = np.empty((X.shape[0], self.W.shape[0], X.shape[2]), dtype=X.dtype)
        for n in range(X.shape[0]):
            out[n] = self.kernel @ X[n]
        return out


class Dense(MatrixLayer):
    """``y = x @ W.T + b`` with ``W`` of shape ``(out_features, in_features)``."""

    def __init__(self, in_features, out_features, *, rng=None, dtype=np.float64):
        super().__init__()
        i, o = _check_int("in_features", in_features), _check_int("out_features", out_features)
        rng = np.random.default_rng(rng)
        dt = _check_dtype(dtype)
        self.params = {"W": (rng.standard_normal((o, i)) * np.sqrt(2.0 / i)).astype(dt), "b": np.zeros(o, dt)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x, train=False):
        _check_input(self, x, 2, self.W.shape[1])
        if train:
            self._x = x
        y = self._matmul(np.ascontiguousarray(x.T)[None], train)[0].T + self.params["b"]
        return self._kept(y) if train else y

    def backward(self, dy):
        self._check_grad(dy)
        self.grads["W"][...] = dy.T @ self._x
        self.grads["b"][...] = dy.sum(axis=0)
        return dy @ self.W


class Conv2d(MatrixLayer):
    """A ``k x k`` convolution by im2col: ``Y[n] = W @ cols(X[n]) + b``.

    ``W`` has shape ``(out_channels, in_channels * k * k)`` (the im2col
    matrix; :attr:`weight4d` gives the usual 4-D view).
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, *, stride=1, padding=0, rng=None,
                 dtype=np.float64, bias=True):
        super().__init__()
        self.cin = _check_int("in_channels", in_channels)
        self.cout = _check_int("out_channels", out_channels)
        self.k = _check_int("kernel_size", kernel_size)
        self.stride = _check_int("stride", stride)
        self.padding = _check_int("padding", padding, lo=0)
        rng = np.random.default_rng(rng)
        dt = _check_dtype(dtype)
        fan_in = self.cin * self.k * self.k
        self.params = {"W": (rng.standard_normal((self.cout, fan_in)) * np.sqrt(2.0 / fan_in)).astype(dt)}
        if bias:
            self.params["b"] = np.zeros(self.cout, dt)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    @property
    def weight4d(self):
        return self.W.reshape(self.cout, self.cin, self.k, self.k)

    _SIZES = (("cin", 1), ("cout", 1), ("k", 1), ("stride", 1), ("padding", 0))

    def _check_config(self, backward=False):
        """The sizes the im2col loops and ``W`` must agree on, checked again before a pass."""
        self._check_sizes(backward)
        self._check_param("W", (self.cout, self.cin * self.k * self.k))

    def output_hw(self, h, w):
        oh = (h + 2 * self.padding - self.k) // self.stride + 1
        ow = (w + 2 * self.padding - self.k) // self.stride + 1
        if oh < 1 or ow < 1:
            raise ValueError(f"{type(self).__name__}: input {h}x{w} is smaller than the {self.k}x{self.k} kernel")
        return oh, ow

    def _cols(self, x):
        N, C, H, Wd = x.shape
        oh, ow = self.output_hw(H, Wd)
        if self.k == 1 and self.stride == 1 and self.padding == 0:
            return x.reshape(N, C, H * Wd), oh, ow
        xp = np.ascontiguousarray(pad_nchw(x, self.padding))
        cols = np.empty((N, C * self.k * self.k, oh * ow), dtype=x.dtype)
        im2col(xp, self.k, self.k, self.stride, oh, ow, cols)
        return cols, oh, ow

    def forward(self, x, train=False):
        _check_input(self, x, 4, self.cin)
        if train and self.relu:
            raise ValueError("this layer has a fused ReLU (inference only); train the unfused model")
        x = np.ascontiguousarray(x)
        self._check_config()
        cols, oh, ow = self._cols(x)
        y = self._matmul(cols, train)
        relu = self.relu and not train
        if "b" in self.params or relu:
            b = self._check_param("b", (self.cout,)) if "b" in self.params else np.zeros(self.cout, y.dtype)
            if y.shape[1] != self.cout:  # a sparse kernel assigned by hand, of another shape
                raise ValueError(f"{type(self).__name__}: the product has {y.shape[1]} rows, "
                                 f"expected {self.cout} (out_channels)")
            bias_relu_(y, b.astype(y.dtype, copy=False), relu)
        y = y.reshape(x.shape[0], self.cout, oh, ow)
        if train:
            self._cols_cache, self._xshape = cols, x.shape
            self._kept(y)
        return y

    def backward(self, dy):
        self._check_grad(dy)
        self._check_config(backward=True)  # col2im trusts k, stride and padding: W's and the forward's
        N = dy.shape[0]
        cols = self._cols_cache
        dY = np.ascontiguousarray(dy).reshape(N, self.cout, -1)
        # dW = sum_n dY[n] @ cols[n].T, as one matrix product over (n, p)
        K = cols.shape[1]
        self.grads["W"][...] = dY.transpose(1, 0, 2).reshape(self.cout, -1) @ cols.transpose(1, 0, 2).reshape(K, -1).T
        if "b" in self.params:
            self.grads["b"][...] = dY.sum(axis=(0, 2))
        dcols = np.matmul(self.W.T, dY)
        N, C, H, Wd = self._xshape
        if self.k == 1 and self.stride == 1 and self.padding == 0:
            return dcols.reshape(self._xshape)
        oh, ow = self.output_hw(H, Wd)
        dxp = np.empty((N, C, H + 2 * self.padding, Wd + 2 * self.padding), dtype=dy.dtype)
        col2im(np.ascontiguousarray(dcols), self.k, self.k, self.stride, oh, ow, dxp)
        p = self.padding
        return dxp[:, :, p:p + H, p:p + Wd] if p else dxp


class PointwiseConv2d(Conv2d):
    """A 1x1 convolution: ``Y[n] = W @ X[n]`` with ``X[n]`` of shape ``(in, H*W)`` -- the sparse workhorse."""

    def __init__(self, in_channels, out_channels, *, rng=None, dtype=np.float64, bias=True):
        super().__init__(in_channels, out_channels, 1, stride=1, padding=0, rng=rng, dtype=dtype, bias=bias)


class DepthwiseConv2d(Layer):
    """One ``k x k`` filter per channel (numba loops); ``W`` has shape ``(C, k, k)``."""

    prunable = False

    def __init__(self, channels, kernel_size=3, *, stride=1, padding=1, rng=None, dtype=np.float64):
        super().__init__()
        self.c = _check_int("channels", channels)
        self.k = _check_int("kernel_size", kernel_size)
        self.stride = _check_int("stride", stride)
        self.padding = _check_int("padding", padding, lo=0)
        rng = np.random.default_rng(rng)
        dt = _check_dtype(dtype)
        fan_in = self.k * self.k
        self.relu = False  # a ReLU fused in for inference (see sparsekit.nn.fold.fuse_relu)
        self.params = {"W": (rng.standard_normal((self.c, self.k, self.k)) * np.sqrt(2.0 / fan_in)).astype(dt),
                       "b": np.zeros(self.c, dt)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    output_hw = Conv2d.output_hw

    _SIZES = (("c", 1), ("k", 1), ("stride", 1), ("padding", 0))

    def _check_config(self, backward=False):
        """The sizes the numba loops trust (attributes and ``params`` may be assigned), checked again."""
        self._check_sizes(backward)
        dt = self._check_param("W", (self.c, self.k, self.k)).dtype
        self._check_param("b", (self.c,), dt)
        return dt

    def forward(self, x, train=False):
        _check_input(self, x, 4, self.c)
        if x.dtype != self._check_config():
            raise TypeError(f"DepthwiseConv2d holds {self.params['W'].dtype} weights, got a {x.dtype} input")
        N, C, H, Wd = x.shape
        oh, ow = self.output_hw(H, Wd)
        if not train and self.k == 3 and self.padding == 1 and self.stride in (1, 2):
            # MobileNet's case: padding done inside the kernel, no padded copy
            y = np.empty((N, C, oh, ow), dtype=x.dtype)
            depthwise3x3_pad1(np.ascontiguousarray(x), self.params["W"], self.params["b"], self.stride, y, self.relu)
            return y
        if train or self.padding == 0:
            xp = np.ascontiguousarray(pad_nchw(x, self.padding))
        else:
            # inference: reuse one padded buffer (its border stays zero), which saves
            # allocating -- and page-faulting in -- a fresh padded copy per call
            p = self.padding
            shape = (N, C, H + 2 * p, Wd + 2 * p)
            xp = getattr(self, "_pad_buf", None)
            if xp is None or xp.shape != shape or xp.dtype != x.dtype:
                xp = self._pad_buf = np.zeros(shape, dtype=x.dtype)
            xp[:, :, p:p + H, p:p + Wd] = x
        y = np.empty((N, C, oh, ow), dtype=x.dtype)
        if train and self.relu:
            raise ValueError("this layer has a fused ReLU (inference only); train the unfused model")
        depthwise_forward(xp, self.params["W"], self.params["b"], self.stride, y, self.relu)
        if train:
            self._xp, self._xshape = xp, x.shape
            self._kept(y)
        return y

    def backward(self, dy):
        self._check_grad(dy)
        dt = self._check_config(backward=True)
        if dt != self._xp.dtype:
            raise TypeError(f"DepthwiseConv2d holds {dt} weights, but the forward pass ran on {self._xp.dtype}")
        self._check_param("W", (self.c, self.k, self.k), dt, where="grads")
        dy = np.ascontiguousarray(dy, dtype=self._xp.dtype)
        dxp = np.empty_like(self._xp)
        depthwise_backward(self._xp, self.params["W"], dy, self.stride, self.grads["W"], dxp)
        self.grads["b"][...] = dy.sum(axis=(0, 2, 3))
        N, C, H, Wd = self._xshape
        p = self.padding
        return dxp[:, :, p:p + H, p:p + Wd] if p else dxp


class BatchNorm2d(Layer):
    """Batch normalisation over (N, H, W) per channel; :func:`~sparsekit.nn.fold.fold_batchnorm` folds it away."""

    def __init__(self, channels, *, momentum=0.1, eps=1e-5, dtype=np.float64):
        super().__init__()
        self.c = _check_int("channels", channels)
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"momentum must be in (0, 1], got {momentum}")
        dt = _check_dtype(dtype)
        self.momentum, self.eps = float(momentum), float(eps)
        self.params = {"gamma": np.ones(self.c, dt), "beta": np.zeros(self.c, dt)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.running_mean = np.zeros(self.c, dt)
        self.running_var = np.ones(self.c, dt)

    def forward(self, x, train=False):
        _check_input(self, x, 4, self.c)
        g, b = self.params["gamma"][None, :, None, None], self.params["beta"][None, :, None, None]
        if not train:
            inv = 1.0 / np.sqrt(self.running_var + self.eps)
            return (x - self.running_mean[None, :, None, None]) * (inv * self.params["gamma"])[None, :, None, None] + b
        mean = x.mean(axis=(0, 2, 3))
        var = x.var(axis=(0, 2, 3))
        m = x.shape[0] * x.shape[2] * x.shape[3]
        self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
        unbiased = var * m / max(m - 1, 1)
        self.running_var = (1 - self.momentum) * self.running_var + self.momentum * unbiased
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = (x - mean[None, :, None, None]) * inv[None, :, None, None]
        self._xhat, self._inv, self._m = xhat, inv, m
        return self._kept(xhat * g + b)

    def backward(self, dy):
        self._check_grad(dy)
        xhat, inv, m = self._xhat, self._inv, self._m
        self.grads["gamma"][...] = (dy * xhat).sum(axis=(0, 2, 3))
        self.grads["beta"][...] = dy.sum(axis=(0, 2, 3))
        dxhat = dy * self.params["gamma"][None, :, None, None]
        s1 = dxhat.sum(axis=(0, 2, 3))[None, :, None, None]
        s2 = (dxhat * xhat).sum(axis=(0, 2, 3))[None, :, None, None]
        return (inv[None, :, None, None] / m) * (m * dxhat - s1 - xhat * s2)


class ReLU(Layer):
    def forward(self, x, train=False):
        _check_array(self, x)
        if train:
            self._pos = x > 0
            return self._kept(np.maximum(x, 0))
        return np.maximum(x, 0)

    def backward(self, dy):
        self._check_grad(dy)
        return dy * self._pos


class MaxPool2d(Layer):
    """Non-overlapping ``k x k`` max pooling (H and W must be multiples of ``k``)."""

    def __init__(self, kernel_size=2):
        super().__init__()
        self.k = _check_int("kernel_size", kernel_size)

    def forward(self, x, train=False):
        _check_input(self, x, 4)
        N, C, H, W = x.shape
        k = self.k
        if H % k or W % k:
            raise ValueError(f"MaxPool2d({k}) needs H and W divisible by {k}, got shape {x.shape}")
        t = x.reshape(N, C, H // k, k, W // k, k)
        y = t.max(axis=(3, 5))
        if train:
            # route each gradient to one arg-max (the first) of its window
            win = t.transpose(0, 1, 2, 4, 3, 5).reshape(N, C, H // k, W // k, k * k)
            arg = win.argmax(axis=4)
            self._onehot = np.arange(k * k) == arg[..., None]
            self._shape = x.shape
            self._kept(y)
        return y

    def backward(self, dy):
        self._check_grad(dy)
        N, C, H, W = self._shape
        k = self.k
        g = self._onehot * dy[..., None]
        return g.reshape(N, C, H // k, W // k, k, k).transpose(0, 1, 2, 4, 3, 5).reshape(N, C, H, W)


class GlobalAvgPool2d(Layer):
    """Mean over H and W: ``(N, C, H, W) -> (N, C)``."""

    def forward(self, x, train=False):
        _check_input(self, x, 4)
        if train:
            self._shape = x.shape
            return self._kept(x.mean(axis=(2, 3)))
        return x.mean(axis=(2, 3))

    def backward(self, dy):
        self._check_grad(dy)
        N, C, H, W = self._shape
        return np.broadcast_to(dy[:, :, None, None] / (H * W), self._shape).copy()


class Flatten(Layer):
    def forward(self, x, train=False):
        _check_array(self, x)
        if train:
            self._shape = x.shape
            return self._kept(x.reshape(x.shape[0], -1))
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        self._check_grad(dy)
        return dy.reshape(self._shape)
