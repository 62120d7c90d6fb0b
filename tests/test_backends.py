"""The backends registry: every backend explains its availability, and each one computes W @ X."""
import numpy as np
import pytest

from sparsekit import backends as bk
from sparsekit.backends import Backend, Prepared, get_backend, list_backends
from sparsekit.bench.cases import block_sparse_weights

REQUIRED = ["dense-blas", "scipy", "numba-reference", "numba-scalar", "numba-simd", "numba-parallel", "numba-sse2",
            "numba-avx2", "numba-avx512", "int8", "cuda"]
LOCAL = ["dense-blas", "scipy", "numba-reference", "numba-scalar", "numba-simd", "numba-parallel"]


def test_registry_names_descriptions_and_availability_explain_themselves():
    names = [b.name for b in list_backends()]
    assert names == REQUIRED
    for b in list_backends():
        assert b.description and "\n" not in b.description
        ok, why = b.available()
        assert isinstance(ok, bool) and isinstance(why, str) and len(why) > 10, (b.name, why)


def test_get_backend_errors():
    with pytest.raises(KeyError, match="numba-simd"):
        get_backend("numba-fast")
    with pytest.raises(TypeError):
        get_backend(3)


CASES = [(n, np.float32) for n in LOCAL] + [(n, np.float64) for n in ("dense-blas", "scipy", "numba-simd")]


@pytest.mark.parametrize("name, dtype", CASES)
@pytest.mark.parametrize("blocksize", [(1, 1), (4, 1), (1, 4), (2, 2), (3, 2)])
def test_local_backends_equal_dense(name, dtype, blocksize):
    rng = np.random.default_rng(hash((name, blocksize)) % 2 ** 32)
    M, K, N = rng.integers(5, 30), rng.integers(5, 30), rng.integers(1, 40)  # shapes not multiples of blocks
    W = block_sparse_weights(M, K, rng.uniform(0.2, 0.95), blocksize, rng=rng, dtype=dtype)
    X = rng.standard_normal((K, N)).astype(dtype)
    Y = get_backend(name).matmul(W, X, blocksize)
    assert Y.shape == (M, N) and Y.dtype == dtype
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(Y, W.astype(np.float64) @ X.astype(np.float64), rtol=tol, atol=tol * K)


def test_prepare_reuses_its_output_and_does_not_convert_again():
    rng = np.random.default_rng(0)
    W = block_sparse_weights(16, 12, 0.7, (4, 1), rng=rng)
    X = rng.standard_normal((12, 9)).astype(np.float32)
    p = get_backend("numba-simd").prepare(W, X, (4, 1))
    Y1 = np.array(p.run())
    Y2 = p.run()
    np.testing.assert_array_equal(Y1, Y2)


@pytest.mark.parametrize("W, X, blocksize, exc, match", [
    (np.ones((3, 4)), np.ones((5, 2)), (1, 1), ValueError, "shape mismatch"),
    (np.ones(3), np.ones((3, 2)), (1, 1), ValueError, "2-D"),
    (np.ones((3, 4)), np.ones((4, 2)), (0, 1), ValueError, "blocksize"),
    (np.ones((3, 4)), np.ones((4, 2)), "4x1", TypeError, "blocksize"),
])
def test_bad_input_is_rejected_before_any_kernel(W, X, blocksize, exc, match):
    with pytest.raises(exc, match=match):
        get_backend("numba-simd").prepare(W, X, blocksize)


def test_unavailable_backend_refuses_to_prepare_with_its_reason():
    b = Backend("nope", "never runs", lambda: (False, "needs a quantum computer"), None)
    with pytest.raises(RuntimeError, match="quantum"):
        b.prepare(np.ones((2, 2)), np.ones((2, 2)))
    broken = Backend("boom", "check raises", lambda: 1 / 0, None)
    ok, why = broken.available()
    assert not ok and "ZeroDivisionError" in why


def test_isa_backends_explain_missing_cpu_features(monkeypatch):
    monkeypatch.setattr(bk, "cpu_flags", lambda: {"sse2", "avx", "avx2", "fma"})
    monkeypatch.setattr(bk.platform, "machine", lambda: "x86_64")
    ok, why = get_backend("numba-avx512").available()
    assert not ok and "avx512f" in why and "AVX2" in why
    assert get_backend("numba-avx2").available()[0]
    monkeypatch.setattr(bk, "cpu_flags", lambda: {"sse2"})
    ok, why = get_backend("numba-avx2").available()
    assert not ok and "avx2" in why and "fma" in why
    monkeypatch.setattr(bk.platform, "machine", lambda: "aarch64")
    for name in ("numba-sse2", "numba-avx2", "numba-avx512"):
        ok, why = get_backend(name).available()
        assert not ok and "aarch64" in why


