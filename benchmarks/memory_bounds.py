"""Peak memory of the real commands on long songs, against the bounds of issue 13.

Synthesises songs of the given lengths (44.1 kHz stereo 16-bit WAV, as music files come: noise,
two tones and a click every 0.5 s) into a temporary folder, runs each command in a fresh process,

    python -m aichoreo features SONG -o OUT.npy --no-cache
    python -m aichoreo dance SONG -o OUT --formats joints

and prints each one's peak resident memory (``ru_maxrss`` of that process, from ``os.wait4``)
against its bound: 1 GB for a song of up to 10 minutes, 2 GB for up to an hour. Exits 1 if a
bound is exceeded or a command fails.

    python benchmarks/memory_bounds.py                      # 10 and 60 minutes, both commands
    python benchmarks/memory_bounds.py --minutes 10 --commands features
    python benchmarks/memory_bounds.py --tiny-model         # dance with a random tiny network

The dance's loop runs at the model's speed: an hour of song (216,000 frames) took 225 s in all on
a quiet 2-core CPU (docs/generation.md), and several times longer while other work shared it.
``--tiny-model`` dances with a random network of the ``tiny`` preset instead (about twice as fast
there): the memory that grows with the song (features, the motion, its exports) is the same, the
model's own weights and activations, a constant, are smaller.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = ("features", "dance")
RATE = 44100  # Hz, the synthesised files' own rate: decoding resamples as for real music


def bound_mb(minutes: float) -> float:
    """Issue 13's bounds: 1 GB up to 10 minutes of song, 2 GB up to an hour (1 GB = 1024 MB)."""
    if minutes <= 10:
        return 1024.0
    if minutes <= 60:
        return 2048.0
    raise ValueError("issue 13 states bounds for songs of up to an hour")


def write_song(path: Path, minutes: float, block_s: float = 10.0) -> Path:
    """A ``minutes`` long stereo WAV, written block by block (its own memory stays small)."""
    import numpy as np
    import soundfile

    n = int(minutes * 60 * RATE)
    rng = np.random.default_rng(0)
    block = int(block_s * RATE)
    with soundfile.SoundFile(path, "w", RATE, 2, subtype="PCM_16") as f:
        for start in range(0, n, block):
            t = np.arange(start, min(n, start + block)) / RATE
            x = 0.05 * rng.standard_normal((t.size, 2))
            x[:, 0] += 0.2 * np.sin(2 * np.pi * 220.0 * t)
            x[:, 1] += 0.2 * np.sin(2 * np.pi * 330.0 * t)
            x[(t * 2.0) % 1.0 < 0.01] += 0.5  # a click every 0.5 s: 120 BPM
            f.write(np.clip(x, -1.0, 1.0))
    return path


def write_tiny_model(path: Path) -> Path:
    """A random-weight model file of the ``tiny`` preset (the dance's loop in seconds)."""
    import torch

    from aichoreo.conventions import current_conventions
    from aichoreo.models import build_model, get_preset, save_model_file

    torch.manual_seed(0)
    cfg = get_preset("tiny")
    return save_model_file(path, build_model(cfg), cfg, conventions=current_conventions(), preset="tiny")


def peak_rss(argv: list[str], log: Path) -> tuple[float, float, int]:
    """Run ``argv`` in a fresh process: its peak RSS (MB), wall seconds and exit status."""
    start = time.perf_counter()
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage, not all children's
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.perf_counter() - start, process.returncode  # Linux: KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0, 60.0], help="song lengths")
    parser.add_argument("--commands", nargs="+", choices=COMMANDS, default=list(COMMANDS))
    parser.add_argument("--checkpoint", default="default", help="the dance's model (file or bundled name)")
    parser.add_argument("--tiny-model", action="store_true", help="dance with a random tiny network instead")
    parser.add_argument("--keep", type=Path, default=None, help="write songs and outputs here (default: a temporary folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="memory-bounds-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        checkpoint = str(write_tiny_model(work / "tiny.pt")) if args.tiny_model else args.checkpoint
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; dance model: "
              f"{'random tiny' if args.tiny_model else checkpoint}", flush=True)
        print(f"{'song min':>8}  {'command':<9}{'peak RSS MB':>12}{'bound MB':>10}{'ratio':>7}{'wall s':>8}  result",
              flush=True)
        failed = False
        for minutes in args.minutes:
            bound = bound_mb(minutes)
            song = write_song(work / f"song_{minutes:g}min.wav", minutes)
            for command in args.commands:
                if command == "features":
                    argv = [sys.executable, "-m", "aichoreo", "features", str(song), "-o",
                            str(work / f"features_{minutes:g}min.npy"), "--no-cache"]
                else:
                    argv = [sys.executable, "-m", "aichoreo", "dance", str(song), "-o",
                            str(work / f"dance_{minutes:g}min"), "--formats", "joints", "--checkpoint", checkpoint]
                log = work / f"{command}_{minutes:g}min.log"
                peak, wall, code = peak_rss(argv, log)
                ok = code == 0 and peak <= bound
                failed |= not ok
                result = "ok" if ok else (f"exit {code}, see {log}" if code else "OVER THE BOUND")
                print(f"{minutes:>8g}  {command:<9}{peak:>12.0f}{bound:>10.0f}{peak / bound:>7.2f}{wall:>8.0f}  {result}",
                      flush=True)
            song.unlink()  # an hour of 44.1 kHz stereo is 0.6 GB of disk
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
