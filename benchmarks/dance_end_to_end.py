"""The whole ``aichoreo dance`` command, stage by stage, on an idle CPU and beside a CPU hog (issue 15).

Songs of the given lengths (default 30 s, 3 min, 10 min) are synthesised as music files come
(44.1 kHz stereo: noise, two tones, a click every 0.5 s; ``memory_bounds.write_song``), as an mp3
of 192 kbit/s by default, the kind of file most people's songs are (``--song-format wav`` keeps the
WAV: its music is encoded as AAC for the video, an mp3's is copied in as it is). Each case runs the
command a user runs, in a fresh process, with no feature cache::

    python -m aichoreo dance SONG -o OUT --no-cache [--formats all | every format but mp4]

once on the idle machine and once beside ``--hogs`` busy-looping processes that this script starts
before the command and stops after it. Per run it prints the whole command's wall time as
generated seconds per wall second (the song's seconds after the 2 s seed, as ``dance.json``
counts them), the time until the first progress bar appears on stderr, the peak RSS and the CPU
seconds with the cores they kept busy on average (``os.wait4``: the command and the processes it
waited for, ffmpeg and the features' process),
and each stage from the run's ``dance.json``: model load, music features, seed, generation, foot
lock and each export; "start-up" is the rest of the wall time (interpreter, imports, argument
checks, exit). The video is written while the other formats are (``export_all``), so with the mp4
the exports' times overlap and "start-up" comes out too small, or negative. The first song's features
are computed while torch is imported (``aichoreo.pipeline.FeaturePrefetch``): "model load" includes
importing torch, and "music features" is the wait for them after it. Then the figures of
issue 15, from the runs of this invocation:

- the 3-minute song with every export, and without the mp4, in x real time;
- busy / idle of the generation stage and of the whole command;
- the 10-minute song's peak RSS against the 1 GB bound of issue 13 (every export written).

``--policies`` first compares thread policies for generation alone (``--formats joints``, the
3-minute song or the longest below it), idle and busy: ``tuned`` (the default,
:mod:`aichoreo.threads`), and fixed counts through ``AICHOREO_THREADS``.

    python benchmarks/dance_end_to_end.py                        # everything (about 15 min here)
    python benchmarks/dance_end_to_end.py --minutes 0.5 3 --no-policies
    python benchmarks/dance_end_to_end.py --policies tuned 1 2 --minutes 3 --formats joints
    python benchmarks/dance_end_to_end.py --song my_song.mp3 --no-policies   # your own music

The synthesised songs are the same on every machine, but the default model walks away in a straight
line to them (126 m in 3 minutes), so the video draws a larger floor than for real music (220 grid
lines in view against about 30; 1.0 against 0.65 ms a frame): ``--song`` measures real music.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import pty
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory_bounds import bound_mb, write_song  # noqa: E402  (the same synthesised songs)

FPS = 60.0
SEED_S = 2.0  # the seed's seconds, not counted as generated


@dataclass
class Run:
    label: str
    song_s: float
    wall_s: float
    first_bar_s: float | None
    peak_mb: float
    code: int
    cpu_s: float = 0.0  # user + system seconds of the command and the processes it waited for (ffmpeg, features)
    stages: dict[str, float] = field(default_factory=dict)
    threads: dict = field(default_factory=dict)

    @property
    def generated_s(self) -> float:
        return self.song_s - SEED_S

    @property
    def speed(self) -> float:
        """Generated seconds per wall second of the whole command."""
        return self.generated_s / self.wall_s

    @property
    def generation_speed(self) -> float | None:
        g = self.stages.get("generation")
        return self.generated_s / g if g else None


def song_file(folder: Path, minutes: float, song_format: str) -> Path:
    """The synthesised song of ``minutes`` as a WAV, or that WAV encoded as an mp3 (LAME, 192 kbit/s,
    by imageio-ffmpeg's ffmpeg)."""
    wav = write_song(folder / f"song_{minutes:g}min.wav", minutes)
    if song_format == "wav":
        return wav
    import imageio_ffmpeg

    mp3 = wav.with_suffix(".mp3")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(wav), "-c:a", "libmp3lame",
                    "-b:a", "192k", str(mp3)], check=True)
    wav.unlink()
    return mp3


