"""Mutation suite: wrong implementations a learner would plausibly write must each lose points.

The reference solutions are taken from ``solutions/`` (their function cells are executed here)
and must score full marks in-process; every mutant must score less.
"""
import re
from pathlib import Path

import nbformat
import numba
import numpy as np
import pytest

from sparsekit.grading import check
from sparsekit.grading.engine import all_questions

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"
MUTANTS = {}


def mutant(qid):
    def register(f):
        MUTANTS.setdefault(qid, []).append(f)
        return f
    return register


# --- ex01 -------------------------------------------------------------------------------------
@mutant("ex01.axpy_scatter")
def axpy_forgets_to_zero_work(u_idx, u_val, v_idx, v_val, r, work):
    for i, x in zip(v_idx, v_val):
        work[i] = x
    idx, val = list(u_idx), [x + r * work[i] for i, x in zip(u_idx, u_val)]
    seen = set(int(i) for i in u_idx)
    for i, x in zip(v_idx, v_val):
        if int(i) not in seen and x != 0:
            idx.append(i)
            val.append(r * x)
    return np.array(idx, dtype=np.int64), np.array(val)


@mutant("ex01.axpy_scatter")
def axpy_densifies(u_idx, u_val, v_idx, v_val, r, work):
    d = np.zeros(len(work))
    d[u_idx] = u_val
    d[v_idx] += r * v_val
    i = np.flatnonzero(d)
    return i, d[i]


@mutant("ex01.axpy_scatter")
def axpy_clears_whole_work(u_idx, u_val, v_idx, v_val, r, work):
    for i, x in zip(v_idx, v_val):
        work[i] = x
    idx, val = [int(i) for i in u_idx], []
    for i, x in zip(u_idx, u_val):
        val.append(x + r * work[i])
        work[i] = 0.0
    for i, x in zip(v_idx, v_val):
        if work[i] != 0.0:
            idx.append(int(i))
            val.append(r * x)
    work[:] = 0.0  # correct result, but O(n)
    return np.array(idx, dtype=np.int64), np.array(val)


@mutant("ex01.axpy_scatter")
def axpy_in_place_on_u(u_idx, u_val, v_idx, v_val, r, work):
    for i, x in zip(v_idx, v_val):
        work[i] = x
    for k, i in enumerate(u_idx):
        u_val[k] += r * work[i]  # mutates the input
        work[i] = 0.0
    idx, val = list(u_idx), list(u_val)
    for i, x in zip(v_idx, v_val):
        if work[i] != 0.0:
            idx.append(i)
            val.append(r * x)
            work[i] = 0.0
    return np.array(idx, dtype=np.int64), np.array(val)


@mutant("ex01.axpy_scatter")
def axpy_forgets_r_for_new_entries(u_idx, u_val, v_idx, v_val, r, work):
    for i, x in zip(v_idx, v_val):
        work[i] = x
    idx, val = [int(i) for i in u_idx], []
    for i, x in zip(u_idx, u_val):
        val.append(x + r * work[i])
        work[i] = 0.0
    for i, x in zip(v_idx, v_val):
        if work[i] != 0.0:
            idx.append(int(i))
            val.append(x)
            work[i] = 0.0
    return np.array(idx, dtype=np.int64), np.array(val)


@mutant("ex01.sparse_dot")
def dot_no_cleanup(u_idx, u_val, v_idx, v_val, work):
    work[v_idx] = v_val
    return float(np.sum(u_val * work[u_idx]))


@mutant("ex01.sparse_dot")
def dot_densifies(u_idx, u_val, v_idx, v_val, work):
    a = np.zeros(len(work))
    b = np.zeros(len(work))
    a[u_idx] = u_val
    b[v_idx] = v_val
    return float(a @ b)


@mutant("ex01.sparse_dot")
def dot_scatters_u_reads_u(u_idx, u_val, v_idx, v_val, work):
    work[u_idx] = u_val
    total = float(np.sum(u_val * work[u_idx]))
    work[u_idx] = 0.0
    return total


