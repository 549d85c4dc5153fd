"""Latency and stability of ``aichoreo live`` while a song plays in real time (issue 18).

Builds a song of ``--minutes`` (default 10) from real music: the Dance-with-Melody test songs
back to back (``$AICHOREO_DATA``, else ``../shared/data``), or synthesised music where they are
absent, and runs the command a user runs, in a fresh process::

    python -m aichoreo live SONG --vmc 127.0.0.1:PORT --record OUT/live.npy --stats OUT/stats.json

with a VMC receiver of this script listening on PORT (python-osc), optionally beside ``--hogs``
busy-looping processes. From the run's per-frame timing it prints:

- the end-to-end latency, audio in -> pose out: per generated frame, from the arrival of the block
  holding the frame's own music sample to the frame leaving for the sinks (the model's lookahead
  and chunk, the features' two frames, the pass, the fixed delay): p50, p95, max (bound: p95 <= 0.3 s);
- the compute latency: from the last audio the frame depends on arriving to the frame computed;
- late frames (computed after their due time; bound: 0), drift (the latency in the last minute
  minus the first), CPU use (fraction of one core), resident memory over the run (first minute
  vs last: bound "flat");
- what the VMC receiver got: bundles per second over the run.

    python benchmarks/live_latency.py                 # 10 minutes, about 11 min here
    python benchmarks/live_latency.py --minutes 1 --hogs 1
    python benchmarks/live_latency.py --minutes 2 --lookahead 0.017   # the least music ahead
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("AICHOREO_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
TEST_SONGS = ("DANCE_C_7", "DANCE_R_8", "DANCE_T_5", "DANCE_W_32", "DANCE_W_33", "DANCE_W_34")


def build_song(path: Path, minutes: float) -> str:
    """Write a ``minutes`` long 30,720 Hz wav of real test songs (or synthesised music); say which."""
    import soundfile

    from aichoreo.audio import SAMPLE_RATE, load_audio

    need = int(minutes * 60 * SAMPLE_RATE)
    folder = DATA / "dance_with_melody"
    files = [p for name in TEST_SONGS for p in folder.rglob(f"{name}.mp3")] if folder.is_dir() else []
    pieces, total = [], 0
    if files:
        while total < need:
            for f in files:
                y = load_audio(f)
                pieces.append(y)
                total += y.size
                if total >= need:
                    break
        source = "the Dance-with-Melody test songs back to back"
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from test_featurestream import song

        pieces, source = [song(minutes * 60)], "synthesised music (no Dance-with-Melody songs found)"
    soundfile.write(path, np.concatenate(pieces)[:need], SAMPLE_RATE, subtype="PCM_16")
    return source


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="song length")
    parser.add_argument("--hogs", type=int, default=0, help="busy-looping processes beside the run")
    parser.add_argument("--checkpoint", default="default",
                        help="model (default: the bundled default, as aichoreo live)")
    parser.add_argument("--keep", type=Path, default=None, help="write the song, recording and stats here")
    parser.add_argument("--lookahead", type=float, default=None, help="aichoreo live --lookahead S (default: its own)")
    args = parser.parse_args()

    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import ThreadingOSCUDPServer

    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        song = out / "live_song.wav"
        source = build_song(song, args.minutes)
        oks: list[float] = []
        dispatcher = Dispatcher()
        dispatcher.map("/VMC/Ext/OK", lambda address, *a: oks.append(time.monotonic()))
        server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
        t0 = time.monotonic()
        try:
            proc = subprocess.run([sys.executable, "-m", "aichoreo", "live", str(song), "--checkpoint", args.checkpoint,
                                   "--vmc", f"127.0.0.1:{server.server_address[1]}", "--record", str(out / "live.npy"),
                                   "--stats", str(out / "stats.json")]
                                  + ([] if args.lookahead is None else ["--lookahead", str(args.lookahead)]),
                                  capture_output=True, text=True)
        finally:
            for h in hogs:
                h.kill()
                h.wait()
            server.shutdown()
        wall = time.monotonic() - t0
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        stats = json.loads((out / "stats.json").read_text())

    t = np.asarray(stats["frames_timing"])  # index, heard, needed, ready, sent
    gen = t[t[:, 0] >= 120]
    e2e, compute = gen[:, 4] - gen[:, 1], gen[:, 3] - gen[:, 2]
    minute = int(60 * 60)
    drift = float(np.median(e2e[-minute:]) - np.median(e2e[:minute]))
    rss = np.array([r for r in stats["rss_mb"] if r[1] is not None])
    early = rss[(rss[:, 0] >= 30) & (rss[:, 0] <= 90), 1] if len(rss) else np.array([])
    late_rss = rss[rss[:, 0] >= rss[-1, 0] - 60, 1] if len(rss) else np.array([])
    vmc_rate = (len(oks) - 1) / (oks[-1] - oks[0]) if len(oks) > 1 else 0.0

    print(f"aichoreo live, {args.minutes:g} min of {source}, {args.hogs} busy process(es) beside it")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"command wall time {wall:.1f} s for {stats['seconds']:.1f} s of dance ({stats['frames']} frames, "
          f"{stats['passes']} passes of {stats['pass_ms_mean']:.1f} ms), delay {stats['delay_s']:.3f} s "
          f"(a pass timed at {stats['warm_pass_ms']:.1f} ms before the music; {stats['frames_per_pass']} frames per "
          f"pass, {stats['lookahead_s']:.3f} s of music ahead)")
    print(f"end-to-end latency (audio in -> pose out): p50 {np.percentile(e2e, 50):.3f} s, p95 "
          f"{np.percentile(e2e, 95):.3f} s, max {e2e.max():.3f} s   (bound p95 <= 0.300: "
          f"{'met' if np.percentile(e2e, 95) <= 0.3 else 'NOT met'})")
    print(f"compute latency (last audio needed -> frame ready): p50 {np.percentile(compute, 50) * 1000:.1f} ms, "
          f"p95 {np.percentile(compute, 95) * 1000:.1f} ms, max {compute.max() * 1000:.1f} ms")
    print(f"late frames: {stats['late_frames']}   (bound 0: {'met' if stats['late_frames'] == 0 else 'NOT met'})")
    print(f"drift: median latency in the last minute - first minute = {drift * 1000:+.1f} ms")
    if len(early) and len(late_rss):
        print(f"resident memory: {early.mean():.0f} MB (0:30-1:30) -> {late_rss.mean():.0f} MB (last minute), "
              f"max {rss[:, 1].max():.0f} MB; last / first = {late_rss.mean() / early.mean():.3f}")
    print(f"CPU: {stats['cpu_fraction']:.2f} of one core")
    print(f"full garbage collections: {stats['gc']['full_collections']}, the longest "
          f"{stats['gc']['longest_ms']:.1f} ms")
    print(f"VMC receiver: {len(oks)} frames, {vmc_rate:.2f} per second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
