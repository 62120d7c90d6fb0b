"""The cuda backend (sparsekit.gpu) and the GPU results committed under results/gpu/.

On a machine without a GPU: available() says why not, inputs are validated
before any GPU work, the pattern generators are right, and the committed JSON
has the schema lesson 09 reads with sane rows.  With a GPU (the tests named
``test_cuda_*``), every GPU path is checked against numpy in float64.
"""
from __future__ import annotations

import glob
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from sparsekit import BCSR, CSR
from sparsekit import gpu

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "results", "gpu")
GPU_OK, GPU_WHY = gpu.available()
needs_gpu = pytest.mark.skipif(not GPU_OK, reason=f"no GPU: {GPU_WHY}")


# --------------------------------------------------------------------------- without a GPU
def test_import_does_not_load_torch_or_cupy():
    code = "import sys, sparsekit.gpu; print(sorted(m for m in ('torch', 'cupy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_available_returns_bool_and_reason():
    ok, why = gpu.available()
    assert isinstance(ok, bool) and isinstance(why, str) and why
    for lib in ("PyTorch", "CuPy", "numba-cuda"):
        assert lib in why


@pytest.mark.skipif(GPU_OK, reason="a GPU is here")
def test_available_says_no_gpu_here():
    ok, why = gpu.available()
    assert ok is False
    assert "no NVIDIA GPU" in why


def test_available_explains_missing_torch(monkeypatch):
    monkeypatch.setattr(gpu, "_gpu_device_present", lambda: (True, "pretend"))
    monkeypatch.setattr(gpu, "_has", lambda mod: mod != "torch")
    ok, why = gpu.available()
    assert ok is False
    assert "PyTorch is not installed" in why


@pytest.mark.skipif(GPU_OK or not gpu._has("torch"), reason="needs a CPU-only torch")
def test_available_explains_cpu_only_torch(monkeypatch):
    monkeypatch.setattr(gpu, "_gpu_device_present", lambda: (True, "pretend"))
    ok, why = gpu.available()
    assert ok is False
    assert "cannot use it" in why


def test_available_never_raises(monkeypatch):
    def boom():
        raise OSError("driver exploded")

    monkeypatch.setattr(gpu, "_gpu_device_present", boom)
    ok, why = gpu.available()
    assert ok is False and "driver exploded" in why


@pytest.mark.skipif(GPU_OK, reason="a GPU is here")
def test_spmm_without_gpu_raises_with_reason():
    with pytest.raises(RuntimeError, match="cannot run here"):
        gpu.spmm(np.eye(4, dtype=np.float32), np.ones((4, 2)))


@pytest.mark.parametrize(
    "A, X, kwargs, err, match",
    [
        (np.ones((3, 4)), np.ones(5), {}, ValueError, "dimension mismatch"),
        (np.ones((3, 4)), np.ones((4, 2, 2)), {}, ValueError, "1-D or 2-D"),
        (np.ones((3, 4)), np.array(["a"] * 4), {}, TypeError, "real numbers"),
        (np.ones((3, 4)), np.ones(4) * 1j, {}, TypeError, "real numbers"),
        (np.ones(4), np.ones(4), {}, ValueError, "2-D"),
        ("matrix", np.ones(4), {}, TypeError, "A must be"),
        (np.full((2, 2), np.nan), np.ones(2), {}, ValueError, "NaN"),
        (np.ones((2, 2)), np.array([1.0, np.inf]), {}, ValueError, "NaN or infinity"),
        (np.ones((3, 4)), np.ones(4), {"method": "magic"}, ValueError, "unknown method"),
        (np.ones((3, 4)), np.ones(4), {"method": 3}, TypeError, "method must be a string"),
        (np.ones((4, 4)), np.ones(4), {"method": "semi24-cusparselt"}, ValueError, "2:4"),
        (np.ones((4, 4)), np.ones(4), {"method": "torch-bsr", "blocksize": (2, 4)}, ValueError, "square"),
        (np.ones((4, 4)), np.ones(4), {"method": "torch-bsr", "blocksize": (0, 0)}, ValueError, "positive"),
        (np.ones((4, 4)), np.ones(4), {"method": "triton-bsr", "blocksize": (8, 8)}, ValueError, "at least 16"),
        (np.ones((0, 4)), np.ones(4), {}, ValueError, "empty"),
    ],
)
def test_bad_input_rejected_before_any_gpu_work(A, X, kwargs, err, match):
    for fn in (gpu.spmm, gpu.time_spmm):
        with pytest.raises(err, match=match):
            fn(A, X, **kwargs)


