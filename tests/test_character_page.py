"""dance.html with a character: the retargeted glb embedded in the three.js page, drawn and played
by headless Chromium (skipped, saying why, where Chromium is absent)."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
from rigs import build_rig, write_rig_glb
from test_export_html import _PLAY_FOR_A_WHILE, _chromium, _dance, evaluate_in_page

from aichoreo.export import write_character_html
from aichoreo.retarget import load_character, retarget_motion, write_character_motion

needs_chromium = pytest.mark.skipif(_chromium() is None,
                                    reason="headless test needs Chromium (Debian: apt-get install chromium)")

# Draws the page at 0.5 s, 2.0 s and 0.5 s again once the character is shown; the canvas as PNGs.
_THREE_PICTURES = """(async () => {
  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
  while (!window.aichoreoViewer) await sleep(20);
  const viewer = window.aichoreoViewer;
  if (!(await viewer.ready)) return {error: document.getElementById("message").textContent};
  const canvas = document.getElementById("view");
  const shots = [];
  for (const t of [0.5, 2.0, 0.5]) { viewer.show(t); shots.push(canvas.toDataURL("image/png")); }
  return {shots};
})()"""


def _page(tmp_path, *, vrm: bool, audio=None):
    motion = _dance()
    rig = build_rig("vrm" if vrm else "mixamo", pose="A", seed=4)
    source = write_rig_glb(rig, tmp_path / ("rig.vrm" if vrm else "rig.glb"), vrm=vrm)
    ch = load_character(source)
    cm = retarget_motion(motion, ch)
    out = write_character_motion(cm, tmp_path / ("out.vrm" if vrm else "out.glb"))
    joints = cm.world_positions
    page = write_character_html(tmp_path / "dance.html", glb=out.read_bytes(), kind="vrm" if vrm else "gltf",
                                fps=motion.fps, frames=len(motion), front=(0.0, 1.0),
                                bounds=np.stack([joints.min((0, 1)), joints.max((0, 1))]), audio_path=audio)
    return motion, out, page


def test_page_embeds_the_character_and_the_licences(tmp_path):
    motion, out, page = _page(tmp_path, vrm=False)
    text = page.read_text()
    data = json.loads(re.search(r'id="character-data">(.*?)</script>', text, re.S).group(1))
    assert base64.b64decode(data["glb"]) == out.read_bytes()
    assert (data["fps"], data["frames"], data["kind"]) == (motion.fps, len(motion), "gltf")
    licences = re.search(r'id="licenses">(.*?)</script>', text, re.S).group(1)
    assert "three 0.171.0 (MIT)" in licences and "@pixiv/three-vrm 3.3.3 (MIT)" in licences
    assert "<audio" not in text


def _pixels(url: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")).astype(int)


@needs_chromium
@pytest.mark.parametrize("vrm", [False, True], ids=["glb", "vrm"])
def test_page_draws_the_character_dancing(tmp_path, vrm):
    _, _, page = _page(tmp_path, vrm=vrm)
    result = evaluate_in_page(page.resolve().as_uri(), _THREE_PICTURES, profile=tmp_path / "profile")
    assert "shots" in result, result
    early, late, again = (_pixels(s) for s in result["shots"])
    background = np.array([244, 244, 242])
    drawn = np.abs(early - background).sum(-1) > 60  # the character, its shadow, the grid
    assert drawn.sum() > 3000
    moved = np.abs(early - late).sum(-1) > 60
    assert moved.sum() > 1000, "the character did not move between 0.5 s and 2.0 s"
    assert (np.abs(early - again).sum(-1) > 60).sum() < 20, "the same time drew different pictures"


@needs_chromium
@pytest.mark.parametrize("name", ["quaternius_ubc_superhero_male.glb",
                                  "quaternius_ual_mannequin/AnimationLibrary_Godot_Standard.gltf",
                                  "cryptovoxels.vrm"])
def test_page_draws_each_shared_character(name, tmp_path, shared_data):
    """Each shared character dances in the page (the superhero's PNG textures decoded by the browser)."""
    path = shared_data / "characters" / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    motion = _dance()
    ch = load_character(path)
    cm = retarget_motion(motion, ch)
    vrm = name.endswith(".vrm")
    out = write_character_motion(cm, tmp_path / ("c.vrm" if vrm else "c.glb"))
    joints = cm.world_positions
    page = write_character_html(tmp_path / "dance.html", glb=out.read_bytes(), kind="vrm" if vrm else "gltf",
                                fps=motion.fps, frames=len(motion),
                                front=(float(cm.canonical[0, 2]), float(cm.canonical[2, 2])),
                                bounds=np.stack([joints.min((0, 1)), joints.max((0, 1))]))
    result = evaluate_in_page(page.resolve().as_uri(), _THREE_PICTURES, profile=tmp_path / "profile")
    assert "shots" in result, result
    early, late, again = (_pixels(s) for s in result["shots"])
    background = np.array([244, 244, 242])
    assert (np.abs(early - background).sum(-1) > 60).sum() > 3000  # the character and its shadow
    assert (np.abs(early - late).sum(-1) > 60).sum() > 1000  # it dances
    assert (np.abs(early - again).sum(-1) > 60).sum() < 20
    if name.startswith("quaternius_ubc"):
        skin = (early[..., 0] > early[..., 2] + 40) & (early[..., 0] > 120)  # the textured skin: warm colours
        assert skin.sum() > 2000, skin.sum()


@needs_chromium
def test_page_plays_in_step_with_the_music(tmp_path):
    sf = pytest.importorskip("soundfile")
    sr = 22050
    music = tmp_path / "tone.wav"
    sf.write(music, 0.2 * np.sin(2 * np.pi * 440 * np.arange(4 * sr) / sr), sr)
    motion, _, page = _page(tmp_path, vrm=False, audio=music)
    state = evaluate_in_page(page.resolve().as_uri(), _PLAY_FOR_A_WHILE, profile=tmp_path / "profile")
    assert state["label"] == "pause"
    assert 0.2 < state["time"] <= motion.duration
    assert state["time"] == pytest.approx(state["audio"], abs=0.15)  # no offset: motion time = audio time
