"""``aichoreo benchmark-table``: several models and the references on one test split, Markdown + CSV."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import torch

from aichoreo.benchmark import SEED_FRAMES, energy_ends, energy_windows
from aichoreo.cli import main
from aichoreo.conventions import current_conventions
from aichoreo.data.dataset import SequenceEntry, write_index, write_sequence
from aichoreo.models import build_model, get_preset, save_model_file
from aichoreo.motion import SMPLMotion
from aichoreo.rotations import axis_angle_to_matrix


def _dataset(root, splits=("train", "train", "train", "test", "test", "test", "test"), frames=1200):
    rng = np.random.default_rng(0)
    entries = []
    t = np.arange(frames)[:, None] / 60.0
    for i, split in enumerate(splits):
        pose = 0.3 * np.sin(2 * np.pi * rng.uniform(0.5, 2.0, 72) * t + rng.uniform(0, 6, 72))
        transl = np.concatenate([0.1 * np.sin(t), np.full_like(t, 0.9), 0.05 * t], axis=1)
        motion = SMPLMotion(axis_angle_to_matrix(pose.reshape(frames, 24, 3)), transl).to_fact_vector()
        music = rng.standard_normal((frames, 35)).astype(np.float32)
        music[:, 34] = (np.arange(frames) % 30 == 0)  # a beat every half second
        write_sequence(root, f"d{i}", motion, music)
        entries.append(SequenceEntry(name=f"d{i}", split=split, n_frames=frames))
    write_index(root, entries, fps=60.0, music_spec={})
    return root


def test_benchmark_table_scores_models_and_references(tmp_path, capsys):
    data = _dataset(tmp_path / "data")
    torch.manual_seed(0)
    models = {}
    for name, preset in (("fact", "tiny"), ("dancenet", "dancenet-small")):
        cfg = get_preset(preset)
        if name == "dancenet":
            cfg = get_preset(preset, channels=8, skip_channels=8, dilations=(1, 2), n_mixtures=2)
        models[name] = save_model_file(tmp_path / "runs" / name / "models" / "last.pt", build_model(cfg), cfg,
                                       conventions=current_conventions(), preset=preset, step=1)
    out = tmp_path / "table"
    assert main(["benchmark-table", "--data", str(data), "--seconds", "6", "-o", str(out), "--checkpoints",
                 str(models["fact"]), f"DN={models['dancenet']}"]) == 0
    printed = capsys.readouterr().out
    assert "protocol: fact metrics" in printed
    assert "every test seed (first 120 frames) x every test song = 16 dances of 6 s" in printed
    rows = {r["method"]: r for r in csv.DictReader((out / "table.csv").open())}
    assert list(rows) == ["ground truth", "random clip", "mean pose", "frozen seed", "fact", "DN"]
    assert rows["fact"]["frames_per_step"] == "20" and rows["DN"]["frames_per_step"] == "1"
    for row in rows.values():
        assert math.isfinite(float(row["fid_k"])) and math.isfinite(float(row["dist_k"]))
    assert int(rows["ground truth"]["n"]) == 4 and int(rows["fact"]["n"]) == 16
    # The mean pose is one and the same clip for every pair: no spread at all.
    assert float(rows["mean pose"]["dist_k"]) == 0.0 and float(rows["fact"]["dist_k"]) > 0
    # Still references have no motion energy; the sine-wave "dances" do.
    for still in ("mean pose", "frozen seed"):
        assert float(rows[still]["speed_first_5s"]) == 0.0 and float(rows[still]["speed_last_5s"]) == 0.0
    assert float(rows["ground truth"]["speed_last_5s"]) > 0.1
    table = (out / "table.md").read_text()
    assert table.startswith("- protocol: fact metrics") and "| DN |" in table
    result = json.loads((out / "results.json").read_text())
    assert result["protocol"]["n_real"] == 7 * 2 and result["protocol"]["seed_frames"] == SEED_FRAMES
    assert (out / "frames.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    generated = np.load(out / "sets" / "DN" / "d3_d4.npy")
    assert generated.shape == (SEED_FRAMES + 360, 24, 3)


def test_benchmark_table_refuses_a_small_test_split(tmp_path, capsys):
    data = _dataset(tmp_path / "data", splits=("train", "train", "test"))
    assert main(["benchmark-table", "--data", str(data), "--checkpoints", "default", "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "test split has 1 sequences" in err and "Traceback" not in err


def test_benchmark_table_refuses_a_missing_model_before_generating(tmp_path, capsys):
    data = _dataset(tmp_path / "data")
    assert main(["benchmark-table", "--data", str(data), "--seconds", "2", "--checkpoints",
                 f"x={tmp_path / 'nope.pt'}", "-o", str(tmp_path / "o")]) == 1
    assert "nope.pt: no such model file" in capsys.readouterr().err
    assert not (tmp_path / "o" / "sets").exists()


def test_energy_is_the_mean_joint_speed_per_window():
    t = np.arange(601)[:, None] / 60.0  # 10 s at 60 fps
    joints = np.zeros((601, 24, 3))
    joints[..., 0] = 1.5 * t  # every joint at 1.5 m/s along x for 5 s, then still
    joints[301:, :, 0] = joints[300, :, 0]
    assert np.allclose(energy_windows(joints), [1.5, 0.0])
    seed = np.zeros((SEED_FRAMES, 24, 3))
    ends = energy_ends({"a": np.concatenate([seed, joints]), "b": np.concatenate([seed, 2 * joints])}, 601)
    assert np.isclose(ends["speed_first_5s"], 2.25) and np.isclose(ends["speed_last_5s"], 0.0)
    assert energy_ends({"a": np.concatenate([seed, joints[:200]])}, 200) == {"speed_first_5s": None,
                                                                             "speed_last_5s": None}
