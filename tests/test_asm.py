"""Read the machine code numba generates: SIMD kernels use ymm FMAs, "scalar" ones none.

Cached kernels cannot be inspected (numba keeps no assembly for them), so each
test compiles a fresh, uncached dispatcher of the same Python function with
the same compile path (:func:`sparsekit.kernels.codegen.compile_for`)
that :mod:`sparsekit.dispatch` uses.  x86-64 with AVX2+FMA only.
"""
import platform
import re
from collections import Counter

import numba
import numpy as np
import pytest
from llvmlite import binding as llvm

from sparsekit.kernels import codegen
from sparsekit.kernels import spmm_bcsr_general as general
from sparsekit.kernels import spmm_bcsr_tiled as tiled
from sparsekit.kernels import spmv_bcsr_unrolled as unrolled
from sparsekit.kernels import spmv_csr_fast

_features = llvm.get_host_cpu_features()
pytestmark = pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64") or not (_features.get("avx2") and _features.get("fma")),
    reason="the assembly checks are written for x86-64 with AVX2 and FMA",
)

PACKED_ARITH = re.compile(r"^v(fmadd|fmsub|fnmadd|mul|add|sub)\w*p[sd]$")
SCALAR_FMA = re.compile(r"^vfmadd\w*s[sd]$")


def instructions(asm: str) -> list:
    """(mnemonic, operands) of every AVX instruction in the listing."""
    return re.findall(r"^\s+(v\w+)\s+([^\n]*)$", asm, re.M)


def fresh_asm(py_func, args, variant, parallel=False):
    k = numba.njit(fastmath=codegen.FASTMATH, parallel=parallel)(py_func)
    codegen.compile_for(k, args, variant)
    return k.inspect_asm(k.signatures[0])


def tiled_args(r, c, t, dtype):
    return (
        np.zeros(r * c, dtype), np.zeros(1, np.int32), np.array([0, 1], np.int32),
        np.zeros(c * 2 * t, dtype), np.zeros(r * 2 * t, dtype), 2 * t,
    )


@pytest.mark.parametrize(
    "r, c, t, dtype, suffix",
    [(1, 1, 24, np.float32, "ps"), (4, 1, 8, np.float32, "ps"), (8, 1, 8, np.float32, "ps"),
     (4, 4, 16, np.float32, "ps"), (2, 2, 8, np.float64, "pd")],
)
def test_simd_tiled_kernels_use_ymm_fma(r, c, t, dtype, suffix):
    asm = fresh_asm(tiled.get_kernel(r, c, t, "simd").py_func, tiled_args(r, c, t, dtype), "simd")
    ymm_fma = [op for op, args in instructions(asm) if op.startswith("vfmadd") and op.endswith(suffix) and "%ymm" in args]
    # the register tile: at least r * t / lanes FMAs on full ymm registers in the k loop
    lanes = 32 // np.dtype(dtype).itemsize
    assert len(ymm_fma) >= r * t // lanes, Counter(op for op, _ in instructions(asm))


@pytest.mark.parametrize("r, c, t", [(1, 1, 16), (1, 1, 48), (4, 1, 16), (8, 1, 16), (1, 4, 48), (2, 2, 24)])
def test_register_tiles_have_no_scalar_fma(r, c, t):
    """The T-wide tile and the 8-wide last tile are all ymm FMAs, none one lane at a time.

    The kernel inlines the general loop for HW < 8 (:func:`spmm_bcsr_tail`), whose
    remainder code is scalar and whose own ymm FMAs would count towards the test above;
    here the same generated source is compiled with that branch cut off, so every FMA
    left belongs to the register tiles.
    """
    src = tiled.kernel_source(r, c, t, "simd").replace("cache=True, ", "")
    cut = src.replace("        if hw < U(8):\n", "        if False:\n")
    assert cut != src
    ns = {}
    exec(tiled._HEADER.format(r=r, c=c) + cut, ns)  # the generated module's own imports
    k = ns[tiled.kernel_name(r, c, t, "simd")]
    codegen.compile_for(k, tiled_args(r, c, t, np.float32), "simd")
    ins = instructions(k.inspect_asm(k.signatures[0]))
    fma = Counter(op for op, a in ins if op.startswith("vfmadd") and ("%ymm" in a or SCALAR_FMA.match(op)))
    ymm = sum(n for op, n in fma.items() if op.endswith("ps"))
    assert not [op for op in fma if SCALAR_FMA.match(op)], fma
    # at least one ymm FMA per weight of a block (LLVM may keep a vectorised m loop rolled,
    # so the listing holds fewer FMAs than the tile executes)
    assert ymm >= r * c, fma


@pytest.mark.parametrize(
    "r, c, t, dtype, expected",
    [(8, 1, 8, np.float32, 1), (4, 1, 16, np.float32, 1), (2, 2, 24, np.float32, 2), (1, 4, 8, np.float64, 4),
     (1, 1, 48, np.float32, 0), (4, 4, 64, np.float32, 0), (8, 1, 16, np.float64, 0)],
)
def test_narrow_tiles_prefetch_their_x_rows(r, c, t, dtype, expected):
    """A tile narrower than PREFETCH_BYTES prefetches, for each of the block's c rows of X,
    the line PREFETCH_BYTES ahead; a wider one has no prefetch left in its machine code (the
    test on the tile width is folded away at compile time: ``elements_in`` is a constant)."""
    width = t * np.dtype(dtype).itemsize
    assert (width < tiled.PREFETCH_BYTES) == (expected > 0)
    asm = fresh_asm(tiled.get_kernel(r, c, t, "simd").py_func, tiled_args(r, c, t, dtype), "simd")
    pf = re.findall(r"^\s+prefetcht0\s", asm, re.M)
    if expected:  # one per row of X in the block, repeated where LLVM unrolls the loop over blocks
        assert pf and len(pf) % expected == 0, len(pf)
    else:
        assert not pf, len(pf)


