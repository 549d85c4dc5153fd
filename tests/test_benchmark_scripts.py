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


def test_chunk_speeds_prints_each_row(tmp_path, model_file):
    """scripts/chunk_speeds.py on a small model and a made-up dataset: a row per quantity, speeds
    that are numbers, the real dancer's pose speed what the sinusoids give."""
    from synthetic_data import swaying_dataset  # tests/ is on sys.path under pytest

    from aichoreo.models import get_preset

    data = swaying_dataset(tmp_path / "data", ("val",), frames=900)
    cfg = get_preset("tiny")
    model = model_file
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "chunk_speeds.py"), "--data", str(data),
                             "--split", "val", "--checkpoint", str(model), "--stride", "120"],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line[:16].strip(): line[16:].split() for line in result.stdout.splitlines()
            if line[:4] in ("pose", "root")}
    assert set(rows) == {f"{p} {r}" for p in ("pose", "root") for r in ("real", "read real", "own")}
    speeds = {k: [float(v) for v in values] for k, values in rows.items()}
    assert all(len(v) == cfg.n_future + 1 and all(x >= 0 for x in v) for v in speeds.values())
    assert 0.1 < speeds["pose real"][-1] < 2.0  # joint angles of 0.3 rad at 0.5-2 Hz
