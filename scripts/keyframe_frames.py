"""Frames showing a keyframe being hit: the same dance without and with a keyframe, around it.

    python scripts/keyframe_frames.py OUT.png [--song SONG] [--time 5.0]

Dances to 8 s of the song (default: the bundled demo song) twice with the bundled model, once as
is and once with one keyframe at ``--time`` (standing straight with the arms lowered, the body's
pose; the dancer keeps its place), and draws both at the keyframe's time and 0.5 s before and after (the video's body
figure). Used for the picture in docs/generation.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import aichoreo
from aichoreo.data.aistpp import load_motion_smpl
from aichoreo.render import RasterRenderer

SONG = Path(__file__).resolve().parents[1] / "src" / "aichoreo" / "assets" / "music" / "demo_120bpm.ogg"
# SMPL axis-angle: standing straight (every joint at rest), both arms lowered at the shoulders
ARMS_DOWN = [0.0] * 48 + [0, 0, -1.2, 0, 0, 1.2] + [0.0] * 18


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--song", type=Path, default=SONG)
    parser.add_argument("--time", type=float, default=5.0)
    args = parser.parse_args()
    times = [args.time - 0.5, args.time, args.time + 0.5]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        keys = tmp / "keys.json"
        keys.write_text(json.dumps([{"time_s": args.time, "pose": ARMS_DOWN}]))
        keyed = f"keyframe at {args.time:g} s: standing, arms lowered"
        for label, extra in (("without keyframes", {}), (keyed, {"keyframes": str(keys)})):
            (summary,) = aichoreo.dance(str(args.song), out=tmp / label.split()[0], formats=("aistpp",), seconds=8,
                                        progress=False, **extra)
            joints = load_motion_smpl(summary["files"]["aistpp"]).joints()
            renderer = RasterRenderer(joints, fps=60.0, width=320, height=360, figure="body", camera="fixed")
            rows.append((label, [renderer.frame(round(t * 60), f"{t:5.2f} s") for t in times]))
    w, h = 320, 360
    sheet = Image.new("RGB", (w * len(times), (h + 22) * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (label, frames) in enumerate(rows):
        draw.text((6, r * (h + 22) + 4), label, fill="black")
        for c, frame in enumerate(frames):
            sheet.paste(Image.fromarray(np.asarray(frame)), (c * w, r * (h + 22) + 22))
    sheet.save(args.out, optimize=True)
    print(args.out)


if __name__ == "__main__":
    main()
