"""Exercise set 05: block CSR (BCSR) from dense, its memory formula, SpMV, stored zeros."""
from __future__ import annotations

import math

import numpy as np

from .engine import Case, CaseFailure, question
from .helpers import (as_array, as_number, as_tuple, assert_close, assert_equal, assert_unchanged,
                      random_sparse_dense, snapshot)


def ref_dense_to_bcsr(A, blocksize):
    """Blocks of r x c, the matrix padded with zeros to whole blocks; a block is stored if it has a nonzero."""
    r, c = blocksize
    m, n = A.shape
    mb, nb = -(-m // r), -(-n // c)
    P = np.zeros((mb * r, nb * c))
    P[:m, :n] = A
    blocks = P.reshape(mb, r, nb, c).swapaxes(1, 2)  # (mb, nb, r, c)
    present = blocks.any(axis=(2, 3))
    indptr = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int64)
    rows, cols = np.nonzero(present)
    return blocks[rows, cols].copy(), cols.astype(np.int64), indptr


def ref_bcsr_nbytes(shape, blocksize, nblocks, value_bytes=4, index_bytes=4):
    r, c = blocksize
    return nblocks * r * c * value_bytes + nblocks * index_bytes + (math.ceil(shape[0] / r) + 1) * index_bytes


def _random_matrix(rng, m=None, n=None, density=None):
    """A random test matrix with at least one nonzero, so that every case tests stored blocks."""
    m = int(rng.integers(1, 25)) if m is None else m
    n = int(rng.integers(1, 25)) if n is None else n
    A = random_sparse_dense(rng, m, n, float(rng.uniform(0.05, 0.4)) if density is None else density)
    if not A.any():
        A[int(rng.integers(0, m)), int(rng.integers(0, n))] = 1.5
    return A


_SHAPES = [(1, 4), (4, 1), (2, 2), (3, 2), (4, 4), (1, 1)]


def _check_bcsr(out, A, blocksize, inp):
    r, c = blocksize
    data, indices, indptr = as_tuple(out, 3, "the result", "data, indices, indptr", input=inp)
    data = as_array(data, "data", kind="f", input=inp)
    indices = as_array(indices, "indices", kind="i", ndim=1, input=inp)
    indptr = as_array(indptr, "indptr", kind="i", ndim=1, input=inp)
    e_data, e_indices, e_indptr = ref_dense_to_bcsr(A, blocksize)
    assert_equal(indptr, e_indptr, "indptr", input=inp,
                 hint="one pointer per block row plus one; a partial block row at the bottom counts too")
    assert_equal(indices, e_indices, "indices (block columns)", input=inp,
                 hint="block column indices, increasing within a block row; partial blocks at the right "
                      "edge count")
    if data.shape != e_data.shape:
        raise CaseFailure(f"data has shape {data.shape}, expected (nblocks, r, c) = {e_data.shape}",
                          input=inp, hint="data[k] is the k-th stored block as an r x c array")
    assert_equal(data, e_data, "the stored blocks", input=inp,
                 hint="data[k][i, j] is the entry at row r * block_row + i, column c * block_col + j; "
                      "padding is zero")


@question("ex05.dense_to_bcsr", "BCSR from a dense matrix, with padding")
def _dense_to_bcsr():
    def multiples(call, rng):
        for _ in range(10):
            r, c = _SHAPES[int(rng.integers(0, len(_SHAPES)))]
            A = _random_matrix(rng, r * int(rng.integers(1, 6)), c * int(rng.integers(1, 6)), 0.2)
            inp = dict(A=A, blocksize=(r, c))
            _check_bcsr(call(A.copy(), (r, c)), A, (r, c), inp)

    def remainders(call, rng):
        for _ in range(10):
            r, c = _SHAPES[int(rng.integers(0, len(_SHAPES) - 1))]
            A = _random_matrix(rng)
            if A.shape[0] % r == 0 and A.shape[1] % c == 0:
                A = np.vstack([A, np.ones((1, A.shape[1]))])
            inp = dict(A=A, blocksize=(r, c))
            _check_bcsr(call(A.copy(), (r, c)), A, (r, c), inp)

    def corner(call, rng):
        A = np.zeros((5, 7))
        A[4, 6] = 3.0  # the only nonzero sits in the padded corner block
        inp = dict(A=A, blocksize=(2, 4))
        _check_bcsr(call(A.copy(), (2, 4)), A, (2, 4), inp)

    def all_zero(call, rng):
        A = np.zeros((3, 5))  # no block is stored: data is (0, 2, 2), indptr all zeros
        _check_bcsr(call(A.copy(), (2, 2)), A, (2, 2), dict(A=A, blocksize=(2, 2)))

    def inputs_unchanged(call, rng):
        A = _random_matrix(rng)
        before = snapshot(A)
        out = call(A, (2, 2))
        assert_unchanged(before, [A], ["A"])
        _check_bcsr(out, A, (2, 2), dict(A=A, blocksize=(2, 2)))

    return [Case("10 random matrices whose shape is a multiple of the block", 2, multiples),
            Case("10 random matrices with partial blocks at the edges", 2, remainders),
            Case("a nonzero only in the bottom-right partial block", 1, corner),
            Case("an all-zero matrix (no block stored)", 1, all_zero),
            Case("input not modified", 1, inputs_unchanged)]


