"""sparsekit.prune: exact masks, schedules and the format decision, against numpy/scipy references."""
import json

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsekit import BCSR, CSR
from sparsekit.prune import (
    MNN_THRESHOLDS, GradualPruner, block_mask, block_sparsity, break_even, choose_format, cubic_sparsity,
    global_magnitude_masks, load_break_even, magnitude_mask, nm_mask, parse_pattern, pattern_mask, prune, sparsity,
    to_sparse,
)

shapes = st.tuples(st.integers(1, 24), st.integers(1, 24))
amounts = st.floats(0.0, 1.0)


def weight(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


@settings(max_examples=60, deadline=None)
@given(shapes, amounts, st.integers(0, 2**31))
def test_magnitude_mask_exact_and_smallest(shape, amount, seed):
    W = weight(shape, seed)
    mask = magnitude_mask(W, amount)
    assert mask.dtype == bool and mask.shape == W.shape
    k = int(round(amount * W.size))
    assert (~mask).sum() == k
    if 0 < k < W.size:
        assert np.abs(W[mask]).min() >= np.abs(W[~mask]).max()


def test_magnitude_mask_ties_exact():
    W = np.ones((10, 10))
    for a in (0.0, 0.33, 0.5, 0.9, 1.0):
        assert sparsity(magnitude_mask(W, a)) == pytest.approx(round(a * 100) / 100)
    # already-zero weights go first
    W = np.zeros((4, 5))
    W[0, :3] = [3.0, 2.0, 1.0]
    m = magnitude_mask(W, 0.9)
    assert m.sum() == 2 and m[0, 0] and m[0, 1]


@settings(max_examples=40, deadline=None)
@given(st.lists(shapes, min_size=1, max_size=4), amounts, st.integers(0, 2**31))
def test_global_masks_one_threshold(shape_list, amount, seed):
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal(s) * rng.uniform(0.1, 10) for s in shape_list]
    masks = global_magnitude_masks(ws, amount)
    total = sum(w.size for w in ws)
    assert sum((~m).sum() for m in masks) == int(round(amount * total))
    kept = np.concatenate([np.abs(w[m]) for w, m in zip(ws, masks)])
    dropped = np.concatenate([np.abs(w[~m]) for w, m in zip(ws, masks)])
    if kept.size and dropped.size:
        assert kept.min() >= dropped.max()


@settings(max_examples=60, deadline=None)
@given(shapes, amounts, st.sampled_from([(1, 1), (4, 1), (1, 4), (2, 2), (3, 2), (8, 1)]), st.integers(0, 2**31))
def test_block_mask_whole_blocks_exact_count(shape, amount, bs, seed):
    W = weight(shape, seed)
    mask = block_mask(W, amount, bs)
    r, c = bs
    mb, nb = -(-shape[0] // r), -(-shape[1] // c)
    k = int(round(amount * mb * nb))
    # reference: scipy BSR of the padded pruned matrix counts the kept blocks
    P = np.zeros((mb * r, nb * c))
    P[: shape[0], : shape[1]] = W * mask
    bsr = sp.bsr_array(P, blocksize=bs)
    assert bsr.indices.size == mb * nb - k
    # every block is all-kept or all-dropped
    M = np.zeros((mb * r, nb * c), dtype=bool)
    M[: shape[0], : shape[1]] = mask
    tiles = M.reshape(mb, r, nb, c).transpose(0, 2, 1, 3).reshape(mb, nb, -1)
    real = np.zeros((mb * r, nb * c), dtype=bool)
    real[: shape[0], : shape[1]] = True
    rt = real.reshape(mb, r, nb, c).transpose(0, 2, 1, 3).reshape(mb, nb, -1)
    for t, rr in zip(tiles.reshape(-1, r * c), rt.reshape(-1, r * c)):
        assert t[rr].all() or not t[rr].any()
    assert block_sparsity(W * mask, bs) == pytest.approx(k / (mb * nb))
    if shape[0] % r == 0 and shape[1] % c == 0:
        assert sparsity(mask) == pytest.approx(k / (mb * nb))


def test_block_mask_drops_smallest_norm():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((16, 8))
    mask = block_mask(W, 0.5, (4, 1))
    norms = np.sqrt((W.reshape(4, 4, 8) ** 2).sum(axis=1))  # (block row, column)
    keep = mask.reshape(4, 4, 8)[:, 0, :]
    assert norms[keep].min() >= norms[~keep].max()
    # l1 and max norms are honoured too
    for norm, f in (("l1", lambda t: np.abs(t).sum(axis=1)), ("max", lambda t: np.abs(t).max(axis=1))):
        keep = block_mask(W, 0.5, (4, 1), norm=norm).reshape(4, 4, 8)[:, 0, :]
        s = f(W.reshape(4, 4, 8))
        assert s[keep].min() >= s[~keep].max()


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 6), st.sampled_from([(2, 4), (1, 4), (1, 2), (3, 8)]), st.integers(0, 2**31))
def test_nm_mask(rows, groups, nm, seed):
    n, m = nm
    W = weight((rows, groups * m), seed)
    mask = nm_mask(W, n, m)
    g = mask.reshape(rows, groups, m)
    assert (g.sum(axis=2) == n).all()
    a = np.abs(W).reshape(rows, groups, m)
    kept_min = np.where(g, a, np.inf).min(axis=2)
    drop_max = np.where(~g, a, -np.inf).max(axis=2)
    assert (kept_min >= drop_max).all()
    assert sparsity(mask) == pytest.approx(1 - n / m)


