"""The problems the benchmark measures: shapes, block-sparse weights, activations.

A *case* is one ``W (C_out x C_in) @ X (C_in x HW)`` product: a 1x1
convolution over an ``H x W`` feature map in NCHW layout.  Weights are pruned
in blocks of ``blocksize = (r, c)`` (r output channels x c input channels;
MNN's "1x4" is our ``(4, 1)``): exactly ``round(sparsity * n_blocks)`` whole
blocks are zero, chosen at random, and every value in a kept block is
nonzero.  Everything is generated from a seed, so a worker process can
rebuild the very same operands from a small JSON description.
"""
from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass

import numpy as np

from ..formats.validation import parse_blocksize

__all__ = ["Case", "MOBILENET_V1_POINTWISE", "block_sparse_weights", "make_operands", "block_label",
           "parse_block"]

# (C_in, C_out, H*W) of the 13 pointwise (1x1) convolutions of MobileNetV1 at 224x224.
MOBILENET_V1_POINTWISE = (
    [(32, 64, 112 * 112), (64, 128, 56 * 56), (128, 128, 56 * 56), (128, 256, 28 * 28),
     (256, 256, 28 * 28), (256, 512, 14 * 14)]
    + [(512, 512, 14 * 14)] * 5
    + [(512, 1024, 7 * 7), (1024, 1024, 7 * 7)]
)


def block_label(blocksize) -> str:
    """``(4, 1) -> "4x1"`` (rows = output channels first)."""
    r, c = blocksize
    return f"{int(r)}x{int(c)}"


def parse_block(text: str) -> tuple:
    """``"4x1" -> (4, 1)``; ``ValueError`` on anything else
    (:func:`sparsekit.formats.validation.parse_blocksize`)."""
    return parse_blocksize(text)


@dataclass(frozen=True)
class Case:
    """One product to measure.  ``layer`` names it (e.g. ``"mbv1-07"``)."""

    layer: str
    M: int          # C_out
    K: int          # C_in
    N: int          # H*W
    sparsity: float
    blocksize: tuple
    dtype: str = "float32"

    @property
    def block(self) -> str:
        return block_label(self.blocksize)

    @property
    def seed(self) -> int:
        """A seed that depends only on the case (stable across processes and runs)."""
        key = f"{self.layer}|{self.M}|{self.K}|{self.N}|{self.sparsity:.6f}|{self.block}"
        return zlib.crc32(key.encode())

    @property
    def flops(self) -> int:
        """Floating-point operations of the dense product (2*M*K*N)."""
        return 2 * self.M * self.K * self.N

    def to_json(self) -> dict:
        d = asdict(self)
        d["blocksize"] = list(self.blocksize)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Case":
        d = dict(d)
        d["blocksize"] = tuple(d["blocksize"])
        return cls(**d)


def block_sparse_weights(M: int, K: int, sparsity: float, blocksize=(1, 1), *, rng=None,
                         dtype=np.float32) -> np.ndarray:
    """A dense ``M x K`` matrix with exactly ``round(sparsity * n_blocks)`` zero ``r x c`` blocks.

    Kept values are ``+-U(0.5, 1.5)``: never zero, so the stored pattern is
    exactly the block pattern.
    """
    if not 0.0 <= float(sparsity) <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity!r}")
    rng = np.random.default_rng(rng)
    r, c = blocksize
    mb, kb = -(-M // r), -(-K // c)
    n_blocks = mb * kb
    n_zero = int(round(float(sparsity) * n_blocks))
    keep = np.ones(n_blocks, dtype=bool)
    keep[rng.choice(n_blocks, size=n_zero, replace=False)] = False
    mask = np.repeat(np.repeat(keep.reshape(mb, kb), r, axis=0), c, axis=1)[:M, :K]
    vals = rng.uniform(0.5, 1.5, size=(M, K)) * rng.choice([-1.0, 1.0], size=(M, K))
    return np.where(mask, vals, 0.0).astype(dtype)


def make_operands(case: Case) -> tuple:
    """``(W, X)`` of a case, in its dtype, from its seed."""
    rng = np.random.default_rng(case.seed)
    W = block_sparse_weights(case.M, case.K, case.sparsity, case.blocksize, rng=rng, dtype=case.dtype)
    X = rng.standard_normal((case.K, case.N)).astype(case.dtype)
    return W, X
