"""Lesson 05's block-format explorer and the arithmetic behind it."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsekit.widgets.blocks import (
    BLOCK_SHAPES,
    BlockExplorer,
    block_sparse_matrix,
    expected_bytes_ratio,
    expected_random_fill,
    storage_summary,
)

blocks = st.sampled_from(BLOCK_SHAPES)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 40), n=st.integers(1, 40), block=blocks, pattern=blocks,
       s=st.floats(0.0, 0.95), seed=st.integers(0, 2**16))
def test_storage_summary_matches_scipy(m, n, block, pattern, s, seed):
    A = block_sparse_matrix((m, n), s, pattern, seed=seed)
    k = storage_summary(A, block)
    r, c = block
    assert k["nnz"] == np.count_nonzero(A) == sp.csr_array(A).nnz
    # blocks kept = tiles of the zero-padded matrix holding a nonzero
    mb, nb = -(-m // r), -(-n // c)
    P = np.zeros((mb * r, nb * c))
    P[:m, :n] = A
    tiles = (P.reshape(mb, r, nb, c) != 0).any(axis=(1, 3))
    assert k["nblocks"] == tiles.sum()
    if m % r == 0 and n % c == 0:
        assert k["nblocks"] == sp.bsr_array(A, blocksize=(r, c)).nnz // (r * c) or k["nnz"] == 0
    assert k["stored"] == k["nblocks"] * r * c
    assert k["stored_zeros"] == k["stored"] - k["nnz"] >= 0
    # bytes: float32 values, int32 indices, indptr of length rows+1 / block rows+1
    assert k["csr_bytes"] == 4 * k["nnz"] + 4 * k["nnz"] + 4 * (m + 1)
    assert k["bcsr_bytes"] == 4 * k["stored"] + 4 * k["nblocks"] + 4 * (mb + 1)
    assert k["ratio"] == pytest.approx(k["bcsr_bytes"] / k["csr_bytes"])


def test_block_sparse_matrix_zeros_whole_tiles():
    A = block_sparse_matrix((64, 48), 0.75, (4, 2), seed=3)
    tiles = (A.reshape(16, 4, 24, 2) != 0)
    full = tiles.all(axis=(1, 3))
    empty = ~tiles.any(axis=(1, 3))
    assert np.all(full | empty)                      # every tile is all-or-nothing
    assert empty.sum() == round(0.75 * 16 * 24)      # exactly the requested share
    assert A.dtype == np.float32
    assert block_sparse_matrix((8, 8), 0.5, dtype=np.float64).dtype == np.float64
    for bad in (np.int32, "int8", bool, "nonsense"):  # normals cast to int would be mostly 0
        with pytest.raises(TypeError, match="dtype must be a floating"):
            block_sparse_matrix((8, 8), 0.5, dtype=bad)


def test_block_pruned_matrix_stored_in_its_own_block_has_no_padding():
    A = block_sparse_matrix((64, 64), 0.9, (4, 1), seed=1)
    own = storage_summary(A, (4, 1))
    assert own["stored_zeros"] == 0 and own["fill"] == 1.0
    crossed = storage_summary(A, (1, 4))             # same matrix, transposed block
    assert crossed["stored_zeros"] > 0
    assert own["ratio"] < 1.0 < crossed["ratio"]     # 90% sparse: blocks save, crossed blocks cost


def test_expected_fill_matches_simulation():
    s, block = 0.8, (2, 2)
    rng = np.random.default_rng(0)
    A = (rng.standard_normal((400, 400)) * (rng.random((400, 400)) >= s)).astype(np.float32)
    k = storage_summary(A, block)
    assert k["fill"] == pytest.approx(expected_random_fill(s, block), rel=0.03)
    assert k["ratio"] == pytest.approx(expected_bytes_ratio(s, block), rel=0.03)
    assert expected_random_fill(0.5, (1, 1)) == 1.0
    assert expected_bytes_ratio(0.3, (1, 1)) == pytest.approx(1.0)


@pytest.mark.parametrize("bad, exc", [((0, 1), ValueError), ((1,), ValueError), ((1.5, 2), TypeError),
                                      ("ab", TypeError), (None, TypeError)])
def test_bad_blocksize(bad, exc):
    with pytest.raises(exc, match="blocksize"):
        storage_summary(np.eye(4), bad)


@pytest.mark.parametrize("bad, exc", [(1.0, ValueError), (-0.1, ValueError), ("0.5", TypeError),
                                      (True, TypeError)])
def test_bad_sparsity(bad, exc):
    with pytest.raises(exc, match="sparsity"):
        block_sparse_matrix((8, 8), bad)
    with pytest.raises(exc, match="sparsity"):
        expected_random_fill(bad, (2, 2))


def test_storage_summary_rejects_non_matrix():
    with pytest.raises(ValueError, match="2-D"):
        storage_summary(np.ones(5), (1, 1))


def test_explorer_builds_and_reacts():
    ex = BlockExplorer(shape=(32, 32), blocksize=(4, 1), pattern=(4, 1), sparsity=0.5, seed=2)
    first = dict(ex.summary)
    assert first["stored_zeros"] == 0                          # pruned and stored alike
    assert "BCSR / CSR" in ex.view.value
    png = ex.image.value
    assert png[:8] == b"\x89PNG\r\n\x1a\n"                    # the picture was drawn

    ex.sparsity.value = 0.9
    assert ex.summary["nnz"] < first["nnz"]
    expect = storage_summary(block_sparse_matrix((32, 32), 0.9, (4, 1), seed=2), (4, 1))
    assert ex.summary == expect

    ex.storage.value = (1, 4)                                  # store across the pruned blocks
    assert ex.summary["blocksize"] == (1, 4)
    assert ex.summary["stored_zeros"] > 0
    assert f"{ex.summary['stored_zeros']:,}" in ex.view.value
    assert "1x4" in repr(ex)
    assert ex.image.value != png                               # and redrawn


def test_explorer_validates_before_building():
    with pytest.raises(ValueError, match="sparsity"):
        BlockExplorer(sparsity=1.2)
    with pytest.raises(ValueError, match="shape"):
        BlockExplorer(shape=(0, 4))
