"""sparsekit.kernels.prefetch: a hint that changes no result and never faults."""
import numba
import numpy as np
import pytest
from numba.core.errors import TypingError

from sparsekit.kernels.prefetch import elements_in, prefetch


@numba.njit
def _sum_with_prefetch(a, ahead):
    s = a.dtype.type(0)
    for i in range(a.shape[0]):
        prefetch(a, i + ahead)
        s += a[i]
    return s


@numba.njit
def _sum(a):
    s = a.dtype.type(0)
    for i in range(a.shape[0]):
        s += a[i]
    return s


@pytest.mark.parametrize("ahead", [0, 16, 1000, 10**6, -(10**6)])
def test_prefetch_changes_nothing_even_past_the_end(ahead):
    a = np.random.default_rng(0).standard_normal(1000)
    assert _sum_with_prefetch(a, ahead) == _sum(a)


@numba.njit
def _distance(a):
    return elements_in(128, a)


@pytest.mark.parametrize("dtype, n", [(np.float32, 32), (np.float64, 16), (np.int8, 128), (np.int32, 32)])
def test_elements_in_counts_elements_of_the_dtype(dtype, n):
    assert _distance(np.zeros(3, dtype)) == n


def test_elements_in_needs_a_literal_byte_count():
    @numba.njit
    def f(a, nbytes):
        return elements_in(nbytes, a)

    with pytest.raises(TypingError, match="literal"):
        f(np.zeros(3), 128)


def test_prefetch_needs_an_array_and_an_integer():
    @numba.njit
    def f(x):
        prefetch(x, 0)

    @numba.njit
    def g(a):
        prefetch(a, 0.5)

    with pytest.raises(TypingError, match="array"):
        f(1.0)
    with pytest.raises(TypingError, match="integer"):
        g(np.zeros(3))