def test_avx512_reported_on_this_cpu_truthfully():
    ok, why = get_backend("numba-avx512").available()
    assert ok == ("avx512f" in bk.cpu_flags() and {"avx512bw", "avx512vl", "avx512dq", "avx512cd"} <= bk.cpu_flags())
    if not ok:
        assert "avx512" in why


def test_each_isa_worker_gets_its_own_numba_cache_dir():
    envs = {isa: bk.worker_env(isa) for isa in bk.ISA_TARGETS}
    dirs = {e["NUMBA_CACHE_DIR"] for e in envs.values()}
    assert len(dirs) == len(envs)
    assert envs["sse2"]["NUMBA_CPU_NAME"] == "x86-64"
    assert envs["avx2"]["NUMBA_CPU_NAME"] == "haswell"
    assert envs["avx512"]["NUMBA_CPU_NAME"] == "skylake-avx512"


@pytest.mark.skipif(not get_backend("numba-avx2").available()[0], reason="needs an x86 CPU with AVX2")
def test_isa_workers_compute_the_product_and_really_change_the_target(tmp_path, monkeypatch):
    """One worker per ISA: the result equals numpy; SSE2 code names no ymm register, AVX2 code does."""
    monkeypatch.setenv("SPARSEKIT_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(5)
    W = block_sparse_weights(12, 8, 0.5, (4, 1), rng=rng)
    X = rng.standard_normal((8, 10)).astype(np.float32)
    for isa, widest in (("sse2", "xmm"), ("avx2", "ymm")):
        job = {"mode": "matmul", "variant": "simd", "blocksize": [4, 1],
               "W": {"b64": __import__("base64").b64encode(W.tobytes()).decode(), "shape": [12, 8], "dtype": "float32"},
               "X": {"b64": __import__("base64").b64encode(X.tobytes()).decode(), "shape": [8, 10], "dtype": "float32"}}
        res = bk.run_worker(isa, job, timeout=300)
        Y = np.frombuffer(__import__("base64").b64decode(res["Y"]["b64"]), dtype=np.float32).reshape(12, 10)
        np.testing.assert_allclose(Y, W.astype(np.float64) @ X, rtol=1e-5, atol=1e-5)
        assert res["target"]["cpu_name"] == bk.ISA_TARGETS[isa][0]
        assert res["target"]["cache_dir"] == str(tmp_path / f"numba-{isa}")
        if widest == "xmm":
            assert res["probe"]["ymm"] == 0 and res["probe"]["zmm"] == 0 and res["probe"]["xmm"] > 0
        else:
            assert res["probe"]["ymm"] > 0 and res["probe"]["zmm"] == 0
    assert (tmp_path / "numba-sse2").is_dir() or (tmp_path / "numba-avx2").is_dir()


def test_remote_backend_matmul_through_the_worker(tmp_path, monkeypatch):
    b = get_backend("numba-sse2")
    if not b.available()[0]:
        pytest.skip(b.available()[1])
    monkeypatch.setenv("SPARSEKIT_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(9)
    W = block_sparse_weights(9, 7, 0.6, (1, 1), rng=rng, dtype=np.float64)
    X = rng.standard_normal((7, 5))
    np.testing.assert_allclose(b.matmul(W, X), W @ X, rtol=1e-12, atol=1e-12)


def test_cuda_entry_uses_sparsekit_gpu():
    ok, why = get_backend("cuda").available()
    from sparsekit import gpu

    assert (ok, why) == tuple(gpu.available())
    if not ok:
        with pytest.raises(RuntimeError, match="not available"):
            get_backend("cuda").prepare(np.ones((4, 4), np.float32), np.ones((4, 3), np.float32))


def test_int8_backend_explains_or_is_exact():
    b = get_backend("int8")
    ok, why = b.available()
    if not ok:
        assert "int8" in why
        return
    rng = np.random.default_rng(4)
    W = block_sparse_weights(16, 12, 0.6, (4, 1), rng=rng)
    X = rng.standard_normal((12, 10)).astype(np.float32)
    for bs in ((4, 1), (1, 1), (2, 2)):
        p = b.prepare(W, X, bs)
        assert p.exact and p.reference is not None
        np.testing.assert_array_equal(p.run(), p.reference)
        assert np.abs(p.reference).max() > 0


def test_prepared_is_a_plain_record():
    p = Prepared(lambda: np.zeros(2))
    assert p.reference is None and not p.exact and p.measure is None


def test_prepare_names_the_dtype_and_blocksize_it_refuses():
    b = get_backend("numba-simd")
    W = np.eye(8)
    with pytest.raises(TypeError, match="runs float32/float64, not int64"):
        b.matmul(W.astype(np.int64), np.ones((8, 4), np.int64))
    with pytest.raises(TypeError, match="blocksize must be a pair of positive integers"):
        b.matmul(W, np.ones((8, 4)), (1.7, 1))
