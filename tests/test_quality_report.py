"""``aichoreo quality``: whole songs from the built-in seed, scored against the real dances."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from synthetic_data import swaying_dataset

from aichoreo.cli import main
from aichoreo.conventions import current_conventions
from aichoreo.models import build_model, get_preset, save_model_file
from aichoreo.quality_report import format_report, seam_ratio

SPLITS = ("train", "train", "test", "test", "test")


def _dataset(root):  # 46 s: two 20 s fade windows after the 2 s seed
    return swaying_dataset(root, SPLITS, frames=2760)


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quality")
    data = _dataset(tmp / "data")
    torch.manual_seed(0)
    cfg = get_preset("tiny")
    model = save_model_file(tmp / "model.pt", build_model(cfg), cfg, conventions=current_conventions(),
                            preset="tiny", step=1)
    out = tmp / "report"
    assert main(["quality", "--data", str(data), "--checkpoint", str(model), "-o", str(out),
                 "--seed-motion", "bounce"]) == 0
    return data, model, out


def test_report_writes_every_output_with_finite_numbers(report_run):
    data, model, out = report_run
    report = json.loads((out / "report.json").read_text())
    assert list(report["songs"]) == ["d2", "d3", "d4"]
    for row in report["songs"].values():
        for key in ("energy_ratio", "fade", "fade_real", "jitter_ratio", "skate_ratio", "beat_align_ratio"):
            assert math.isfinite(row[key]), key
        assert row["seconds"] == pytest.approx(46.0)
    s = report["summary"]
    assert s["worst_fade"] == min(r["fade"] for r in report["songs"].values())
    assert s["median_skate_ratio"] == pytest.approx(np.median([r["skate_ratio"] for r in report["songs"].values()]))
    assert s["fid_clips"] == 3 * 2 and math.isfinite(s["fid_k"]) and math.isfinite(s["fid_k_random_clip"])
    assert s["fid_k_vs_random_clip"] == pytest.approx(s["fid_k"] / s["fid_k_random_clip"])
    assert set(report["targets"]) >= {"worst_fade", "median_skate_ratio", "spread_ratio"}
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert [r["song"] for r in rows] == ["d2", "d3", "d4"]
    assert (out / "speed.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "report.md").read_text() == format_report(report)
    joints = np.load(out / "dances" / "d2.npy")
    assert joints.shape == (2760, 24, 3)


def test_real_dance_scored_as_generated_gives_ratios_of_one(report_run):
    """The ratios divide by the real dance on the same song: the real dance itself scores 1."""
    from aichoreo.data.dataset import PreparedDataset
    from aichoreo.evaluate import joints_of
    from aichoreo.quality_report import QualityOptions, _song_scores

    data, _, _ = report_run
    s = PreparedDataset(data).load("d3")
    j = joints_of(s.motion)
    row = _song_scores(j, j, s.music[:, 34], 20, QualityOptions())
    for key in ("energy_ratio", "jitter_ratio", "skate_ratio", "beat_align_ratio"):
        assert row[key] == pytest.approx(1.0)
    assert row["fade"] == row["fade_real"]


def test_a_rerun_replaces_the_report_and_a_foreign_folder_is_refused(report_run, tmp_path, capsys):
    data, model, out = report_run
    (out / "clips" / "generated" / "stale_99.npy").write_bytes(b"x")
    assert main(["quality", "--data", str(data), "--checkpoint", str(model), "-o", str(out),
                 "--seed-motion", "bounce", "--no-foot-lock", "--frames-per-step", "10"]) == 0
    assert not (out / "clips" / "generated" / "stale_99.npy").exists()
    assert json.loads((out / "report.json").read_text())["frames_per_step"] == 10
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    capsys.readouterr()
    assert main(["quality", "--data", str(data), "--checkpoint", str(model), "-o", str(foreign)]) != 0
    assert "thesis.tex" in capsys.readouterr().err and (foreign / "thesis.tex").read_text() == "keep me"


def test_model_without_seed_pose_refuses_the_pose_seed(report_run, tmp_path, capsys):
    data, model, _ = report_run
    assert main(["quality", "--data", str(data), "--checkpoint", str(model), "-o", str(tmp_path / "r"),
                 "--seed-motion", "pose"]) != 0
    assert "seed pose" in capsys.readouterr().err


def test_seam_ratio_finds_a_hitch_at_every_chunk_seam():
    steps = np.full(120 + 100, 0.01)
    steps[120 + 19:: 20] = 0.10  # the step into each chunk's first frame jumps 10 cm
    root = np.zeros((len(steps) + 1, 24, 3))
    root[1:, :, 0] = np.cumsum(steps)[:, None]
    assert seam_ratio(root, 20) == pytest.approx(10.0)
    smooth = np.zeros_like(root)
    smooth[:, :, 0] = 0.01 * np.arange(len(root))[:, None]
    assert seam_ratio(smooth, 20) == pytest.approx(1.0)
    assert seam_ratio(root, 1) is None
