"""Usage errors the command lines raise before their work starts (sparsekit.cli and its users)."""
import argparse

import pytest

from sparsekit.cli import check_output_file, check_output_folder


def _parser():
    return argparse.ArgumentParser(prog="demo")


def test_output_folder_is_created_and_probed(tmp_path):
    folder = tmp_path / "a" / "b"
    assert check_output_folder(_parser(), "--out", folder) == folder
    assert folder.is_dir() and list(folder.iterdir()) == []  # the probe file is gone


def test_output_file_new_is_not_left_behind_existing_is_untouched(tmp_path):
    new = tmp_path / "new.json"
    check_output_file(_parser(), "--json", new)
    assert not new.exists()
    old = tmp_path / "old.json"
    old.write_text("keep")
    check_output_file(_parser(), "--json", old)
    assert old.read_text() == "keep"


@pytest.mark.parametrize("check, flag, path", [
    (check_output_folder, "--out", "/proc/no/such/dir"),
    (check_output_file, "--json", "/proc/no/such/dir/report.json"),
])
def test_unwritable_places_are_usage_errors(check, flag, path, capsys):
    with pytest.raises(SystemExit) as exc:
        check(_parser(), flag, path)
    assert exc.value.code == 2
    assert f"argument {flag}: cannot write" in capsys.readouterr().err


@pytest.mark.parametrize("module, argv, words", [
    ("sparsekit.experiments.latency", ["--threads", "999"], "numba has"),
    ("sparsekit.experiments.latency", ["--clock", "cpu", "--threads", "2"], "--clock wall"),
    ("sparsekit.experiments.latency", ["--out", "/proc/no/such/dir", "--no-torch"], "argument --out: cannot write"),
    ("sparsekit.experiments.pruning", ["--jobs", "0"], "--jobs must be >= 1"),
    ("sparsekit.experiments.pruning", ["--out", "/proc/no/such/dir", "--replot"], "argument --out: cannot write"),
    ("sparsekit.gpu", ["--plot", "/proc/no/such.json"], "argument --plot: cannot read"),
])
def test_experiment_command_lines_refuse_bad_arguments_before_running(module, argv, words, capsys):
    import importlib

    import numba

    if "--clock" in argv and numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 numba threads")
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert words in capsys.readouterr().err


def test_gpu_plot_of_a_file_that_is_not_json(tmp_path, capsys):
    from sparsekit.gpu import main

    bad = tmp_path / "x.json"
    bad.write_text("not json")
    with pytest.raises(SystemExit):
        main(["--plot", str(bad)])
    assert "cannot read" in capsys.readouterr().err


def test_python_m_sparsekit_lists_every_command_and_runs_one():
    import subprocess
    import sys

    from sparsekit.__main__ import COMMANDS

    listing = subprocess.run([sys.executable, "-m", "sparsekit"], capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    for command in COMMANDS:  # every listed command exists and has a one-line summary
        line = next(x for x in listing.stdout.splitlines() if x.strip().startswith(command + " "))
        assert len(line.split(None, 1)[1]) > 10, line
    run = subprocess.run([sys.executable, "-m", "sparsekit", "grade", "--jobs", "0", "x.ipynb"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "python -m sparsekit.grade" in run.stderr and "--jobs" in run.stderr
    machine = subprocess.run([sys.executable, "-m", "sparsekit", "machine"], capture_output=True, text=True,
                             timeout=120)
    assert machine.returncode == 0 and "CPU" in machine.stdout
    for command in ("machine", "backends"):  # arguments are not ignored: --help helps, others are refused
        helped = subprocess.run([sys.executable, "-m", "sparsekit", command, "--help"], capture_output=True,
                                text=True, timeout=120)
        assert helped.returncode == 0 and f"usage: python -m sparsekit.{command}" in helped.stdout
        bogus = subprocess.run([sys.executable, "-m", "sparsekit", command, "--bogus"], capture_output=True,
                               text=True, timeout=120)
        assert bogus.returncode == 2 and "unrecognized arguments: --bogus" in bogus.stderr


def test_python_m_sparsekit_refuses_an_unknown_command(capsys):
    from sparsekit.__main__ import main

    assert main(["benchmark"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'benchmark'" in err and "bench" in err
    assert main([]) == 0 and "commands:" in capsys.readouterr().out


def test_format_report_reads_a_report_and_names_a_wrong_one():
    from sparsekit.machine import format_report, machine_report

    rep = machine_report()
    assert format_report(rep).splitlines()[0].startswith("CPU") and rep["cpu"] in format_report(rep)
    for bad in ({}, {"cpu": "x"}, [1, 2]):  # {} used to fall back to this machine's report
        with pytest.raises(ValueError, match="not a machine report"):
            format_report(bad)