@pytest.mark.parametrize("seed", range(4))
def test_block_mask_exact_sparsity_and_blocks(seed):
    rng = np.random.default_rng(seed)
    bm, bk = [(1, 1), (4, 1), (16, 16), (32, 32)][seed]
    M, K = 128, 256
    s = float(rng.choice([0.5, 0.7, 0.9, 0.95]))
    mask = gpu.block_mask(rng, M, K, (bm, bk), s)
    nb = (M // bm) * (K // bk)
    tiles = mask.reshape(M // bm, bm, K // bk, bk)
    kept = tiles.any(axis=(1, 3))
    assert (tiles.all(axis=(1, 3)) == kept).all()  # tiles are all-or-nothing
    assert kept.sum() == round((1 - s) * nb)


def test_mask_2to4_is_2to4_and_half():
    rng = np.random.default_rng(1)
    mask = gpu.mask_2to4(rng, 64, 128)
    assert mask.sum() == 64 * 128 // 2
    assert (mask.reshape(64, 32, 4).sum(axis=2) == 2).all()
    assert gpu.is_2to4(mask)
    assert not gpu.is_2to4(np.ones((2, 8)))
    assert gpu.is_2to4(np.array([[1.0, 0, 0, 2, 3]]))  # ragged tail is padded with zeros
    assert not gpu.is_2to4(np.array([[1.0, 0, 0, 0, 3, 3, 3]]))


# --------------------------------------------------------------------------- the committed results
def _result_files():
    return sorted(glob.glob(os.path.join(RESULTS, "gpu-spmm-*.json")))


def test_results_are_committed():
    assert _result_files(), f"no gpu-spmm-*.json under {RESULTS}"
    for path in _result_files():
        assert os.path.exists(os.path.splitext(path)[0] + ".png"), "each JSON has its plot beside it"
    assert os.path.exists(os.path.join(RESULTS, "README.md"))


@pytest.fixture(scope="module", params=_result_files() or [None])
def doc(request):
    if request.param is None:
        pytest.fail(f"no gpu-spmm-*.json under {RESULTS}")
    with open(request.param) as f:
        return json.load(f)


def test_results_schema_and_machine(doc):
    assert doc["schema"] == gpu.SCHEMA
    for key in ("what", "date", "command", "machine", "timing", "methods", "ceilings", "rows"):
        assert key in doc
    m = doc["machine"]
    for key in ("gpu", "driver", "torch", "cuda_runtime", "sm_count", "compute_capability"):
        assert m.get(key), key
    assert m["cuda_available"] is True
    c = doc["ceilings"]
    assert 100 < c["copy_GBps"] < 20000
    assert 1 < c["sgemm_tflops"] < 200 and 10 < c["hgemm_tflops"] < 5000


def test_results_cover_the_sweep(doc):
    have = {(r["M"], r["K"], r["N"], r["block"], r["sparsity"], r["method"]) for r in doc["rows"]}
    for (M, K, N) in gpu.SHAPES:
        for s in gpu.SPARSITIES:
            for b in gpu.BLOCKS:
                blk = f"{b[0]}x{b[1]}"
                assert (M, K, N, blk, s, "dense") in have
                assert (M, K, N, blk, s, "torch-csr") in have
                if b[0] > 1:
                    assert (M, K, N, blk, s, "torch-bsr") in have
        assert (M, K, N, "2:4", 0.5, "dense-fp16") in have
        assert (M, K, N, "2:4", 0.5, "semi24-cusparselt") in have


def test_results_rows_are_sane(doc):
    ok = 0
    for r in doc["rows"]:
        assert r["method"] in gpu.METHODS
        assert r["dtype"] in ("float32", "float16")
        M, K, N = r["M"], r["K"], r["N"]
        assert 0 < r["nnz"] <= M * K
        assert abs(r["actual_sparsity"] - (1 - r["nnz"] / (M * K))) < 1e-12
        if r["block"] == "2:4":
            assert r["nnz"] * 2 == M * K
        else:
            bm, bk = map(int, r["block"].split("x"))
            assert abs(r["actual_sparsity"] - r["sparsity"]) <= bm * bk / (M * K) + 1e-12
        if "error" in r:
            assert "ms" not in r and r["method"] not in ("dense", "dense-fp16", "torch-csr")
            continue
        ok += 1
        assert r["rel_err"] <= gpu._tolerance(r["method"])
        assert 0 < r["ms_p10"] <= r["ms"] <= r["ms_p90"]
        assert r["loop_ms"] > 0 and r["repeats"] >= 10
        assert math.isclose(r["speedup"], r["dense_ms"] / r["ms"], rel_tol=1e-9)
        assert math.isclose(r["useful_tflops"], 2 * r["nnz"] * N / (r["ms"] * 1e-3) / 1e12, rel_tol=1e-9)
        # no fp32 path can beat the chip's peak by executing fewer flops than the useful ones
        fp32_units = r["method"] in ("dense", "torch-csr", "cupy-csr", "cupy-csr-fortran")  # no tensor cores
        assert r["executed_tflops"] < (100 if fp32_units else 2500)
        if "kernel_ms" in r:
            assert r["kernel_ms"] > 0
        if r["method"] in ("dense", "dense-fp16"):
            assert r["speedup"] == 1.0
    assert ok >= 0.9 * len(doc["rows"])


def test_results_dense_time_follows_the_flops(doc):
    """Dense SGEMM time grows with the product's size and its rate stays under the measured ceiling."""
    dense = {}
    for r in doc["rows"]:
        if r["method"] == "dense" and "ms" in r:
            dense.setdefault((r["M"], r["K"], r["N"]), []).append(r["ms"])
    sizes = sorted(dense, key=lambda t: t[0] * t[1] * t[2])
    meds = [float(np.median(dense[s])) for s in sizes]
    assert meds == sorted(meds)
    M, K, N = sizes[-1]
    assert 2 * M * K * N / (meds[-1] * 1e-3) / 1e12 < 1.2 * doc["ceilings"]["sgemm_tflops"]


# --------------------------------------------------------------------------- with a GPU
FP32_PATHS = ["dense", "dense-tf32", "torch-csr", "torch-bsr", "triton-bsr"] + (
    ["cupy-csr", "cupy-csr-fortran"] if gpu._has("cupy") else []
)


def _random_block_sparse(rng, M, K, b, s):
    W = rng.standard_normal((M, K)).astype(np.float32)
    return np.where(gpu.block_mask(rng, M, K, (b, b), s), W, 0).astype(np.float32)


@needs_gpu
@pytest.mark.parametrize("method", FP32_PATHS)
@pytest.mark.parametrize("seed", range(3))
def test_cuda_fp32_paths_match_numpy(method, seed):
    rng = np.random.default_rng(seed)
    M, K, N = (int(v) for v in rng.choice([32, 64, 96, 128], size=3))
    b = 16 if method in ("triton-bsr", "torch-bsr") else 1
    W = _random_block_sparse(rng, M, K, b, float(rng.choice([0.5, 0.9])))
    X = rng.standard_normal((K, N)).astype(np.float32)
    ref = W.astype(np.float64) @ X.astype(np.float64)
    out = gpu.spmm(W, X, method, blocksize=(b, b) if b > 1 else None)
    assert out.shape == ref.shape and out.dtype == np.float32
    assert np.linalg.norm(out - ref) / np.linalg.norm(ref) <= gpu._tolerance(method)


@needs_gpu
@pytest.mark.parametrize("method", ["semi24-cusparselt", "semi24-cusparselt-direct", "dense-fp16"])
@pytest.mark.parametrize("seed", range(2))
def test_cuda_2to4_paths_match_numpy(method, seed):
    rng = np.random.default_rng(10 + seed)
    M, K, N = 64 * int(rng.integers(1, 4)), 64 * int(rng.integers(1, 4)), 16 * int(rng.integers(1, 6))
    W = np.where(gpu.mask_2to4(rng, M, K), rng.standard_normal((M, K)), 0).astype(np.float16)
    X = rng.standard_normal((K, N)).astype(np.float16)
    ref = W.astype(np.float64) @ X.astype(np.float64)
    out = gpu.spmm(W, X, method)
    assert np.linalg.norm(out - ref) / np.linalg.norm(ref) <= gpu._tolerance(method)


@needs_gpu
def test_cuda_sparsekit_formats_vectors_and_ragged_shapes():
    rng = np.random.default_rng(7)
    W = _random_block_sparse(rng, 80, 48, 16, 0.5)[:75, :45].copy()  # not a multiple of the block
    x = rng.standard_normal(45).astype(np.float32)
    X = rng.standard_normal((45, 9)).astype(np.float32)
    ref_x, ref_X = W.astype(np.float64) @ x, W.astype(np.float64) @ X
    for A, method in ((CSR.from_dense(W), "torch-csr"), (BCSR.from_dense(W, blocksize=(16, 16)), "torch-bsr"),
                      (BCSR.from_dense(W, blocksize=(16, 16)), "triton-bsr")):
        out = gpu.spmm(A, x, method)
        assert out.shape == (75,)
        np.testing.assert_allclose(out, ref_x, rtol=0, atol=5e-3 * np.abs(ref_x).max())
        out = gpu.spmm(A, X, method)
        np.testing.assert_allclose(out, ref_X, rtol=0, atol=5e-3 * np.abs(ref_X).max())


@needs_gpu
def test_cuda_time_spmm_reports_positive_median():
    rng = np.random.default_rng(3)
    W = _random_block_sparse(rng, 256, 256, 1, 0.9)
    X = rng.standard_normal((256, 64)).astype(np.float32)
    t = gpu.time_spmm(W, X, "torch-csr", repeats=10)
    assert 0 < t["ms_p10"] <= t["ms"] <= t["ms_p90"] and t["repeats"] == 10 and t["loop_ms"] > 0


@needs_gpu
def test_cuda_graph_and_kernel_times_are_checked_and_positive():
    import torch

    rng = np.random.default_rng(4)
    W = torch.from_numpy(_random_block_sparse(rng, 256, 256, 16, 0.9)).cuda()
    X = torch.from_numpy(rng.standard_normal((256, 128)).astype(np.float32)).cuda()
    ref = W.double() @ X.double()
    for method in ("dense", "torch-csr", "torch-bsr"):
        fn = gpu._prepare(torch, method, W, X, 16)
        assert gpu.graph_time(torch, fn, ref, tol=gpu._tolerance(method)) > 0
        assert gpu.kernel_time(torch, fn) > 0
    with pytest.raises(RuntimeError, match="wrong result"):
        gpu.graph_time(torch, gpu._prepare(torch, "dense", W, X), ref + 1.0)


def test_plot_cli_names_a_file_that_holds_no_gpu_results(tmp_path, capsys):
    for doc in ({"schema": "sparsekit-bench", "results": []}, [], {"rows": []}):
        path = tmp_path / "x.json"
        path.write_text(json.dumps(doc))
        with pytest.raises(SystemExit) as exc:
            gpu.main(["--plot", str(path)])
        assert exc.value.code == 2
        assert "holds no GPU results" in capsys.readouterr().err


def test_lesson_09_loads_the_newest_gpu_run_and_falls_back_to_the_reference(tmp_path):
    import shutil

    from sparsekit.experiments.gpu_results import REFERENCE, load_gpu_results, measurement_rows

    doc, path = load_gpu_results()  # the committed results/ folder
    assert path.name == "gpu-spmm-h100.json" and doc["schema"].startswith("sparsekit.gpu-spmm/")
    rows = measurement_rows(doc)
    assert len(rows) == sum(1 for r in doc["rows"] if "speedup" in r and r["method"] not in ("dense", "dense-fp16"))
    assert rows and all(r["trusted"] and r["per_call"] > 0 and r["method"] != "dense" for r in rows)
    assert any(r["graph"] is not None for r in rows) and {len(r["shape"]) for r in rows} == {3}

    with pytest.raises(FileNotFoundError, match="no GPU results"):
        load_gpu_results(tmp_path)
    (tmp_path / "gpu" / "reference").mkdir(parents=True)
    shutil.copy(REFERENCE, tmp_path / "gpu" / "reference" / REFERENCE.name)
    ref, path = load_gpu_results(tmp_path)
    assert path.parent.name == "reference"
    rows = measurement_rows(ref)
    semi = [r for r in rows if r["block"] == "2:4"]
    assert len(rows) == 2 * len(ref["rows"]) + len(semi) and semi and not any(r["trusted"] for r in semi)
    for date, name in (("2026-01-02", "old.json"), ("2026-03-04", "new.json")):
        (tmp_path / "gpu" / name).write_text(json.dumps(dict(doc, date=date)), encoding="utf-8")
    assert load_gpu_results(tmp_path)[1].name == "new.json"
    (tmp_path / "gpu" / "broken.json").write_text("{ nope", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json: not a JSON results file"):
        load_gpu_results(tmp_path)
