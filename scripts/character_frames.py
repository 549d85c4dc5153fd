"""Before and after: frames of a dance as aichoreo's SMPL skeleton (dance.glb) and on a character.

    python scripts/character_frames.py DANCE_FOLDER OUT.png CHARACTER... [--seconds 2.5 5 7.5 10]

DANCE_FOLDER is an ``aichoreo dance`` output folder (it needs dance.pkl and dance.glb). The
characters get the dance (``aichoreo.retarget``), Blender renders each at the same moments
(scripts/blender_render_frames.py; Debian's ``blender`` package), and the frames are put in
rows: the skeleton first, then one row per character. Used for the picture in docs/retarget.md.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from aichoreo.retarget import load_character, output_name, retarget
from aichoreo.retarget.solve import canonical_frame

HERE = Path(__file__).resolve().parent


def render(path: Path, hips: str, front: tuple[float, float], frames: list[int], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["blender", "-b", "--factory-startup", "--python", str(HERE / "blender_render_frames.py"), "--",
                    str(path), hips, str(front[0]), str(front[1]), str(out), *map(str, frames)],
                   check=True, capture_output=True)
    return [out / f"frame_{f}.png" for f in frames]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dance", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("characters", type=Path, nargs="+")
    parser.add_argument("--seconds", type=float, nargs="+", default=[2.5, 5.0, 7.5, 10.0])
    args = parser.parse_args()
    frames = [round(s * 60) for s in args.seconds]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = [("SMPL skeleton (dance.glb)", render(args.dance / "dance.glb", "pelvis", (0.0, 1.0), frames,
                                                    tmp / "before"))]
        for i, path in enumerate(args.characters):
            ch = load_character(path)
            front = canonical_frame(ch)[:, 2]
            dressed = Path(retarget(args.dance / "dance.pkl", ch, tmp / output_name(ch))["out"])
            rows.append((path.name, render(dressed, ch.bone_map["hips"], (front[0], front[2]), frames,
                                           tmp / f"after{i}")))
        tiles = [[Image.open(p).convert("RGB") for p in row] for _, row in rows]
        w, h = tiles[0][0].size
        sheet = Image.new("RGB", (w * len(frames), h * len(rows) + 24), "white")
        draw = ImageDraw.Draw(sheet)
        for r, row in enumerate(tiles):
            for c, tile in enumerate(row):
                sheet.paste(tile, (c * w, 24 + r * h))
            draw.text((6, 30 + r * h), rows[r][0], fill="black")
        for c, s in enumerate(args.seconds):
            draw.text((c * w + 6, 6), f"{s:g} s", fill="black")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
