"""The README's Python example runs as written and does what its comments say."""
import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs_and_its_comments_hold():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "the README has no Python example"
    ns = {}
    for code in blocks:
        exec(compile(code, str(README), "exec"), ns)  # noqa: S102 - our own README
    u, w, A, B, y = (ns[k] for k in ("u", "w", "A", "B", "y"))
    dense_u = np.zeros(15)
    dense_u[[0, 1, 3]] = [1.0, 6.0, -3.0]
    dense_u[[0, 5]] += -2.0 * np.array([-10.0, 3.0])
    np.testing.assert_array_equal(u.toarray(), dense_u)       # u <- u - 2 v
    assert w.is_clean()                                        # w is all zeros again
    assert (A.nnz, A.shape, B.blocksize) == (4, (4, 4), (4, 1))
    np.testing.assert_allclose(y, np.ones((4, 196), dtype=np.float32))
