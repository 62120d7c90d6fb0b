"""Tiny numpy + numba neural networks for the pruning and sparse-inference lessons.

One module one job: :mod:`~sparsekit.nn.layers` (layers with forward and
backward), the numba im2col and depthwise loops in :mod:`sparsekit.kernels`,
:mod:`~sparsekit.nn.loss`, :mod:`~sparsekit.nn.optim` (SGD, Adam),
:mod:`~sparsekit.nn.fold` (batch-norm folding), :mod:`~sparsekit.nn.models`
(Sequential, MLP, depthwise-separable CNN, MobileNetV1),
:mod:`~sparsekit.nn.data` (scikit-learn's digits) and
:mod:`~sparsekit.nn.train`.
"""
from .data import load_digits_split
from .fold import fold_batchnorm, fuse_relu
from .layers import (
    BatchNorm2d, Conv2d, Dense, DepthwiseConv2d, Flatten, GlobalAvgPool2d, Layer, MatrixLayer, MaxPool2d,
    PointwiseConv2d, ReLU,
)
from .loss import softmax, softmax_cross_entropy
from .models import MOBILENET_V1_BLOCKS, Sequential, ds_cnn, mlp, mobilenet_v1
from .optim import SGD, Adam
from .train import accuracy, predict, train

__all__ = [
    "Layer", "MatrixLayer", "Dense", "Conv2d", "PointwiseConv2d", "DepthwiseConv2d", "BatchNorm2d", "ReLU",
    "MaxPool2d", "GlobalAvgPool2d", "Flatten", "softmax", "softmax_cross_entropy", "SGD", "Adam",
    "fold_batchnorm", "fuse_relu", "Sequential", "mlp", "ds_cnn", "mobilenet_v1", "MOBILENET_V1_BLOCKS",
    "load_digits_split", "train", "accuracy", "predict",
]