def start_hogs(n: int) -> list[subprocess.Popen]:
    """``n`` processes that each keep one core busy (pure Python, no threads of their own)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        p.kill()
    for p in processes:
        p.wait()


def run_dance(song: Path, song_s: float, out: Path, formats: str, label: str, env: dict[str, str]) -> Run:
    """One ``aichoreo dance`` in a fresh process, timed from spawn to exit."""
    argv = [sys.executable, "-m", "aichoreo", "dance", str(song), "-o", str(out), "--no-cache", "--formats", formats]
    first_bar: list[float] = []
    # stderr is a terminal (a pseudo-terminal), as for a user: some bars show on terminals only.
    leader, follower = pty.openpty()
    # 100 x 30 characters: a terminal of no width gets bars of no characters from tqdm.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=follower, env=env)
    os.close(follower)
    tail = bytearray()

    def read_stderr() -> None:
        # tqdm draws "desc:   0%|" first; the time it appears is when the user first sees progress.
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            if not first_bar and b"%|" in tail[-8:] + chunk:
                first_bar.append(time.perf_counter() - start)
            tail.extend(chunk)
            del tail[:-4000]

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    _, status, usage = os.wait4(process.pid, 0)  # this child's own peak RSS, not all children's
    wall = time.perf_counter() - start
    reader.join()
    os.close(leader)
    code = os.waitstatus_to_exitcode(status)
    run = Run(label, song_s, wall, first_bar[0] if first_bar else None, usage.ru_maxrss / 1024, code,
              cpu_s=usage.ru_utime + usage.ru_stime)
    if code != 0:
        print(f"  {label}: exit {code}: {tail.decode(errors='replace').strip().splitlines()[-1:]}", flush=True)
        return run
    summary = json.loads((out / song.stem / "dance.json").read_text())
    timings = summary.get("timings_s", {})
    run.stages = {k: v for k, v in timings.items() if k != "exports"}
    run.stages.update({f"export {k}": v for k, v in timings.get("exports", {}).items()})
    run.stages["start-up"] = wall - sum(run.stages.values())
    run.threads = summary.get("generation_threads", {})
    return run


def show(run: Run) -> None:
    if run.code:
        return
    stages = "  ".join(f"{k} {v:.1f}" for k, v in run.stages.items())
    bar = f"{run.first_bar_s:.1f}" if run.first_bar_s is not None else "-"
    gen = run.generation_speed
    print(f"  {run.label:<34}{run.speed:>7.1f}x {run.wall_s:>7.1f} s  gen {gen:>5.1f}x  first bar {bar:>4} s  "
          f"RSS {run.peak_mb:>5.0f} MB  CPU {run.cpu_s:>6.1f} s ({run.cpu_s / run.wall_s:.2f} cores)  "
          f"threads {run.threads}", flush=True)
    print(f"      stages (s): {stages}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[0.5, 3.0, 10.0], help="song lengths")
    parser.add_argument("--formats", nargs="+", default=["all", "no-mp4"],
                        help="export sets: all, no-mp4, or a comma-separated list of formats")
    parser.add_argument("--hogs", type=int, default=1, help="busy processes beside the busy runs (0: no busy runs)")
    parser.add_argument("--policies", nargs="*", default=["tuned", "1", str(os.cpu_count() or 1)],
                        help="thread policies compared on generation alone: tuned, or a count")
    parser.add_argument("--no-policies", dest="policies", action="store_const", const=[])
    parser.add_argument("--keep", type=Path, default=None, help="write songs and outputs here")
    parser.add_argument("--song-format", choices=("mp3", "wav"), default="mp3",
                        help="the synthesised songs' files (default mp3, 192 kbit/s)")
    parser.add_argument("--song", type=Path, default=None,
                        help="time this music file instead of the synthesised songs (its length replaces --minutes)")
    args = parser.parse_args()
    if args.song is not None:
        from aichoreo.audio import SAMPLE_RATE, load_audio

        args.minutes = [len(load_audio(args.song)) / SAMPLE_RATE / 60.0]

    from aichoreo.export import FORMATS

    sets = {"all": "all", "no-mp4": ",".join(f for f in FORMATS if f != "mp4")}
    base_env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "AICHOREO_THREADS")}
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python {sys.version.split()[0]}; "
          f"load average before: {os.getloadavg()[0]:.2f}; busy = beside {args.hogs} busy process(es)", flush=True)
    runs: dict[tuple, Run] = {}
    with tempfile.TemporaryDirectory(prefix="dance-e2e-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        songs = ({args.minutes[0]: args.song} if args.song is not None
                 else {m: song_file(work, m, args.song_format) for m in args.minutes})

        def case(minutes: float, formats: str, busy: bool, policy: str = "tuned") -> Run:
            env = dict(base_env)
            if policy != "tuned":
                env["AICHOREO_THREADS"] = policy
            label = f"{minutes:g} min {formats} {'busy' if busy else 'idle'}" + (
                f" threads={policy}" if policy != "tuned" else "")
            hogs = start_hogs(args.hogs) if busy else []
            try:
                time.sleep(0.5 if busy else 0.0)  # let the hogs reach their cores
                run = run_dance(songs[minutes], minutes * 60, work / "out", sets.get(formats, formats), label, env)
            finally:
                stop(hogs)
            runs[(minutes, formats, busy, policy)] = run
            show(run)
            return run

        conditions = (False, True) if args.hogs > 0 else (False,)
        if args.policies:
            m = max([x for x in args.minutes if x <= 3.0] or args.minutes[:1])
            print(f"\nthread policies, generation alone ({m:g} min song, --formats joints):", flush=True)
            for policy in args.policies:
                for busy in conditions:
                    case(m, "joints", busy, policy)
        print("\nthe whole command:", flush=True)
        for minutes in args.minutes:
            for formats in args.formats:
                for busy in conditions:
                    case(minutes, formats, busy)

    print("\nissue 15's figures (this run):")
    failed = False
    for (m, f, busy, policy), run in runs.items():
        if run.code:
            failed = True
    for m in args.minutes:
        for f in args.formats:
            idle, hog = runs.get((m, f, False, "tuned")), runs.get((m, f, True, "tuned"))
            if idle and hog and not (idle.code or hog.code):
                print(f"  {m:g} min {f}: whole command {idle.speed:.1f}x idle, {hog.speed:.1f}x busy "
                      f"(busy/idle {hog.speed / idle.speed:.2f}); generation busy/idle "
                      f"{hog.generation_speed / idle.generation_speed:.2f}")
    for policy in args.policies:
        for m in args.minutes:
            idle, hog = runs.get((m, "joints", False, policy)), runs.get((m, "joints", True, policy))
            if idle and hog and not (idle.code or hog.code):
                print(f"  threads {policy:>5}: generation {idle.generation_speed:.1f}x idle, "
                      f"{hog.generation_speed:.1f}x busy (busy/idle {hog.generation_speed / idle.generation_speed:.2f})")
    for m in args.minutes:
        if m <= 10:
            worst = max((r.peak_mb for (mm, f, _, _), r in runs.items() if mm == m and not r.code), default=None)
            if worst is not None:
                ok = worst <= bound_mb(m)
                failed |= not ok
                print(f"  {m:g} min: peak RSS {worst:.0f} MB of the {bound_mb(m):.0f} MB bound "
                      f"({'ok' if ok else 'OVER'})")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
