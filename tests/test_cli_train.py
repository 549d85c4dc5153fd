"""The config and train commands, including a two-process DDP run on CPU (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

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
