"""Whole-song quality of a model against real dancers: the report of ``aichoreo quality``.

For each song of a prepared dataset's split (default: test, songs the model never heard), the
model dances the whole stretch of song a real dancer danced, from the seed users get
(:mod:`aichoreo.seeds`), through the pipeline ``aichoreo dance`` uses
(:func:`aichoreo.generate.generate_dances`). Generated and real dance are compared after the
2 s seed, on the same song time (issue 14's acceptance numbers; docs/quality.md):

* energy: mean joint speed, generated ÷ real;
* fade: speed over the last 20 s ÷ over the 20 s after the seed (of the generated dance; the
  real dancer's is shown beside it);
* jitter: mean joint acceleration sampled at the capture rate (Dance with Melody: 25 fps),
  generated ÷ real;
* foot skate: support-foot speed, generated ÷ real;
* BeatAlign (FACT definition), generated ÷ real;
* seam: the largest root step across a seam between two predicted chunks ÷ the largest inside a
  chunk (1 = seamless; not defined for one frame per pass);
* stature: the head's median height above the lowest joint, generated ÷ real (not in issue 14's
  list: it catches poses that wander off into a heap, which the others miss);
* spread: how different the dances for different songs are, ÷ the same for the real dances;
* FID_k and FID_g\\* of 20 s clips (``window_s``) of the whole generated songs against every dance of the
  dataset cut into clips (as ``benchmark-table``), beside the same score of random clips of
  training dances (real motion that ignores the music).

Writes ``report.md``, ``report.csv``, ``report.json``, ``speed.png`` (speed over time per song,
generated vs real) and ``dances/<song>.npy`` (the generated joints) into one folder.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aichoreo import metrics
from aichoreo.audio import BEATS, MusicFeatureSpec, estimate_tempo
from aichoreo.conventions import model_spec
from aichoreo.data.dataset import PreparedDataset
from aichoreo.defaults import SEAM_EASE_FRAMES, STYLE_STRENGTH
from aichoreo.direct import style_label
from aichoreo.errors import InputError
from aichoreo.evaluate import SEED_FRAMES, evaluate, get_protocol, joints_of, random_clips, real_clips
from aichoreo.fileio import atomic_path, save_npy
from aichoreo.generate import generate_dances
from aichoreo.metrics.quality import ratio
from aichoreo.seeds import builtin_seed
from aichoreo.skeleton import FPS

log = logging.getLogger(__name__)


#: Issue 14's acceptance thresholds on the test split: (key, how, bound).
TARGETS = (
    ("worst_fade", ">=", 0.8),
    ("worst_jitter_ratio", "<=", 1.3),
    ("median_skate_ratio", "<=", 1.5),
    ("median_energy_ratio", "in", (0.75, 1.35)),
    ("median_beat_align_ratio", ">=", 0.9),
    ("spread_ratio", ">=", 0.6),
    ("fid_k_vs_random_clip", "<=", 1.0),
)


@dataclass(frozen=True)
class QualityOptions:
    """Settings of one report (recorded in it)."""

    split: str = "test"
    seed_motion: str = "neutral"  # a built-in seed of aichoreo.seeds: neutral, pose or bounce
    frames_per_step: int | None = None  # None: the model's default
    seam_ease: int = SEAM_EASE_FRAMES  # frames over which each chunk joins the last (aichoreo.generate.SeamEaser); 0: none
    room_radius: float | None = None  # metres within which the model is shown its root (generate.RoomKeeper); 0:
    # none; None: the model's own (config.room_radius)
    lock_feet: bool = True
    random_seed: int = 0
    capture_fps: float = 25.0  # rate accelerations are compared at (Dance with Melody's capture rate)
    window_s: float = 20.0  # fade compares the first and last window_s after the seed; FID clips are this long
    # after 2 s of context (the paper's protocol: 20 s)
    style: str = "auto"  # every song danced in this style of the model (aichoreo dance --style); auto: none
    style_strength: float = STYLE_STRENGTH  # its classifier-free guidance
    beats_from: str | None = None  # a prepared dataset of the same dances whose beats BeatAlign is scored
    # against (None: the data's own): the reference beats for a model that reads streamed features

    def __post_init__(self) -> None:
        if not (np.isfinite(self.window_s) and self.window_s > 0):
            raise InputError(None, f"--window-seconds must be a positive number of seconds, got {self.window_s}")
        if not (np.isfinite(self.style_strength) and 0 <= self.style_strength <= 20):
            raise InputError(None, f"--style-strength must be a number in [0, 20], got {self.style_strength}")


def seam_ratio(joints: np.ndarray, k: int, seed_frames: int = SEED_FRAMES) -> float | None:
    """Largest root (pelvis) step across a chunk seam ÷ largest step inside a chunk, ``(T, 24, 3)``.

    Chunks of ``k`` generated frames start at ``seed_frames``; the step into frame
    ``seed_frames + m k`` (m >= 1) crosses a seam. ``None`` for ``k = 1`` (every step is a seam)
    or when there is no seam.
    """
    if k <= 1:
        return None
    steps = np.linalg.norm(np.diff(joints[seed_frames:, 0], axis=0), axis=-1)  # step i: frame i -> i + 1
    if len(steps) <= k:
        return None
    at_seam = np.zeros(len(steps), dtype=bool)
    at_seam[k - 1:: k] = True  # step k-1 enters generated frame k, the first of the second chunk
    inside = steps[~at_seam].max()
    return float(steps[at_seam].max() / inside) if inside > 0 else float("inf")


def _song_scores(gen: np.ndarray, real: np.ndarray, beats: np.ndarray, k: int, opts: QualityOptions) -> dict:
    g, r = gen[SEED_FRAMES:], real[SEED_FRAMES:]
    row: dict[str, Any] = {"seconds": len(real) / FPS}
    row["energy_m_s"] = metrics.mean_joint_speed(g, fps=FPS)
    row["energy_real_m_s"] = metrics.mean_joint_speed(r, fps=FPS)
    row["energy_ratio"] = ratio(row["energy_m_s"], row["energy_real_m_s"])
    row["fade"] = metrics.fade(gen, fps=FPS, seed_frames=SEED_FRAMES, window_s=opts.window_s)
    row["fade_real"] = metrics.fade(real, fps=FPS, seed_frames=SEED_FRAMES, window_s=opts.window_s)
    acc = metrics.mean_joint_acceleration(g, fps=FPS, sample_fps=opts.capture_fps)
    acc_real = metrics.mean_joint_acceleration(r, fps=FPS, sample_fps=opts.capture_fps)
    row["jitter_ratio"] = ratio(acc, acc_real)
    row["skate_ratio"] = ratio(metrics.support_foot_speed(g, fps=FPS), metrics.support_foot_speed(r, fps=FPS))
    row["beat_align"] = metrics.beat_align(gen, beats, mode="fact", fps=FPS, start_frame=SEED_FRAMES)
    row["beat_align_real"] = metrics.beat_align(real, beats, mode="fact", fps=FPS, start_frame=SEED_FRAMES)
    row["beat_align_ratio"] = ratio(row["beat_align"], row["beat_align_real"])
    row["seam_ratio"] = seam_ratio(gen, k)
    row["stature_ratio"] = ratio(metrics.stature(g), metrics.stature(r))
    return row


def quality_report(model, data_root: str | Path, out: str | Path, options: QualityOptions = QualityOptions(), *,
                   model_meta: dict | None = None, label: str = "model", progress: bool = True) -> dict[str, Any]:
    """Generate the split's songs whole, score them against the real dances, write the report into
    ``out``; returns the report as a dict (also ``out/report.json``)."""
    cfg = model.config
    style = style_label(cfg, options.style, (model_meta or {}).get("checkpoint"))
    if cfg.motion_len != SEED_FRAMES:
        raise InputError(None, f"the report seeds with {SEED_FRAMES} frames; this model takes {cfg.motion_len}")
    data = PreparedDataset(data_root)
    _check_features(model_meta, data)
    songs = data.load_split(options.split)
    train = data.load_split("train")
    if len(songs) < 2:
        raise InputError(data.root, f"the {options.split} split has {len(songs)} dances; the report needs two")
    # Fade compares the first and last window_s after the seed; they overlap in a dance shorter than
    # two windows (one test dance of Dance with Melody lasts 41 s), which pulls the ratio
    # toward 1 but still sees a dance that stops. Shorter than one window, it would be 1 by construction.
    need = SEED_FRAMES + int(options.window_s * FPS) + 2
    short = [s.name for s in songs if min(len(s.motion), len(s.music)) < need]
    if short:
        raise InputError(data.root, f"dances shorter than {need / FPS:.0f} s in the {options.split} split "
                                    f"({', '.join(short)}): fade needs more than the seed and one "
                                    f"{options.window_s:.0f} s window")
    beats = {s.name: s.music[:, BEATS] for s in songs}
    if options.beats_from is not None:  # read before the long generation, so that a wrong folder fails first
        other = PreparedDataset(options.beats_from)
        missing = [s.name for s in songs if s.name not in other.names()]
        if missing:
            raise InputError(other.root, f"holds no {', '.join(missing)}: --beats-from needs the same dances")
        beats = {s.name: other.load(s.name).music[:, BEATS] for s in songs}
    out = Path(out)
    _clear_earlier_report(out)
    k = cfg.default_frames_per_step if options.frames_per_step is None else min(options.frames_per_step, cfg.n_future)

    # --- generate every song whole from the seed users get ------------------------------------
    lengths = [min(len(s.motion), len(s.music)) for s in songs]
    seeds = [builtin_seed(options.seed_motion, model_meta, n_frames=SEED_FRAMES,
                          bpm=float(estimate_tempo(s.music[:, 0])), random_seed=options.random_seed + i)
             for i, s in enumerate(songs)]
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    motions = generate_dances(model, [s.music for s in songs], seeds, frames=lengths, frames_per_step=k,
                              lock_feet=options.lock_feet, batch_size=len(songs), progress=progress,
                              random_seed=options.random_seed, timings=timings, seam_ease=options.seam_ease,
                              room_radius=options.room_radius,
                              styles=[style] * len(songs) if style else None, style_strength=options.style_strength)
    wall = time.perf_counter() - t0
    generated = {s.name: m.joints().copy() for s, m in zip(songs, motions)}
    real = {s.name: joints_of(s.motion[:n]) for s, n in zip(songs, lengths)}
    for name, j in generated.items():
        save_npy(out / "dances" / f"{name}.npy", j)

    rows = {s.name: _song_scores(generated[s.name], real[s.name], beats[s.name], k, options) for s in songs}

    # --- across songs ---------------------------------------------------------------------------
    gen_feats = np.stack([metrics.kinetic_features(j[SEED_FRAMES:], fps=FPS) for j in generated.values()])
    real_feats = np.stack([metrics.kinetic_features(j[SEED_FRAMES:], fps=FPS) for j in real.values()])
    fid = _fid_scores(out, data, generated, train, options.random_seed, int(round(options.window_s * FPS)), progress)
    col = {key: np.array([r[key] for r in rows.values()], dtype=float)
           for key in ("fade", "jitter_ratio", "skate_ratio", "energy_ratio", "beat_align_ratio")}
    seams = [r["seam_ratio"] for r in rows.values() if r["seam_ratio"] is not None]
    summary = {
        "worst_fade": float(col["fade"].min()),
        "worst_jitter_ratio": float(col["jitter_ratio"].max()),
        "median_skate_ratio": float(np.median(col["skate_ratio"])),
        "median_energy_ratio": float(np.median(col["energy_ratio"])),
        "median_beat_align_ratio": float(np.median(col["beat_align_ratio"])),
        "spread_ratio": metrics.spread(gen_feats, real_feats),
        "worst_seam_ratio": max(seams) if seams else None,
        "worst_stature_ratio": float(min(r["stature_ratio"] for r in rows.values())),
        **fid,
        "generated_s_per_wall_s": sum(n - SEED_FRAMES for n in lengths) / FPS / wall,
        "foot_lock_wall_s": timings.get("feet_s", 0.0),
    }
    checks = {key: _passes(summary.get(key), how, bound) for key, how, bound in TARGETS}
    report = {"label": label, "model": model_meta or {}, "frames_per_step": k, "options": asdict(options),
              "data": str(data.root), "split": options.split, "songs": rows, "summary": summary,
              "targets": {key: {"how": how, "bound": bound, "passes": checks[key]} for key, how, bound in TARGETS}}
    _write(out, report, generated, real)
    return report


OUTPUTS = ("report.md", "report.csv", "report.json", "speed.png", "dances", "clips")


def _check_features(model_meta: dict | None, data: PreparedDataset) -> None:
    """Refuse data whose music features are not those the model was trained on (a model of
    streamed features on data of the reference's, or the other way round). A dataset that records no
    spec is read as the reference's, as a model file that records none is."""
    wanted = model_spec(model_meta)
    if MusicFeatureSpec.from_dict(data.music_spec or {}) != wanted:
        kind = "streamed" if wanted.stream else "reference (whole-song)"
        raise InputError(data.root, f"holds other music features than the model reads ({kind}): prepare the "
                                    f"dances with --music-features {'stream' if wanted.stream else 'reference'}")


def _clear_earlier_report(out: Path) -> None:
    """Make ``out`` ready for a report: create it, or remove an earlier report's outputs from it
    (stale clips would enter the FID). A folder holding anything else is refused, never emptied."""
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    # Besides the outputs, temporary files of a killed run's atomic writes (".report.json.*").
    leftovers = [p for p in out.iterdir() if any(p.name.startswith(f".{n}.") for n in OUTPUTS) and p.is_file()]
    for p in leftovers:
        p.unlink()
    foreign = sorted(p.name for p in out.iterdir() if p.name not in OUTPUTS)
    if foreign:
        raise InputError(out, f"holds files that aichoreo quality did not write ({', '.join(foreign[:4])}); "
                              "choose an empty or new --output")
    for name in ("dances", "clips"):
        if (out / name).is_dir():
            shutil.rmtree(out / name)


def _fid_scores(out: Path, data: PreparedDataset, generated: dict[str, np.ndarray], train: list, seed: int,
                clip_frames: int, progress: bool) -> dict[str, float | None]:
    """FID_k and FID_g* of the generated songs cut into clips of ``clip_frames`` after ``SEED_FRAMES`` of
    context, and of as many random training clips."""
    clip = SEED_FRAMES + clip_frames
    real = real_clips(data, out / "clips", clip)
    gen_files, n = [], 0
    for name, j in generated.items():
        for i, start in enumerate(range(0, len(j) - clip + 1, clip_frames)):
            gen_files.append(save_npy(out / "clips" / "generated" / f"{name}_{i:02d}.npy", j[start: start + clip]))
            n += 1
    clips = random_clips(train, n, clip, np.random.default_rng(seed))
    if n < 2 or not clips:
        problem = f"{n} generated clips of {clip / FPS:.0f} s" if n < 2 else f"no training dance of {clip / FPS:.0f} s"
        raise InputError(data.root, f"too short for FID: {problem} (give a shorter --window-seconds)")
    rand_files = [save_npy(out / "clips" / "random_clip" / f"clip_{i:02d}.npy", c) for i, c in enumerate(clips)]
    protocol = get_protocol("fact", seed_frames=SEED_FRAMES, max_frames=clip_frames)
    gen = evaluate(gen_files, real, protocol=protocol, progress=progress)
    ref = evaluate(rand_files, real, protocol=protocol, progress=progress)
    fid_g = "fid_g_varying" if "fid_g_varying" in gen else "fid_g"
    return {"fid_k": gen["fid_k"], "fid_g_star": gen.get(fid_g), "fid_k_random_clip": ref["fid_k"],
            "fid_g_star_random_clip": ref.get(fid_g), "fid_k_vs_random_clip": gen["fid_k"] / ref["fid_k"],
            "dist_k": gen["dist_k"], "dist_k_real": gen["dist_k_real"], "fid_clips": n}


def _passes(value: float | None, how: str, bound) -> bool | None:
    if value is None or not np.isfinite(value):
        return None if value is None else False
    if how == ">=":
        return bool(value >= bound)
    if how == "<=":
        return bool(value <= bound)
    return bool(bound[0] <= value <= bound[1])


SONG_COLUMNS = ("seconds", "energy_ratio", "fade", "fade_real", "jitter_ratio", "skate_ratio", "beat_align",
                "beat_align_real", "beat_align_ratio", "seam_ratio", "stature_ratio")


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "**no**"
    if isinstance(v, (list, tuple)):
        return "–".join(_fmt(x) for x in v)
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def format_report(report: dict[str, Any]) -> str:
    """The Markdown of a report dict."""
    s = report["summary"]
    lines = [f"# Whole-song quality: {report['label']}", "",
             f"Split `{report['split']}` of `{Path(report['data']).name}`, {len(report['songs'])} songs, seed "
             f"`{report['options']['seed_motion']}`, K = {report['frames_per_step']}, foot lock "
             f"{'on' if report['options']['lock_feet'] else 'off'}. Ratios are generated ÷ real dancer on the same "
             "song after the 2 s seed (1 = like the real dancer); fade is the generated dance's own.", "",
             "| acceptance number | value | target | passes |", "|---|---|---|---|"]
    for key, t in report["targets"].items():
        bound = t["bound"]
        target = f"{bound[0]}–{bound[1]}" if t["how"] == "in" else f"{t['how']} {bound}"
        lines.append(f"| {key} | {_fmt(s.get(key))} | {target} | {_fmt(t['passes'])} |")
    lines += ["", f"FID_k {_fmt(s['fid_k'])} (random training clips: {_fmt(s['fid_k_random_clip'])}), FID_g* "
              f"{_fmt(s['fid_g_star'])} (random clips: {_fmt(s['fid_g_star_random_clip'])}), on {s['fid_clips']} "
              f"clips of {report['options']['window_s']:g} s. Worst seam ratio {_fmt(s['worst_seam_ratio'])}; worst "
              f"stature ratio {_fmt(s['worst_stature_ratio'])} (head above the lowest joint, median; < 1: the dancer "
              "sinks or collapses). Generated at "
              f"{s['generated_s_per_wall_s']:.1f}× real time (foot lock {s['foot_lock_wall_s']:.2f} s in all).", "",
              "| song | " + " | ".join(SONG_COLUMNS) + " |", "|---" * (len(SONG_COLUMNS) + 1) + "|"]
    for name, row in report["songs"].items():
        lines.append(f"| {name} | " + " | ".join(_fmt(row[c]) for c in SONG_COLUMNS) + " |")
    lines += ["", "![speed over time](speed.png)", ""]
    return "\n".join(lines)


def _write(out: Path, report: dict[str, Any], generated: dict[str, np.ndarray], real: dict[str, np.ndarray]) -> None:
    with atomic_path(out / "report.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1, default=str))
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(format_report(report))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["song", *SONG_COLUMNS])
    for name, row in report["songs"].items():
        writer.writerow([name, *("" if row[c] is None else row[c] for c in SONG_COLUMNS)])
    with atomic_path(out / "report.csv") as tmp:
        tmp.write_text(buf.getvalue())
    plot_speeds(generated, real, out / "speed.png", title=report["label"])


def plot_speeds(generated: dict[str, np.ndarray], real: dict[str, np.ndarray], path: Path, *, title: str) -> None:
    """One panel per song: mean joint speed over 1 s windows, generated vs real (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(generated)
    fig, axes = plt.subplots(n, 1, figsize=(9, 1.9 * n), sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], generated):
        for joints, lab, color in ((real[name], "real dancer", "0.55"), (generated[name], "generated", "C0")):
            t, v = metrics.speed_curve(joints, fps=FPS, window_s=1.0)
            ax.plot(t, v, color=color, label=lab, lw=1.4)
        ax.axvspan(0, SEED_FRAMES / FPS, color="0.9", lw=0)
        ax.set_ylabel("m/s")
        ax.set_title(name, fontsize=9, loc="left")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("song time (s); grey: the seed")
    fig.suptitle(f"mean joint speed, 1 s windows: {title}", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
