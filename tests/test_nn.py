"""sparsekit.nn: numerical gradient checks, references for every layer, folding, sparse dispatch."""
import copy

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from sparsekit import BCSR, CSR
from sparsekit.nn import (
    SGD, Adam, BatchNorm2d, Conv2d, Dense, DepthwiseConv2d, Flatten, GlobalAvgPool2d, MaxPool2d, PointwiseConv2d,
    ReLU, Sequential, accuracy, ds_cnn, fold_batchnorm, fuse_relu, load_digits_split, mlp, mobilenet_v1,
    softmax_cross_entropy, train,
)
from sparsekit.prune import block_mask, magnitude_mask


def numerical_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def check_layer_grads(layer, x, rng, rtol=1e-5, atol=1e-7):
    """Compare backward() with central differences of L = sum(R * forward(x)) for x and every param."""
    y = layer.forward(x, train=True)
    R = rng.standard_normal(y.shape)
    loss = lambda: float((R * layer.forward(x, train=True)).sum())
    layer.forward(x, train=True)
    dx = layer.backward(R)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    np.testing.assert_allclose(dx, numerical_grad(loss, x), rtol=rtol, atol=atol)
    for k, p in layer.params.items():
        np.testing.assert_allclose(grads[k], numerical_grad(loss, p), rtol=rtol, atol=atol, err_msg=k)


#: every layer kind, with an input shape: (make(rng), shape)
LAYER_CASES = [
    (lambda r: Dense(5, 4, rng=r), (3, 5)),
    (lambda r: Conv2d(2, 3, 3, stride=2, padding=1, rng=r), (2, 2, 5, 6)),
    (lambda r: Conv2d(2, 3, 3, stride=1, padding=0, rng=r, bias=False), (1, 2, 5, 5)),
    (lambda r: PointwiseConv2d(3, 4, rng=r), (2, 3, 3, 4)),
    (lambda r: DepthwiseConv2d(3, 3, stride=1, padding=1, rng=r), (2, 3, 5, 5)),
    (lambda r: DepthwiseConv2d(2, 3, stride=2, padding=1, rng=r), (2, 2, 6, 5)),
    (lambda r: BatchNorm2d(3), (4, 3, 2, 3)),
    (lambda r: ReLU(), (3, 7)),
    (lambda r: MaxPool2d(2), (2, 3, 4, 6)),
    (lambda r: GlobalAvgPool2d(), (2, 3, 4, 5)),
    (lambda r: Flatten(), (2, 3, 4)),
]
LAYER_IDS = ["Dense", "Conv2d-s2", "Conv2d-nobias", "PointwiseConv2d", "DepthwiseConv2d", "DepthwiseConv2d-s2",
             "BatchNorm2d", "ReLU", "MaxPool2d", "GlobalAvgPool2d", "Flatten"]


@pytest.mark.parametrize("make,shape", LAYER_CASES, ids=LAYER_IDS)
def test_layer_gradients(make, shape):
    rng = np.random.default_rng(0)
    layer = make(rng)
    if isinstance(layer, BatchNorm2d):
        layer.params["gamma"][...] = rng.uniform(0.5, 1.5, layer.c)
        layer.params["beta"][...] = rng.standard_normal(layer.c)
    if "b" in layer.params:
        layer.params["b"][...] = rng.standard_normal(layer.params["b"].shape)
    x = rng.standard_normal(shape)
    check_layer_grads(layer, x, rng)


def test_softmax_cross_entropy_gradient_and_value():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((5, 4))
    y = rng.integers(0, 4, 5)
    loss, d = softmax_cross_entropy(z, y)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert loss == pytest.approx(-np.log(p[np.arange(5), y]).mean())
    np.testing.assert_allclose(d, numerical_grad(lambda: softmax_cross_entropy(z, y)[0], z), atol=1e-8)
    # huge logits stay finite
    loss, _ = softmax_cross_entropy(np.array([[1e4, 0.0]]), np.array([1]))
    assert loss == pytest.approx(1e4)
    with pytest.raises(ValueError, match="labels"):
        softmax_cross_entropy(z, np.array([0, 1, 2, 3, 4]))


