"""The experiments' quick modes run end to end and write what the lessons load."""
import json

import numpy as np
import pytest

from sparsekit.experiments import latency, pruning


@pytest.fixture(scope="module")
def latency_doc(tmp_path_factory):
    out = tmp_path_factory.mktemp("latency")
    doc = latency.main(["--quick", "--no-torch", "--out", str(out)])
    return out, doc


def test_latency_quick(latency_doc):
    out, doc = latency_doc
    saved = json.loads((out / "latency_quick.json").read_text())
    assert (out / "latency_quick.png").stat().st_size > 1000
    assert saved["config"]["threads"] == 1 and saved["dense"]["median_s"] > 0
    rows = saved["rows"]
    assert {(r["sparsity"], r["pattern"], r["mode"]) for r in rows} == {
        (s, p, m) for s in latency.QUICK["sparsities"] for p in latency.QUICK["patterns"] for m in ("sparse", "auto")}
    for r in rows:
        assert r["matches_dense"], r  # sparse network == dense network with the same pruned weights
        assert abs(r["achieved_sparsity"] - r["sparsity"]) < 0.01
        if r["mode"] == "sparse":
            assert set(r["formats"]) == {"CSR" if r["pattern"] == "1x1" else "BCSR"}
        else:
            assert len(r["decisions"]) == 13


def test_pruning_quick(tmp_path, latency_doc):
    lat_out, _ = latency_doc
    doc = pruning.main(["--quick", "--out", str(tmp_path), "--latency", str(lat_out / "latency_quick.json")])
    saved = json.loads((tmp_path / "pruning_quick.json").read_text())
    assert (tmp_path / "pruning_quick.png").stat().st_size > 1000
    assert (tmp_path / "pareto_quick.png").stat().st_size > 1000
    runs = saved["runs"]
    for r in runs:
        assert r["achieved_sparsity"] == pytest.approx(r["sparsity"], abs=1e-3), r  # exact, not approximate
        assert 0.0 <= r["acc"] <= 1.0
    kinds = {(r["pattern"], r["schedule"]) for r in runs}
    assert ("2:4", "oneshot_ft") in kinds and ("2:4", "gradual") not in kinds
    assert ("4x1", "gradual") in kinds and ("1x4", "oneshot") in kinds
    # the MLP learns even in quick mode, and fine-tuning beats no fine-tuning at 90 %
    S = saved["summary"]["mlp"]
    assert S["dense_acc_mean"] > 0.9
    acc = {(t["pattern"], t["sparsity"], t["schedule"]): t["acc_mean"] for t in S["table"]}
    assert acc[("1x1", 0.9, "gradual")] > acc[("1x1", 0.9, "oneshot")]
    pts = saved["pareto"]["points"]
    assert pts[0]["pattern"] == "dense" and any(p["on_front"] for p in pts)
    assert doc["mode"] == "quick"


def test_committed_full_results_if_present():
    """The committed full runs carry the numbers the report quotes."""
    from sparsekit.experiments.common import RESULTS

    p = RESULTS / "pruning" / "pruning_full.json"
    if not p.exists():
        pytest.skip("no committed full pruning results")
    doc = json.loads(p.read_text())
    for model, S in doc["summary"].items():
        assert set(S["gradual_drop_at_0.9"]) == {"1x1", "4x1", "1x4"}
        assert np.isfinite(S["dense_acc_mean"])


def test_pruning_cli_checks_its_latency_file_before_training(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "sparsekit-bench", "results": []}))
    for argv in (["--latency", str(bad)], ["--latency", str(tmp_path / "missing.json")], ["--replot"]):
        with pytest.raises(SystemExit) as exc:
            pruning.main(["--quick", "--out", str(tmp_path / "out"), *argv])
        assert exc.value.code == 2, argv
    err = capsys.readouterr().err
    assert "is not a latency file" in err and "no such file" in err and "no saved run" in err


def test_latency_run_refuses_what_it_would_record_wrongly():
    import numba

    for kwargs, cfg in (({"threads": numba.config.NUMBA_NUM_THREADS + 3, "clock": "wall"}, latency.QUICK),
                        ({"threads": 0}, latency.QUICK), ({"threads": 1}, dict(latency.QUICK, repeats=0))):
        with pytest.raises(ValueError, match="threads must be|repeats"):
            latency.run(cfg, torch_ref=False, log=lambda *a: None, **kwargs)


def test_latency_patterns_are_blocks_and_checked_before_the_build():
    assert [latency.pattern_blocksize(p) for p in ("1x1", "4x1", "8x1", "2x2")] == [(1, 1), (4, 1), (8, 1), (2, 2)]
    for bad, match in (("2:4", "N:M has no kernel"), ("4by1", "unknown method")):
        with pytest.raises(ValueError, match=match):
            latency.run(dict(latency.QUICK, patterns=["1x1", bad]), torch_ref=False, log=lambda *a: None)


def test_latency_run_leaves_the_thread_counts_as_it_found_them():
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 threads")
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        cfg = dict(latency.QUICK, width=0.25, resolution=32, sparsities=[0.9], patterns=["1x1"], repeats=1, warmup=0)
        doc = latency.run(cfg, threads=1, torch_ref=False, log=lambda *a: None)
        assert doc["config"]["threads"] == 1 and numba.get_num_threads() == 2  # it used to stay at 1
    finally:
        numba.set_num_threads(before)
