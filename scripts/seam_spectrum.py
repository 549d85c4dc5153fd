"""Plot what a chunk-predicting model's seams do to a dance: the root's speed frame by frame and the
power of the joints' velocities by frequency, for dances of `aichoreo quality` reports beside the real
dancer on the same song (docs/results.md, "Seams and shaking").

    python scripts/seam_spectrum.py --data data/dwm --song DANCE_W_32 \\
        --report "4-frame blend" results/q-before --report "whole chunk, room" results/q-after -o seams.png

Each report folder holds ``dances/<song>.npy`` (the generated joints, 60 fps, seed first). The left
panel shows 3 s from ``--at`` seconds: the horizontal root speed per frame, where a seam every 20
frames shows as a saw. The right one shows the Welch power spectrum (4 s segments) of all joint
velocities after the 2 s seed: the real dancer's lies below 2 Hz; a saw at the chunk rate puts peaks at
3 Hz and its multiples.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.signal import welch  # noqa: E402

from aichoreo.data.dataset import PreparedDataset  # noqa: E402
from aichoreo.evaluate import SEED_FRAMES, joints_of  # noqa: E402
from aichoreo.fileio import atomic_path  # noqa: E402
from aichoreo.skeleton import FPS  # noqa: E402


def _root_speed(joints: np.ndarray) -> np.ndarray:
    """Horizontal root speed per frame step, m/s: ``(T, 24, 3)`` y up -> ``(T-1,)``."""
    return np.linalg.norm(np.diff(joints[:, 0, [0, 2]], axis=0), axis=-1) * FPS


def _spectrum(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (Hz) and the joint velocities' power summed over joints and axes, (m/s)^2 / Hz."""
    v = np.diff(joints[SEED_FRAMES:], axis=0).reshape(len(joints) - SEED_FRAMES - 1, -1) * FPS
    f, p = welch(v, fs=FPS, nperseg=int(4 * FPS), axis=0)
    return f, p.sum(axis=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the prepared dances the reports scored")
    parser.add_argument("--split", default="test")
    parser.add_argument("--song", required=True, help="a song of the split, e.g. DANCE_W_32")
    parser.add_argument("--report", nargs=2, action="append", metavar=("LABEL", "FOLDER"), required=True,
                        help="a label and an aichoreo quality output folder (repeat)")
    parser.add_argument("--at", type=float, default=20.0, help="where the 3 s of root speed start, seconds")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .png to write")
    args = parser.parse_args()

    song = {s.name: s for s in PreparedDataset(args.data).load_split(args.split)}[args.song]
    dances = [(label, np.load(Path(folder) / "dances" / f"{args.song}.npy")) for label, folder in args.report]
    n = min(len(j) for _, j in dances)
    real = joints_of(song.motion[:n])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    a, b = int(args.at * FPS), int((args.at + 3) * FPS)
    t = np.arange(a, b) / FPS
    right_lines = []
    for (label, joints), colour in zip(dances + [("real dancer", real)], ["C3", "C0", "C2", "C4", "0.4"]):
        left.plot(t, _root_speed(joints[:n])[a:b], color=colour, lw=1.2, label=label)
        f, p = _spectrum(joints[:n])
        right_lines.append(right.semilogy(f, p, color=colour, lw=1.2, label=label))
    left.set(xlabel="song time, s", ylabel="root speed, horizontal, m/s", title=f"{args.song}: the root, frame by frame")
    right.set(xlabel="frequency, Hz", ylabel="joint velocity power, (m/s)²/Hz", xlim=(0, 15),
              title="all joints' velocities by frequency")
    for x in (3, 6, 9, 12):
        right.axvline(x, color="0.85", lw=0.8, zorder=0)
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(args.output) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    print(args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