def test_whole_cnn_gradient():
    rng = np.random.default_rng(2)
    model = ds_cnn(widths=(3, 4, 5), rng=2)
    x = rng.standard_normal((3, 1, 4, 4))
    y = rng.integers(0, 10, 3)
    f = lambda: softmax_cross_entropy(model.forward(x, train=True), y)[0]
    _, d = softmax_cross_entropy(model.forward(x, train=True), y)
    model.backward(d)
    for (i, name), p, g in model.parameters():
        g = g.copy()
        np.testing.assert_allclose(g, numerical_grad(f, p), rtol=1e-4, atol=1e-7, err_msg=f"layer {i} {name}")


def direct_conv(x, w4, b, stride, pad):
    """Reference convolution by explicit sums (cross-correlation, as in deep learning)."""
    N, C, H, W = x.shape
    O, _, k, _ = w4.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (H + 2 * pad - k) // stride + 1, (W + 2 * pad - k) // stride + 1
    y = np.zeros((N, O, oh, ow))
    for p in range(oh):
        for q in range(ow):
            patch = xp[:, :, p * stride:p * stride + k, q * stride:q * stride + k]
            y[:, :, p, q] = np.einsum("nckl,ockl->no", patch, w4)
    return y + b[None, :, None, None]


@pytest.mark.parametrize("seed", range(8))
def test_conv_and_depthwise_against_direct_sums(seed):
    rng = np.random.default_rng(seed)
    C, O, k = rng.integers(1, 4), rng.integers(1, 5), int(rng.choice([1, 3, 3, 5]))
    stride, pad = int(rng.integers(1, 3)), int(rng.integers(0, 3)) if seed % 2 else 1
    H, W = int(rng.integers(k, 9)), int(rng.integers(k, 9))
    x = rng.standard_normal((2, C, H, W))
    conv = Conv2d(C, O, k, stride=stride, padding=pad, rng=rng)
    conv.params["b"][...] = rng.standard_normal(O)
    np.testing.assert_allclose(conv(x), direct_conv(x, conv.weight4d, conv.params["b"], stride, pad), atol=1e-12)
    dw = DepthwiseConv2d(C, k, stride=stride, padding=pad, rng=rng)
    dw.params["b"][...] = rng.standard_normal(C)
    ref = np.concatenate([direct_conv(x[:, c:c + 1], dw.params["W"][c][None, None], dw.params["b"][c:c + 1],
                                      stride, pad) for c in range(C)], axis=1)
    np.testing.assert_allclose(dw(x), ref, atol=1e-12)
    # the training path (general padded kernel) gives the same numbers
    np.testing.assert_allclose(dw.forward(x, train=True), ref, atol=1e-12)


def test_batchnorm_folding_and_relu_fusion():
    rng = np.random.default_rng(3)
    model = mobilenet_v1(width=0.25, resolution=32, rng=3, dtype=np.float64)
    for l in model.layers:  # nontrivial running statistics
        if isinstance(l, BatchNorm2d):
            l.running_mean = rng.standard_normal(l.c) * 0.1
            l.running_var = rng.uniform(0.5, 2.0, l.c)
    x = rng.standard_normal((2, 3, 32, 32))
    y = model(x)
    folded = fold_batchnorm(model)
    assert not any(isinstance(l, BatchNorm2d) for l in folded.layers)
    np.testing.assert_allclose(folded(x), y, rtol=1e-10, atol=1e-10)
    fused = fuse_relu(folded)
    assert not any(isinstance(l, ReLU) for l in fused.layers)
    np.testing.assert_allclose(fused(x), y, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="fused ReLU"):
        fused.forward(x, train=True)
    with pytest.raises(ValueError, match="follow a convolution"):
        fold_batchnorm(Sequential([ReLU(), BatchNorm2d(3)]))


