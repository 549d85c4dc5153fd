"""Keyframes and continuations on real songs: poses hit, and no visible seam.

    python benchmarks/directed_dance.py --data data/dwm [--split test] [--ramps 0.5 1.0]

Needs a prepared Dance with Melody dataset (``aichoreo data prepare dwm``) and its mp3s
($AICHOREO_DATA or ../shared/data). For each dance of the split, with the bundled model:

* **keyframes**: a 30 s dance with four keyframes at 8, 14, 20 and 26 s, each a pose of the
  real dancer of *another* song of the split (the body's pose; the dancer keeps its own place).
  Printed: the mean joint error at the keyframes (issue 17: <= 3 cm), and the jitter (mean joint
  acceleration) and foot skate (support-foot speed) in the 1 s around the keyframes over the rest
  of the dance (<= 1.3x). A row "none" per song measures the same 1 s windows of the same dance
  danced without keyframes: how much those moments differ from the rest on their own.
* **continue**: the real dance's first 20 s continued from 20 s to 30 s of its song. Printed: the
  seam's joint speed and acceleration (mean over joints; the acceleration of the first new frame
  and of the one after) against the 95th percentile of every frame of the real dances, and the
  largest acceleration in the first second after the seam; with the first chunk joined over
  ``CONTINUE_JOIN_S`` (the default), over one chunk as every other seam, and not at all (the
  model's first frames as predicted).
* **keep parts**: the real dance's first 30 s as ``--from``, keeping its upper body (the legs
  generated) and its lower body (the arms and spine generated). Printed: the kept joints' largest
  difference from the source (issue 17: exact), the support-foot speed of the dance over the real
  dancer's (<= 1.5x), and the mean speed of the generated joints over the real dancer's same joints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def accel(j: np.ndarray) -> np.ndarray:
    """(T-2,) mean joint acceleration, m/s^2 at 60 fps."""
    return np.linalg.norm(j[2:] - 2 * j[1:-1] + j[:-2], axis=-1).mean(-1) * 3600


def speed(j: np.ndarray) -> np.ndarray:
    return np.linalg.norm(j[1:] - j[:-1], axis=-1).mean(-1) * 60


def support_speed(j: np.ndarray) -> np.ndarray:
    """(T-1,) the slower ankle's horizontal speed (issue 14's foot-skate measure), m/s."""
    from aichoreo.skeleton import JOINT_NAMES

    ankles = j[:, [JOINT_NAMES.index("left_ankle"), JOINT_NAMES.index("right_ankle")]][..., [0, 2]]
    return np.linalg.norm(ankles[1:] - ankles[:-1], axis=-1).min(-1) * 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--ramps", type=float, nargs="+", default=[0.5, 1.0])
    args = parser.parse_args()

    import aichoreo
    from aichoreo.data.aistpp import load_motion_smpl
    from aichoreo.data.dataset import PreparedDataset
    from aichoreo.direct import (
        BODY_PARTS,
        CONTINUE_JOIN_S,
        DEFAULT_RAMP_S,
        Keyframe,
        continuation_seed,
        keyframe_errors,
    )
    from aichoreo.export import write_aistpp
    from aichoreo.generate import generate_dances
    from aichoreo.motion import SMPLMotion
    from aichoreo.pipeline import DanceOptions, load_dance_model, song_inputs
    from aichoreo.rotations import matrix_to_axis_angle
    from aichoreo.skeleton import JOINT_NAMES

    music_root = Path(os.environ.get("AICHOREO_DATA", ROOT.parent / "shared" / "data")) / "dance_with_melody"
    ds = PreparedDataset(args.data)
    names = ds.names(args.split)
    real = {n: SMPLMotion.from_fact_vector(ds.load(n).motion) for n in names}
    all_speed = np.concatenate([speed(m.joints().astype(float)) for m in real.values()])
    all_accel = np.concatenate([accel(m.joints().astype(float)) for m in real.values()])
    p95_speed, p95_accel = np.percentile(all_speed, 95), np.percentile(all_accel, 95)
    print(f"real dances ({len(names)}, every frame): 95th percentile joint speed {p95_speed:.2f} m/s, "
          f"acceleration {p95_accel:.0f} m/s^2")
    model, meta = load_dance_model("default")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("\nkeyframes (4 per dance: 8, 14, 20, 26 s; poses of another song's real dancer)")
        print(f"{'song':<12} {'ramp s':>6} {'error cm':>9} {'jitter near/rest':>17} {'skate near/rest':>16}")
        for i, name in enumerate(names):
            other = real[names[(i + 1) % len(names)]]
            keys = []
            for t in (8.0, 14.0, 20.0, 26.0):
                f = min(int(t * 60), len(other) - 1)
                keys.append(Keyframe(t, other.rotations[f].astype(np.float64), None, False))
            for ramp in [None, *args.ramps]:  # None: the same dance without keyframes, the control
                keyed = [Keyframe(k.time_s, k.rotations, None, False, ramp or DEFAULT_RAMP_S) for k in keys]
                spec = tmp / "keys.json"
                poses = [matrix_to_axis_angle(k.rotations).reshape(-1).tolist() for k in keyed]
                spec.write_text(json.dumps({"ramp_s": ramp, "keyframes": [
                    {"time_s": k.time_s, "pose": p} for k, p in zip(keyed, poses)]}))
                out = tmp / f"k{i}_{ramp}"
                aichoreo.dance(str(music_root / f"{name}.mp3"), model=model, out=out, formats=("aistpp",),
                               seconds=30, keyframes=None if ramp is None else str(spec), progress=False,
                               model_meta=meta)
                m = load_motion_smpl(out / name / "dance.pkl")
                j = m.joints().astype(float)
                err = keyframe_errors(m, keyed).mean() * 100
                near = np.zeros(len(j) - 2, bool)
                for k in keyed:
                    f = round(k.time_s * 60)
                    near[max(0, f - 31):f + 29] = True
                near[:120] = False
                rest = ~near
                rest[:120] = False
                a = accel(j)
                s = support_speed(j)[:-1]
                jit = a[near].mean() / a[rest].mean()
                sk = s[near].mean() / s[rest].mean()
                if ramp is None:
                    print(f"{name:<12} {'none':>6} {'':>9} {jit:>17.2f} {sk:>16.2f}")
                    continue
                good = err <= 3.0 and jit <= 1.3 and sk <= 1.3
                ok &= good or ramp != DEFAULT_RAMP_S
                print(f"{name:<12} {ramp:>6g} {err:>9.2f} {jit:>17.2f} {sk:>16.2f}{'' if good else '  over'}")

        print("\ncontinue (the real dance's first 20 s, continued from 20 s to 30 s of its song)")
        print(f"{'song':<12} {'seam':<6} {'speed m/s':>10} {'accel m/s^2':>12} {'within p95':>11} "
              f"{'max accel, first 1 s':>21}")
        for name in names:
            given = real[name].slice(0, 1200)
            path = tmp / f"{name}_given.pkl"
            write_aistpp(given, path)
            seed = continuation_seed(path, model.config.motion_len)
            options = DanceOptions(start=20.0, seconds=10.0)
            song = song_inputs(music_root / f"{name}.mp3", options, model.config.motion_len,
                               lead_s=model.config.motion_len / 60)
            seed_x = seed.to_fact_vector(padded=True)
            variants = (("joined", None, round(CONTINUE_JOIN_S * 60)), ("chunk", None, None), ("raw", 0, None))
            for label, ease, first in variants:
                (m,) = generate_dances(model, [song.features], [seed_x], first_joins=[first], given_seeds=[True],
                                       **({} if ease is None else {"seam_ease": ease}))
                new = m.slice(model.config.motion_len).joints().astype(float)
                old = given.joints().astype(float)
                s = np.linalg.norm(new[0] - old[-1], axis=-1).mean() * 60
                a = max(np.linalg.norm(new[0] - 2 * old[-1] + old[-2], axis=-1).mean(),
                        np.linalg.norm(new[1] - 2 * new[0] + old[-1], axis=-1).mean()) * 3600
                first_second = accel(np.concatenate([old[-2:], new[:60]])).max()
                good = s <= p95_speed and a <= p95_accel
                ok &= good or label != "joined"
                print(f"{name:<12} {label:<6} {s:>10.2f} {a:>12.0f} {'yes' if good else 'no':>11} "
                      f"{first_second:>21.0f}")

        print("\nkeep parts (the real dance's first 30 s as --from, on its own song)")
        print(f"{'song':<12} {'keep':<6} {'kept max diff':>13} {'skate gen/real':>15} {'energy of the rest gen/real':>28}")
        upper = [JOINT_NAMES.index(n) for n in BODY_PARTS["upper"]]
        lower = [JOINT_NAMES.index(n) for n in BODY_PARTS["lower"]]
        for name in names:
            source = real[name].slice(0, 1800)
            path = tmp / f"{name}_source.pkl"
            write_aistpp(source, path)
            src = load_motion_smpl(path)
            for part, rest in (("upper", lower), ("lower", upper)):
                out = tmp / f"keep_{name}_{part}"
                aichoreo.dance(str(music_root / f"{name}.mp3"), model=model, out=out, formats=("aistpp",),
                               keep=part, keep_from=str(path), progress=False, model_meta=meta)
                m = load_motion_smpl(out / name / "dance.pkl")
                kept = upper if part == "upper" else lower
                diff = np.abs(m.rotations[:, kept] - src.rotations[:len(m), kept]).max()
                j, r = m.joints().astype(float)[120:], src.joints().astype(float)[120:len(m)]
                skate = support_speed(j).mean() / support_speed(r).mean()
                energy = speed(j[:, rest]).mean() / speed(r[:, rest]).mean()
                good = diff < 1e-5 and skate <= 1.5
                ok &= good
                print(f"{name:<12} {part:<6} {diff:>13.1e} {skate:>15.2f} {energy:>28.2f}{'' if good else '  over'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
