"""Runnable experiments of the pruning and sparse-inference lessons.

* ``python -m sparsekit.experiments.pruning --quick|--full``: accuracy vs
  sparsity on scikit-learn's digits (MLP and depthwise-separable CNN;
  unstructured, 4x1, 1x4, 2:4, 1:4; one-shot and gradual), saved under
  ``results/pruning/``.
* ``python -m sparsekit.experiments.latency --quick|--full``: MobileNetV1
  end-to-end latency, dense vs sparse pointwise layers (and PyTorch eager
  when installed), saved under ``results/latency/``.
* ``sparsekit.experiments.gpu_results``: the GPU runs of ``python -m
  sparsekit.gpu`` (or the reference run) that lesson 09 plots, one row per
  measurement.

Quick mode runs in seconds (tests and notebooks); full-mode results are
committed.
"""
