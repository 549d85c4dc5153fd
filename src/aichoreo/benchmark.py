"""The paper-style comparison table: several trained models and simple references on one test split.

Protocol (the FACT authors', reference.md §4.6 and §6; printed with every table):

- seeds: the first 2 s (``motion_len`` = 120 frames) of each test dance; music: each test song.
  Every seed is paired with every test song (mint pairs its seeds with random test music), so a
  test split of n dances gives n x n generated dances of ``seconds`` (20) after the seed;
- real set for FID: every sequence of the dataset (all splits) cut into consecutive clips of the
  generated length (seed + ``seconds``), world coordinates. Whole sequences would leave too few
  vectors for a full-rank covariance on a small dataset (docs/results.md);
- generated: frames after the seed, world coordinates (the ``fact`` metric protocol);
  BeatAlign (FACT definition) on the n *paired* dances (seed and music of the same test dance);
- references built for the same pairs: ``ground truth`` (the test dances themselves, paired),
  ``random clip`` (a random clip of a training dance), ``mean pose`` (the mean training pose
  held still), ``frozen seed`` (the seed's last frame held).

Besides the metrics, the table gives the motion energy (mean joint speed, m/s) in the first and
the last 5 s of the generated part: the paper says causal next-frame training *freezes* and
future-1 *drifts*, and these two numbers show it where FID only says "different".

Outputs under ``out``: ``table.md`` and ``table.csv`` (FID_k, FID_g, FID_g*, Dist_k, Dist_g,
BeatAlign, PFC, energy first / last 5 s, n, generation speed), ``results.json`` (everything, with the protocol),
``frames.png`` (every method on the first test dance's seed and song, five frames from the end of
the seed to the end), ``sets/<label>/<seed>_<music>.npy`` (the scored joints, ``(T, 24, 3)`` metres, 60 fps),
``real/`` and ``music/`` (the real clips and the test songs' features).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from aichoreo.conventions import check_conventions
from aichoreo.data.dataset import PreparedDataset
from aichoreo.errors import InputError
from aichoreo.evaluate import SEED_FRAMES, evaluate, get_protocol, joints_of, random_clips, real_clips
from aichoreo.fileio import atomic_path, save_npy
from aichoreo.generate import generate_dances
from aichoreo.models import load_model
from aichoreo.motion import SMPLMotion
from aichoreo.render import render_frames_grid
from aichoreo.skeleton import FPS

log = logging.getLogger(__name__)

REFERENCES = ("ground truth", "random clip", "mean pose", "frozen seed")
COLUMNS = ("fid_k", "fid_g", "fid_g_varying", "dist_k", "dist_g", "beat_align", "pfc", "speed_first_5s",
           "speed_last_5s")
ENERGY_SECONDS = 5.0


def energy_windows(joints: np.ndarray, seconds: float = ENERGY_SECONDS) -> list[float]:
    """Mean joint speed (m/s) of ``joints (T, 24, 3)`` (metres, 60 fps) in consecutive windows of
    ``seconds`` (a shorter tail is left out)."""
    speed = np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean(axis=1) * FPS  # (T-1,)
    n = int(round(seconds * FPS))
    return [float(speed[i: i + n].mean()) for i in range(0, len(speed) - n + 1, n)]


def energy_ends(dances: dict[str, np.ndarray], n_gen: int) -> dict[str, float | None]:
    """Mean over ``dances`` of the joint speed (m/s) in the first and the last 5 s of the generated
    part (the ``n_gen`` frames after the seed); None when that part is shorter than 5 s."""
    n = int(round(ENERGY_SECONDS * FPS))
    if n_gen < n + 1:
        return {"speed_first_5s": None, "speed_last_5s": None}
    parts = [j[SEED_FRAMES: SEED_FRAMES + n_gen] for j in dances.values()]
    return {"speed_first_5s": float(np.mean([energy_windows(p[: n + 1])[0] for p in parts])),
            "speed_last_5s": float(np.mean([energy_windows(p[-n - 1:])[0] for p in parts]))}


def folder_name(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


def reference_sets(test: list, train: list, pairs: list, clip: int, rng: np.random.Generator
                   ) -> dict[str, dict[str, np.ndarray]]:
    """The four references as ``{label: {"<seed>_<music>": joints (clip, 24, 3)}}``."""
    sets: dict[str, dict[str, np.ndarray]] = {}
    sets["ground truth"] = {f"{s.name}_{s.name}": joints_of(s.motion[:clip]) for s in test}
    clips = random_clips(train, len(pairs), clip, rng)
    if clips:
        sets["random clip"] = {f"{s.name}_{m.name}": c for (s, m), c in zip(pairs, clips)}
    if train:
        all_train = np.concatenate([s.motion for s in train])
        mean_frame = joints_of(SMPLMotion.from_fact_vector(all_train.mean(axis=0, keepdims=True)).to_fact_vector())
        sets["mean pose"] = {f"{s.name}_{m.name}": np.repeat(mean_frame, clip, 0) for s, m in pairs}
    n_gen = clip - SEED_FRAMES
    sets["frozen seed"] = {f"{s.name}_{m.name}": np.concatenate([joints_of(s.motion[:SEED_FRAMES]),
                                                                 np.repeat(joints_of(s.motion[SEED_FRAMES - 1:
                                                                                             SEED_FRAMES]), n_gen, 0)])
                           for s, m in pairs}
    return sets


def model_set(model, cfg, pairs: list, n_gen: int, frames_per_step: int | None, random_seed: int,
              batch: int = 64, progress: bool = False, lock_feet: bool = False
              ) -> tuple[dict[str, np.ndarray], float, int]:
    """Generate every pair with one model: ``({name: joints}, generated s per wall s, K used)``.

    Through :func:`aichoreo.generate.generate_dances`, the pipeline of ``aichoreo dance``; the
    paper's table scores the model's own motion, as the released loop makes it: the chunks as
    predicted (no seam join), the root shown wherever it is (no room), and the foot clean-up off
    unless asked for.
    """
    if cfg.motion_len != SEED_FRAMES:
        raise InputError(None, f"the benchmark seeds every model with {SEED_FRAMES} frames; this model takes "
                               f"{cfg.motion_len}")
    k = cfg.default_frames_per_step if frames_per_step is None else min(frames_per_step, cfg.n_future)
    t0 = time.perf_counter()
    motions = generate_dances(model, [m.music[: SEED_FRAMES + n_gen] for _, m in pairs],
                              [s.motion[:SEED_FRAMES] for s, _ in pairs], frames=[SEED_FRAMES + n_gen] * len(pairs),
                              frames_per_step=k, lock_feet=lock_feet, batch_size=batch, progress=progress,
                              random_seed=random_seed, seam_ease=0, room_radius=0)
    dances = {f"{s.name}_{m.name}": motion.joints().copy() for (s, m), motion in zip(pairs, motions)}
    speed = len(pairs) * n_gen / FPS / (time.perf_counter() - t0)
    return dances, speed, k


def score(sets: dict[str, list[Path]], real: list[Path], music_dir: Path, paired: set[str], n_gen: int
          ) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Scores of every set under the ``fact`` protocol (the ``n_gen`` frames after the seed);
    BeatAlign on its paired dances only."""
    protocol = get_protocol("fact", seed_frames=SEED_FRAMES, max_frames=n_gen)
    rows: dict[str, dict[str, Any]] = {}
    report: dict[str, Any] = {}
    for label, files in sets.items():
        report = evaluate(files, real, protocol=protocol, music_dir=music_dir)
        mine = [f for f in files if f.stem in paired]
        beat = evaluate(mine, real, protocol=protocol, music_dir=music_dir)["beat_align"] if len(mine) > 1 else None
        rows[label] = {k: report.get(k) for k in COLUMNS if k in report and k != "beat_align"}
        rows[label]["beat_align"] = beat
        rows[label]["n"] = len(files)
        log.info("%s: %s", label, rows[label])
    return rows, report.get("protocol", {})


