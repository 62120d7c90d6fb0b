"""The benchmark harness on the tiny preset: schema, verification, unavailable backends, files, CLI."""
import csv
import json

import numba
import numpy as np
import pytest

from sparsekit.backends import Backend, Prepared, get_backend
from sparsekit.bench import SCHEMA, load_results, run_benchmark
from sparsekit.bench import report, summary
from sparsekit.bench.__main__ import main
from sparsekit.bench.cases import Case, block_sparse_weights, make_operands, parse_block
from sparsekit.bench.harness import tolerance, verify
from sparsekit.bench.presets import MOBILENET_LAYERS, PRESETS, preset_cases
from sparsekit.bench.timing import summarize, threads, time_interleaved

ROW_KEYS = {"layer", "M", "K", "N", "sparsity", "block", "dtype", "backend", "threads", "status",
            "max_rel_err", "note", "median_s", "q1_s", "q3_s", "iqr_rel", "min_s", "repeats", "loops",
            "dense_median_s", "dense_min_s", "speedup", "gflops", "clock", "wall_median_s"}


@pytest.fixture(scope="module")
def tiny_doc():
    return run_benchmark("tiny", progress=False, repeats=3)


def test_document_schema(tiny_doc):
    d = tiny_doc
    assert d["schema"] == SCHEMA and d["preset"] == "tiny"
    m = d["machine"]
    for k in ("cpu", "cores", "simd_level", "blas", "threadpools", "versions", "blas_env", "line", "text"):
        assert k in m
    assert "OPENBLAS_CORETYPE" in m["blas_env"] and "numba" in m["versions"]
    cases = preset_cases(PRESETS["tiny"])
    assert len(d["results"]) == len(cases) * len(PRESETS["tiny"]["backends"])
    for r in d["results"]:
        assert set(r) == ROW_KEYS
        assert r["status"] == "ok", r
        assert r["q1_s"] <= r["median_s"] <= r["q3_s"]
        assert r["speedup"] == pytest.approx(r["dense_median_s"] / r["median_s"])
        assert r["max_rel_err"] <= tolerance(r["dtype"], r["K"])
    # one dense baseline per case: every row of a case divides the same dense median
    by_case = {}
    for r in d["results"]:
        by_case.setdefault((r["layer"], r["sparsity"], r["block"]), set()).add(r["dense_median_s"])
    assert all(len(v) == 1 for v in by_case.values())
    n_groups = len(PRESETS["tiny"]["sparsities"]) * len(PRESETS["tiny"]["blocks"]) * 3
    assert len(d["stacks"]) == n_groups
    assert set(d["break_even"]) == {"1x1", "4x1"}
    json.dumps(d)  # JSON-able


def test_stack_totals_sum_the_layers(tiny_doc):
    for s in tiny_doc["stacks"]:
        rows = [r for r in tiny_doc["results"] if r["backend"] == s["backend"] and r["block"] == s["block"]
                and r["sparsity"] == s["sparsity"]]
        assert len(rows) == s["layers"] == 2
        assert s["total_s"] == pytest.approx(sum(r["median_s"] for r in rows))
        assert s["speedup"] == pytest.approx(sum(r["dense_median_s"] for r in rows) / s["total_s"])
        assert s["speedup_min"] == pytest.approx(sum(r["dense_min_s"] for r in rows) / s["min_total_s"])


def _broken(name, perturb):
    def build(W, X, blocksize):
        out = W.astype(np.float64) @ X.astype(np.float64)
        out = perturb(out).astype(W.dtype)
        return Prepared(lambda: out)
    return Backend(name, "a deliberately wrong kernel", lambda: (True, "test double"), build)


