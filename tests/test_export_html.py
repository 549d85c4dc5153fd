"""The self-contained HTML viewer: embedded data read back, and pictures from headless Chromium."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from aichoreo.data.fixtures import dance_pose
from aichoreo.export import write_html
from aichoreo.export.html import viewer_data
from aichoreo.motion import SMPLMotion
from aichoreo.rotations import axis_angle_to_matrix

BACKGROUND = np.array([244, 244, 242])  # the viewer's clear colour (0.957, 0.957, 0.949)
# Headless Chromium without a GPU draws WebGL with SwiftShader through ANGLE.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader", "--hide-scrollbars", "--mute-audio",
]  # fmt: skip


def _chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def screenshot(page: Path, png: Path, *, time_s: float, profile: Path,
               size: tuple[int, int] = (800, 600)) -> np.ndarray:
    """Open ``page#t=time_s`` in headless Chromium, save a screenshot, return it as ``(H, W, 3)`` uint8."""
    from PIL import Image

    chromium = _chromium()
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
           f"--screenshot={png}", f"{page.resolve().as_uri()}#t={time_s}"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert png.is_file(), f"chromium wrote no screenshot (exit {result.returncode}): {result.stderr[-2000:]}"
    return np.asarray(Image.open(png).convert("RGB"))


