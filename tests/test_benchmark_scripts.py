"""The end-to-end benchmark runs (its numbers are for docs/generation.md, not for tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_dance_end_to_end_runs_and_reads_every_stage(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "dance_end_to_end.py"), "--minutes", "0.05",
         "--formats", "joints,bvh", "--no-policies", "--hogs", "0", "--keep", str(tmp_path)],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # One idle run: its speed, the first progress bar seen on the pseudo-terminal, and the stages
    # read back from dance.json, then the memory bound.
    line = next(l for l in out.splitlines() if l.strip().startswith("0.05 min joints,bvh idle"))
    assert "first bar" in line and "first bar    - s" not in line
    stages = out.splitlines()[out.splitlines().index(line) + 1]
    for stage in ("model_load", "features", "generation", "foot_lock", "export joints", "export bvh", "start-up"):
        assert stage in stages
    assert "peak RSS" in out and "(ok)" in out
