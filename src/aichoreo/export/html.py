"""A self-contained HTML page that plays the dance in the browser, synced to its music.

One file, no network: the hand-written WebGL viewer (``viewer/viewer.js``, no libraries) and
its page (``viewer/viewer.html``) are inlined, the joints are embedded as base64 float32
``(T, 24, 3)`` metres, y up, at the motion's frame rate, and the music (when given) as a base64
``data:`` URI in an ``<audio>`` element. Play/pause, a scrub bar, the time, orbit and zoom with
the mouse; while the music plays it is the clock. ``page.html#t=2.5`` opens paused at 2.5 s.

Browsers play wav, mp3, ogg/opus, flac, m4a/aac and webm audio; other formats, and wav or flac
files larger than 8 MiB, are converted to AAC with the ffmpeg of ``imageio-ffmpeg`` first (a
10-minute CD-quality wav would make a 141 MB page, which browsers and the writer must hold; as AAC
it is about 12 MB). The page is written a piece at a time, the music's base64 in blocks.

:func:`write_character_html` writes the same page for a rigged character (``aichoreo dance
--character``): the character's glb is embedded and ``viewer/character.js`` (three.js and
@pixiv/three-vrm, bundled from ``web/`` by esbuild, about 720 kB) plays it.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import os
import re
from importlib import resources
from pathlib import Path

import numpy as np

from aichoreo.errors import InputError
from aichoreo.export.music import SongAAC, aac_of
from aichoreo.fileio import atomic_path
from aichoreo.motion import SMPLMotion
from aichoreo.render import BODY_RADII_M, FIGURES, HEAD_LIFT, HEAD_RADIUS_M, TORSO_RADIUS_M
from aichoreo.skeleton import JOINT_NAMES, PARENTS

__all__ = ["write_html", "write_character_html", "viewer_data", "live_page", "BROWSER_AUDIO_TYPES"]

log = logging.getLogger(__name__)

# File suffix -> MIME type of the audio formats that browsers decode themselves.
BROWSER_AUDIO_TYPES: dict[str, str] = {
    ".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".oga": "audio/ogg",
    ".opus": "audio/ogg", ".flac": "audio/flac", ".m4a": "audio/mp4", ".aac": "audio/aac",
    ".webm": "audio/webm",
}  # fmt: skip

_PLACEHOLDER = re.compile(r"\{\{(TITLE|HINT|AUDIO|DATA_ID|DATA|SCRIPT|LICENSES)\}\}")
_B64_BLOCK = 3 * 2**18  # bytes of music per base64 block (a multiple of 3: the blocks join into one encoding)


def _asset(name: str) -> str:
    return resources.files("aichoreo.export").joinpath("viewer", name).read_text(encoding="utf-8")


LOSSLESS_EMBED_MAX = 8 * 2**20  # bytes: larger wav and flac files are embedded as AAC
_LOSSLESS = (".wav", ".flac")


def needs_aac(audio_path: Path) -> bool:
    """Whether the page embeds ``audio_path`` converted to AAC: browsers cannot decode it, or it is
    a large lossless file (:data:`LOSSLESS_EMBED_MAX`)."""
    suffix = audio_path.suffix.lower()
    return suffix not in BROWSER_AUDIO_TYPES or (suffix in _LOSSLESS and audio_path.stat().st_size > LOSSLESS_EMBED_MAX)


def _audio_bytes(audio_path: Path, aac: SongAAC | None = None) -> tuple[bytes, str]:
    """The audio file's bytes and MIME type, converted to AAC where :func:`needs_aac` (by ``aac``,
    the song's conversion already started, where given)."""
    if not audio_path.is_file():
        raise InputError(audio_path, "no such file" if not audio_path.exists() else "not a file")
    if not needs_aac(audio_path):
        return audio_path.read_bytes(), BROWSER_AUDIO_TYPES[audio_path.suffix.lower()]
    log.info("converting %s to AAC for the browser", audio_path.name)
    if aac_of(aac, audio_path) is not None:
        return aac.path().read_bytes(), "audio/mp4"
    with SongAAC(audio_path) as own:
        return own.path().read_bytes(), "audio/mp4"