@mutant("ex01.from_dense")
def from_dense_positive_only(x):
    idx = np.flatnonzero(x > 0)
    return idx, x[idx]


@mutant("ex01.from_dense")
def from_dense_threshold(x):
    idx = np.flatnonzero(np.abs(x) > 1e-12)
    return idx, x[idx]


@mutant("ex01.from_dense")
def from_dense_nonzero_tuple(x):
    return np.nonzero(x), x[np.nonzero(x)]


@mutant("ex01.drop_small")
def drop_ge(idx, val, tol):
    keep = np.abs(val) >= tol
    return idx[keep], val[keep]


@mutant("ex01.drop_small")
def drop_signed(idx, val, tol):
    keep = val > tol
    return idx[keep], val[keep]


@mutant("ex01.drop_small")
def drop_sorts(idx, val, tol):
    keep = np.abs(val) > tol
    order = np.argsort(idx[keep])
    return idx[keep][order], val[keep][order]


# --- ex02 -------------------------------------------------------------------------------------
@mutant("ex02.dense_vs_sparse_bytes")
def bytes_int32(n_rows, n_cols, nnz):
    n_rows, n_cols, nnz = np.int32(n_rows), np.int32(n_cols), np.int32(nnz)
    with np.errstate(over="ignore"):
        return n_rows * n_cols * np.int32(8), nnz * np.int32(16) + (n_rows + np.int32(1)) * np.int32(8)


@mutant("ex02.dense_vs_sparse_bytes")
def bytes_forget_indptr(n_rows, n_cols, nnz):
    return n_rows * n_cols * 8, nnz * 16


@mutant("ex02.dense_vs_sparse_bytes")
def bytes_values_only(n_rows, n_cols, nnz):
    return n_rows * n_cols * 8, nnz * 8 + (n_rows + 1) * 8


def _elim_base(row_idx, row_val, piv_idx, piv_val, col, work, *, sign=-1.0, keep_col=False, clean=True):
    where = np.flatnonzero(row_idx == col)
    if where.size == 0:
        return row_idx.copy(), row_val.copy()
    f = row_val[where[0]] / piv_val[np.flatnonzero(piv_idx == col)[0]]
    work[piv_idx] = piv_val
    idx, val = [], []
    for i, x in zip(row_idx, row_val):
        if i != col or keep_col:
            idx.append(int(i))
            val.append(x + sign * f * work[i])
        if clean:
            work[i] = 0.0
    for i, x in zip(piv_idx, piv_val):
        if work[i] != 0.0 and i not in row_idx:
            idx.append(int(i))
            val.append(sign * f * x)
            if clean:
                work[i] = 0.0
    return np.array(idx, dtype=np.int64), np.array(val)


@mutant("ex02.eliminate")
def elim_wrong_sign(*a):
    return _elim_base(*a, sign=1.0)


@mutant("ex02.eliminate")
def elim_keeps_stored_zero(*a):
    return _elim_base(*a, keep_col=True)


@mutant("ex02.eliminate")
def elim_no_cleanup(*a):
    return _elim_base(*a, clean=False)


@mutant("ex02.fill_in")
def fill_setdiff(u_idx, v_idx, mark):
    return np.setdiff1d(v_idx, u_idx)


@mutant("ex02.fill_in")
def fill_no_unmark(u_idx, v_idx, mark):
    mark[u_idx] = 1
    return np.array([i for i in v_idx if mark[i] == 0], dtype=np.int64)


@mutant("ex02.fill_in")
def fill_dense_mask(u_idx, v_idx, mark):
    in_u = np.zeros(len(mark), dtype=bool)
    in_u[u_idx] = True
    return v_idx[~in_u[v_idx]]


# --- ex03 -------------------------------------------------------------------------------------
@mutant("ex03.csr_matvec")
def matvec_off_by_one(data, indices, indptr, x):
    y = np.zeros(len(indptr) - 1)
    for i in range(len(y)):
        for k in range(indptr[i], indptr[i + 1] - 1):
            y[i] += data[k] * x[indices[k]]
    return y


