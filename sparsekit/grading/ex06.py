"""Exercise set 06: numba kernels that must beat the naive loop, and reading assembly."""
from __future__ import annotations

import re

import numpy as np

from .engine import Case, CaseFailure, question
from .ex03 import random_csr
from .helpers import as_array, as_number, assert_close, assert_faster, assert_unchanged, snapshot

SPEEDUP = 20.0  # the kernel exercises ask for at least this factor over the naive Python loop


def naive_csr_matvec(data, indices, indptr, x):
    """The naive loop of the prompt: plain Python over numpy arrays."""
    n_rows = len(indptr) - 1
    y = np.zeros(n_rows)
    for i in range(n_rows):
        for k in range(indptr[i], indptr[i + 1]):
            y[i] += data[k] * x[indices[k]]
    return y


def naive_bcsr4x1_matvec(data, indices, indptr, x):
    """The naive loop of the prompt: 4 x 1 blocks, data has shape (nblocks, 4)."""
    n_block_rows = len(indptr) - 1
    y = np.zeros(4 * n_block_rows)
    for br in range(n_block_rows):
        for k in range(indptr[br], indptr[br + 1]):
            for i in range(4):
                y[4 * br + i] += data[k, i] * x[indices[k]]
    return y


def _is_numba(func) -> bool:
    try:
        from numba.core.dispatcher import Dispatcher
    except ImportError:  # pragma: no cover
        return False
    return isinstance(func, Dispatcher)


def _numba_case(call, rng):
    if not _is_numba(call.func):
        raise CaseFailure(f"the function is a {type(call.func).__name__}, not a numba-compiled function",
                          hint="decorate it with @numba.njit")


def random_bcsr4x1(rng, n_block_rows, n_cols, density):
    blocks = rng.random((n_block_rows, n_cols)) < density
    indptr = np.concatenate([[0], np.cumsum(blocks.sum(axis=1))]).astype(np.int64)
    indices = np.nonzero(blocks)[1].astype(np.int64)
    data = rng.normal(size=(indices.size, 4))
    return data, indices, indptr


def _bcsr4x1_dense(data, indices, indptr, n_cols):
    nbr = len(indptr) - 1
    A = np.zeros((4 * nbr, n_cols))
    for br in range(nbr):
        for k in range(indptr[br], indptr[br + 1]):
            A[4 * br: 4 * br + 4, indices[k]] = data[k]
    return A


@question("ex06.fast_csr_matvec", "a numba CSR SpMV at least 20x faster than the naive loop")
def _fast_csr():
    def correct(call, rng):
        for _ in range(15):
            data, indices, indptr, A = random_csr(rng)
            x = rng.normal(size=A.shape[1])
            inp = dict(data=data, indices=indices, indptr=indptr, x=x)
            y = as_array(call(*snapshot(data, indices, indptr, x)), "y", kind="f", ndim=1, shape=(A.shape[0],),
                         input=inp)
            assert_close(y, A @ x, "y", input=inp)

    def inputs_unchanged(call, rng):
        data, indices, indptr, A = random_csr(rng, 20, 20, 0.3)
        x = rng.normal(size=20)
        before = snapshot(data, indices, indptr, x)
        y = call(data, indices, indptr, x)
        assert_unchanged(before, [data, indices, indptr, x], ["data", "indices", "indptr", "x"])
        assert_close(as_array(y, "y", kind="f"), A @ x, "y")

    def compiled(call, rng):
        _numba_case(call, rng)
        correct(call, rng)

    def fast(call, rng):
        _numba_case(call, rng)  # the speed asked for is a numba kernel's, not another library's
        data, indices, indptr, A = random_csr(rng, 400, 400, 0.025)
        x = rng.normal(size=400)
        assert_close(as_array(call(data, indices, indptr, x), "y", kind="f"), A @ x, "y")
        assert_faster(lambda: call(data, indices, indptr, x), lambda: naive_csr_matvec(data, indices, indptr, x),
                      SPEEDUP, "fast_csr_matvec", input=dict(shape=(400, 400), nnz=int(indptr[-1])))

    return [Case("15 random matrices against scipy.sparse", 2, correct),
            Case("inputs not modified", 1, inputs_unchanged),
            Case("compiled with numba", 1, compiled),
            Case(f"at least {SPEEDUP:g}x faster than the naive loop (400 x 400, 2.5% dense)", 2, fast, timed=True)]


