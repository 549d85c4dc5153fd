"""The live dance against the real dancers and against the offline model, on the same unheard songs (issue 18).

For each test song of Dance with Melody, the song's audio (from its offset, as the prepared data
pairs it) is fed block by block to :class:`aichoreo.live.LiveDancer`, exactly as ``aichoreo live``
feeds it (as fast as it computes; timing does not change the frames): as sent by default (smoothed,
feet locked), without the smoothing, and without the foot lock. The frames are scored by the
whole-song quality ratios of ``aichoreo quality`` (energy, fade, jitter, foot skate, BeatAlign
against the reference's beats, spread) against the real
dance, and set beside ``aichoreo quality`` of the offline model (default: the bundled ``default``)
run in the same invocation on the same songs. Printed: both summaries and live ÷ offline, with
issue 18's bound (within 1.2x: for fade and BeatAlign, higher is better, so live ÷ offline >= 1/1.2;
for jitter and skate, lower is better, <= 1.2; energy within 1.2x either way).

    python benchmarks/live_quality.py --data data/dwm --data-stream data/dwm-stream
    python benchmarks/live_quality.py --split val --lookahead 0.017 0.1   # less music ahead, too
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("AICHOREO_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def summarise(rows: dict[str, dict], gen_feats: np.ndarray, real_feats: np.ndarray) -> dict[str, float]:
    from aichoreo import metrics

    col = {k: np.array([r[k] for r in rows.values()], dtype=float)
           for k in ("fade", "jitter_ratio", "skate_ratio", "energy_ratio", "beat_align_ratio")}
    return {"worst_fade": float(col["fade"].min()), "worst_jitter_ratio": float(col["jitter_ratio"].max()),
            "median_skate_ratio": float(np.median(col["skate_ratio"])),
            "median_energy_ratio": float(np.median(col["energy_ratio"])),
            "median_beat_align_ratio": float(np.median(col["beat_align_ratio"])),
            "spread_ratio": metrics.spread(gen_feats, real_feats)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/dwm"), help="Dance with Melody, reference features")
    parser.add_argument("--data-stream", type=Path, default=Path("data/dwm-stream"),
                        help="the same dances prepared with --music-features stream (for the offset-cut audio list)")
    parser.add_argument("--checkpoint", default="default", help="the live model (default: the bundled default, "
                        "as aichoreo live; stream: fact-small-stream)")
    parser.add_argument("--offline", default="default", help="the offline model it is compared with")
    parser.add_argument("--split", default="test")
    parser.add_argument("--lookahead", type=float, nargs="*", default=[], metavar="S",
                        help="also the live dance hearing S seconds of music per pass (aichoreo live --lookahead)")
    args = parser.parse_args()

    from aichoreo import metrics
    from aichoreo.audio import BEATS, SAMPLE_RATE, load_audio
    from aichoreo.conventions import model_spec
    from aichoreo.data.dataset import PreparedDataset
    from aichoreo.data.dwm import list_dwm, load_dwm
    from aichoreo.evaluate import SEED_FRAMES, joints_of
    from aichoreo.live import SMOOTH_HZ, LiveDancer
    from aichoreo.motion import SMPLMotion
    from aichoreo.pipeline import load_dance_model
    from aichoreo.quality_report import QualityOptions, _song_scores, quality_report
    from aichoreo.seeds import builtin_seed

    data = PreparedDataset(args.data)
    songs = data.load_split(args.split)
    dwm = {p.stem: p for p in list_dwm(DATA / "dance_with_melody")}
    model, meta = load_dance_model(args.checkpoint)
    spec = model_spec(meta)
    seed = builtin_seed("neutral", meta, n_frames=SEED_FRAMES, bpm=120.0, random_seed=0).to_fact_vector(padded=True)
    options = QualityOptions(split=args.split)
    real = {s.name: joints_of(s.motion[:min(len(s.motion), len(s.music))]) for s in songs}
    real_feats = np.stack([metrics.kinetic_features(j[SEED_FRAMES:], fps=60.0) for j in real.values()])

    results = {}
    cases = [("live", True, SMOOTH_HZ, None), ("live, not smoothed", True, None, None),
             ("live, no foot lock", False, SMOOTH_HZ, None)]
    cases += [(f"live, --lookahead {s:g}", True, SMOOTH_HZ, max(1, round(s * 60.0))) for s in args.lookahead]
    for label, lock, smooth, heard in cases:
        rows, feats = {}, []
        for s in songs:
            dance = load_dwm(dwm[s.name])
            y = load_audio(dance.music_path)[int(round(dance.music_offset_s * SAMPLE_RATE)):]
            dancer = LiveDancer(model, spec, seed, lock_feet=lock, smooth_hz=smooth, heard_frames=heard)
            frames = []
            for first in range(0, y.size, 512):
                frames += dancer.push(y[first:first + 512])
            frames += dancer.finish()
            n = len(real[s.name])
            joints = SMPLMotion.from_fact_vector(np.stack([f.vector for f in frames[:n]])).joints()
            if len(joints) < n:
                raise SystemExit(f"{s.name}: the live dance has {len(joints)} frames, the real one {n}")
            rows[s.name] = _song_scores(joints, real[s.name], s.music[:, BEATS], dancer.k, options)
            feats.append(metrics.kinetic_features(joints[SEED_FRAMES:], fps=60.0))
        results[label] = summarise(rows, np.stack(feats), real_feats)
        print(f"{label}: " + ", ".join(f"{k} {v:.3g}" for k, v in results[label].items()), flush=True)

    offline_model, offline_meta = load_dance_model(args.offline)
    with tempfile.TemporaryDirectory() as tmp:
        report = quality_report(offline_model, args.data, tmp, options, model_meta=offline_meta, progress=False)
    offline = {k: report["summary"][k] for k in results["live"]}
    print(f"offline ({args.offline}): " + ", ".join(f"{k} {v:.3g}" for k, v in offline.items()))

    print(f"\n{args.split} songs: {', '.join(s.name for s in songs)}")
    print("| | " + " | ".join(results["live"]) + " |")
    print("|---" * (1 + len(offline)) + "|")
    for label, summary in (*results.items(), (f"offline `{args.offline}`", offline)):
        print(f"| {label} | " + " | ".join(f"{summary[k]:.3g}" for k in offline) + " |")
    for label in results:
        ratios = {k: results[label][k] / offline[k] for k in offline}
        print(f"| {label} ÷ offline | " + " | ".join(f"{ratios[k]:.2f}" for k in offline) + " |")
    ratios = {k: results["live"][k] / offline[k] for k in offline}
    within = {"worst_fade": ratios["worst_fade"] >= 1 / 1.2, "worst_jitter_ratio": ratios["worst_jitter_ratio"] <= 1.2,
              "median_skate_ratio": ratios["median_skate_ratio"] <= 1.2,
              "median_energy_ratio": 1 / 1.2 <= ratios["median_energy_ratio"] <= 1.2,
              "median_beat_align_ratio": ratios["median_beat_align_ratio"] >= 1 / 1.2}
    print("\nwithin 1.2x of offline (issue 18): " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in within.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
