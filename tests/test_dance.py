"""``aichoreo dance``: any song, the dance ends with the music, batching, seeds, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from aichoreo.cli import main
from aichoreo.dance import DanceOptions, dance, neutral_seed
from aichoreo.data.fixtures import click_track
from aichoreo.models import build_model, get_preset, save_model_file


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    cfg = get_preset("tiny")
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_model_file(path, build_model(cfg), cfg, preset="tiny")
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _song(path: Path, seconds: float, bpm: float = 120.0, sr: int = 22050) -> Path:
    sf.write(path, click_track(seconds, bpm, sr), sr)
    return path


def test_dance_covers_the_whole_song_and_writes_the_outputs(model_file, tmp_path, capsys):
    song = _song(tmp_path / "clicks.wav", 5.0)
    code = main(["dance", str(song), "-o", str(tmp_path / "out"), "--checkpoint", str(model_file),
                 "--formats", "joints,aistpp"])
    assert code == 0, capsys.readouterr().err
    folder = tmp_path / "out" / "clicks"
    joints = np.load(folder / "dance_joints.npy")
    n_music = 1 + int(5.0 * 30720) // 512
    assert joints.shape == (n_music, 24, 3)  # the dance ends with the music, not 2 s before it
    summary = json.loads((folder / "dance.json").read_text())
    assert summary["frames"] == n_music and summary["bpm_prior"] == pytest.approx(120, abs=2)
    assert str(folder / "dance.pkl") in capsys.readouterr().out


def test_batched_songs_equal_single_songs(model_file, tmp_path):
    from aichoreo.models import load_model_file

    model, _, _ = load_model_file(model_file)
    songs = [_song(tmp_path / "a.wav", 4.5, 110), _song(tmp_path / "b.wav", 6.0, 128)]
    opts = DanceOptions(formats=("joints",), batch_size=2)
    dance(songs, model, tmp_path / "together", opts, progress=False)
    dance(songs, model, tmp_path / "apart", DanceOptions(formats=("joints",), batch_size=1), progress=False)
    for name in ("a", "b"):
        together = np.load(tmp_path / "together" / name / "dance_joints.npy")
        apart = np.load(tmp_path / "apart" / name / "dance_joints.npy")
        np.testing.assert_allclose(together, apart, atol=1e-4)


def test_neutral_seed_stands_on_the_floor_and_varies():
    a, b = neutral_seed(120, 120.0, 0), neutral_seed(120, 120.0, 1)
    ja = a.joints()
    assert ja.shape == (120, 24, 3) and ja[..., 1].min() == pytest.approx(0, abs=1e-6)
    assert ja[:, 15, 1].min() > 1.2  # the head stays up: a standing dancer
    assert not np.allclose(ja, b.joints())


@pytest.mark.parametrize("make, extra, message", [
    (lambda d: d / "missing.wav", [], "no such file"),
    (lambda d: _song(d / "short.wav", 0.5), [], "a dance needs more than the 2 s seed motion"),
    (lambda d: _write(d / "empty.wav", b""), [], "empty.wav"),
    (lambda d: _write(d / "text.mp3", b"not audio at all"), [], "text.mp3"),
    (lambda d: _song(d / "ok.wav", 3.0), ["--seed-motion", "bogus"], "unknown seed motion 'bogus'"),
    (lambda d: _song(d / "ok.wav", 3.0), ["--checkpoint", "{notmodel}"], "not an aichoreo model file"),
])
def test_bad_input_is_one_clear_line_and_writes_nothing(model_file, tmp_path, capsys, make, extra, message):
    song = make(tmp_path)
    not_model = tmp_path / "notmodel.pt"
    torch.save({"weights": torch.zeros(2)}, not_model)
    extra = [e.replace("{notmodel}", str(not_model)) for e in extra]
    args = ["dance", str(song), "-o", str(tmp_path / "out"), "--formats", "joints"]
    if "--checkpoint" not in extra:
        args += ["--checkpoint", str(model_file)]
    assert main(args + extra) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.npy"))


def test_output_folder_that_is_a_file(model_file, tmp_path, capsys):
    song = _song(tmp_path / "ok.wav", 3.0)
    (tmp_path / "taken").write_text("x")
    assert main(["dance", str(song), "-o", str(tmp_path / "taken"), "--checkpoint", str(model_file)]) == 1
    assert "is a file, not a folder" in capsys.readouterr().err


def test_silent_song_warns_and_dances(model_file, tmp_path):
    sf.write(tmp_path / "silence.wav", np.zeros(22050 * 3, np.float32), 22050)
    with pytest.warns(UserWarning, match="silent"):
        assert main(["dance", str(tmp_path / "silence.wav"), "-o", str(tmp_path / "out"), "--checkpoint",
                     str(model_file), "--formats", "joints", "--bpm", "100"]) == 0
    assert (tmp_path / "out" / "silence" / "dance_joints.npy").is_file()
