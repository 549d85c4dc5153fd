"""Speed of the 35-d music features: seconds of music per wall-clock second.

Compares, on the same songs (CC0 drum loops tiled to ~60 s, or the files of ``--music``):

* reference: mint ``tools/preprocessing.py``'s steps as written there (one ``librosa.load``,
  separate ``onset_strength``, ``mfcc``, ``chroma_cens`` calls, each building its own STFT), one
  process, one song after another;
* ours, 1 process: ``aichoreo.audio.song_features`` one song after another;
* ours, N workers: ``features_for_files(..., workers=N)`` (the default N = 2);
* cache hit: ``features_for_files`` again with a filled ``FeatureCache``.

Each mode runs in a fresh Python process. "cold" counts everything from the import of librosa
(imports and numba compilation, paid once per process) to the last song; "warm" repeats the
same songs in the same process. The results are checked equal to the reference's.

    python benchmarks/music_features.py [--music DIR] [--seconds 60] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T_START = time.perf_counter()

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MUSIC = REPO.parent / "shared" / "data" / "music"
SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus")
BPM = 120.0  # tempo prior for every song: the beat tracker's cost does not depend on it
MODES = ["reference", "ours-1", "ours-pool", "cache-hit"]
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def reference_features(path: Path, bpm: float):
    """The reference's steps, one library call each (mint tools/preprocessing.py,
    cache_audio_features), with keyword arguments as librosa >= 0.10 requires."""
    import librosa
    import numpy as np

    sr, hop = 30720, 512
    y, _ = librosa.load(path, sr=sr)
    envelope = librosa.onset.onset_strength(y=y, sr=sr)
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20).T
    chroma = librosa.feature.chroma_cens(y=y, sr=sr, hop_length=hop, n_chroma=12).T
    peaks = librosa.onset.onset_detect(onset_envelope=envelope, sr=sr, hop_length=hop)
    _, beats = librosa.beat.beat_track(onset_envelope=envelope, sr=sr, hop_length=hop,
                                       start_bpm=bpm, tightness=100)
    peak_column = np.zeros((envelope.size, 1), np.float32)
    peak_column[peaks] = 1.0
    beat_column = np.zeros((envelope.size, 1), np.float32)
    beat_column[beats] = 1.0
    return np.concatenate([envelope[:, None], mfcc, chroma, peak_column, beat_column], axis=1)


def run_child(mode: str, files: list[Path], workers: int, cache_dir: Path, out: Path) -> None:
    """Time one mode inside this (fresh) process; write the timings and results to ``out``."""
    import numpy as np

    from aichoreo import audio

    def one_pass():
        if mode == "reference":
            return [reference_features(f, BPM) for f in files]
        if mode == "ours-1":
            return [audio.song_features(f, bpm=BPM) for f in files]
        if mode == "ours-pool":
            return audio.features_for_files(files, bpm=BPM, workers=workers, progress=False)
        if mode == "cache-hit":
            cache = audio.FeatureCache(cache_dir)
            return audio.features_for_files(files, bpm=BPM, cache=cache, progress=False)
        raise ValueError(mode)

    if mode == "cache-hit":  # fill the cache first, untimed
        audio.features_for_files(files, bpm=BPM, cache=audio.FeatureCache(cache_dir),
                                 workers=workers, progress=False)
    cold_start = T_START if mode != "cache-hit" else time.perf_counter()
    results = one_pass()
    cold = time.perf_counter() - cold_start
    cpu_start, t = cpu_seconds(), time.perf_counter()
    one_pass()
    warm, warm_cpu = time.perf_counter() - t, cpu_seconds() - cpu_start
    np.savez(out, *results)
    out.with_suffix(".json").write_text(json.dumps({"cold": cold, "warm": warm,
                                                    "warm_cpu": warm_cpu}))


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the pool workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def tile_songs(music: Path, seconds: float, into: Path) -> list[Path]:
    """Each song of ``music`` repeated to at least ``seconds`` s, written as FLAC into ``into``."""
    import numpy as np
    import soundfile

    songs = []
    for path in sorted(p for p in music.iterdir() if p.suffix.lower() in SUFFIXES):
        y, rate = soundfile.read(path, dtype="float32", always_2d=True)
        reps = max(1, int(np.ceil(seconds * rate / len(y))))
        target = into / f"{path.stem}_x{reps}.flac"
        soundfile.write(target, np.tile(y, (reps, 1)), rate)
        songs.append(target)
    return songs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--music", type=Path, default=DEFAULT_MUSIC, help="folder of songs")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="tile each song to at least this long (0: use as is)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=MODES,
                        help="which modes to run (reference first: ratios are to it)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--files", nargs="*", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.files, args.workers, args.cache_dir, args.out)
        return

    import numpy as np
    import soundfile

    if not args.music.is_dir():
        sys.exit(f"{args.music}: no such folder (pass --music DIR)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.seconds > 0:
            files = tile_songs(args.music, args.seconds, tmp)
        else:
            files = sorted(p for p in args.music.iterdir() if p.suffix.lower() in SUFFIXES)
        if not files:
            sys.exit(f"{args.music}: no audio files")
        music_s = sum(soundfile.info(f).duration for f in files)
        load = os.getloadavg()[0]
        print(f"{len(files)} songs, {music_s:.1f} s of music; {os.cpu_count()} CPUs, load average "
              f"{load:.1f} at start; workers {args.workers}")
        modes = [m for m in MODES if m in args.modes]
        timings, results = {}, {}
        for mode in modes:
            out = tmp / f"{mode}.npz"
            # "1 process" means one core: no BLAS threads beside it (pool workers limit
            # themselves to one thread each).
            env = dict(os.environ, **{v: "1" for v in THREAD_VARS}) if mode != "ours-pool" else None
            subprocess.run([sys.executable, __file__, "--child", mode, "--workers",
                            str(args.workers), "--cache-dir", str(tmp / "cache"), "--out", str(out),
                            "--files", *map(str, files)], check=True, env=env)
            timings[mode] = json.loads(out.with_suffix(".json").read_text())
            with np.load(out) as z:
                results[mode] = [z[k] for k in sorted(z.files, key=lambda k: int(k.split("_")[1]))]

    first = results[modes[0]]
    same = all(np.array_equal(a, b) for mode in modes[1:] for a, b in zip(results[mode], first))
    labels = {"reference": "reference (mint steps), 1 process", "ours-1": "aichoreo, 1 process",
              "ours-pool": f"aichoreo, {args.workers} workers", "cache-hit": "aichoreo, cache hit"}
    print(f"\n{'mode':36s} {'cold s':>8s} {'x real':>8s} {'warm s':>8s} {'x real':>8s} "
          f"{'warm CPU s':>11s} {'x per CPU':>10s}")
    for mode in modes:
        cold, warm, cpu = (timings[mode][k] for k in ("cold", "warm", "warm_cpu"))
        print(f"{labels[mode]:36s} {cold:8.2f} {music_s / cold:8.1f} {warm:8.3f} "
              f"{music_s / warm:8.1f} {cpu:11.2f} {music_s / max(cpu, 1e-9):10.1f}")
    if "reference" in modes:
        ref = timings["reference"]
        print("\nratios to the reference (higher is faster):")
        for mode in modes[1:]:
            print(f"  {labels[mode]:36s} cold {ref['cold'] / timings[mode]['cold']:7.1f}x   "
                  f"warm {ref['warm'] / timings[mode]['warm']:7.1f}x   "
                  f"per CPU {ref['warm_cpu'] / timings[mode]['warm_cpu']:7.1f}x")
    print(f"\nfeatures identical across modes ({labels[modes[0]]} first): "
          f"{'yes' if same else 'NO'}")
    print("cold: a fresh process, librosa's imports and numba compilation included (cache hit: "
          "the first pass after filling the cache); warm: the same songs again in that process;\n"
          "x per CPU: music seconds per CPU second, which other load on the machine does not "
          "change")


if __name__ == "__main__":
    main()