@pytest.mark.parametrize("pattern,force,kind", [("1x1", "csr", CSR), ("4x1", (4, 1), BCSR), ("4x1", None, BCSR),
                                                 ("1x1", None, CSR)])
def test_sparse_dispatch_equals_dense(pattern, force, kind):
    rng = np.random.default_rng(4)
    net = fuse_relu(fold_batchnorm(mobilenet_v1(width=0.25, resolution=32, rng=4, dtype=np.float32)))
    pws = [l for l in net.layers if isinstance(l, PointwiseConv2d)]
    for l in pws:
        l.set_mask(magnitude_mask(l.W, 0.9) if pattern == "1x1" else block_mask(l.W, 0.9, (4, 1)))
    x = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    ref = copy.deepcopy(net)
    for l in ref.matrix_layers():
        l.mask = None  # no mask: the dense path
    y_dense = ref(x)
    assert not any(l.is_sparse for l in ref.matrix_layers())
    net.sparsify(force=force, blocksizes=[(1, 1), (4, 1)], table={(1, 1): 0.6, (4, 1): 0.3})
    assert all(l.is_sparse and isinstance(l.kernel, kind) for l in pws)
    y = net(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, y_dense, rtol=1e-4, atol=1e-4 * np.abs(y_dense).max())
    net.densify()
    assert not any(l.is_sparse for l in pws)


def test_sparsify_keeps_dense_layers_dense_and_training_drops_kernel():
    rng = np.random.default_rng(5)
    layer = PointwiseConv2d(8, 8, rng=rng)
    choice = layer.sparsify(table={})
    assert choice["format"] == "dense" and isinstance(layer.kernel, np.ndarray)
    layer.set_mask(magnitude_mask(layer.W, 0.95))
    layer.sparsify(table={})
    assert layer.is_sparse
    x = rng.standard_normal((1, 8, 2, 2))
    layer.forward(x, train=True)
    assert layer.kernel is None
    # a pruned layer chooses its format by itself at inference
    y = layer(x)
    assert layer.is_sparse and layer.choice["format"] in ("csr", "bcsr")
    np.testing.assert_allclose(y, layer.forward(x, train=True), rtol=1e-12)


def test_torch_reference_matches_if_installed():
    torch = pytest.importorskip("torch")
    from sparsekit.experiments.latency import build, torch_model

    net = build(0.25, 32)
    x = np.random.default_rng(6).standard_normal((1, 3, 32, 32)).astype(np.float32)
    with torch.inference_mode():
        yt = torch_model(net)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(yt, net(x), rtol=1e-4, atol=1e-4 * np.abs(yt).max())


def test_optimisers_match_formulas():
    p0 = np.array([1.0, -2.0])
    g = np.array([0.5, 0.25])

    class One:
        def __init__(self):
            self.p = p0.copy()

        def parameters(self):
            yield ("p",), self.p, g

    m = One()
    opt = SGD(lr=0.1, momentum=0.9)
    opt.step(m)
    opt.step(m)
    np.testing.assert_allclose(m.p, p0 - 0.1 * g - 0.1 * (0.9 * g + g))
    m = One()
    opt = Adam(lr=0.01)
    opt.step(m)
    np.testing.assert_allclose(m.p, p0 - 0.01 * g / (np.abs(g) + 1e-8))  # first bias-corrected step = lr*sign
    with pytest.raises(ValueError):
        SGD(lr=0)


