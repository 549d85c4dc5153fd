"""Retargeting fidelity and speed on the shared characters: real dances, every bone, every frame.

    python benchmarks/retarget_characters.py [--data data/dwm --split test] [--characters DIR]

Dances: the bundled model's dance to the bundled song (generated here), and with ``--data`` the
real motion-capture dances of a prepared dataset's split (Dance with Melody: ballroom dancers,
fitted to SMPL). Characters: every .glb/.gltf/.vrm/.bvh in ``--characters`` (default: the
``characters`` folder of $AICHOREO_DATA or ../shared/data). For each pair it prints, against
issue 16's bounds (bone directions 5 degrees median and 15 at the 99th percentile, planted feet
within 2 cm of the floor):

* bone direction error over every bone and frame: median, 99th percentile, and the worst bone's;
* planted feet: the largest height error and the largest slide within a contact (cm);
* seconds to solve and to write the file, as seconds of dance per wall second.

Exits 1 when a bound is exceeded.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from aichoreo.motion import SMPLMotion
from aichoreo.retarget import load_character, output_name, retarget_motion, write_character_motion
from aichoreo.retarget.character import CHARACTER_SUFFIXES
from aichoreo.retarget.fidelity import bone_direction_errors, planted_foot_errors

ROOT = Path(__file__).resolve().parents[1]
SONG = ROOT / "src" / "aichoreo" / "assets" / "music" / "demo_120bpm.ogg"
MEDIAN_DEG, P99_DEG, FLOOR_CM = 5.0, 15.0, 2.0


def dances(args, tmp: Path) -> list[tuple[str, SMPLMotion]]:
    import aichoreo
    from aichoreo.data.aistpp import load_motion_smpl
    from aichoreo.data.dataset import PreparedDataset

    aichoreo.dance(str(SONG), out=tmp, formats=("aistpp",), progress=False)
    out = [("bundled model, demo song", load_motion_smpl(tmp / SONG.stem / "dance.pkl"))]
    if args.data is not None:
        ds = PreparedDataset(args.data)
        for name in ds.names(args.split):
            out.append((f"real: {name}", SMPLMotion.from_fact_vector(ds.load(name).motion)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="a prepared dataset (aichoreo data prepare)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--characters", type=Path, default=None)
    args = parser.parse_args()
    folder = args.characters or Path(os.environ.get("AICHOREO_DATA", ROOT.parent / "shared" / "data")) / "characters"
    characters = sorted(p for p in folder.rglob("*") if p.suffix.lower() in CHARACTER_SUFFIXES)
    if not characters:
        print(f"no characters in {folder}", file=sys.stderr)
        return 1
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        motions = dances(args, tmp)
        print(f"{'character':<42} {'dance':<26} {'min':>5} {'med°':>5} {'p99°':>5} {'worst bone med/p99°':>28} "
              f"{'floor cm':>8} {'slide cm':>8} {'solve x':>8} {'write x':>8}")
        for path in characters:
            ch = load_character(path)
            for name, motion in motions:
                t0 = time.perf_counter()
                cm = retarget_motion(motion, ch)
                t1 = time.perf_counter()
                write_character_motion(cm, tmp / output_name(path))
                t2 = time.perf_counter()
                pairs, errors = bone_direction_errors(motion, cm)
                height, slide = planted_foot_errors(motion, cm)
                med, p99 = np.median(errors), np.percentile(errors, 99)
                worst = int(np.argmax(np.percentile(errors, 99, axis=0)))
                w_med, w_p99 = np.median(errors[:, worst]), np.percentile(errors[:, worst], 99)
                floor = 100 * height.max(initial=0.0)
                slid = 100 * slide.max(initial=0.0)
                good = med < MEDIAN_DEG and p99 < P99_DEG and w_med < MEDIAN_DEG and w_p99 < P99_DEG \
                    and floor < FLOOR_CM and slid < FLOOR_CM
                ok &= good
                bone = f"{pairs[worst][0]} {w_med:.1f}/{w_p99:.1f}"
                print(f"{str(path.relative_to(folder)):<42.42} {name:<26.26} {motion.duration / 60:5.1f} {med:5.1f} "
                      f"{p99:5.1f} {bone:>28} {floor:8.2f} {slid:8.2f} {motion.duration / (t1 - t0):8.0f} "
                      f"{motion.duration / (t2 - t1):8.0f}{'' if good else '  OVER A BOUND'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