def test_prune_returns_pruned_weight_and_mask():
    W = weight((8, 8), 3)
    Wp, mask = prune(W, 0.75, "block", blocksize=(2, 2))
    np.testing.assert_array_equal(Wp, W * mask)
    assert sparsity(Wp) == 0.75
    Wp, mask = prune(W, method="nm", n=2, m=4)
    assert sparsity(Wp) == 0.5
    with pytest.raises(ValueError, match="sparsity 0.5"):
        prune(W, 0.9, "nm")
    with pytest.raises(ValueError, match="method"):
        prune(W, 0.5, "random")


@pytest.mark.parametrize("seed", range(3))
def test_pattern_mask_is_the_named_mask(seed):
    W = weight((16, 24), seed)
    np.testing.assert_array_equal(pattern_mask(W, "magnitude", 0.7), magnitude_mask(W, 0.7))
    np.testing.assert_array_equal(pattern_mask(W, "1x1", 0.7), magnitude_mask(W, 0.7))
    for r, c in ((4, 1), (1, 4), (8, 1), (3, 5)):
        np.testing.assert_array_equal(pattern_mask(W, f"{r}x{c}", 0.6), block_mask(W, 0.6, (r, c)))
    np.testing.assert_array_equal(pattern_mask(W, "2:4", 0.123), nm_mask(W, 2, 4))  # N:M ignores the amount
    assert parse_pattern("8x1") == ("block", (8, 1)) and parse_pattern("1:4") == ("nm", (1, 4))


@pytest.mark.parametrize("bad,exc,msg", [("4x", ValueError, "unknown method"), ("0x4", ValueError, "entries must be >= 1"),
                                         ("3:2", ValueError, "1 <= N <= M"), ("0:4", ValueError, "1 <= N <= M"),
                                         ("block", ValueError, "unknown method"), (4, TypeError, "string")])
def test_pattern_names_are_checked(bad, exc, msg):
    with pytest.raises(exc, match=msg):
        pattern_mask(weight((4, 8), 0), bad, 0.5)


def test_cubic_schedule():
    f = lambda t, **kw: cubic_sparsity(t, 0.9, begin_step=10, end_step=110, **kw)
    assert f(0) == 0.0 and f(10) == 0.0 and f(110) == 0.9 and f(500) == 0.9
    vals = [f(t) for t in range(0, 130)]
    assert all(b >= a for a, b in zip(vals, vals[1:]))
    assert f(60) == pytest.approx(0.9 + (0 - 0.9) * 0.5**3)
    # frequency: constant between pruning steps
    g = [f(t, frequency=25) for t in range(10, 110)]
    assert len(set(g)) == 4
    assert cubic_sparsity(10, 0.9, begin_step=10, end_step=20, initial_sparsity=0.2) == pytest.approx(0.2)
    # flat at s_i before t0, as exercise 04 defines it (it used to drop to 0 there)
    assert cubic_sparsity(0, 0.9, begin_step=10, end_step=110, initial_sparsity=0.1) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="end_step"):
        cubic_sparsity(1, 0.9, begin_step=5, end_step=5)