def test_verification_catches_a_wrong_kernel_and_does_not_time_it():
    def drop_last_row(Y):
        Y = Y.copy()
        Y[-1] = 0.0
        return Y
    wrong = _broken("wrong-row", drop_last_row)
    nan = _broken("nan", lambda Y: np.where(Y == Y.max(), np.nan, Y))
    shape = _broken("shape", lambda Y: Y[:, :-1])
    tiny_err = _broken("rounding", lambda Y: Y * (1 + 1e-7))  # within float32 rounding: accepted
    d = run_benchmark("tiny", backends=["dense-blas", wrong, nan, shape, tiny_err], progress=False,
                      repeats=2, blocks=["1x1"], sparsities=[0.5])
    st = {(r["backend"], r["layer"]): r for r in d["results"]}
    for name in ("wrong-row", "nan", "shape"):
        for layer in ("tiny-a", "tiny-b"):
            r = st[(name, layer)]
            assert r["status"] == "wrong" and r["median_s"] is None and r["speedup"] is None
            assert "differs" in r["note"]
    assert all(st[("rounding", l)]["status"] == "ok" for l in ("tiny-a", "tiny-b"))
    assert {s["backend"] for s in d["stacks"]} == {"dense-blas", "rounding"}


def test_errors_in_a_backend_are_recorded_not_raised():
    def build(W, X, blocksize):
        raise ZeroDivisionError("kernel blew up")
    boom = Backend("boom", "raises", lambda: (True, "test double"), build)
    d = run_benchmark("tiny", backends=["dense-blas", boom], progress=False, repeats=2, blocks=["1x1"],
                      sparsities=[0.9])
    rows = [r for r in d["results"] if r["backend"] == "boom"]
    assert rows and all(r["status"] == "error" and "kernel blew up" in r["note"] for r in rows)


def test_unavailable_backends_explain_themselves_and_do_not_run():
    ghost = Backend("ghost", "needs hardware we lack", lambda: (False, "no ghost accelerator on this machine"),
                    None)
    d = run_benchmark("tiny", backends=["dense-blas", ghost, "numba-avx512"], progress=False, repeats=2,
                      blocks=["1x1"], sparsities=[0.9])
    info = {b["name"]: b for b in d["backends"]}
    assert info["ghost"]["available"] is False and "ghost accelerator" in info["ghost"]["reason"]
    assert not any(r["backend"] == "ghost" for r in d["results"])
    ok, why = get_backend("numba-avx512").available()
    assert info["numba-avx512"]["available"] is ok and info["numba-avx512"]["reason"] == why


def test_dense_baseline_is_always_measured():
    d = run_benchmark("tiny", backends=["scipy"], progress=False, repeats=2, blocks=["1x1"], sparsities=[0.5])
    assert {r["backend"] for r in d["results"]} == {"dense-blas", "scipy"}


@pytest.mark.parametrize("kw, match", [({"sparsities": [1.5]}, "sparsity"), ({"dtype": "int8"}, "dtype"),
                                       ({"repeats": -1}, "repeats")])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        run_benchmark("tiny", progress=False, **kw)
    with pytest.raises(ValueError, match="preset"):
        run_benchmark("enormous", progress=False)


def test_serial_backends_skip_more_threads():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 threads")
    d = run_benchmark("tiny", backends=["dense-blas", "scipy", "numba-parallel"], threads=[1, 2],
                      progress=False, repeats=2, blocks=["1x1"], sparsities=[0.5])
    two = {r["backend"] for r in d["results"] if r["threads"] == 2}
    assert two == {"dense-blas", "numba-parallel"}


def test_break_even_interpolation():
    doc = {"stacks": [{"backend": "numba-simd", "threads": 1, "block": "4x1", "sparsity": s, "speedup": v}
                      for s, v in ((0.3, 0.6), (0.5, 0.9), (0.7, 1.3), (0.9, 3.0))]
           + [{"backend": "numba-simd", "threads": 1, "block": "1x1", "sparsity": s, "speedup": v}
              for s, v in ((0.3, 0.2), (0.9, 0.8))]
           + [{"backend": "numba-simd", "threads": 1, "block": "8x1", "sparsity": s, "speedup": v}
              for s, v in ((0.3, 1.2), (0.9, 5.0))]}
    be = report.break_even(doc)
    assert be["4x1"]["break_even"] == pytest.approx(0.55)
    assert be["1x1"]["break_even"] is None and "never" in be["1x1"]["status"]
    assert be["8x1"]["break_even"] == 0.3 and be["8x1"]["status"].startswith("upper")


