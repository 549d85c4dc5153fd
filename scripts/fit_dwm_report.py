"""Fit SMPL to every Dance-with-Melody dance and report the fitting error per marker.

    python scripts/fit_dwm_report.py --data ../shared/data/dance_with_melody --out /tmp/dwm_fit \\
        --image docs/images/dwm_fit.png

For each dance: load (:func:`aichoreo.data.dwm.load_dwm`), level the drifting floor
(:func:`~aichoreo.data.dwm.normalise_floor`), fit SMPL with the DWM-23 layout
(:func:`aichoreo.reconstruct.fit.fit_smpl`), stand it on the floor, write
``<out>/<dance>.pkl`` (AIST++ motion pickle at 60 fps, metres: ``smpl_scaling`` = body scale).
Then write ``<out>/report.json`` (per dance: frames, scale, mean error, per-target error,
smoothness and hinge checks) and print a Markdown table of the per-marker error over all
dances, for docs/reconstruction.md. ``--image`` draws one frame of input markers beside the
fitted skeleton (front and side views).
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from aichoreo.data.dwm import list_dwm, load_dwm, normalise_floor
from aichoreo.fileio import atomic_path
from aichoreo.reconstruct.fit import FitResult, fit_smpl, fit_to_aistpp_dict, place_on_floor
from aichoreo.reconstruct.layouts import DWM23, DWM23_BONES
from aichoreo.rotations import matrix_to_axis_angle
from aichoreo.skeleton import JOINT_NAMES, PARENTS

log = logging.getLogger("fit_dwm_report")

OUT_FPS = 60.0


def checks(result: FitResult, markers: np.ndarray, fps: float) -> dict[str, float]:
    """Plausibility numbers of one fit: jitter, flips, wrong-way hinges, floor contact."""
    world = result.world_joints()
    targets = DWM23.target_positions(markers)

    def accel(x):  # mean |second difference| in m/s^2
        return float(np.nanmean(np.linalg.norm(np.diff(x, 2, axis=0), axis=-1)) * fps**2)

    rot = result.motion.rotations.astype(np.float64)
    step = np.linalg.norm(matrix_to_axis_angle(np.swapaxes(rot[:-1], -1, -2) @ rot[1:]), axis=-1)  # (T-1, 24)
    aa = matrix_to_axis_angle(rot)
    wrong_knee = np.concatenate([aa[:, 4, 0], aa[:, 5, 0]]) < -np.radians(10)
    wrong_elbow = np.concatenate([aa[:, 18, 1], -aa[:, 19, 1]]) > np.radians(10)
    feet = world[:, [7, 8, 10, 11], 1].min(axis=1)
    return {
        "accel_fit_targets_ms2": accel(result.fitted_targets),
        "accel_markers_ms2": accel(targets),
        "max_joint_step_deg": float(np.degrees(step[:, 1:].max())),
        "p999_joint_step_deg": float(np.degrees(np.percentile(step[:, 1:], 99.9))),
        "wrong_way_knee_frames": float(wrong_knee.mean()),
        "wrong_way_elbow_frames": float(wrong_elbow.mean()),
        "feet_below_floor_frames": float((feet < -0.02).mean()),
    }


def fit_dance(path: Path, out: Path, iterations: int) -> tuple[dict, FitResult, np.ndarray]:
    dance = load_dwm(path)
    markers = normalise_floor(dance.joints, fps=dance.fps).astype(np.float64)
    start = time.perf_counter()
    result = place_on_floor(fit_smpl(markers, DWM23, fps=dance.fps, iterations=iterations))
    seconds = time.perf_counter() - start
    motion = result.motion.resample(OUT_FPS)
    data = fit_to_aistpp_dict(replace(result, motion=motion), units_per_metre=1.0)
    data["fps"] = OUT_FPS
    with atomic_path(out / f"{dance.name}.pkl") as tmp:
        tmp.write_bytes(pickle.dumps(data, protocol=4))
    row = {
        "name": dance.name,
        "genre": dance.genre,
        "frames": len(markers),
        "fit_seconds": seconds,
        "scale": result.scale,
        "mean_error_m": result.mean_error,
        "per_target_error_m": dict(zip(result.target_names, map(float, result.per_target_error))),
        **checks(result, markers, dance.fps),
    }
    log.info("%s: %d frames, %.1f s, scale %.3f, mean error %.1f mm", dance.name, len(markers), seconds,
             result.scale, 1000 * result.mean_error)  # fmt: skip
    return row, result, markers


def table(rows: list[dict]) -> str:
    """Markdown: per target, mean / median / worst-dance error in mm over the dances (frame-weighted mean)."""
    frames = np.array([r["frames"] for r in rows], dtype=np.float64)
    lines = ["| target (markers) | SMPL joint | weight | mean (mm) | median over dances (mm) | worst dance (mm) |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for t in DWM23.targets:
        e = np.array([r["per_target_error_m"][t.name] for r in rows]) * 1000
        sources = ", ".join(str(s) for s in t.sources)
        lines.append(f"| {t.name} ({sources}) | {JOINT_NAMES[t.joint]} | {t.weight:g} | "
                     f"{np.average(e, weights=frames):.1f} | {np.median(e):.1f} | {e.max():.1f} |")  # fmt: skip
    mean = np.average([r["mean_error_m"] for r in rows], weights=frames) * 1000
    lines.append(f"| **all (weighted)** | | | **{mean:.1f}** | | |")
    return "\n".join(lines)


def draw(result: FitResult, markers: np.ndarray, frame: int, path: Path, title: str) -> None:
    """Input markers (with the source's bones) beside the fitted SMPL skeleton; front and side views."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    world = result.world_joints()[frame]
    m = markers[frame]
    centre = m.mean(axis=0)
    fig, axes = plt.subplots(2, 3, figsize=(10.5, 9.0))
    views = (("front (x, y)", 0), ("side (z, y)", 2))
    for row, (label, horizontal) in enumerate(views):
        for col, what in enumerate(("input markers", "fitted SMPL", "overlay")):
            ax = axes[row, col]
            if what != "fitted SMPL":
                for a, b in DWM23_BONES + ((3, 12),):
                    ax.plot(m[[a, b], horizontal] - centre[horizontal], m[[a, b], 1], color="tab:red", lw=1.2)
                ax.scatter(m[:, horizontal] - centre[horizontal], m[:, 1], s=10, color="tab:red", zorder=3)
            if what != "input markers":
                for j in range(1, 24):
                    p = PARENTS[j]
                    ax.plot(world[[p, j], horizontal] - centre[horizontal], world[[p, j], 1], color="tab:blue",
                            lw=2.5, alpha=0.75, solid_capstyle="round")  # fmt: skip
                ax.scatter(world[:, horizontal] - centre[horizontal], world[:, 1], s=12, color="tab:blue", zorder=3)
            ax.axhline(0.0, color="0.4", lw=0.8)
            ax.set_xlim(-0.9, 0.9)
            ax.set_ylim(-0.05, 1.85)
            ax.set_aspect("equal")
            ax.set_title(f"{what}, {label}", fontsize=9)
            ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
    parser.add_argument("--data", type=Path, required=True, help="the dance_with_melody folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for motion pickles and report.json")
    parser.add_argument("--image", type=Path, help="write the marker/skeleton figure here")
    parser.add_argument("--figure-dance", default="DANCE_C_2", help="dance drawn in the figure")
    parser.add_argument("--figure-frame", type=int, default=550, help="frame drawn in the figure")
    parser.add_argument("--iterations", type=int, default=400, help="Adam steps per dance")
    parser.add_argument("--limit", type=int, help="fit only the first N dances")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    files = list_dwm(args.data)[: args.limit]
    rows = []
    for path in files:
        row, result, markers = fit_dance(path, args.out, args.iterations)
        rows.append(row)
        if args.image is not None and path.stem == args.figure_dance:
            frame = min(args.figure_frame, len(markers) - 1)
            draw(result, markers, frame, args.image,
                 f"{path.stem} frame {frame}: Dance-with-Melody markers (red) and the SMPL fit (blue), metres")  # fmt: skip
    with atomic_path(args.out / "report.json") as tmp:
        tmp.write_text(json.dumps(rows, indent=1) + "\n")
    print(table(rows))
    keys = ("accel_fit_targets_ms2", "accel_markers_ms2", "max_joint_step_deg", "p999_joint_step_deg",
            "wrong_way_knee_frames", "wrong_way_elbow_frames", "feet_below_floor_frames", "scale", "fit_seconds")  # fmt: skip
    for k in keys:
        v = np.array([r[k] for r in rows])
        print(f"{k}: mean {v.mean():.4g}, min {v.min():.4g}, max {v.max():.4g}")


if __name__ == "__main__":
    main()