@pytest.mark.parametrize("method,bs,scope", [("magnitude", (1, 1), "layer"), ("block", (4, 1), "layer"),
                                             ("magnitude", (1, 1), "global")])
def test_gradual_pruner_masks_nested(method, bs, scope):
    rng = np.random.default_rng(0)
    ws = [rng.standard_normal((16, 12)), rng.standard_normal((8, 16))]
    pr = GradualPruner(0.8, begin_step=0, end_step=40, frequency=5, method=method, blocksize=bs, scope=scope)
    prev = None
    for t in range(0, 45):
        masks = pr.step(t, ws)
        for w, m in zip(ws, masks):
            w *= m  # as training does: pruned weights stay zero
        if prev is not None:
            for a, b in zip(prev, masks):
                assert not (b & ~a).any()  # nothing comes back
        prev = [m.copy() for m in masks]
    total = sum(m.size for m in prev)
    assert sum((~m).sum() for m in prev) / total == pytest.approx(0.8, abs=0.01)
    if scope == "layer":
        for m in prev:
            assert sparsity(m) == pytest.approx(0.8, abs=1 / m.size * 4)


@pytest.mark.parametrize("bad,exc,msg", [
    (dict(W=np.ones((3, 3, 3)), amount=0.5), ValueError, "2-D"),
    (dict(W="abc", amount=0.5), TypeError, "numpy"),
    (dict(W=np.ones((3, 3)), amount=1.5), ValueError, "amount"),
    (dict(W=np.ones((3, 3)), amount=-0.1), ValueError, "amount"),
    (dict(W=np.ones((3, 3)), amount="half"), TypeError, "amount"),
    (dict(W=np.full((3, 3), np.nan), amount=0.5), ValueError, "NaN"),
    (dict(W=np.ones((3, 3), dtype=complex), amount=0.5), TypeError, "real"),
])
def test_magnitude_validation(bad, exc, msg):
    with pytest.raises(exc, match=msg):
        magnitude_mask(**bad)


def test_other_validation():
    W = np.ones((4, 6))
    with pytest.raises(ValueError, match="blocksize"):
        block_mask(W, 0.5, (0, 2))
    with pytest.raises(TypeError, match="blocksize"):
        block_mask(W, 0.5, 4)
    with pytest.raises(ValueError, match="norm"):
        block_mask(W, 0.5, (2, 2), norm="l3")
    with pytest.raises(ValueError, match="multiple of m=4"):
        nm_mask(W, 2, 4)
    with pytest.raises(ValueError, match="n <= m"):
        nm_mask(W, 3, 2)
    with pytest.raises(TypeError, match="list"):
        global_magnitude_masks(W, 0.5)
    with pytest.raises(ValueError, match="empty"):
        global_magnitude_masks([], 0.5)
    with pytest.raises(ValueError, match="global"):
        GradualPruner(0.5, begin_step=0, end_step=3, method="block", scope="global")


# -- choosing a format ----------------------------------------------------------
def test_break_even_file_and_fallback(tmp_path):
    missing = tmp_path / "none.json"
    assert load_break_even(missing) == {}
    for r, t in MNN_THRESHOLDS.items():
        assert break_even((r, 1), {}) == (t, "mnn-default")
    assert break_even((8, 1), {}) == (0.3, "mnn-default")
    f = tmp_path / "be.json"
    f.write_text(json.dumps({"break_even": {"1x1": 0.72, "4x1": 0.41, "1x4": None}}))
    table = load_break_even(f)
    assert table == {(1, 1): 0.72, (4, 1): 0.41, (1, 4): 1.0}
    assert break_even((4, 1), table) == (0.41, "measured")
    f.write_text(json.dumps({"break_even": {"4by1": 0.4}}))
    with pytest.raises(ValueError, match="RxC"):
        load_break_even(f)
    f.write_text(json.dumps({"break_even": {"4x1": 1.4}}))
    with pytest.raises(ValueError, match="fraction"):
        load_break_even(f)
    f.write_text("[1, 2")
    with pytest.raises(ValueError, match="break-even file"):
        load_break_even(f)