@question("ex06.bcsr4x1_matvec", "a numba SpMV for 4 x 1 blocks (one x load, four rows)")
def _bcsr4x1():
    def correct(call, rng):
        for _ in range(15):
            nbr, n = int(rng.integers(1, 15)), int(rng.integers(1, 30))
            data, indices, indptr = random_bcsr4x1(rng, nbr, n, float(rng.uniform(0, 0.5)))
            x = rng.normal(size=n)
            inp = dict(data=data, indices=indices, indptr=indptr, x=x)
            y = as_array(call(*snapshot(data, indices, indptr, x)), "y", kind="f", ndim=1, shape=(4 * nbr,),
                         input=inp)
            assert_close(y, _bcsr4x1_dense(data, indices, indptr, n) @ x, "y", input=inp,
                         hint="block k of block row br adds data[k, i] * x[indices[k]] to y[4 * br + i]")

    def inputs_unchanged(call, rng):
        data, indices, indptr = random_bcsr4x1(rng, 6, 10, 0.3)
        x = rng.normal(size=10)
        before = snapshot(data, indices, indptr, x)
        y = call(data, indices, indptr, x)
        assert_unchanged(before, [data, indices, indptr, x], ["data", "indices", "indptr", "x"])
        assert_close(as_array(y, "y", kind="f"), _bcsr4x1_dense(data, indices, indptr, 10) @ x, "y")

    def compiled(call, rng):
        _numba_case(call, rng)
        correct(call, rng)

    def fast(call, rng):
        _numba_case(call, rng)
        data, indices, indptr = random_bcsr4x1(rng, 100, 400, 0.03)
        x = rng.normal(size=400)
        assert_close(as_array(call(data, indices, indptr, x), "y", kind="f"),
                     _bcsr4x1_dense(data, indices, indptr, 400) @ x, "y")
        assert_faster(lambda: call(data, indices, indptr, x),
                      lambda: naive_bcsr4x1_matvec(data, indices, indptr, x),
                      SPEEDUP, "bcsr4x1_matvec", input=dict(n_block_rows=100, n_cols=400, nblocks=len(indices)))

    return [Case("15 random 4 x 1 block matrices", 2, correct),
            Case("inputs not modified", 1, inputs_unchanged),
            Case("compiled with numba", 1, compiled),
            Case(f"at least {SPEEDUP:g}x faster than the naive loop", 2, fast, timed=True)]


_OPS = ["vmovupd", "vfmadd231pd", "vaddpd", "vmulpd", "vbroadcastsd", "vxorpd"]


def random_asm(rng):
    """A made-up AT&T listing mixing xmm/ymm/zmm registers, memory operands and labels."""
    lines = [".LBB0_1:", "\t# %bb.0:"]
    for _ in range(int(rng.integers(3, 25))):
        op = _OPS[int(rng.integers(0, len(_OPS)))]
        regs = [f"%{rng.choice(['xmm', 'ymm', 'ymm', 'zmm'])}{int(rng.integers(0, 16))}" for _ in range(2)]
        if rng.random() < 0.3:
            regs[0] = "(%rdx,%rax,8)"
        lines.append(f"\t{op}\t{regs[0]}, {regs[1]}")
    if rng.random() < 0.5:
        lines.append("\t# spilled to a ymmword slot")
    lines.append("\tretq")
    return "\n".join(lines) + "\n"


def ref_count_ymm(asm: str) -> int:
    return len(set(re.findall(r"%ymm(\d+)\b", asm)))


@question("ex06.count_ymm", "count the distinct 256-bit registers in an assembly listing")
def _count_ymm():
    def one(call, asm):
        got = as_number(call(asm), "the count", input=dict(asm=asm))
        exp = ref_count_ymm(asm)
        if got != exp:
            raise CaseFailure("the count of distinct ymm registers is wrong", input=dict(asm=asm),
                              expected=exp, actual=got,
                              hint="a register name is % then ymm then its number; count each one once")

    def random(call, rng):
        for _ in range(20):
            one(call, random_asm(rng))

    def two_digits(call, rng):
        one(call, "\tvaddpd\t%ymm1, %ymm12, %ymm1\n\tvmovupd\t%ymm12, (%rax)\n\tvxorpd\t%xmm2, %xmm2, %xmm2\n")

    def words(call, rng):
        one(call, "\tvmovupd\t(%rdi), %ymm0\n\t# a ymmword spill, then %zmm3 and %xmm0\n")

    return [Case("20 random listings", 2, random),
            Case("ymm1 and ymm12 are different registers", 1, two_digits),
            Case("ymmword, xmm and zmm are not ymm registers", 1, words)]