def test_files_cli_and_break_even_file(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    be_path = tmp_path / "break_even.json"
    monkeypatch.setattr(report, "BREAK_EVEN_PATH", be_path)
    rc = main(["--preset", "tiny", "--out", str(out), "--no-progress", "--repeats", "2", "--plot",
               "--save-break-even", "--blocks", "1x1,4x1"])
    assert rc == 0
    for f in ("results.json", "results.csv", "stacks.csv", "machine.json", "machine.txt", "SUMMARY.md",
              "speedup_vs_sparsity_1T.png", "layers_at_0.9.png"):
        assert (out / f).stat().st_size > 0, f
    doc = load_results(out)
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(doc["results"]) and set(rows[0]) == ROW_KEYS
    be = json.loads(be_path.read_text())
    assert set(be) >= {"measured_on", "date", "break_even"}
    assert set(be["break_even"]) == {"1x1", "4x1"}
    assert be["measured_on"] == doc["machine"]["line"]
    assert "OPENBLAS_CORETYPE" in (out / "machine.txt").read_text()
    capsys.readouterr()
    assert summary.main([str(out), str(out / "results.json")]) == 0
    md = capsys.readouterr().out
    assert md.startswith("# Benchmark summary (tiny preset)") and "## Also measured on:" in md
    with pytest.raises(ValueError, match="schema"):
        (tmp_path / "x.json").write_text('{"schema": "other"}')
        load_results(tmp_path / "x.json")


def test_cli_rejects_bad_arguments(capsys):
    for argv in (["--preset", "huge"], ["--threads", "0"], ["--threads", "a,b"], ["--sparsities", "x"]):
        with pytest.raises(SystemExit):
            main(argv)
    assert main(["--list-backends"]) == 0
    assert "numba-avx512" in capsys.readouterr().out


def test_summary_lists_every_goal(tiny_doc):
    g = summary.goals(tiny_doc)
    assert g[0]["goal"].startswith("tiny stack") and g[0]["value"] > 0
    md = summary.render_summary(tiny_doc)
    assert "| goal | measured | target | met? |" in md and "break-even" in md


def test_cases_are_reproducible_and_exactly_block_sparse():
    c = Case("x", 24, 20, 7, 0.75, (4, 2))
    W1, X1 = make_operands(c)
    W2, X2 = make_operands(Case.from_json(json.loads(json.dumps(c.to_json()))))
    np.testing.assert_array_equal(W1, W2)
    np.testing.assert_array_equal(X1, X2)
    blocks = W1.reshape(6, 4, 10, 2).transpose(0, 2, 1, 3).reshape(60, 8)
    zero = ~blocks.any(axis=1)
    assert zero.sum() == 45 and np.all(blocks[~zero] != 0)
    with pytest.raises(ValueError, match="sparsity"):
        block_sparse_weights(4, 4, -0.1)
    assert parse_block("8x1") == (8, 1)
    with pytest.raises(ValueError, match="4x1"):
        parse_block("4-1")


def test_mobilenet_layers():
    assert len(MOBILENET_LAYERS) == 13
    assert MOBILENET_LAYERS[0][1:] == (32, 64, 12544) and MOBILENET_LAYERS[-1][1:] == (1024, 1024, 49)
    macs = sum(cin * cout * hw for _, cin, cout, hw in MOBILENET_LAYERS)
    assert macs == 5 * 512 * 512 * 196 + 32 * 64 * 12544 + 64 * 128 * 3136 + 128 * 128 * 3136 \
        + 128 * 256 * 784 + 256 * 256 * 784 + 256 * 512 * 196 + 512 * 1024 * 49 + 1024 * 1024 * 49


def test_timing_helpers():
    s = summarize([3.0, 1.0, 2.0, 4.0, 100.0])
    assert s["median_s"] == 3.0 and s["q1_s"] == 2.0 and s["q3_s"] == 4.0 and s["min_s"] == 1.0
    with pytest.raises(ValueError):
        summarize([])
    calls = {"a": 0, "b": 0}

    def inc(k):
        def f():
            calls[k] += 1
        return f
    t = time_interleaved({"a": inc("a"), "b": inc("b")}, repeats=4, min_time=1e-4)
    assert len(t["samples"]["a"]) == 4 and calls["a"] == 2 + 4 * t["loops"]["a"]
    calls.update(a=0, b=0)
    t = time_interleaved({"a": inc("a"), "b": inc("b")}, repeats=4, min_time=1e-4, untimed_first=True)
    assert calls["a"] == 2 + 4 * (1 + t["loops"]["a"]) and calls["b"] == 2 + 4 * (1 + t["loops"]["b"])
    with pytest.raises(ValueError):
        with threads(0):
            pass
    t = time_interleaved({"a": lambda: sum(range(2000))}, repeats=3, min_time=1e-3, clock="cpu")
    assert t["clock"] == "cpu" and len(t["wall"]["a"]) == 3 and all(x > 0 for x in t["samples"]["a"])
    with pytest.raises(ValueError, match="clock"):
        time_interleaved({"a": lambda: None}, repeats=1, min_time=0, clock="tsc")


def test_verify():
    ref = np.ones((2, 3))
    assert verify(ref + 1e-9, ref, 1.0, 1e-6)[0]
    assert not verify(ref + 1e-3, ref, 1.0, 1e-6)[0]
    assert not verify(ref[:, :2], ref, 1.0, 1e-6)[0]
    assert verify(ref.astype(np.int32), ref.astype(np.int32), 1.0, 0.0, exact=True)[0]
    assert not verify(ref.astype(np.int32) + 1, ref, 1.0, 0.0, exact=True)[0]


def test_extras_small(tiny_doc):
    from sparsekit.bench import extras

    tri = extras.stream_triad(n=200_000, repeats=3, thread_counts=(1,))
    assert tri["threads"]["1"]["gbs_median"] > 0.1
    both = extras.spmv_past_cache(repeats=3, thread_counts=(1,), target_bytes=2_000_000, triad_n=200_000)
    sp = both["spmv"]
    r = sp["threads"]["1"]
    assert 0 < r["fraction_of_triad"] < 10 and sp["nnz"] == sp["n"] * 16
    assert r["triad_gbs"] == both["stream"]["threads"]["1"]["gbs_median"]
    # float32 is the headline (the goals' dtype); float64 is timed in the same rounds,
    # on a matrix of about the same size in bytes (more bytes per stored value, fewer rows)
    assert sp["dtype"] == "float32" and set(sp["dtypes"]) == {"float32", "float64"}
    assert sp["dtypes"]["float32"]["threads"]["1"] == r
    f64 = sp["dtypes"]["float64"]
    assert f64["n"] < sp["n"] and abs(f64["matrix_mib"] / sp["matrix_mib"] - 1) < 0.05
    assert f64["threads"]["1"]["triad_gbs"] == r["triad_gbs"]
    # BCSR 4x1 and 8x1 in float32, the same rounds, the same bytes, 16 values in every row
    assert set(sp["blocks"]) == {"4x1", "8x1"}
    for label, m in sp["blocks"].items():
        assert m["format"] == f"BCSR {label}" and m["dtype"] == "float32"
        assert abs(m["matrix_mib"] / sp["matrix_mib"] - 1) < 0.05 and m["nnz"] == m["n"] * 16
        assert m["threads"]["1"]["triad_gbs"] == r["triad_gbs"] and m["threads"]["1"]["fraction_of_triad"] > 0
    from sparsekit.bench.summary import _spmv_note
    assert _spmv_note(sp).startswith("CSR float32,") and "same rounds: float64 " in _spmv_note(sp)
    assert "%, BCSR 4x1 " in _spmv_note(sp) and "%, BCSR 8x1 " in _spmv_note(sp)
    old = {k: v for k, v in sp.items() if k not in ("dtype", "dtypes", "blocks")}  # a results.json of before
    assert _spmv_note(old) == f"CSR float64, {sp['matrix_mib']:.0f} MiB matrix"
    from sparsekit.bench.summary import goals
    row, = [g for g in goals(dict(tiny_doc, extras={"spmv_llc": sp})) if "SpMV" in g["goal"]]
    assert row["goal"].endswith(", float32") and "same rounds: float64 " in row["measured"]
    ax = extras.axpy_scaling(sizes=(1000, 100_000), nnz=200, repeats=3, min_time=1e-3)
    assert ax["method_ratio_max_min"] >= 1.0 and set(ax["kernel"]) == {"1000", "100000"}
    with pytest.raises(ValueError, match="unknown extra"):
        extras.run_extras(["nope"])


def test_stack_in_sequence_pairs_rounds_and_feeds_the_goal_rows(tiny_doc):
    from sparsekit.bench import extras

    layers = [("a", 16, 24, 40), ("b", 32, 16, 64)]
    seq = extras.stack_in_sequence(blocks=("4x1", "1x1"), rounds=3, min_time=1e-4, layers=layers)
    for label in ("4x1", "1x1"):
        e = seq["blocks"][label]
        assert len(e["speedups"]) == 3 and all(r > 0 for r in e["speedups"])
        assert e["speedup_q1_q3"][0] <= e["speedup_median"] <= e["speedup_q1_q3"][1]
        assert e["sparse_s"] > 0 and e["dense_s"] > 0
    doc = dict(tiny_doc, extras={"sequence": seq})
    rows = {g["goal"]: g for g in summary.goals(doc) if "back to back" in g["goal"]}
    best = summary.best_block(tiny_doc)["block"]
    assert set(rows) == {f"same, {b}, the layers run back to back (as in a network)" for b in {best, "1x1"}}
    for goal, g in rows.items():
        e = seq["blocks"][goal.split(", ")[1]]
        assert g["value"] == e["speedup_median"] and g["met"] == (e["speedup_median"] >= (2.6 if "1x1" in goal else 4.5))
    md = summary.render_summary(doc)
    assert "## The stack run back to back (extras: sequence)" in md
    for label in ("4x1", "1x1"):
        assert f"| {label} | " in md.split("back to back (extras: sequence)")[1]
        assert f"{seq['blocks'][label]['speedup_median']:.2f}x (" in md


def test_stack_in_sequence_checks_results_first(monkeypatch):
    from sparsekit.bench import extras, harness

    monkeypatch.setattr(harness, "verify", lambda *a, **k: (False, 1.0))  # every result "wrong"
    with pytest.raises(AssertionError, match="differs from W @ X"):
        extras.stack_in_sequence(blocks=("4x1",), rounds=1, min_time=1e-4, layers=[("a", 16, 24, 40)])


def test_one_thread_is_measured_first_and_checked_on_one_thread(monkeypatch):
    """Process CPU time counts the spinning workers of earlier 2-thread calls: the 1-thread
    products (timed by it) come first, and the sequence extra checks its results on one thread."""
    from threadpoolctl import threadpool_info

    from sparsekit.bench import extras, harness

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 threads")
    d = run_benchmark("tiny", backends=["dense-blas", "numba-parallel"], threads=[2, 1], progress=False,
                      repeats=1, blocks=["1x1"], sparsities=[0.5])
    assert [r["threads"] for r in d["results"]] == sorted(r["threads"] for r in d["results"])
    seen = []
    real_verify = harness.verify

    def recording_verify(*a, **k):
        seen.append((numba.get_num_threads(), max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")))
        return real_verify(*a, **k)

    monkeypatch.setattr(harness, "verify", recording_verify)
    extras.stack_in_sequence(blocks=("4x1",), rounds=1, min_time=1e-4, layers=[("a", 16, 24, 40)])
    assert seen and set(seen) == {(1, 1)}


def test_thread_scaling_checks_results_first(monkeypatch):
    from sparsekit.bench import extras, harness

    monkeypatch.setattr(harness, "verify", lambda *a, **k: (False, 1.0))
    with pytest.raises(AssertionError, match="differs from W @ X"):
        extras.thread_scaling(blocks=("4x1",), rounds=1, n_threads=1, min_time=1e-4, layers=[("a", 16, 24, 40)])


def test_thread_scaling_pairs_every_round(tiny_doc, monkeypatch):
    from sparsekit.bench import extras

    monkeypatch.setattr(extras, "WARM_AFTER_PAUSE_S", 0.0)
    n = min(2, numba.config.NUMBA_NUM_THREADS)
    th = extras.thread_scaling(blocks=("4x1", "1x1"), rounds=3, n_threads=n, min_time=1e-4,
                               layers=[("a", 16, 24, 40), ("b", 32, 16, 64)])
    for label in ("4x1", "1x1"):
        e = th["blocks"][label]
        assert len(e["ratios"]) == len(e["dense_ratios"]) == 3 and all(r > 0 for r in e["ratios"])
        assert e["ratio_q1_q3"][0] <= e["ratio_median"] <= e["ratio_q1_q3"][1]
    # the summary's goal row reads it (paired rounds) beside the sweep's own figure
    doc = dict(tiny_doc, extras={"threads": th})
    rows = [g for g in summary.goals(doc) if "paired rounds" in g["goal"]]
    assert len(rows) == 1 and rows[0]["value"] == th["blocks"][rows[0]["goal"].split(", ")[2]]["ratio_median"]


@pytest.mark.parametrize("argv, words", [
    (["--blocks", "3x"], "argument --blocks: block shape must look like 'RxC'"),
    (["--blocks", "4x1,0x1"], "entries must be >= 1"),
    (["--threads", "999"], "argument --threads: 999 threads requested"),
    (["--backends", "numba-simd,nope"], "argument --backends: unknown backend 'nope'"),
    (["--extras", "stream,nope"], "argument --extras: unknown nope"),
    (["--sparsities", "0.5,1.5"], "argument --sparsities: every sparsity must be in [0, 1]"),
    (["--repeats", "0"], "argument --repeats: must be >= 1"),
    (["--min-time", "-1"], "argument --min-time: must be a number of seconds in [0, 3600)"),
    (["--out", "/proc/no/such/dir"], "argument --out: cannot write to"),
])
def test_cli_refuses_bad_arguments_before_running(argv, words, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv + ["--preset", "tiny", "--no-progress"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "usage:" in err


def test_cli_option_lists_are_distinct_and_never_empty(capsys):
    from sparsekit.bench.__main__ import parser

    for argv in (["--blocks", ","], ["--sparsities", ","], ["--backends", ","], ["--threads", ","],
                 ["--min-time", "nan"], ["--min-time", "inf"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2, argv
    args = parser().parse_args(["--blocks", "4x1,4X1,1x1", "--threads", "1,1", "--sparsities", "0.9,0.9,0.5"])
    assert args.blocks == ["4x1", "1x1"] and args.threads == [1] and args.sparsities == [0.9, 0.5]


def test_save_break_even_refuses_a_run_that_cannot_measure_it_and_merges(tmp_path, monkeypatch, capsys):
    be_path = tmp_path / "break_even.json"
    monkeypatch.setattr(report, "BREAK_EVEN_PATH", be_path)
    for argv in (["--backends", "scipy"], ["--threads", "2"], ["--sparsities", "0.9"]):
        with pytest.raises(SystemExit) as exc:
            main(["--preset", "tiny", "--save-break-even", "--out", str(tmp_path / "x"), *argv])
        assert exc.value.code == 2
    assert "argument --save-break-even" in capsys.readouterr().err and not be_path.exists()
    old = {"date": "2026-01-01", "break_even": {"4x4": 0.44, "1x1": 0.7}, "status": {"4x4": "interpolated"}}
    be_path.write_text(json.dumps(old))
    assert main(["--preset", "tiny", "--save-break-even", "--blocks", "1x1", "--repeats", "2", "--no-progress",
                 "--out", str(tmp_path / "run")]) == 0
    be = json.loads(be_path.read_text())
    assert set(be["break_even"]) == {"1x1", "4x4"} and be["break_even"]["4x4"] == 0.44
    assert be["status"]["4x4"].startswith("kept from the table of 2026-01-01")
    assert be["status"]["1x1"] != old["status"].get("1x1")


def test_int8_reports_a_block_shape_without_a_kernel_as_unsupported():
    b = get_backend("int8")
    assert b.supports((4, 1))[0]
    ok, why = b.supports((3, 2))
    assert not ok and "3x2" in why