@mutant("ex03.csr_matvec")
def matvec_densifies(data, indices, indptr, x):
    A = np.zeros((len(indptr) - 1, len(x)))
    for i in range(len(indptr) - 1):
        A[i, indices[indptr[i]:indptr[i + 1]]] = data[indptr[i]:indptr[i + 1]]
    return A @ x


@mutant("ex03.csr_matvec")
def matvec_square_assumption(data, indices, indptr, x):
    y = np.zeros(len(x))
    for i in range(len(indptr) - 1):
        for k in range(indptr[i], indptr[i + 1]):
            y[i] += data[k] * x[indices[k]]
    return y


@mutant("ex03.csr_matvec")
def matvec_in_place(data, indices, indptr, x):
    data *= x[indices]
    return np.add.reduceat(np.append(data, 0.0), indptr[:-1]) * (np.diff(indptr) > 0)


@mutant("ex03.dense_to_csr")
def to_csr_no_leading_zero(A):
    rows, cols = np.nonzero(A)
    return A[rows, cols], cols, np.cumsum(np.bincount(rows, minlength=A.shape[0]))


@mutant("ex03.dense_to_csr")
def to_csr_stores_zeros(A):
    m, n = A.shape
    return A.ravel().copy(), np.tile(np.arange(n), m), np.arange(0, m * n + 1, n)


@mutant("ex03.dense_to_csr")
def to_csr_column_major(A):
    cols, rows = np.nonzero(A.T)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=A.shape[0]))])
    return A[rows, cols], cols, indptr


@mutant("ex03.csr_matmat")
def matmat_off_by_one(data, indices, indptr, X):
    Y = np.zeros((len(indptr) - 1, X.shape[1]))
    for i in range(len(indptr) - 1):
        lo, hi = indptr[i], indptr[i + 1]
        Y[i] = data[lo:max(lo, hi - 1)] @ X[indices[lo:max(lo, hi - 1)]]
    return Y


@mutant("ex03.csr_matmat")
def matmat_first_column_only(data, indices, indptr, X):
    y = np.zeros(len(indptr) - 1)
    for i in range(len(y)):
        lo, hi = indptr[i], indptr[i + 1]
        y[i] = data[lo:hi] @ X[indices[lo:hi], 0]
    return y[:, None] * np.ones((1, X.shape[1]))


@mutant("ex03.csr_matmat")
def matmat_densifies(data, indices, indptr, X):
    A = np.zeros((len(indptr) - 1, X.shape[0]))
    for i in range(len(indptr) - 1):
        A[i, indices[indptr[i]:indptr[i + 1]]] = data[indptr[i]:indptr[i + 1]]
    return A @ X


@mutant("ex03.csr_transpose")
def transpose_uses_max_index(data, indices, indptr, n_cols):
    n_cols = int(indices.max()) + 1 if len(indices) else 0
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    order = np.lexsort((rows, indices))
    t_indptr = np.concatenate([[0], np.cumsum(np.bincount(indices, minlength=n_cols))])
    return data[order], rows[order], t_indptr


@mutant("ex03.csr_transpose")
def transpose_indptr_no_cumsum(data, indices, indptr, n_cols):
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    order = np.lexsort((rows, indices))
    return data[order], rows[order], np.concatenate([[0], np.bincount(indices, minlength=n_cols)])


@mutant("ex03.csr_transpose")
def transpose_unsorted_rows(data, indices, indptr, n_cols):
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    order = np.lexsort((-rows, indices))  # rows decreasing within each column
    t_indptr = np.concatenate([[0], np.cumsum(np.bincount(indices, minlength=n_cols))])
    return data[order], rows[order], t_indptr


# --- ex04 -------------------------------------------------------------------------------------
def _keep_smallest_k(score, k):
    order = np.argsort(score, axis=None, kind="stable")
    keep = np.ones(score.size, dtype=bool)
    keep[order[:k]] = False
    return keep.reshape(score.shape)


@mutant("ex04.magnitude_mask")
def magnitude_signed(W, amount):
    return _keep_smallest_k(W, round(amount * W.size))


