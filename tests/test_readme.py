"""The README's Python example runs (with a tiny model instead of the bundled one)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

import aichoreo
from aichoreo.conventions import current_conventions
from aichoreo.data.fixtures import click_track
from aichoreo.models import build_model, get_preset, save_model_file

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example(tmp_path, monkeypatch):
    code = re.search(r"## From Python\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    torch.manual_seed(0)
    cfg = get_preset("tiny")
    save_model_file(tmp_path / "tiny.pt", build_model(cfg), cfg, conventions=current_conventions())
    sf.write(tmp_path / "song.mp3", click_track(5.0, 120, 44100), 44100)
    monkeypatch.chdir(tmp_path)
    code = code.replace('load_model("default")', 'load_model("tiny.pt")')
    code = code.replace('aichoreo.dance("song.mp3", ', 'aichoreo.dance("song.mp3", "tiny.pt", ')
    assert "tiny.pt" in code.split("aichoreo.dance(")[1].split(")")[0]
    scope: dict = {}
    exec(compile(code, "README", "exec"), scope)
    assert (tmp_path / "dances" / "song" / "dance.mp4").is_file() and (tmp_path / "dances" / "song" / "dance.glb").is_file()
    n_music = 1 + 5 * 30720 // 512
    assert scope["joints"].shape == (n_music, 24, 3)  # the dance lasts as long as the song
    assert np.isfinite(scope["joints"]).all()
    assert isinstance(scope["motion"], aichoreo.SMPLMotion)