def test_committed_break_even_file_parses_if_present():
    table = load_break_even()
    for (r, c), t in table.items():
        assert r >= 1 and c >= 1 and 0.0 <= t <= 1.0


def test_choose_format_decisions():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((64, 64))
    table = {(1, 1): 0.7, (4, 1): 0.4}
    # dense below every threshold
    assert choose_format(W * magnitude_mask(W, 0.5), table=table)["format"] == "dense"
    # unstructured 90 %: 4x1 blocks are mostly non-empty, CSR wins
    c = choose_format(W * magnitude_mask(W, 0.9), table=table)
    assert c["format"] == "csr" and c["blocksize"] == (1, 1)
    assert c["est_speedup"] == pytest.approx(0.3 / (1 - sparsity(W * magnitude_mask(W, 0.9))))
    # 4x1-structured 90 %: BCSR 4x1 wins
    c = choose_format(W * block_mask(W, 0.9, (4, 1)), table=table)
    assert c["format"] == "bcsr" and c["blocksize"] == (4, 1) and c["source"] == "measured"
    # 4x1-structured 50 %: above 4x1's 0.4, below 1x1's 0.7
    assert choose_format(W * block_mask(W, 0.5, (4, 1)), table=table)["format"] == "bcsr"
    # fallback thresholds when the table lacks the shape
    c = choose_format(W * block_mask(W, 0.5, (4, 1)), blocksizes=[(4, 1)], table={})
    assert c["threshold"] == 0.3 and c["source"] == "mnn-default"
    with pytest.raises(ValueError, match="blocksizes"):
        choose_format(W, blocksizes=[])


@pytest.mark.parametrize("force", [None, "dense", "csr", (4, 1), (2, 2)])
def test_to_sparse_roundtrip_and_product(force):
    rng = np.random.default_rng(5)
    W = rng.standard_normal((30, 20)).astype(np.float32)
    W *= block_mask(W, 0.8, (4, 1))
    S = to_sparse(W, force=force, table={})
    expected = {None: BCSR, "dense": np.ndarray, "csr": CSR, (4, 1): BCSR, (2, 2): BCSR}[force]
    assert isinstance(S, expected)
    dense = S if isinstance(S, np.ndarray) else S.toarray()
    np.testing.assert_array_equal(dense, W)
    assert dense.dtype == np.float32
    X = rng.standard_normal((20, 7)).astype(np.float32)
    np.testing.assert_allclose(S @ X, W @ X, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("force,match", [("bsr", "force must be 'dense', 'csr' or a block shape"),
                                         ((0, 1), "blocksize must be a pair of positive integers")])
def test_to_sparse_names_a_bad_force(force, match):
    with pytest.raises(ValueError, match=match):
        to_sparse(np.eye(4), force=force)


def test_a_malformed_break_even_table_is_a_value_error(tmp_path):
    from sparsekit.prune import load_break_even

    for doc in ({"break_even": [1]}, {"break_even": {"1x1": True}}):
        p = tmp_path / "be.json"
        p.write_text(json.dumps(doc))
        with pytest.raises(ValueError):
            load_break_even(p)


def test_schedule_and_storage_arguments_are_checked_up_front():
    from sparsekit.prune import GradualPruner, cubic_sparsity, to_sparse

    with pytest.raises(ValueError, match="step must be a finite number"):
        cubic_sparsity(float("nan"), 0.9, end_step=10)
    with pytest.raises(ValueError, match="frequency must be >= 1"):
        GradualPruner(0.9, begin_step=0, end_step=10, frequency=0)  # at construction, not at .step()
    with pytest.raises(TypeError, match="float32 or float64"):
        to_sparse(np.eye(3), force="dense", dtype=np.int8)
    assert to_sparse(np.eye(3, dtype=np.float16), force="dense").dtype == np.float64
    assert cubic_sparsity(np.int64(5), 0.9, end_step=10) == pytest.approx(0.9 - 0.9 * 0.5 ** 3)