def test_mlp_learns_digits_and_masks_hold():
    Xtr, ytr, Xte, yte = load_digits_split(seed=0)
    model = mlp((64, 32, 10), rng=0)
    model.layers[0].set_mask(magnitude_mask(model.layers[0].W, 0.5))
    with threadpool_limits(1):
        losses = train(model, Xtr, ytr, Adam(3e-3), epochs=10, seed=0)
    assert losses[-1] < losses[0] / 3
    assert accuracy(model, Xte, yte) > 0.9
    assert np.count_nonzero(model.layers[0].W) == model.layers[0].W.size // 2
    m2 = mlp((64, 32, 10), rng=0)
    with threadpool_limits(1):
        losses = train(m2, Xtr, ytr, SGD(0.05, 0.9), epochs=3, seed=0)
    assert losses[-1] < losses[0]


def test_digits_data():
    Xtr, ytr, Xte, yte = load_digits_split(seed=1, images=True, dtype=np.float32)
    assert Xtr.shape[1:] == (1, 8, 8) and Xtr.dtype == np.float32
    assert len(Xtr) + len(Xte) == 1797 and set(np.unique(yte)) == set(range(10))
    with pytest.raises(ValueError, match="test_size"):
        load_digits_split(test_size=1.5)


def test_layer_input_validation():
    with pytest.raises(ValueError, match="channels"):
        PointwiseConv2d(3, 4)(np.zeros((1, 2, 4, 4)))
    with pytest.raises(ValueError, match="4-D"):
        DepthwiseConv2d(3)(np.zeros((3, 4, 4)))
    with pytest.raises(TypeError, match="float"):
        Dense(3, 2)(np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="smaller than"):
        Conv2d(1, 1, 5)(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="divisible"):
        MaxPool2d(2)(np.zeros((1, 1, 3, 4)))
    with pytest.raises(ValueError, match="mask"):
        Dense(3, 2).set_mask(np.ones((3, 2), dtype=bool))
    with pytest.raises(ValueError, match="kernel_size"):
        Conv2d(1, 1, 0)
    with pytest.raises(TypeError, match="Layer"):
        Sequential([ReLU(), "relu"])
    with pytest.raises(TypeError, match="float32 weights"):
        DepthwiseConv2d(2, dtype=np.float32)(np.zeros((1, 2, 4, 4)))


@pytest.mark.parametrize("make,shape", LAYER_CASES, ids=LAYER_IDS)
def test_backward_checks_dy_before_any_loop(make, shape):
    rng = np.random.default_rng(1)
    layer = make(rng)
    x = rng.standard_normal(shape)
    with pytest.raises(RuntimeError, match="forward\\(x, train=True\\) first"):
        layer.backward(np.zeros(shape))
    y = layer.forward(x, train=True)
    bigger = tuple(d + 1 for d in y.shape)
    for dy, exc, match in [(np.zeros(bigger), ValueError, "expects dy of shape"),
                           (np.zeros(y.shape[:-1]), ValueError, "expects dy of shape"),
                           (np.zeros(y.shape, dtype=int), TypeError, "float"),
                           (np.zeros(y.shape, dtype=np.float16), TypeError, "float32 or float64"),
                           (y.tolist(), TypeError, "numpy array")]:
        with pytest.raises(exc, match=match):
            layer.backward(dy)
    assert layer.backward(np.ones_like(y)).shape == x.shape


NUMBA_LAYERS = [(make, shape) for (make, shape), name in zip(LAYER_CASES, LAYER_IDS) if "Conv2d" in name]
NUMBA_LAYER_IDS = [name for name in LAYER_IDS if "Conv2d" in name]