@question("ex05.bcsr_nbytes", "the memory formula of BCSR")
def _nbytes():
    def one(call, shape, blocksize, nblocks, vb, ib):
        inp = dict(shape=shape, blocksize=blocksize, nblocks=nblocks, value_bytes=vb, index_bytes=ib)
        got = as_number(call(shape, blocksize, nblocks, vb, ib), "the byte count", input=inp)
        exp = ref_bcsr_nbytes(shape, blocksize, nblocks, vb, ib)
        if got != exp:
            raise CaseFailure("the byte count is wrong", input=inp, expected=exp, actual=got,
                              hint="values: r*c per stored block; one column index per block; "
                                   "indptr: one per block row (rounded up) plus one")

    def random(call, rng):
        for _ in range(20):
            r, c = _SHAPES[int(rng.integers(0, len(_SHAPES)))]
            shape = (int(rng.integers(1, 5000)), int(rng.integers(1, 5000)))
            max_blocks = (-(-shape[0] // r)) * (-(-shape[1] // c))
            one(call, shape, (r, c), int(rng.integers(0, max_blocks + 1)), int(rng.choice([4, 8])),
                int(rng.choice([4, 8])))

    def remainder(call, rng):
        one(call, (10, 12), (4, 1), 7, 4, 4)  # 3 block rows, the last one partial

    def defaults(call, rng):  # float32 values and int32 indices unless told otherwise
        shape, blocksize, nblocks = (64, 48), (4, 1), 100
        inp = dict(shape=shape, blocksize=blocksize, nblocks=nblocks)
        got = as_number(call(shape, blocksize, nblocks), "the byte count", input=inp)
        exp = ref_bcsr_nbytes(shape, blocksize, nblocks)
        if got != exp:
            raise CaseFailure("the byte count with the default sizes is wrong", input=inp, expected=exp, actual=got,
                              hint="value_bytes and index_bytes default to 4 (float32 values, int32 indices)")

    return [Case("20 random shapes, block shapes and byte sizes", 2, random),
            Case("the number of block rows rounds up (10 rows, 4 x 1 blocks)", 1, remainder),
            Case("the default byte sizes (4 and 4)", 1, defaults)]


@question("ex05.bcsr_matvec", "y = A x for A in BCSR (with partial edge blocks)")
def _matvec():
    def one(call, A, blocksize, rng):
        data, indices, indptr = ref_dense_to_bcsr(A, blocksize)
        x = rng.normal(size=A.shape[1])
        n_rows = A.shape[0]
        inp = dict(data=data, indices=indices, indptr=indptr, x=x, n_rows=n_rows)
        y = as_array(call(data.copy(), indices.copy(), indptr.copy(), x.copy(), n_rows), "y", kind="f",
                     ndim=1, input=inp)
        if y.shape != (n_rows,):
            raise CaseFailure(f"y has shape {y.shape}, expected ({n_rows},)", input=inp,
                              hint="drop the padding rows: y has n_rows entries")
        assert_close(y, A @ x, "y", input=inp,
                     hint="pad x with zeros to whole blocks; block k multiplies x[c * indices[k]: ...]")

    def multiples(call, rng):
        for _ in range(10):
            r, c = _SHAPES[int(rng.integers(0, len(_SHAPES)))]
            one(call, random_sparse_dense(rng, r * int(rng.integers(1, 6)), c * int(rng.integers(1, 6)), 0.3),
                (r, c), rng)

    def remainders(call, rng):
        for _ in range(10):
            r, c = _SHAPES[int(rng.integers(0, len(_SHAPES) - 1))]
            A = _random_matrix(rng)
            if A.shape[1] % c == 0:
                A = np.hstack([A, np.ones((A.shape[0], 1))])
            one(call, A, (r, c), rng)

    def inputs_unchanged(call, rng):
        A = random_sparse_dense(rng, 8, 8, 0.4)
        data, indices, indptr = ref_dense_to_bcsr(A, (2, 2))
        x = rng.normal(size=8)
        before = snapshot(data, indices, indptr, x)
        y = call(data, indices, indptr, x, 8)
        assert_unchanged(before, [data, indices, indptr, x], ["data", "indices", "indptr", "x"])
        assert_close(as_array(y, "y", kind="f"), A @ x, "y")

    return [Case("10 random matrices, whole blocks", 2, multiples),
            Case("10 random matrices with partial blocks at the edges", 2, remainders),
            Case("inputs not modified", 1, inputs_unchanged)]


@question("ex05.stored_zeros", "how many zeros BCSR stores (padding included)")
def _stored_zeros():
    def one(call, A, blocksize):
        inp = dict(A=A, blocksize=blocksize)
        got = as_number(call(A.copy(), blocksize), "the count", input=inp)
        data, _, _ = ref_dense_to_bcsr(A, blocksize)
        exp = data.size - np.count_nonzero(A)
        if got != exp:
            raise CaseFailure("the number of stored zeros is wrong", input=inp, expected=exp, actual=got,
                              hint="count every value slot of every stored block, padding included, "
                                   "minus the true nonzeros")

    def random(call, rng):
        for _ in range(15):
            r, c = _SHAPES[int(rng.integers(0, len(_SHAPES)))]
            one(call, _random_matrix(rng), (r, c))

    def padded(call, rng):
        A = np.zeros((3, 3))
        A[2, 2] = 1.0
        one(call, A, (2, 2))  # one stored block at (1, 1): 1 nonzero, 3 zeros (2 of them padding)

    return [Case("15 random matrices and block shapes", 2, random),
            Case("padding counts as stored zeros", 1, padded)]