def viewer_data(motion: SMPLMotion, *, audio_offset_s: float = 0.0, figure: str = "body") -> dict:
    """The JSON the viewer reads: ``fps``, ``frames``, ``names``, ``parents``, ``audio_offset``,
    ``figure`` (``"body"`` or ``"stick"``: how it starts), ``body`` (the body's capsule radii in
    metres per joint, 0 for bones not drawn alone, and the torso's and head's; as the video's,
    :data:`aichoreo.render.BODY_RADII_M`) and ``joints`` (base64 of little-endian float32
    ``(T, 24, 3)`` metres, y up)."""
    if figure not in FIGURES:
        raise ValueError(f"figure must be one of {', '.join(FIGURES)}, got {figure!r}")
    joints = motion.joints().astype("<f4")
    return _viewer_json(fps=motion.fps, frames=len(motion), audio_offset_s=audio_offset_s, figure=figure,
                        joints=base64.b64encode(np.ascontiguousarray(joints).tobytes()).decode("ascii"))


def _viewer_json(*, fps: float, frames: int, audio_offset_s: float, figure: str, joints: str, **more) -> dict:
    """The viewer's JSON (:func:`viewer_data`): the skeleton and body of the page, and what is given."""
    return {
        "version": 1,
        **more,
        "fps": fps,
        "frames": frames,
        "names": list(JOINT_NAMES),
        "parents": [int(p) for p in PARENTS],
        "audio_offset": float(audio_offset_s),
        "figure": figure,
        "body": {"radii": [BODY_RADII_M.get(n, 0.0) for n in JOINT_NAMES], "torso": TORSO_RADIUS_M,
                 "head": HEAD_RADIUS_M, "head_lift": HEAD_LIFT},
        "joints": joints,
    }


def write_html(
    motion: SMPLMotion,
    path: str | os.PathLike,
    *,
    audio_path: str | os.PathLike | None = None,
    audio_offset_s: float = 0.0,
    title: str = "aichoreo dance",
    figure: str = "body",
    aac: SongAAC | None = None,
) -> Path:
    """Write the self-contained viewer page for ``motion`` (atomically).

    Args:
        audio_path: music to embed and play along (any format; see the module docstring).
        audio_offset_s: seconds into the audio at which motion frame 0 sounds.
        title: shown in the page's corner and tab.
        figure: ``"body"`` or ``"stick"``: how the page first draws the dancer (its b key switches).
        aac: ``audio_path`` being converted to AAC already (:class:`aichoreo.export.music.SongAAC`):
            embedded where the page needs AAC, instead of converting it again.
    """
    if not (math.isfinite(audio_offset_s) and audio_offset_s >= 0):
        raise ValueError(f"audio_offset_s must be >= 0 (a time in the song), got {audio_offset_s}")
    data = viewer_data(motion, audio_offset_s=audio_offset_s, figure=figure)
    return _write_page(path, "motion-data", "viewer.js", data, audio_path, title, hint=" &middot; b: body/stick",
                       aac=aac)


