"""Exercise set 03: CSR (building it, SpMV, SpMM, transpose), checked against scipy.sparse."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .engine import Case, CaseFailure, question
from .helpers import (as_array, as_tuple, assert_close, assert_equal, assert_unchanged, peak_bytes,
                      random_sparse_dense, snapshot)


def random_csr(rng, m=None, n=None, density=None):
    """(data, indices, indptr, shape) of a random CSR matrix with sorted indices, some empty rows."""
    m = int(rng.integers(1, 40)) if m is None else m
    n = int(rng.integers(1, 40)) if n is None else n
    density = float(rng.uniform(0.0, 0.4)) if density is None else density
    A = random_sparse_dense(rng, m, n, density)
    if m > 2:
        A[int(rng.integers(0, m))] = 0.0  # an empty row
        A[-1] = 0.0 if rng.random() < 0.5 else A[-1]  # sometimes the last row is empty
    S = sp.csr_matrix(A)
    return S.data.astype(np.float64), S.indices.astype(np.int64), S.indptr.astype(np.int64), A


_CSR = ["data", "indices", "indptr"]


def _no_densify(call, rng, args_of, what):
    """A 3000 x 3000 matrix with 3000 nonzeros: a dense copy would need 72 MB."""
    n = 3000
    rows = rng.integers(0, n, 3000)
    cols = rng.integers(0, n, 3000)
    S = sp.csr_matrix((rng.normal(size=3000), (rows, cols)), shape=(n, n))
    S.sum_duplicates()
    args = args_of(S.data, S.indices.astype(np.int64), S.indptr.astype(np.int64), n)
    box = []
    mem = peak_bytes(lambda: box.append(call(*args)))
    assert_close(as_array(box[0], "the result", kind="f"), S @ args[3], "the result")
    if mem > 8_000_000:
        raise CaseFailure(f"{what} on a 3000 x 3000 matrix with 3000 nonzeros allocated {mem / 1e6:.0f} MB: "
                          "it builds a dense matrix", hint="loop over the stored entries only")


@question("ex03.csr_matvec", "y = A x for A in CSR")
def _csr_matvec():
    def random(call, rng):
        for _ in range(20):
            data, indices, indptr, A = random_csr(rng)
            x = rng.normal(size=A.shape[1])
            inp = dict(data=data, indices=indices, indptr=indptr, x=x)
            y = as_array(call(data.copy(), indices.copy(), indptr.copy(), x.copy()), "y", kind="f", ndim=1,
                         shape=(A.shape[0],), input=inp)
            assert_close(y, sp.csr_matrix(A) @ x, "y", input=inp,
                         hint="row i uses the entries k with indptr[i] <= k < indptr[i + 1]")

    def rectangular(call, rng):
        data, indices, indptr, A = random_csr(rng, 5, 17, 0.3)
        x = rng.normal(size=17)
        inp = dict(data=data, indices=indices, indptr=indptr, x=x)
        y = as_array(call(data, indices, indptr, x), "y", kind="f", ndim=1, input=inp)
        assert_equal(y.shape, (5,), "the shape of y", input=inp, hint="y has one entry per row: len(indptr) - 1")
        assert_close(y, A @ x, "y", input=inp)

    def inputs_unchanged(call, rng):
        data, indices, indptr, A = random_csr(rng, 20, 20, 0.2)
        x = rng.normal(size=20)
        before = snapshot(data, indices, indptr, x)
        y = call(data, indices, indptr, x)
        assert_unchanged(before, [data, indices, indptr, x], _CSR + ["x"])
        assert_close(as_array(y, "y", kind="f"), A @ x, "y")

    def no_densify(call, rng):
        _no_densify(call, rng, lambda d, i, p, n: (d, i, p, np.ones(n)), "csr_matvec")

    return [Case("20 random matrices (empty rows included) against scipy.sparse", 2, random),
            Case("a wide 5 x 17 matrix: y has 5 entries", 1, rectangular),
            Case("inputs not modified", 1, inputs_unchanged),
            Case("does not build a dense matrix", 1, no_densify)]


@question("ex03.dense_to_csr", "build CSR from a dense matrix")
def _dense_to_csr():
    def one(call, A):
        inp = dict(A=A)
        data, indices, indptr = as_tuple(call(A.copy()), 3, "the result", "data, indices, indptr", input=inp)
        data = as_array(data, "data", kind="f", ndim=1, input=inp)
        indices = as_array(indices, "indices", kind="i", ndim=1, input=inp)
        indptr = as_array(indptr, "indptr", kind="i", ndim=1, input=inp)
        S = sp.csr_matrix(A)
        assert_equal(indptr, S.indptr.astype(np.int64), "indptr", input=inp,
                     hint="indptr has n_rows + 1 entries, starts at 0 and ends at nnz")
        assert_equal(indices, S.indices.astype(np.int64), "indices", input=inp,
                     hint="row by row, column indices increasing, zeros not stored")
        assert_equal(data, S.data, "data", input=inp)

    def random(call, rng):
        for _ in range(15):
            m, n = int(rng.integers(1, 30)), int(rng.integers(1, 30))
            one(call, random_sparse_dense(rng, m, n, float(rng.uniform(0, 0.5))))

    def all_zero(call, rng):
        one(call, np.zeros((4, 6)))

    def inputs_unchanged(call, rng):
        A = random_sparse_dense(rng, 10, 12, 0.3)
        before = snapshot(A)
        call(A)
        assert_unchanged(before, [A], ["A"])
        one(call, A)

    return [Case("15 random matrices against scipy.sparse.csr_matrix", 2, random),
            Case("an all-zero 4 x 6 matrix", 1, all_zero),
            Case("input not modified", 1, inputs_unchanged)]


@question("ex03.csr_matmat", "Y = A X for A in CSR and a dense X with k columns")
def _csr_matmat():
    def random(call, rng):
        for _ in range(15):
            data, indices, indptr, A = random_csr(rng)
            k = int(rng.integers(1, 6))
            X = rng.normal(size=(A.shape[1], k))
            inp = dict(data=data, indices=indices, indptr=indptr, X=X)
            Y = as_array(call(data.copy(), indices.copy(), indptr.copy(), X.copy()), "Y", kind="f", ndim=2,
                         shape=(A.shape[0], k), input=inp)
            assert_close(Y, sp.csr_matrix(A) @ X, "Y", input=inp,
                         hint="row i of Y sums data[k] * X[indices[k], :] over the row's entries")

    def inputs_unchanged(call, rng):
        data, indices, indptr, A = random_csr(rng, 15, 15, 0.3)
        X = rng.normal(size=(15, 3))
        before = snapshot(data, indices, indptr, X)
        Y = call(data, indices, indptr, X)
        assert_unchanged(before, [data, indices, indptr, X], _CSR + ["X"])
        assert_close(as_array(Y, "Y", kind="f"), A @ X, "Y")

    def no_densify(call, rng):
        _no_densify(call, rng, lambda d, i, p, n: (d, i, p, np.ones((n, 2))), "csr_matmat")

    return [Case("15 random matrices, 1 to 5 columns, against scipy.sparse", 2, random),
            Case("inputs not modified", 1, inputs_unchanged),
            Case("does not build a dense matrix", 1, no_densify)]


@question("ex03.csr_transpose", "the transpose of a CSR matrix, again in CSR")
def _csr_transpose():
    def one(call, data, indices, indptr, A):
        n_cols = A.shape[1]
        inp = dict(data=data, indices=indices, indptr=indptr, n_cols=n_cols)
        out = as_tuple(call(data.copy(), indices.copy(), indptr.copy(), n_cols), 3, "the result",
                       "data, indices, indptr", input=inp)
        t_data = as_array(out[0], "data", kind="f", ndim=1, input=inp)
        t_indices = as_array(out[1], "indices", kind="i", ndim=1, input=inp)
        t_indptr = as_array(out[2], "indptr", kind="i", ndim=1, input=inp)
        T = sp.csr_matrix(A.T)
        assert_equal(t_indptr, T.indptr.astype(np.int64), "indptr of the transpose", input=inp,
                     hint="the transpose has n_cols rows, so n_cols + 1 pointers; count entries per column")
        assert_equal(t_indices, T.indices.astype(np.int64), "indices of the transpose", input=inp,
                     hint="within each row of the transpose, indices increase")
        assert_equal(t_data, T.data, "data of the transpose", input=inp)

    def random(call, rng):
        for _ in range(15):
            one(call, *random_csr(rng))

    def empty_last_columns(call, rng):
        A = random_sparse_dense(rng, 6, 9, 0.5)
        A[:, 6:] = 0.0
        S = sp.csr_matrix(A)
        one(call, S.data, S.indices.astype(np.int64), S.indptr.astype(np.int64), A)

    return [Case("15 random matrices against scipy.sparse", 2, random),
            Case("the last columns are empty", 1, empty_last_columns)]
