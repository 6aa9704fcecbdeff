"""bench/ab_commits.py: the working tree's NumPy step against another revision's, in one process.

Run against HEAD in quick mode: the old revision is extracted with ``git archive`` and imported
as a separate package (``ffnn_old``, not the working tree's ``ffnn``), every case is timed for
both versions, and the JSON holds the figures its per-block times give.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "ab_commits.py"


def _in_git_checkout() -> bool:
    if shutil.which("git") is None:
        return False
    probe = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "HEAD"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _in_git_checkout(), reason="needs git and a checkout with a HEAD commit")
def test_quick_run_against_head(tmp_path):
    out = tmp_path / "ab.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "HEAD", "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    first = proc.stdout.splitlines()[0]
    assert "ffnn_old" in first and str(ROOT / "src" / "ffnn") in first   # two packages, not one twice
    rows = json.loads(out.read_text())
    assert {(r["kind"], r["net"]) for r in rows} == {(k, n) for k in ("loop", "fit")
                                                      for n in ("A10", "C10", "C128", "A128")}
    for row in rows:
        old, new = row["seconds"]["old"], row["seconds"]["new"]
        assert len(old) == len(new) == 3 and min(old + new) > 0
        assert row["new_over_old"] == pytest.approx(statistics.median(o / w for o, w in zip(old, new, strict=True)))
        assert row["old_samples_per_s"] == pytest.approx(1024 / statistics.median(old))
