"""Speed of the kinetic + geometric features: vectorised aichoreo vs. a loop transcription of the reference.

Synthetic 60 fps motion (rest skeleton + smooth wiggles + a wandering root, as in the
tests), cut into sequences of ``--seq-seconds``. The vectorised features run on
``--minutes`` of motion; the loop transcription (tests/test_metrics_features.py, a literal
frame-by-frame port of google/aistplusplus_api's feature code) on one slice of
``--loop-frames`` frames. Both are reported in seconds per hour of motion.

    .venv/bin/python benchmarks/metrics_speed.py --minutes 10
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import time
from pathlib import Path

import numpy as np

from aichoreo.metrics import kinetic_features, manual_features

FPS = 60.0
HOUR_FRAMES = 3600 * FPS
TESTS = Path(__file__).resolve().parents[1] / "tests" / "test_metrics_features.py"


def _load_test_helpers():
    spec = importlib.util.spec_from_file_location("test_metrics_features", TESTS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _best_of(repeat: int, fn) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="motion for the vectorised features (default 10)")
    parser.add_argument("--seq-seconds", type=float, default=30.0, help="length of each sequence (default 30 s)")
    parser.add_argument("--loop-frames", type=int, default=300, help="slice for the loop transcription (default 300)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    args = parser.parse_args()

    helpers = _load_test_helpers()
    seq_frames = int(args.seq_seconds * FPS)
    n_seq = max(1, round(args.minutes * 60 / args.seq_seconds))
    motions = [helpers.smooth_motion(seq_frames, seed) for seed in range(n_seq)]
    total_frames = n_seq * seq_frames

    t_kin = _best_of(args.repeat, lambda: [kinetic_features(m, fps=FPS, up_axis=1) for m in motions])
    t_man = _best_of(args.repeat, lambda: [manual_features(m, fps=FPS) for m in motions])

    piece = motions[0][: args.loop_frames]
    t_kin_loop = _best_of(1, lambda: helpers.loop_kinetic(piece, dt=1 / FPS, up=1, variant="reference"))
    t_man_loop = _best_of(1, lambda: helpers.loop_manual(piece, tpf=1 / 120, float32_mean=True))
    same_k = np.allclose(kinetic_features(piece), helpers.loop_kinetic(piece, dt=1 / FPS, up=1, variant="reference"),
                         rtol=2e-7)
    same_m = np.array_equal(manual_features(piece), helpers.loop_manual(piece, tpf=1 / 120, float32_mean=True))

    per_hour = HOUR_FRAMES / total_frames
    loop_per_hour = HOUR_FRAMES / len(piece)
    rows = [
        ("kinetic", t_kin * per_hour, t_kin_loop * loop_per_hour),
        ("manual", t_man * per_hour, t_man_loop * loop_per_hour),
        ("both", (t_kin + t_man) * per_hour, (t_kin_loop + t_man_loop) * loop_per_hour),
    ]
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"numpy {np.__version__}")
    print(f"vectorised: {n_seq} x {args.seq_seconds:g} s = {total_frames / FPS / 60:.1f} min at 60 fps; "
          f"loop: {len(piece)} frames, extrapolated")
    print(f"{'features':<10}{'vectorised s/h':>16}{'loop s/h':>12}{'speed-up':>10}")
    for name, fast, slow in rows:
        print(f"{name:<10}{fast:>16.2f}{slow:>12.1f}{slow / fast:>9.0f}x")
    print(f"identical on the slice: kinetic {same_k}, manual {same_m}")


if __name__ == "__main__":
    main()
