"""`make lab`'s server really starts from .venv and serves the course (no browser needed)."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read().decode()


@pytest.mark.timeout(120)
def test_jupyterlab_serves_the_first_lesson(tmp_path):
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
         "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={ROOT}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                status, page = _get(f"{base}/lab")
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer within 60 s")
        assert status == 200 and "JupyterLab" in page
        status, body = _get(f"{base}/api/contents/notebooks/00_start_here.ipynb?content=0")
        assert status == 200 and json.loads(body)["type"] == "notebook"
        status, body = _get(f"{base}/api/kernelspecs")
        specs = json.loads(body)["kernelspecs"]
        assert "python3" in specs
    finally:
        proc.terminate()
        proc.wait(timeout=20)
