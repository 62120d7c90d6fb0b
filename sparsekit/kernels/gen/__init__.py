"""Kernels generated from the templates in sparsekit.kernels (do not edit)."""