def evaluate_in_page(page: str, expression: str, *, profile: Path, timeout_s: float = 60.0):
    """Open ``page`` in headless Chromium and return the value of the JS ``expression`` (awaited).

    Talks the DevTools protocol over ``--remote-debugging-pipe`` (requests on the child's fd 3,
    replies on fd 4, NUL-terminated JSON), so no websocket package is needed.
    """
    def high(fd: int) -> int:  # above 4, so that placing the child's fds 3 and 4 cannot clobber it
        moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        return moved

    to_chrome_r, to_chrome_w = map(high, os.pipe())
    from_chrome_r, from_chrome_w = map(high, os.pipe())

    def child_fds() -> None:
        os.dup2(to_chrome_r, 3)
        os.dup2(from_chrome_w, 4)

    proc = subprocess.Popen(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
         "--autoplay-policy=no-user-gesture-required", "about:blank"],
        pass_fds=(3, 4), preexec_fn=child_fds, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    deadline = time.monotonic() + timeout_s
    pending = b""
    counter = 0

    def call(method: str, params: dict | None = None, session: str | None = None) -> dict:
        nonlocal pending, counter
        counter += 1
        message = {"id": counter, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(to_chrome_w, json.dumps(message).encode() + b"\0")
        while time.monotonic() < deadline:
            while b"\0" in pending:
                raw, pending = pending.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == counter:
                    if "error" in reply:
                        raise RuntimeError(reply["error"]["message"])
                    return reply["result"]
            chunk = os.read(from_chrome_r, 1 << 16)
            assert chunk, "chromium closed the pipe"
            pending += chunk
        raise TimeoutError(method)

    try:
        targets: list = []
        while not targets and time.monotonic() < deadline:
            targets = [t for t in call("Target.getTargets")["targetInfos"] if t["type"] == "page"]
        session = call("Target.attachToTarget", {"targetId": targets[0]["targetId"], "flatten": True})["sessionId"]
        call("Page.navigate", {"url": page}, session)
        while True:  # until the new document's context runs the expression to the end
            try:
                result = call("Runtime.evaluate",
                              {"expression": expression, "awaitPromise": True, "returnByValue": True}, session)
            except RuntimeError as exc:
                if "context" not in str(exc) or time.monotonic() > deadline:
                    raise
                continue
            assert "exceptionDetails" not in result, result["exceptionDetails"]
            return result["result"]["value"]
    finally:
        proc.kill()
        proc.wait()
        os.close(to_chrome_w)
        os.close(from_chrome_r)


def _dance() -> SMPLMotion:
    """2.5 s of the fixture dancer, stepping 1.2 m to its left so the pictures change a lot."""
    poses, transl = dance_pose(150, 120.0, np.random.default_rng(7), fps=60.0)
    transl[:, 0] += np.linspace(0.0, 1.2, 150)
    return SMPLMotion(axis_angle_to_matrix(poses), transl, 60.0)


@pytest.fixture(scope="module")
def motion() -> SMPLMotion:
    return _dance()


def _embedded(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="motion-data">(.*?)</script>', page, re.S)
    return json.loads(match.group(1))


def test_page_embeds_the_joints_and_the_music(tmp_path, motion):
    music = tmp_path / "song.ogg"
    music.write_bytes(b"OggS" + bytes(range(256)) * 4)  # the bytes travel as they are
    page = write_html(motion, tmp_path / "d.html", audio_path=music, audio_offset_s=1.25,
                      title="<b>my dance</b>").read_text()
    data = _embedded(page)
    joints = np.frombuffer(base64.b64decode(data["joints"]), dtype="<f4").reshape(data["frames"], 24, 3)
    np.testing.assert_array_equal(joints, motion.joints())
    assert data["fps"] == 60.0 and data["audio_offset"] == 1.25 and len(data["parents"]) == 24
    audio = re.search(r'<audio id="music"[^>]*src="data:audio/ogg;base64,([^"]+)"', page)
    assert base64.b64decode(audio.group(1)) == music.read_bytes()
    assert "&lt;b&gt;my dance&lt;/b&gt;" in page and "<b>my dance" not in page
    # Self-contained: no external scripts, styles, images or fetches.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert not re.search(r"\b(fetch\s*\(|XMLHttpRequest|import\s*\(|WebSocket)", page)


def test_page_without_music_has_no_audio(tmp_path, motion):
    page = write_html(motion, tmp_path / "d.html").read_text()
    assert "<audio" not in page
    assert _embedded(page) == json.loads(json.dumps(viewer_data(motion)))


def test_unplayable_audio_is_converted_to_aac(tmp_path, motion):
    sf = pytest.importorskip("soundfile")
    pytest.importorskip("imageio_ffmpeg")
    sr = 16000
    sf.write(tmp_path / "tone.aiff", 0.2 * np.sin(2 * np.pi * 330 * np.arange(sr) / sr), sr)
    page = write_html(motion.slice(0, 30), tmp_path / "d.html", audio_path=tmp_path / "tone.aiff").read_text()
    payload = base64.b64decode(re.search(r'src="data:audio/mp4;base64,([^"]+)"', page).group(1))
    assert payload[4:8] == b"ftyp"  # an MP4 container


def test_large_lossless_audio_is_embedded_as_aac_and_small_as_it_is(tmp_path, motion, monkeypatch):
    """A 10-minute wav would make a page of 141 MB (and a writer of 650 MB more); above
    LOSSLESS_EMBED_MAX a wav or flac is embedded as AAC. The base64 is written in blocks, so a
    file of several blocks must decode to the same bytes."""
    sf = pytest.importorskip("soundfile")
    pytest.importorskip("imageio_ffmpeg")
    import aichoreo.export.html as html_export

    sr = 16000
    sf.write(tmp_path / "tone.wav", 0.2 * np.sin(2 * np.pi * 330 * np.arange(3 * sr) / sr), sr)
    monkeypatch.setattr(html_export, "_B64_BLOCK", 3 * 1000)  # 32 blocks for this 96 kB file
    page = write_html(motion.slice(0, 30), tmp_path / "d.html", audio_path=tmp_path / "tone.wav").read_text()
    payload = base64.b64decode(re.search(r'src="data:audio/wav;base64,([^"]+)"', page).group(1))
    assert payload == (tmp_path / "tone.wav").read_bytes()
    monkeypatch.setattr(html_export, "LOSSLESS_EMBED_MAX", 50_000)
    page = write_html(motion.slice(0, 30), tmp_path / "d.html", audio_path=tmp_path / "tone.wav").read_text()
    payload = base64.b64decode(re.search(r'src="data:audio/mp4;base64,([^"]+)"', page).group(1))
    assert payload[4:8] == b"ftyp" and len(payload) < 50_000


@pytest.mark.skipif(_chromium() is None, reason="headless test needs Chromium (Debian: apt-get install chromium)")
def test_viewer_draws_the_dance_at_the_url_time(tmp_path, motion):
    page = write_html(motion, tmp_path / "d.html", title="dance")
    early = screenshot(page, tmp_path / "a.png", time_s=0.5, profile=tmp_path / "profile")
    late = screenshot(page, tmp_path / "b.png", time_s=2.0, profile=tmp_path / "profile")
    again = screenshot(page, tmp_path / "c.png", time_s=0.5, profile=tmp_path / "profile")

    # The picture area above the control bar.
    view = slice(40, 540)
    for shot in (early, late):
        pixels = shot[view].astype(int)
        blue = (pixels[..., 2] > 130) & (pixels[..., 0] < 80)  # the dancer's left side
        red = (pixels[..., 0] > 160) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)  # its right side
        assert blue.sum() > 300 and red.sum() > 300, "no skeleton drawn"
        assert (np.abs(pixels - BACKGROUND).sum(-1) > 60).sum() > 2000
    moved = np.abs(early[view].astype(int) - late[view].astype(int)).sum(-1) > 60
    assert moved.sum() > 1500, "the skeleton did not move between 0.5 s and 2.0 s"
    same = np.abs(early[view].astype(int) - again[view].astype(int)).sum(-1) > 60
    assert same.sum() < 20, "the same time drew different pictures"


# Plays for 1.2 s of page time, then reports the viewer's and the audio's clocks in one tick.
_PLAY_FOR_A_WHILE = """(async () => {
  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
  while (!window.aichoreoViewer) await sleep(20);
  const viewer = window.aichoreoViewer, audio = document.getElementById("music");
  viewer.play();
  await sleep(1200);
  const state = {time: viewer.time, audio: audio ? audio.currentTime : null,
                 label: document.getElementById("play").getAttribute("aria-label"),
                 text: document.getElementById("time").textContent};
  viewer.pause();
  return state;
})()"""


@pytest.mark.skipif(_chromium() is None, reason="headless test needs Chromium (Debian: apt-get install chromium)")
@pytest.mark.parametrize("with_music", [True, False])
def test_viewer_plays_in_step_with_the_music(tmp_path, motion, with_music):
    sf = pytest.importorskip("soundfile")
    music = None
    if with_music:
        sr = 22050
        music = tmp_path / "tone.wav"
        sf.write(music, 0.2 * np.sin(2 * np.pi * 440 * np.arange(4 * sr) / sr), sr)
    page = write_html(motion, tmp_path / "d.html", audio_path=music, audio_offset_s=0.5)
    state = evaluate_in_page(page.resolve().as_uri(), _PLAY_FOR_A_WHILE, profile=tmp_path / "profile")
    assert state["label"] == "pause"  # the button shows that it plays
    assert 0.2 < state["time"] <= motion.duration  # the dance moved on
    assert state["text"].startswith(f"{state['time']:.2f} /")
    if with_music:  # the music is the clock: motion time = audio time - offset (within a few frames)
        assert state["time"] == pytest.approx(state["audio"] - 0.5, abs=0.15)


@pytest.mark.skipif(_chromium() is None, reason="headless test needs Chromium (Debian: apt-get install chromium)")
def test_viewer_draws_a_body_and_the_stick_figure_on_request(tmp_path, motion):
    body_page = write_html(motion, tmp_path / "body.html")
    stick_page = write_html(motion, tmp_path / "stick.html", figure="stick")
    assert _embedded(body_page.read_text())["figure"] == "body"
    body = screenshot(body_page, tmp_path / "a.png", time_s=0.5, profile=tmp_path / "profile")
    stick = screenshot(stick_page, tmp_path / "b.png", time_s=0.5, profile=tmp_path / "profile")
    view = slice(40, 540)
    ink = lambda shot: ((np.abs(shot[view].astype(int) - BACKGROUND).sum(-1) > 60)
                        & (shot[view].min(axis=-1) < 150)).sum()  # the figure, not the grid or the shadow
    assert ink(body) > 1.6 * ink(stick), (ink(body), ink(stick))  # 2.0x measured