@pytest.mark.parametrize("make,shape", NUMBA_LAYERS, ids=NUMBA_LAYER_IDS)
@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
def test_layers_refuse_a_float_their_loops_have_no_kernel_for(make, shape, dtype):
    """float16 and longdouble used to pass the "is it a float" check and fail inside numba."""
    layer = make(np.random.default_rng(2))
    with pytest.raises(TypeError, match="float32 or float64"):
        layer.forward(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("make,shape", NUMBA_LAYERS, ids=NUMBA_LAYER_IDS)
def test_parameters_and_sizes_assigned_by_hand_are_checked_before_any_loop(make, shape):
    """``params``/``grads`` are dicts and ``k``/``stride``/... plain attributes: what a user
    assigns there must not reach a numba loop that indexes by the sizes the layer was built with."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    for name in make(rng).params:
        for where in ("params", "grads"):
            layer = make(rng)
            y = layer.forward(x, train=True)
            good = getattr(layer, where)[name]
            getattr(layer, where)[name] = good[:-1]  # one output channel short
            # numba loops must see the check's error; numpy's own writes refuse by themselves
            expected = rf"{where}\['{name}'\] must be a float(32 or float)?64 array|could not broadcast"
            with pytest.raises(ValueError, match=expected):
                layer.forward(x, train=True) if where == "params" else layer.backward(np.ones_like(y))
            getattr(layer, where)[name] = good
            np.testing.assert_allclose(layer.forward(x, train=True), y, rtol=1e-12)
    for attr, change in (("k", 2), ("stride", -1), ("padding", -1)):
        layer = make(rng)
        y = layer.forward(x, train=True)
        setattr(layer, attr, getattr(layer, attr) + change)
        # backward: the loops would walk the forward pass's arrays with the new size
        with pytest.raises(ValueError, match=rf"\.{attr} changed since the forward pass|\.{attr} must be"):
            layer.backward(np.ones_like(y))
        if attr == "k" or getattr(layer, attr) < (0 if attr == "padding" else 1):
            with pytest.raises(ValueError, match=rf"\.{attr} must be|params\['W'\] must be"):
                layer.forward(x)


def test_depthwise_backward_with_a_wrong_dy_no_longer_corrupts_the_heap(run_python):
    """A dy with one channel too many reached the numba loop and ended in 'free(): invalid next
    size' (process aborted); run in a child so that a regression fails this test only."""
    code = (
        "import numpy as np\n"
        "from sparsekit.nn import DepthwiseConv2d\n"
        "L = DepthwiseConv2d(7, 3, stride=1, padding=1, rng=0)\n"
        "L.forward(np.ones((2, 7, 4, 4)), train=True)\n"
        "for _ in range(50):\n"
        "    try:\n"
        "        L.backward(np.ones((2, 8, 4, 4)))\n"
        "    except ValueError as e:\n"
        "        msg = str(e)\n"
        "print(msg)\n"
    )
    assert "expects dy of shape (2, 7, 4, 4)" in run_python(code)


def test_mobilenet_shapes():
    net = mobilenet_v1(width=0.25, resolution=64, rng=0)
    pws = [l for l in net.layers if isinstance(l, PointwiseConv2d)]
    assert len(pws) == 13 and pws[-1].W.shape == (256, 256)
    assert net(np.zeros((1, 3, 64, 64), np.float32)).shape == (1, 1000)
    full = mobilenet_v1(calibrate=False)
    assert 4.1e6 < full.n_params() < 4.4e6  # MobileNetV1 1.0 has 4.2 M weights


def test_new_weights_assigned_after_sparsify_are_used():
    """A review found inference kept the kernel built from the old weights after
    ``params["W"] = ...``; a new array is now noticed (an in-place edit needs ``sparsify()``)."""
    L = Dense(64, 32, rng=0)
    L.set_mask(magnitude_mask(L.W, 0.9))
    x = np.random.default_rng(1).standard_normal((3, 64))
    L(x)
    assert L.is_sparse
    L.params["W"] = L.W * 2.0
    np.testing.assert_allclose(L(x), x @ L.W.T + L.params["b"], rtol=1e-10, atol=1e-10)
    assert L.is_sparse  # rebuilt in the format chosen before, not dropped to dense
    L.W[...] *= 3.0  # in place: documented to need sparsify()
    L.sparsify()
    np.testing.assert_allclose(L(x), x @ L.W.T + L.params["b"], rtol=1e-10, atol=1e-10)