def test_parallel_tiled_kernel_uses_ymm_fma():
    args = tiled_args(4, 1, 8, np.float32) + (2,)  # n_threads
    asm = fresh_asm(tiled.get_kernel(4, 1, 8, "parallel").py_func, args, "parallel", parallel=True)
    # the prange body is a separate gufunc; numba's inspect_asm lists the whole library
    assert any(op.startswith("vfmadd") and op.endswith("ps") and "%ymm" in a for op, a in instructions(asm))


@pytest.mark.parametrize("r, c, t, dtype", [(1, 1, 24, np.float32), (4, 1, 8, np.float32), (2, 2, 8, np.float64)])
def test_scalar_tiled_kernels_have_no_packed_arithmetic(r, c, t, dtype):
    asm = fresh_asm(tiled.get_kernel(r, c, t, "scalar").py_func, tiled_args(r, c, t, dtype), "scalar")
    ins = instructions(asm)
    packed = [op for op, _ in ins if PACKED_ARITH.match(op)]
    assert packed == [], Counter(packed)
    # ymm registers appear only in plain moves (struct copies, memset), never in arithmetic
    assert {op for op, a in ins if "%ymm" in a} <= {"vmovups", "vmovaps", "vmovupd", "vmovapd", "vxorps", "vxorpd", "vzeroupper"}
    assert any(SCALAR_FMA.match(op) for op, _ in ins)  # still FMAs: one lane at a time


def test_the_same_source_compiles_to_both():
    """The only difference between "simd" and "scalar" is the vectoriser switch."""
    src_simd = tiled.kernel_source(4, 1, 8, "simd")
    src_scalar = tiled.kernel_source(4, 1, 8, "scalar")
    strip = lambda s: re.sub(r"_(simd|scalar)\b|'(simd|scalar)'", "", s)  # noqa: E731
    assert strip(src_simd) == strip(src_scalar)


def test_general_and_spmv_scalar_variants_are_scalar():
    f = np.float32
    args = (np.zeros(6, f), np.zeros(1, np.int32), np.array([0, 1], np.int32), np.zeros(2 * 33, f), np.zeros(3 * 33, f), 33, 3, 2)
    asm = fresh_asm(general.spmm_bcsr_general_scalar.py_func, args, "scalar")
    assert not [op for op, _ in instructions(asm) if PACKED_ARITH.match(op)]
    asm = fresh_asm(general.spmm_bcsr_general.py_func, args, "simd")
    assert any(op.startswith("vfmadd") and "%ymm" in a for op, a in instructions(asm))
    sargs = (np.zeros(4, f), np.zeros(4, np.int32), np.array([0, 4], np.int32), np.zeros(4, f), np.zeros(1, f))
    asm = fresh_asm(spmv_csr_fast.spmv_csr_scalar.py_func, sargs, "scalar")
    assert not [op for op, _ in instructions(asm) if PACKED_ARITH.match(op)]


def spmv_args(r, c, dtype):
    return (np.zeros(4 * r * c, dtype), np.zeros(4, np.int32), np.array([0, 4], np.int32),
            np.zeros(c, dtype), np.zeros(r, dtype))


#: Lane moves and shuffles: how a vectorised loop gathers x lane by lane or transposes weights.
SHUFFLES = re.compile(r"^v(insertps|insertf128|perm\w*|gather\w*|unpck\w*|shuf\w*|blend\w*|movh\w*)$")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("r, c", unrolled.BLOCKS, ids=lambda v: str(v))
def test_unrolled_spmv_packs_each_block_into_vector_fmas(r, c, dtype):
    """The SLP vectoriser packs a block's r*c multiply-adds into vector FMAs.  Column blocks
    (4x1, 8x1) need no lane moves at all (a broadcast of x[j] times a column of weights), row
    blocks (1x4, 1x8) only the few of the sum across lanes once per block row; 2x2, 4x4 and 8x8
    transpose their weights with shuffles (the module docstring says so)."""
    ins = instructions(fresh_asm(unrolled.get_kernel(r, c, "simd").py_func, spmv_args(r, c, dtype), "simd"))
    suffix = "ps" if dtype == np.float32 else "pd"
    assert any(op.startswith("vfmadd") and op.endswith(suffix) for op, _ in ins), Counter(op for op, _ in ins)
    shuffles = [op for op, _ in ins if SHUFFLES.match(op)]
    if c == 1 and r in (4, 8):
        assert shuffles == [], Counter(shuffles)
    elif r == 1:
        assert len(shuffles) <= 4, Counter(shuffles)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("r, c", unrolled.BLOCKS, ids=lambda v: str(v))
def test_unrolled_spmv_scalar_variant_is_scalar(r, c, dtype):
    ins = instructions(fresh_asm(unrolled.get_kernel(r, c, "scalar").py_func, spmv_args(r, c, dtype), "scalar"))
    assert not [op for op, _ in ins if PACKED_ARITH.match(op)]
    assert any(SCALAR_FMA.match(op) for op, _ in ins)
