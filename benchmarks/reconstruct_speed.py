"""Speed of the reconstruction stages: triangulation, temporal optimisation, SMPL fitting.

Synthetic COCO-17 keypoints of a dancing SMPL body (data/fixtures.py ``dance_pose``), projected
into the 9 AIST++-style cameras with 1 px noise. Reported in frames per second (higher is
better) and as ratios:

* triangulation: the vectorised :func:`aichoreo.reconstruct.triangulate.triangulate` (batched
  SVD over all frames and joints, outlier rejection) against the same algorithm run frame by
  frame (a Python loop over frames calling it on one frame at a time);
* temporal optimisation: :func:`aichoreo.reconstruct.smooth.optimize_temporal` (analytic
  sparse Jacobian) against aniposelib's ``CameraGroup.optim_points`` (the optimiser of its
  ``triangulate_optim``, AIST++'s ``keypoints3d_optim``), both from the same triangulation
  and with the same bone constraints, on ``--optim-frames`` frames;
* SMPL fitting: :func:`aichoreo.reconstruct.fit.fit_smpl` with the COCO-17 layout at its
  default iterations.

    .venv/bin/python benchmarks/reconstruct_speed.py --frames 3000
"""

from __future__ import annotations

import argparse
import logging
import platform
import time
import warnings

import numpy as np

from aichoreo.data.fixtures import coco17_from_smpl, dance_pose, rig_cameras
from aichoreo.reconstruct.cameras import cameras_from_aistpp, project
from aichoreo.reconstruct.fit import fit_smpl
from aichoreo.reconstruct.layouts import COCO17
from aichoreo.reconstruct.smooth import optimize_temporal
from aichoreo.reconstruct.triangulate import triangulate
from aichoreo.skeleton import forward_kinematics_axis_angle

FPS = 60.0


def synthetic(n_frames: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    group = cameras_from_aistpp(rig_cameras(rng=rng))
    poses, trans = dance_pose(n_frames, 120.0, rng, fps=FPS)
    joints_cm = coco17_from_smpl(forward_kinematics_axis_angle(poses, trans)) * 95.0
    joints_cm[..., 1] -= joints_cm[..., 1].min() - 3.0
    pixels = project(group, joints_cm) + rng.normal(0, 1.0, (9,) + joints_cm.shape[:-1] + (2,))
    kp = np.concatenate([pixels, np.full(pixels.shape[:-1] + (1,), 0.9)], axis=-1)
    kp[2, :, 9, :2] += 60.0  # one wrong detection track
    return group, kp, joints_cm


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=3000, help="frames for triangulation and fitting (default 3000)")
    parser.add_argument("--loop-frames", type=int, default=300, help="frames for the per-frame loop (default 300)")
    parser.add_argument("--optim-frames", type=int, default=300, help="frames for the optimiser comparison (default 300)")
    parser.add_argument("--skip-aniposelib", action="store_true", help="leave out aniposelib's optim_points")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"platform: {platform.processor() or platform.machine()}, python {platform.python_version()}")

    group, kp, truth = synthetic(args.frames)
    seconds, tri = timed(lambda: triangulate(group, kp))
    vec_fps = args.frames / seconds
    err = np.nanmean(np.linalg.norm(tri.points - truth, axis=-1))
    print(f"triangulation, vectorised: {args.frames} frames in {seconds:.2f} s = {vec_fps:,.0f} frames/s "
          f"(mean error {err:.2f} cm)")
    n_loop = min(args.loop_frames, args.frames)
    seconds, _ = timed(lambda: [triangulate(group, kp[:, i:i + 1]) for i in range(n_loop)])
    loop_fps = n_loop / seconds
    print(f"triangulation, per-frame loop: {n_loop} frames in {seconds:.2f} s = {loop_fps:,.0f} frames/s")
    print(f"  ratio vectorised / loop: {vec_fps / loop_fps:.0f}x")

    n_opt = min(args.optim_frames, args.frames)
    sub = kp[:, :n_opt]
    optimize_temporal(group, kp[:, :20], tri.points[:20])  # warm-up: imports, caches
    seconds, ours = timed(lambda: optimize_temporal(group, sub, tri.points[:n_opt], bone_pairs=COCO17.bones,
                                                    mask=tri.used[:, :n_opt]))  # fmt: skip
    ours_fps = n_opt / seconds
    err = np.mean(np.linalg.norm(ours - truth[:n_opt], axis=-1))
    print(f"temporal optimisation (ours): {n_opt} frames in {seconds:.2f} s = {ours_fps:,.1f} frames/s "
          f"(mean error {err:.2f} cm)")
    seconds, full = timed(lambda: optimize_temporal(group, kp, tri.points, bone_pairs=COCO17.bones, mask=tri.used))
    print(f"temporal optimisation (ours): {args.frames} frames in {seconds:.2f} s = {args.frames / seconds:,.1f} frames/s")
    if not args.skip_aniposelib:
        points2d = np.where(tri.used[:, :n_opt, :, None], sub[..., :2], np.nan)  # the same detections, outliers removed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numba's object-mode deprecation notes
            seconds, theirs = timed(lambda: group.optim_points(points2d, tri.points[:n_opt].copy(),
                                                               constraints=list(COCO17.bones)))  # fmt: skip
        err = np.mean(np.linalg.norm(theirs - truth[:n_opt], axis=-1))
        print(f"temporal optimisation (aniposelib optim_points): {n_opt} frames in {seconds:.2f} s = "
              f"{n_opt / seconds:,.1f} frames/s (mean error {err:.2f} cm)")
        print(f"  ratio ours / aniposelib: {ours_fps / (n_opt / seconds):.1f}x")

    metres = full / 100.0
    seconds, result = timed(lambda: fit_smpl(metres, COCO17, fps=FPS))
    print(f"SMPL fit (COCO-17, 400 Adam steps, CPU): {args.frames} frames in {seconds:.1f} s = "
          f"{args.frames / seconds:,.0f} frames/s (mean keypoint error {1000 * result.mean_error:.1f} mm)")


if __name__ == "__main__":
    main()