def _fmt(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def markdown_table(rows: dict[str, dict[str, Any]]) -> str:
    lines = ["| method | FID_k ↓ | FID_g ↓ | FID_g* ↓ | Dist_k | Dist_g | BeatAlign ↑ | PFC ↓ | m/s first 5 s | "
             "m/s last 5 s | n | K | x real time |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, r in rows.items():
        lines.append(f"| {label} | {_fmt(r.get('fid_k'), '.2f')} | {_fmt(r.get('fid_g'), '.3g')} | "
                     f"{_fmt(r.get('fid_g_varying'), '.2f')} | {_fmt(r.get('dist_k'), '.2f')} | "
                     f"{_fmt(r.get('dist_g'), '.3g')} | {_fmt(r.get('beat_align'), '.3f')} | {_fmt(r.get('pfc'), '.2f')} | "
                     f"{_fmt(r.get('speed_first_5s'), '.2f')} | {_fmt(r.get('speed_last_5s'), '.2f')} | {r['n']} | "
                     f"{r.get('frames_per_step') or '–'} | {_fmt(r.get('speed'), '.1f')} |")
    return "\n".join(lines)


def csv_table(rows: dict[str, dict[str, Any]]) -> str:
    buf = io.StringIO()
    fields = ["method", *COLUMNS, "n", "frames_per_step", "speed_x_real_time", "checkpoint"]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for label, r in rows.items():
        writer.writerow({"method": label, **{k: r.get(k) for k in COLUMNS}, "n": r["n"],
                         "frames_per_step": r.get("frames_per_step"), "speed_x_real_time": r.get("speed"),
                         "checkpoint": r.get("checkpoint")})
    return buf.getvalue()


def protocol_text(protocol: dict[str, Any], info: dict[str, Any]) -> str:
    """The protocol, one line per fact, printed above every table."""
    return "\n".join([
        f"protocol: {protocol.get('name', 'fact')} metrics ({protocol.get('coordinates', 'world')} coordinates, "
        f"first {protocol.get('seed_frames', SEED_FRAMES)} frames of every dance excluded)",
        f"data: {info['data']}; test split: {', '.join(info['test'])}",
        f"pairs: every test seed (first {SEED_FRAMES} frames) x every test song = {info['pairs']} dances of "
        f"{info['seconds']:g} s after the seed; BeatAlign on the {len(info['test'])} paired ones",
        f"real set: {info['n_real']} clips of {info['clip']} frames cut from every sequence of the dataset",
        "FID_g*: FID_g without the geometric features that are constant over the real set "
        f"({(protocol.get('features_constant_in_real_set') or {}).get('geometric', [])}, 0-based)",
    ])


def benchmark_table(data: PreparedDataset, checkpoints: dict[str, str | os.PathLike], out: str | os.PathLike, *,
                    seconds: float = 20.0, frames_per_step: int | None = None, references: bool = True,
                    random_seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Score ``checkpoints`` (label -> model file or bundled name) on ``data``'s test split; see the
    module docstring. Returns the ``results.json`` dict."""
    out = Path(out)
    test, train = data.load_split("test"), data.load_split("train")
    if len(test) < 2:
        raise InputError(data.root, f"the test split has {len(test)} sequences; the table needs at least 2")
    n_gen = int(round(seconds * FPS))
    clip = SEED_FRAMES + n_gen
    short = [s.name for s in test if min(len(s.motion), len(s.music)) < clip]
    if short:
        raise InputError(data.root, f"test sequences shorter than {clip / FPS:g} s (seed + --seconds): "
                                    f"{', '.join(short)}; lower --seconds")
    # Load every model first: a bad file (or one trained on other conventions) fails before
    # minutes of generation.
    models = {label: load_model(path, check_conventions=check_conventions) for label, path in checkpoints.items()}
    rng = np.random.default_rng(random_seed)
    pairs = [(s, m) for s in test for m in test]
    real = real_clips(data, out, clip)
    for s in test:
        save_npy(out / "music" / f"{s.name}.npy", s.music)

    dances: dict[str, dict[str, np.ndarray]] = reference_sets(test, train, pairs, clip, rng) if references else {}
    extra: dict[str, dict[str, Any]] = {}
    for label, (model, cfg, meta) in models.items():
        log.info("generating %d dances with %s", len(pairs), label)
        dances[label], speed, k = model_set(model, cfg, pairs, n_gen, frames_per_step, random_seed,
                                            progress=progress)
        extra[label] = {"frames_per_step": k, "speed": speed, "checkpoint": str(checkpoints[label]),
                        "preset": meta.get("preset"), "step": meta.get("step")}
    sets = {label: [save_npy(out / "sets" / folder_name(label) / f"{name}.npy", j) for name, j in d.items()]
            for label, d in dances.items()}
    first = f"{test[0].name}_{test[0].name}"
    render_frames_grid({label: d[first] for label, d in dances.items() if first in d}, out / "frames.png", fps=FPS,
                       times_s=list(np.linspace(SEED_FRAMES, clip - 1, 5) / FPS), width=240, height=300,
                       title=f"seed and music of {test[0].name}")
    rows, protocol = score(sets, real, out / "music", {f"{s.name}_{s.name}" for s in test}, n_gen)
    for label, d in dances.items():
        rows[label].update(energy_ends(d, n_gen))
    for label, more in extra.items():
        rows[label].update(more)
    info = {"data": str(data.root), "test": [s.name for s in test], "pairs": len(pairs), "seconds": seconds,
            "clip": clip, "n_real": len(real)}
    result = {"protocol": {**protocol, **info}, "rows": rows}
    text = protocol_text(protocol, info)
    with atomic_path(out / "results.json") as tmp:
        tmp.write_text(json.dumps(result, indent=1, default=str))
    with atomic_path(out / "table.md") as tmp:
        tmp.write_text("\n".join(f"- {line}" for line in text.splitlines()) + "\n\n" + markdown_table(rows) + "\n")
    with atomic_path(out / "table.csv") as tmp:
        tmp.write_text(csv_table(rows))
    return result
