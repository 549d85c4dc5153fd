"""The config and train commands, including a two-process DDP run on CPU (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Imported at collection: on import Lightning binds a log handler to the sys.stderr of the moment, which
# must not be a test's capsys stream (closed after that test; later log lines would print tracebacks).
import lightning  # noqa: F401
import numpy as np
import torch

from aichoreo.cli import main
from aichoreo.data.dataset import SequenceEntry, write_index, write_sequence
from aichoreo.models import count_parameters, get_preset, load_model_file


def _write_dataset(root: Path, frames: int = 70) -> Path:
    rng = np.random.default_rng(1)
    entries = []
    for i, split in enumerate(["train", "train", "val"]):
        n = frames
        motion = np.concatenate([0.05 * rng.standard_normal((n, 3)),
                                 np.tile(np.eye(3).ravel(), (n, 24))], 1).astype(np.float32)
        write_sequence(root, f"s{i}", motion, rng.standard_normal((n, 35)).astype(np.float32))
        entries.append(SequenceEntry(name=f"s{i}", split=split, n_frames=n))
    write_index(root, entries, fps=60.0, music_spec={})
    return root


def test_config_show_json(capsys):
    assert main(["config", "show", "fact", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["name"] == "fact" and shown["params"] == 120_406_977
    assert main(["config", "show", "fact-small", "--json", "--set", "d_model=64", "--set", "n_heads=2"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["model"]["d_model"] == 64
    assert shown["params"] == count_parameters(get_preset("fact-small", d_model=64, n_heads=2))


def test_config_show_rejects_unknown_preset_and_key(capsys):
    assert main(["config", "show", "nope"]) == 1
    assert "unknown model preset 'nope'" in capsys.readouterr().err
    assert main(["config", "show", "fact", "--set", "depth=3"]) == 1
    assert "--set depth: unknown key" in capsys.readouterr().err


def test_train_needs_music_for_a_non_prepared_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", "--config", "tiny", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "empty" in err and "not a prepared dataset" in err and "Traceback" not in err


def test_train_refuses_dims_that_are_not_the_datas_before_the_run_starts(tmp_path, capsys):
    data = _write_dataset(tmp_path / "data")
    for key, value in (("motion_dim", 3), ("audio_dim", 20)):
        run = tmp_path / f"run_{key}"
        assert main(["train", "--config", "tiny", "--data", str(data), "--out", str(run), "--max-steps", "1",
                     "--set", f"{key}={value}"]) == 1
        err = capsys.readouterr().err
        assert f"{key} {value}: this data has 225-d motion vectors (fact-225) and 35-d music features" in err
        assert "Traceback" not in err and not run.exists()  # refused before the run's folder is made


TINY_SET = ["--set", "motion_len=12", "--set", "audio_len=24", "--set", "target_len=4", "--set", "batch_size=4",
            "--set", "num_workers=0", "--set", "checkpoint_every=2", "--set", "val_every=2"]


def test_two_process_ddp_training_on_cpu(tmp_path):
    data = _write_dataset(tmp_path / "data")
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "aichoreo", "train", "--config", "tiny", "--data", str(data),
           "--out", str(tmp_path / "run"), "--max-steps", "4", "--accelerator", "cpu", "--devices", "2",
           "--strategy", "ddp", *TINY_SET]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training windows per second" in result.stdout
    model, cfg, meta = load_model_file(tmp_path / "run" / "models" / "last.pt")
    assert meta["step"] == 4 and cfg.d_model == 16
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


def _error_line(err: str) -> str:
    """The error of a failed command: its last line, after any progress-bar output."""
    assert "Traceback" not in err, err[-3000:]
    line = err.strip().splitlines()[-1]
    assert line.startswith("aichoreo: error: "), err[-3000:]
    return line


def test_train_stops_with_one_line_when_the_loss_is_not_finite(tmp_path, capsys):
    data = _write_dataset(tmp_path / "data")
    run = tmp_path / "run"
    code = main(["train", "--config", "tiny", "--data", str(data), "--out", str(run), "--max-steps", "6",
                 "--accelerator", "cpu", *TINY_SET, "--set", "checkpoint_every=1", "--set", "lr=1e30"])
    line = _error_line(capsys.readouterr().err)
    assert code == 1
    # the first step's weights of ~1e30 are more than any model file may hold: stopped there
    assert f"{run}: training stopped at step 1: the weights are not finite, or beyond 1e+06" in line
    assert "lr 1e+30" in line
    assert not (run / "models" / "last.pt").exists()
    for path in (run / "models").glob("*.pt"):
        model, _, _ = load_model_file(path)
        assert all(torch.isfinite(p).all() for p in model.parameters()), path.name


def test_train_resume_falls_back_from_a_truncated_last_ckpt(tmp_path, capsys, caplog):
    data = _write_dataset(tmp_path / "data")
    run = tmp_path / "run"
    args = ["train", "--config", "tiny", "--data", str(data), "--out", str(run), "--accelerator", "cpu", *TINY_SET,
            "--set", "checkpoint_every=4"]
    assert main([*args, "--max-steps", "4"]) == 0  # checkpoints/step0000004.ckpt and last.ckpt
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])  # killed while writing
    capsys.readouterr()
    assert main([*args, "--max-steps", "8", "--resume"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    # A logged warning (on stderr from the command line; pytest captures logging apart).
    assert (f"{last}: not a complete checkpoint" in caplog.text and
            f"resuming from the newest intact checkpoint, {run / 'checkpoints' / 'step0000004.ckpt'}" in caplog.text)
    assert "trained 8 steps" in out
    _, _, meta = load_model_file(run / "models" / "last.pt")
    assert meta["step"] == 8
    # The damaged last.ckpt was replaced under its own name (no last-v1.ckpt beside it).
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.ckpt", "step0000004.ckpt",
                                                                       "step0000008.ckpt"]
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 8
    # Damage inside a file (same length) is caught by the checksums; with nothing intact: one line.
    for path in (run / "checkpoints").glob("*.ckpt"):
        raw = np.frombuffer(path.read_bytes(), np.uint8).copy()
        raw[len(raw) // 2: len(raw) // 2 + 64] ^= 0xFF  # flip bits mid-file
        path.write_bytes(raw.tobytes())
    assert main([*args, "--max-steps", "12", "--resume"]) == 1
    line = _error_line(capsys.readouterr().err)
    assert f"{run / 'checkpoints'}: no intact checkpoint to resume from" in line and "fails its checksum" in line


def test_train_names_a_truncated_sequence_file(tmp_path, capsys):
    data = _write_dataset(tmp_path / "data")
    path = data / "sequences" / "s1.npz"
    path.write_bytes(path.read_bytes()[:500])
    assert main(["train", "--config", "tiny", "--data", str(data), "--out", str(tmp_path / "run"),
                 "--max-steps", "2", "--accelerator", "cpu", *TINY_SET]) == 1
    assert _error_line(capsys.readouterr().err).startswith(f"aichoreo: error: {path}: not a readable .npz file")