def write_character_html(
    path: str | os.PathLike,
    *,
    glb: bytes,
    kind: str,
    fps: float,
    frames: int,
    front: tuple[float, float],
    bounds: np.ndarray,
    audio_path: str | os.PathLike | None = None,
    audio_offset_s: float = 0.0,
    title: str = "aichoreo dance",
    aac: SongAAC | None = None,
) -> Path:
    """Write the self-contained page of a character dancing (atomically): the character viewer
    (``viewer/character.js``: three.js and @pixiv/three-vrm bundled from ``web/``) plays the
    animation ``"dance"`` of ``glb``.

    Args:
        glb: a binary glTF or VRM file with the dance as an animation (what retargeting writes).
        kind: ``"gltf"`` or ``"vrm"`` (a VRM's materials are read by three-vrm).
        fps, frames: the dance's frame rate and length.
        front: the character's facing as (x, z): the camera starts in front of it.
        bounds: ``(2, 3)`` the lowest and highest corner of the dance's joints (metres, y up).
        audio_path, audio_offset_s, title, aac: as :func:`write_html`.
    """
    if not (math.isfinite(audio_offset_s) and audio_offset_s >= 0):
        raise ValueError(f"audio_offset_s must be >= 0 (a time in the song), got {audio_offset_s}")
    if kind not in ("gltf", "vrm"):
        raise ValueError(f"kind must be 'gltf' or 'vrm', got {kind!r}")
    bounds = np.asarray(bounds, dtype=np.float64)
    data = {"version": 1, "fps": float(fps), "frames": int(frames), "audio_offset": float(audio_offset_s),
            "front": [float(front[0]), float(front[1])], "bounds": bounds.tolist(), "kind": kind,
            "glb": base64.b64encode(glb).decode("ascii")}
    return _write_page(path, "character-data", "character.js", data, audio_path, title,
                       licenses=_asset("character.LICENSES.txt"), aac=aac)


def _page_values(data_id: str, script: str, data: dict, title: str, hint: str, licenses: str) -> dict[str, str]:
    """The text of each placeholder of ``viewer/viewer.html`` but the music."""
    # "</" inside the JSON could close its <script> element; "<\/" is the same JSON string.
    data = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return {"TITLE": html.escape(title), "HINT": hint, "DATA_ID": data_id, "DATA": data, "SCRIPT": script,
            "LICENSES": f'\n<script type="text/plain" id="licenses">\n{licenses}\n</script>' if licenses else ""}


def live_page(*, title: str, fps: float, music: bool) -> str:
    """The viewer page in live mode (``aichoreo live --serve``): no frames embedded; the page opens
    a WebSocket to ``/ws`` of the server that sent it and draws the frames as they arrive (binary
    float32: frame number, then ``(24, 3)`` joints). With ``music`` it plays ``/music`` of the same
    server from when frame 0 arrives."""
    data = _viewer_json(fps=float(fps), frames=0, audio_offset_s=0.0, figure="body", joints="", live=True)
    values = _page_values("motion-data", _asset("viewer.js") + "\n" + _asset("live.js"), data, title,
                          " &middot; b: body/stick", "")
    values["AUDIO"] = '<audio id="music" preload="auto" src="/music"></audio>' if music else ""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], _asset("viewer.html"))


def _write_page(path: str | os.PathLike, data_id: str, script_name: str, data: dict,
                audio_path: str | os.PathLike | None, title: str, *, hint: str = "", licenses: str = "",
                aac: SongAAC | None = None) -> Path:
    """The page (``viewer/viewer.html``) with ``data`` as the JSON of the script element ``data_id``,
    ``viewer/<script_name>`` inlined, ``hint`` added to the controls' hint line, and ``licenses``
    (the bundled libraries' texts) in a ``licenses`` script element where given."""
    script = _asset(script_name)
    for name, text in ((script_name, script), ("licences", licenses)):
        if "</script" in text.lower():  # would end the inline <script> early
            raise RuntimeError(f"{name} must not contain '</script'")
    audio = None if audio_path is None else _audio_bytes(Path(audio_path), aac)
    values = _page_values(data_id, script, data, title, hint, licenses)
    template = _asset("viewer.html")
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        # The page a piece at a time: the music's base64 is never one string (nor the page).
        end = 0
        for m in _PLACEHOLDER.finditer(template):
            f.write(template[end:m.start()])
            if m.group(1) != "AUDIO":
                f.write(values[m.group(1)])
            elif audio is not None:
                payload, mime = audio
                f.write(f'<audio id="music" preload="auto" src="data:{mime};base64,')
                for first in range(0, len(payload), _B64_BLOCK):
                    f.write(base64.b64encode(payload[first:first + _B64_BLOCK]).decode("ascii"))
                f.write('"></audio>')
            end = m.end()
        f.write(template[end:])
    return path
