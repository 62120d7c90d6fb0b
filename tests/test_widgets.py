"""The lesson widgets: the scatter trace agrees with SparseVector.axpy, and the
explorers build and react to their controls (no browser needed)."""
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sparsekit import SparseVector, Workspace  # noqa: E402
from sparsekit.widgets import (  # noqa: E402
    DensityExplorer,
    ScatterStepper,
    break_even_density,
    csr_memory_bytes,
    dense_memory_bytes,
    format_step,
    trace_axpy,
)
from sparsekit.widgets.density import random_sparse  # noqa: E402
from sparsekit.widgets.scatter import SEED_EXAMPLE  # noqa: E402

SEED_RESULT = [(0, 21), (1, 6), (3, -3), (7, 3), (10, -10), (11, -17), (12, -7), (14, -8), (5, -6), (6, 6)]


# ---------------------------------------------------------------------------
# trace_axpy
# ---------------------------------------------------------------------------
def test_trace_reproduces_seed_example():
    steps = trace_axpy(SEED_EXAMPLE["u"], SEED_EXAMPLE["r"], SEED_EXAMPLE["v"], SEED_EXAMPLE["size"])
    assert list(steps[-1].u) == SEED_RESULT
    assert [s.phase for s in steps] == [0] + [1] * 6 + [2] * 8 + [3] * 6 + [4]
    assert not np.any(steps[-1].w)
    # after pass 1 the work array is v, densely
    v_dense = SparseVector.from_pairs(SEED_EXAMPLE["v"], 15).toarray()
    assert np.array_equal(steps[6].w, v_dense)
    assert "(5,-6)" in format_step(steps[-1])


@st.composite
def sparse_pair(draw):
    n = draw(st.integers(1, 40))
    def vec():
        idx = draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n))
        vals = draw(st.lists(st.sampled_from([-3.0, -1.0, 0.0, 0.5, 2.0, 7.0]), min_size=len(idx), max_size=len(idx)))
        return SparseVector(np.array(idx, dtype=np.int64), np.array(vals), n)
    r = draw(st.sampled_from([-2.0, -1.0, 0.0, 0.5, 3.0]))
    return vec(), r, vec()


@settings(max_examples=150, deadline=None)
@given(sparse_pair())
def test_trace_matches_sparsevector_axpy(case):
    u, r, v = case
    steps = trace_axpy(u, r, v)
    expected = u.copy().axpy(r, v, Workspace(u.size))
    assert list(steps[-1].u) == expected.pairs()  # same entries, same order
    assert not np.any(steps[-1].w)
    assert u.pairs() == list(steps[0].u)  # the input is not modified


def test_trace_rejects_bad_input():
    with pytest.raises(ValueError, match="size is required"):
        trace_axpy([(0, 1.0)], 2.0, [(1, 1.0)])
    with pytest.raises(ValueError, match="duplicate|unique"):
        trace_axpy([(0, 1.0), (0, 2.0)], 2.0, [(1, 1.0)], size=3)
    with pytest.raises(ValueError):
        trace_axpy([(5, 1.0)], 2.0, [(1, 1.0)], size=3)  # index out of range
    with pytest.raises(ValueError, match="size mismatch"):
        trace_axpy(SparseVector([0], [1.0], 3), 1.0, SparseVector([0], [1.0], 4))
    for r in ("two", "2", [2.0]):  # float("2") would parse; SparseVector.axpy refuses a string too
        with pytest.raises(TypeError, match="r must be"):
            trace_axpy([(0, 1.0)], r, [(1, 1.0)], size=3)


# ---------------------------------------------------------------------------
# ScatterStepper
# ---------------------------------------------------------------------------
def test_stepper_reacts_to_slider_and_buttons():
    s = ScatterStepper()
    first = s.view.value
    assert "start" in first and "w" in first
    s.slider.value = 3
    assert s.view.value != first
    assert "pass 1" in s.view.value
    s.next_button.click()
    assert s.slider.value == 4
    s.prev_button.click()
    s.prev_button.click()
    assert s.slider.value == 2
    s.slider.value = s.slider.max
    assert "done" in s.view.value and "(6,6)" in s.view.value
    s.next_button.click()  # stays at the end
    assert s.slider.value == s.slider.max
    assert s.play.max == s.slider.max == len(s.steps) - 1
    assert "application/vnd.jupyter.widget-view+json" in s._repr_mimebundle_()


def test_stepper_custom_vectors_and_errors():
    s = ScatterStepper([(0, 1.0)], 2.0, [(2, 1.0)], size=4)
    s.slider.value = s.slider.max
    assert "(2,2)" in s.view.value
    with pytest.raises(ValueError, match="together"):
        ScatterStepper([(0, 1.0)], None, [(2, 1.0)], size=4)