@mutant("ex04.magnitude_mask")
def magnitude_floor(W, amount):
    return _keep_smallest_k(np.abs(W), int(amount * W.size))


@mutant("ex04.magnitude_mask")
def magnitude_zeroes_weights(W, amount):
    mask = _keep_smallest_k(np.abs(W), round(amount * W.size))
    W[~mask] = 0.0
    return mask


@mutant("ex04.magnitude_mask")
def magnitude_per_row(W, amount):
    k = round(amount * W.shape[1])
    return np.stack([_keep_smallest_k(np.abs(row), k) for row in W])


def _block_base(W, blocksize, amount, *, norm="l2", check=True, swap=False):
    r, c = blocksize
    if swap:
        r, c = c, r
    m, n = W.shape
    if check and (m % r or n % c):
        raise ValueError("shape")
    blocks = W[: m - m % r, : n - n % c].reshape(m // r, r, n // c, c)
    score = np.sqrt((blocks ** 2).sum(axis=(1, 3))) if norm == "l2" else np.abs(blocks).sum(axis=(1, 3))
    keep = _keep_smallest_k(score, round(amount * score.size))
    out = np.zeros(W.shape, dtype=bool)
    out[: m - m % r, : n - n % c] = np.repeat(np.repeat(keep, r, axis=0), c, axis=1)
    return out


@mutant("ex04.block_mask")
def block_l1(W, blocksize, amount):
    return _block_base(W, blocksize, amount, norm="l1")


@mutant("ex04.block_mask")
def block_no_shape_check(W, blocksize, amount):
    return _block_base(W, blocksize, amount, check=False)


@mutant("ex04.block_mask")
def block_swapped_shape(W, blocksize, amount):
    r, c = blocksize
    if W.shape[0] % c or W.shape[1] % r:
        return _block_base(W, blocksize, amount)
    return _block_base(W, blocksize, amount, swap=True)


@mutant("ex04.nm_mask")
def nm_keeps_smallest(W, n, m):
    rows, cols = W.shape
    g = np.abs(W).reshape(rows, cols // m, m)
    keep = np.zeros(g.shape, dtype=bool)
    np.put_along_axis(keep, np.argsort(g, axis=2)[:, :, :n], True, axis=2)
    return keep.reshape(rows, cols)


@mutant("ex04.nm_mask")
def nm_signed(W, n, m):
    rows, cols = W.shape
    g = W.reshape(rows, cols // m, m)
    keep = np.zeros(g.shape, dtype=bool)
    np.put_along_axis(keep, np.argsort(-g, axis=2)[:, :, :n], True, axis=2)
    return keep.reshape(rows, cols)


@mutant("ex04.nm_mask")
def nm_groups_down_columns(W, n, m):
    rows, cols = W.shape
    if rows % m:
        return np.ones(W.shape, dtype=bool)
    g = np.abs(W).T.reshape(cols, rows // m, m)
    keep = np.zeros(g.shape, dtype=bool)
    np.put_along_axis(keep, np.argsort(-g, axis=2)[:, :, :n], True, axis=2)
    return keep.reshape(cols, rows).T


@mutant("ex04.cubic_sparsity")
def cubic_linear(t, s_init, s_final, t_start, t_end):
    p = min(max((t - t_start) / (t_end - t_start), 0.0), 1.0)
    return s_init + (s_final - s_init) * p


@mutant("ex04.cubic_sparsity")
def cubic_wrong_cube(t, s_init, s_final, t_start, t_end):
    p = min(max((t - t_start) / (t_end - t_start), 0.0), 1.0)
    return s_init + (s_final - s_init) * p ** 3


@mutant("ex04.cubic_sparsity")
def cubic_no_clamp(t, s_init, s_final, t_start, t_end):
    return s_final + (s_init - s_final) * (1 - (t - t_start) / (t_end - t_start)) ** 3


# --- ex05 -------------------------------------------------------------------------------------
def _bcsr_base(A, blocksize, *, floor=False, transpose_blocks=False, no_zero_ptr=False, all_blocks=False):
    r, c = blocksize
    m, n = A.shape
    mb, nb = (m // r, n // c) if floor else (-(-m // r), -(-n // c))
    P = np.zeros((mb * r, nb * c))
    P[: min(m, mb * r), : min(n, nb * c)] = A[: mb * r, : nb * c]
    blocks = P.reshape(mb, r, nb, c).swapaxes(1, 2)
    present = np.ones((mb, nb), dtype=bool) if all_blocks else blocks.any(axis=(2, 3))
    counts = np.cumsum(present.sum(axis=1))
    indptr = counts if no_zero_ptr else np.concatenate([[0], counts])
    rows, cols = np.nonzero(present)
    data = blocks[rows, cols]
    if transpose_blocks and r == c:
        data = data.swapaxes(1, 2)
    elif transpose_blocks:
        data = data.reshape(len(rows), c, r).swapaxes(1, 2).reshape(len(rows), r, c)
    return data, cols, indptr.astype(np.int64)


@mutant("ex05.dense_to_bcsr")
def bcsr_ignores_remainder(A, blocksize):
    return _bcsr_base(A, blocksize, floor=True)


@mutant("ex05.dense_to_bcsr")
def bcsr_stores_every_block(A, blocksize):
    return _bcsr_base(A, blocksize, all_blocks=True)


@mutant("ex05.dense_to_bcsr")
def bcsr_indptr_without_zero(A, blocksize):
    return _bcsr_base(A, blocksize, no_zero_ptr=True)


@mutant("ex05.dense_to_bcsr")
def bcsr_transposed_blocks(A, blocksize):
    return _bcsr_base(A, blocksize, transpose_blocks=True)


@mutant("ex05.dense_to_bcsr")
def bcsr_built_from_lists(A, blocksize):
    """Right for every matrix with a nonzero; an all-zero one gives data of shape (0,)."""
    data, cols, indptr = _bcsr_base(A, blocksize)
    return np.array(list(data)), cols, indptr


@mutant("ex05.bcsr_nbytes")
def nbytes_floor(shape, blocksize, nblocks, value_bytes=4, index_bytes=4):
    r, c = blocksize
    return nblocks * r * c * value_bytes + nblocks * index_bytes + (shape[0] // r + 1) * index_bytes


@mutant("ex05.bcsr_nbytes")
def nbytes_no_plus_one(shape, blocksize, nblocks, value_bytes=4, index_bytes=4):
    r, c = blocksize
    return nblocks * r * c * value_bytes + nblocks * index_bytes + -(-shape[0] // r) * index_bytes


@mutant("ex05.bcsr_nbytes")
def nbytes_index_per_value(shape, blocksize, nblocks, value_bytes=4, index_bytes=4):
    r, c = blocksize
    return nblocks * r * c * (value_bytes + index_bytes) + (-(-shape[0] // r) + 1) * index_bytes


@mutant("ex05.bcsr_matvec")
def bcsr_mv_no_padding(data, indices, indptr, x, n_rows):
    nblocks, r, c = data.shape
    y = np.zeros((len(indptr) - 1) * r)
    for br in range(len(indptr) - 1):
        for k in range(indptr[br], indptr[br + 1]):
            j = indices[k] * c
            xs = x[j: j + c]
            y[br * r: br * r + r] += data[k][:, : len(xs)] @ xs  # drops the edge silently... almost
    return y  # forgets to cut the padding rows


@mutant("ex05.bcsr_matvec")
def bcsr_mv_transposed_block(data, indices, indptr, x, n_rows):
    nblocks, r, c = data.shape
    xp = np.zeros(len(x) + c)
    xp[: len(x)] = x
    y = np.zeros((len(indptr) - 1) * r + c)
    for br in range(len(indptr) - 1):
        for k in range(indptr[br], indptr[br + 1]):
            j = indices[k] * c
            y[br * r: br * r + r] += (data[k].T @ xp[j: j + r])[:r] if r == c else data[k] @ xp[j: j + c] * 0.5
    return y[:n_rows]


@mutant("ex05.bcsr_matvec")
def bcsr_mv_off_by_one(data, indices, indptr, x, n_rows):
    nblocks, r, c = data.shape
    xp = np.zeros(len(x) + c)
    xp[: len(x)] = x
    y = np.zeros((len(indptr) - 1) * r)
    for br in range(len(indptr) - 1):
        for k in range(indptr[br], max(indptr[br], indptr[br + 1] - 1)):
            j = indices[k] * c
            y[br * r: br * r + r] += data[k] @ xp[j: j + c]
    return y[:n_rows]


@mutant("ex05.stored_zeros")
def zeros_without_padding(A, blocksize):
    r, c = blocksize
    m, n = A.shape
    data, _, _ = _bcsr_base(A, blocksize)
    total = 0
    rows, cols = np.nonzero(_bcsr_present(A, blocksize))
    for br, bc in zip(rows, cols):
        total += min(r, m - br * r) * min(c, n - bc * c)
    return int(total - np.count_nonzero(A))


def _bcsr_present(A, blocksize):
    r, c = blocksize
    m, n = A.shape
    mb, nb = -(-m // r), -(-n // c)
    P = np.zeros((mb * r, nb * c))
    P[:m, :n] = A
    return P.reshape(mb, r, nb, c).swapaxes(1, 2).any(axis=(2, 3))


@mutant("ex05.stored_zeros")
def zeros_all_blocks(A, blocksize):
    r, c = blocksize
    return int(-(-A.shape[0] // r) * -(-A.shape[1] // c) * r * c - np.count_nonzero(A))


@mutant("ex05.stored_zeros")
def zeros_counts_nonzeros(A, blocksize):
    data, _, _ = _bcsr_base(A, blocksize)
    return int(np.count_nonzero(data))


# --- ex06 -------------------------------------------------------------------------------------
@mutant("ex06.fast_csr_matvec")
def fast_plain_python(data, indices, indptr, x):  # correct but neither compiled nor fast
    n_rows = len(indptr) - 1
    y = np.zeros(n_rows)
    for i in range(n_rows):
        for k in range(indptr[i], indptr[i + 1]):
            y[i] += data[k] * x[indices[k]]
    return y


@mutant("ex06.fast_csr_matvec")
@numba.njit
def fast_off_by_one(data, indices, indptr, x):
    n_rows = len(indptr) - 1
    y = np.zeros(n_rows)
    for i in range(n_rows):
        acc = 0.0
        for k in range(indptr[i] + 1, indptr[i + 1]):
            acc += data[k] * x[indices[k]]
        y[i] = acc
    return y


@mutant("ex06.fast_csr_matvec")
@numba.njit
def fast_mutates_data(data, indices, indptr, x):
    n_rows = len(indptr) - 1
    y = np.zeros(n_rows)
    for i in range(n_rows):
        for k in range(indptr[i], indptr[i + 1]):
            data[k] *= x[indices[k]]
            y[i] += data[k]
    return y


@mutant("ex06.bcsr4x1_matvec")
def bcsr4_plain_python(data, indices, indptr, x):
    y = np.zeros(4 * (len(indptr) - 1))
    for br in range(len(indptr) - 1):
        for k in range(indptr[br], indptr[br + 1]):
            y[4 * br: 4 * br + 4] += data[k] * x[indices[k]]
    return y


@mutant("ex06.bcsr4x1_matvec")
@numba.njit
def bcsr4_row_offset_wrong(data, indices, indptr, x):
    nbr = len(indptr) - 1
    y = np.zeros(4 * nbr)
    for br in range(nbr):
        for k in range(indptr[br], indptr[br + 1]):
            for i in range(4):
                y[br + i] += data[k, i] * x[indices[k]]
    return y


@mutant("ex06.bcsr4x1_matvec")
@numba.njit
def bcsr4_transposed(data, indices, indptr, x):
    nbr = len(indptr) - 1
    y = np.zeros(4 * nbr)
    for br in range(nbr):
        for k in range(indptr[br], indptr[br + 1]):
            for i in range(4):
                y[4 * br + i] += data[k, 3 - i] * x[indices[k]]
    return y


@mutant("ex06.count_ymm")
def ymm_occurrences(asm):
    return asm.count("ymm")


@mutant("ex06.count_ymm")
def ymm_all_vector_registers(asm):
    return len(set(re.findall(r"%[xyz]mm\d+", asm)))


@mutant("ex06.count_ymm")
def ymm_one_digit(asm):
    return len(set(re.findall(r"ymm\d", asm)))


# --- ex07 -------------------------------------------------------------------------------------
@mutant("ex07.median_speedup")
def speedup_mean(d, s):
    return float(np.mean(d) / np.mean(s))


@mutant("ex07.median_speedup")
def speedup_inverted(d, s):
    return float(np.median(s) / np.median(d))


@mutant("ex07.median_speedup")
def speedup_sorts_in_place(d, s):
    d.sort()
    s.sort()
    return float(d[len(d) // 2] / s[len(s) // 2]) if len(d) % 2 and len(s) % 2 else float(np.median(d) / np.median(s))


@mutant("ex07.break_even")
def break_even_no_interpolation(s, v):
    above = np.flatnonzero(np.asarray(v) >= 1)
    return float(s[above[0]]) if above.size else float("nan")


@mutant("ex07.break_even")
def break_even_none_when_never(s, v):
    above = np.flatnonzero(np.asarray(v) >= 1)
    if not above.size:
        return None
    j = above[0]
    if j == 0:
        return float(s[0])
    return float(s[j - 1] + (1 - v[j - 1]) * (s[j] - s[j - 1]) / (v[j] - v[j - 1]))


@mutant("ex07.break_even")
def break_even_midpoint(s, v):
    above = np.flatnonzero(np.asarray(v) >= 1)
    if not above.size:
        return float("nan")
    j = above[0]
    return float(s[0]) if j == 0 else float((s[j - 1] + s[j]) / 2)


@mutant("ex07.latency_fit")
def fit_swapped(s, lat):
    slope, intercept = np.polyfit(s, lat, 1)
    return intercept, slope


@mutant("ex07.latency_fit")
def fit_endpoints(s, lat):
    slope = (lat[-1] - lat[0]) / (s[-1] - s[0])
    return slope, lat[0] - slope * s[0]


@mutant("ex07.latency_fit")
def fit_x_on_y(s, lat):
    slope, intercept = np.polyfit(lat, s, 1)
    return 1 / slope, -intercept / slope


# --- ex08 -------------------------------------------------------------------------------------
def _fold(W, b, gamma, beta, mean, var, eps, *, use_eps=True, sub_mean=True, sqrt=True):
    den = var + eps if use_eps else var
    scale = gamma / (np.sqrt(den) if sqrt else den)
    W2 = W * scale.reshape((-1,) + (1,) * (W.ndim - 1))
    return W2, ((b - mean) if sub_mean else b) * scale + beta


@mutant("ex08.fold_bn")
def fold_no_eps(*a):
    return _fold(*a, use_eps=False)


@mutant("ex08.fold_bn")
def fold_forgets_mean(*a):
    return _fold(*a, sub_mean=False)


@mutant("ex08.fold_bn")
def fold_variance_not_std(*a):
    return _fold(*a, sqrt=False)


@mutant("ex08.fold_bn")
def fold_in_place(W, b, gamma, beta, mean, var, eps):
    scale = gamma / np.sqrt(var + eps)
    W *= scale.reshape((-1,) + (1,) * (W.ndim - 1))
    return W, (b - mean) * scale + beta


@mutant("ex08.choose_format")
def choose_at_or_above(W, threshold):
    return "sparse" if np.mean(W == 0) >= threshold else "dense"


@mutant("ex08.choose_format")
def choose_density(W, threshold):
    return "sparse" if np.mean(W != 0) > threshold else "dense"


@mutant("ex08.choose_format")
def choose_near_zero(W, threshold):
    return "sparse" if np.mean(np.abs(W) < 1e-3) > threshold else "dense"


def _im2col_base(x, k, stride, pad, *, order="cij", use_pad=True, plus_one=True):
    C, H, W = x.shape
    p = pad if use_pad else 0
    xp = np.pad(x, ((0, 0), (p, p), (p, p)))
    Ho = (H + 2 * p - k) // stride + (1 if plus_one else 0)
    Wo = (W + 2 * p - k) // stride + (1 if plus_one else 0)
    cols = np.empty((C, k, k, Ho, Wo))
    for i in range(k):
        for j in range(k):
            cols[:, i, j] = xp[:, i: i + stride * Ho: stride, j: j + stride * Wo: stride]
    if order == "ijc":
        cols = cols.transpose(1, 2, 0, 3, 4)
    return cols.reshape(C * k * k, Ho * Wo)


@mutant("ex08.im2col")
def im2col_channel_last(x, k, stride, pad):
    return _im2col_base(x, k, stride, pad, order="ijc")


@mutant("ex08.im2col")
def im2col_ignores_pad(x, k, stride, pad):
    return _im2col_base(x, k, stride, pad, use_pad=False)


@mutant("ex08.im2col")
def im2col_no_plus_one(x, k, stride, pad):
    return _im2col_base(x, k, stride, pad, plus_one=False)


def _conv_base(x, W, b, stride, pad, *, flip=False, bias=True, transpose=False):
    OC, C, k, _ = W.shape
    if flip:
        W = W[:, :, ::-1, ::-1]
    cols = _im2col_base(x, k, stride, pad)
    H, Wd = x.shape[1:]
    Ho, Wo = (H + 2 * pad - k) // stride + 1, (Wd + 2 * pad - k) // stride + 1
    out = W.reshape(OC, -1) @ cols + (b[:, None] if bias else 0.0)
    out = out.reshape(OC, Ho, Wo)
    return out.transpose(0, 2, 1) if transpose else out


@mutant("ex08.conv2d")
def conv_flipped_kernel(*a):
    return _conv_base(*a, flip=True)


@mutant("ex08.conv2d")
def conv_no_bias(*a):
    return _conv_base(*a, bias=False)


@mutant("ex08.conv2d")
def conv_transposed_output(*a):
    return _conv_base(*a, transpose=True)


# --- the tests --------------------------------------------------------------------------------
CASES = [(qid, f) for qid, fs in MUTANTS.items() for f in fs]


def test_every_question_has_three_mutants():
    ids = [q.id for q in all_questions()]
    assert len(ids) >= 25
    short = {qid: len(MUTANTS.get(qid, [])) for qid in ids if len(MUTANTS.get(qid, [])) < 3}
    assert not short, f"questions with fewer than three mutants: {short}"


@pytest.mark.parametrize("qid, mutant_fn", CASES, ids=[f"{q}-{f.__name__}" for q, f in CASES])
def test_mutant_loses_points(qid, mutant_fn):
    result = check(qid, mutant_fn, timeout=20)
    assert result.max_score > 0
    assert result.score < result.max_score, f"{mutant_fn.__name__} scored full marks on {qid}:\n{result}"
    assert not result.passed


def _solution_functions(path):
    """Execute the imports and function-defining cells of a solution notebook; return the namespace."""
    nb = nbformat.read(path, as_version=4)
    ns = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and ("def " in cell.source or cell.source.lstrip().startswith("import")):
            if "check(" in cell.source or "plt." in cell.source:
                continue
            exec(compile(cell.source, f"{path.name}", "exec"), ns)
    return ns


@pytest.mark.parametrize("set_name", sorted({qid.split(".")[0] for qid in MUTANTS}))
def test_reference_solutions_score_full_marks_in_process(set_name):
    path = next(SOLUTIONS.glob(f"{set_name[2:]}_*.ipynb"))
    ns = _solution_functions(path)
    for qid in [q for q in MUTANTS if q.startswith(set_name + ".")]:
        result = check(qid, ns[qid.split(".", 1)[1]], timeout=20)
        assert result.passed, str(result)