# ---------------------------------------------------------------------------
# density explorer and the memory formulas
# ---------------------------------------------------------------------------
def test_memory_formulas():
    assert dense_memory_bytes(10_000, 10_000) == 800_000_000
    assert csr_memory_bytes(10_000, 100_000) == 100_000 * 12 + 10_001 * 4
    d = break_even_density(1000, 1000)
    assert abs(d - 2 / 3) < 1e-3
    nnz_below, nnz_above = int(d * 1e6) - 1, int(d * 1e6) + 2
    assert csr_memory_bytes(1000, nnz_below) < dense_memory_bytes(1000, 1000) < csr_memory_bytes(1000, nnz_above)
    with pytest.raises(ValueError):
        dense_memory_bytes(0, 5)
    with pytest.raises(TypeError):
        dense_memory_bytes(2.5, 5)
    with pytest.raises(ValueError):
        csr_memory_bytes(5, -1)


@pytest.mark.parametrize("density", [0.0, 0.001, 0.3, 1.0])
def test_random_sparse_has_exact_nnz(density):
    A = random_sparse(50, density, seed=1)
    assert np.count_nonzero(A) == round(density * 2500)
    assert np.array_equal(A, random_sparse(50, density, seed=1))  # seeded
    with pytest.raises(ValueError, match="density"):
        random_sparse(5, 1.5)


def test_density_explorer_memory_reacts():
    e = DensityExplorer(n=300, density=0.01, measure=False, plot=False)
    first = e.view.value
    assert e.current["nnz"] == 900
    e.slider.value = 0.1
    assert e.view.value != first
    assert e.current["nnz"] == 9000
    assert e.current["csr_bytes"] == csr_memory_bytes(300, 9000)
    assert e.current["dense_bytes"] == 300 * 300 * 8
    assert "dense A@x" not in e.view.value


def test_density_explorer_times_and_plot():
    e = DensityExplorer(n=200, density=0.05, measure=True, repeats=3, plot=True)
    assert e.current["dense_s"] > 0 and e.current["csr_s"] > 0
    e.slider.value = 0.5
    assert len(e.history) == 2
    assert "dense time / CSR time" in e.view.value
    with pytest.raises(ValueError, match="density"):
        DensityExplorer(n=10, density=0.0, measure=False)


def test_time_matvec_restores_threads():
    import numba

    from sparsekit import CSR
    from sparsekit.widgets.density import time_matvec

    A = random_sparse(100, 0.05, seed=2)
    before = numba.get_num_threads()
    td, tc = time_matvec(A, CSR.from_dense(A), np.ones(100), repeats=3, threads=1)
    assert td > 0 and tc > 0
    assert numba.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        time_matvec(A, CSR.from_dense(A), np.ones(100), threads=0)


# ---------------------------------------------------------------------------
# lazy package
# ---------------------------------------------------------------------------
def test_widgets_import_lazily():
    code = ("import sys, sparsekit, sparsekit.widgets as w; "
            "assert 'ipywidgets' not in sys.modules; "
            "w.trace_axpy; assert 'ipywidgets' not in sys.modules; "
            "w.ScatterStepper; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    import sparsekit.widgets as w

    with pytest.raises(AttributeError):
        w.no_such_widget


def test_density_helpers_refuse_what_they_would_show_wrongly():
    from sparsekit.widgets.density import break_even_density, csr_memory_bytes, dense_memory_bytes

    with pytest.raises(ValueError, match="slider's range"):
        DensityExplorer(n=50, density=1e-5, measure=False, plot=False)  # the slider would show 1e-4
    with pytest.raises(ValueError, match="repeats"):
        DensityExplorer(n=50, density=0.1, repeats=0, plot=False)
    assert break_even_density(1, 1, 8, 8) == 0.0  # an empty CSR (indptr alone) already outweighs dense
    for bad in (lambda: csr_memory_bytes(10, 5, 8, -4), lambda: dense_memory_bytes(3, 4, 2.5)):
        with pytest.raises(ValueError, match="whole number of bytes"):
            bad()


def test_every_public_name_of_the_widget_modules_is_reachable_from_the_package():
    import importlib

    import sparsekit.widgets as w

    for module, names in w._MODULES.items():
        assert tuple(importlib.import_module(f"sparsekit.widgets.{module}").__all__) == names, module
        for name in names:
            assert getattr(w, name) is getattr(importlib.import_module(f"sparsekit.widgets.{module}"), name)
    assert sorted(w.__all__) == sorted(n for names in w._MODULES.values() for n in names)
    with pytest.raises(AttributeError):
        w.no_such_widget
