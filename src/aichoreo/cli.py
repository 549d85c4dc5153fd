"""The ``aichoreo`` command. Argument parsing lives here only; each sub-command calls the library.

Every user-facing problem is an :class:`aichoreo.errors.AichoreoError` (or a ``ValueError`` from
validation) and is printed as one line ``aichoreo: error: ...`` with exit status 1; no traceback
unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import os
import signal
import sys
import warnings
from pathlib import Path

from aichoreo import config
from aichoreo.defaults import HEARD_FRAMES, SEAM_EASE_FRAMES, SMOOTH_HZ, STYLE_STRENGTH
from aichoreo.errors import AichoreoError, InputError, Terminated

log = logging.getLogger("aichoreo")


# --------------------------------------------------------------------------------------------
# argparse helpers
# --------------------------------------------------------------------------------------------


def _finite_float(text: str, *, allow_zero: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    # inf seconds or fps would run forever or overflow; nan compares false with everything
    if not (math.isfinite(value) and (value >= 0 if allow_zero else value > 0)):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {text!r}" if allow_zero
                                         else f"must be a positive finite number: {text!r}")
    return value


def _positive_float(text: str) -> float:
    return _finite_float(text, allow_zero=False)


def _motion_fps(text: str) -> float:
    """A motion file's frame rate, within :data:`aichoreo.skeleton.MOTION_FPS_RANGE`."""
    low, high = 1.0, 1000.0  # aichoreo.skeleton.MOTION_FPS_RANGE, here so that --help imports no numpy
    value = _finite_float(text, allow_zero=False)
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"a motion's frame rate is {low:g} to {high:g} fps, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    return _finite_float(text, allow_zero=True)


def _integer(text: str, *, allow_zero: bool) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0 or (value == 0 and not allow_zero):
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}" if allow_zero else f"must be positive: {text!r}")
    return value


def _positive_int(text: str) -> int:
    return _integer(text, allow_zero=False)


def _non_negative_int(text: str) -> int:
    return _integer(text, allow_zero=True)


def _existing_file(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a folder, expected a file")
    return path


def _existing_dir(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no such folder")
    return path


def _output_dir(path: Path):
    """``with _output_dir(path) as out:`` creates ``path`` as an output folder (refusing a path that is
    a file) and removes it again, when still empty, if the command fails."""
    from aichoreo.fileio import output_folder

    return output_folder(path)


def _print_outputs(title: str, paths: list[Path]) -> None:
    print(f"{title}:")
    for p in paths:
        print(f"  {p}")


# --------------------------------------------------------------------------------------------
# features
# --------------------------------------------------------------------------------------------


def cmd_features(args: argparse.Namespace) -> int:
    from aichoreo import audio
    from aichoreo.fileio import check_distinct_stems, save_npy

    songs = [Path(s) for s in args.songs]
    out = Path(args.output)
    many = len(songs) > 1 or out.suffix.lower() != ".npy"
    if many:
        if out.exists() and not out.is_dir():
            raise InputError(out, "the output path exists and is a file, not a folder")
        targets = [out / f"{s.stem}.npy" for s in songs]
        check_distinct_stems(songs, "their features would be one file: give them distinct names or run one at a time")
    else:
        if out.is_dir():
            raise InputError(out, "is a folder; give a .npy file name for one song")
        targets = [out]
    cache = None if args.no_cache else audio.FeatureCache(args.cache_dir or config.default_cache_dir() / "features")
    feats = audio.features_for_files(songs, bpm=args.bpm, cache=cache, workers=args.workers, progress=True)
    for target, f in zip(targets, feats):
        save_npy(target, f)
    _print_outputs("wrote music features (T, 35) float32 at 60 fps", targets)
    return 0


# --------------------------------------------------------------------------------------------
# render
# --------------------------------------------------------------------------------------------


def _motion_joints(path: Path, fps: float):
    """Joints ``(T, 24, 3)`` metres and their frame rate, for render and beat-plot: a ``.npy`` of joints
    as given, at ``fps``; any other motion file aichoreo reads (AIST++ or EDGE ``.pkl``, AMASS ``.npz``,
    the SMPL ``.bvh``: :func:`aichoreo.retarget.read_source_motion`) at its own rate."""
    from aichoreo.data.motion_files import load_joints

    if path.suffix.lower() == ".npy":
        return load_joints(path, fps=fps)
    from aichoreo.retarget import read_source_motion

    motion = read_source_motion(path)
    return motion.joints().copy(), float(motion.fps)


def cmd_render(args: argparse.Namespace) -> int:
    from aichoreo.render import render_frames_png, render_video

    joints, fps = _motion_joints(args.motion, args.fps)
    out = Path(args.output)
    if out.suffix.lower() == ".png":
        render_frames_png(joints, out, fps=fps, title=args.motion.name)
    elif out.suffix.lower() == ".mp4":
        render_video(joints, out, fps=fps, audio_path=args.music, audio_offset_s=args.music_offset,
                     title=args.motion.name, progress=True, figure=args.figure)
    else:
        raise InputError(out, "unknown output type: use .mp4 (video) or .png (frames)")
    _print_outputs("wrote", [out])
    return 0


# --------------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------------


def cmd_config_list(args: argparse.Namespace) -> int:
    from aichoreo.models import available_presets, count_parameters, get_preset, model_name

    for name in available_presets():
        cfg = get_preset(name)
        print(f"{name:22s} {model_name(cfg):16s} {count_parameters(cfg):>13,d} parameters")
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    import dataclasses

    from aichoreo.models import BUNDLED_MODELS, available_presets, count_parameters, model_name

    if args.name not in available_presets() and (args.name in BUNDLED_MODELS or Path(args.name).is_file()):
        return _show_model_file(args)
    model_cfg, train_cfg = config.resolve_experiment(args.name, args.set)
    params = count_parameters(model_cfg)
    if args.json:
        print(_dump_json({"name": args.name, "architecture": model_name(model_cfg), "params": params,
                          "model": model_cfg.to_dict(), "train": dataclasses.asdict(train_cfg)}))
        return 0
    print(f"preset {args.name} ({model_name(model_cfg)}): {params:,d} parameters")
    print("model:")
    for key, value in model_cfg.to_dict().items():
        print(f"  {key} = {value}")
    print("train:")
    for key, value in dataclasses.asdict(train_cfg).items():
        print(f"  {key} = {value}")
    return 0


def _show_model_file(args: argparse.Namespace) -> int:
    """``config show MODEL``: a model file's architecture, styles and training settings."""
    from aichoreo.models import count_parameters, load_model, model_name

    if args.set:
        raise InputError(args.name, "--set changes a preset; a model file's configuration is fixed")
    _, model_cfg, meta = load_model(args.name)
    params = count_parameters(model_cfg)
    styles = list(getattr(model_cfg, "styles", ()))
    if args.json:
        print(_dump_json({"name": args.name, "architecture": model_name(model_cfg), "params": params,
                          "styles": styles, "model": model_cfg.to_dict(), "train": meta.get("training", {}),
                          "preset": meta.get("preset")}))
        return 0
    print(f"model file {args.name} ({model_name(model_cfg)}, preset {meta.get('preset', 'unknown')}): "
          f"{params:,d} parameters")
    print("styles: " + (", ".join(styles) + " (or auto)" if styles else "none (--style auto only)"))
    print("model:")
    for key, value in model_cfg.to_dict().items():
        print(f"  {key} = {value}")
    print("train:")
    for key, value in (meta.get("training") or {}).items():
        print(f"  {key} = {value}")
    return 0


# --------------------------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    from aichoreo.data.dataset import PreparedDataset, is_prepared_dataset
    from aichoreo.train import TrainingDiverged, train

    model_cfg, train_cfg = config.resolve_experiment(args.config, args.set)
    if is_prepared_dataset(args.data):
        data_dir = args.data
    else:
        if args.music is None:
            raise InputError(args.data, "is not a prepared dataset (no index.json); for an AIST++ annotations "
                                        "folder give --music with the mBR0.wav ... files")
        from aichoreo.data.prepare import aistpp_cache_name, prepare_aistpp

        data_dir = config.default_cache_dir() / "datasets" / aistpp_cache_name(args.data, args.music)
        prepare_aistpp(args.data, args.music, data_dir, progress=True)
    out = Path(args.out)
    try:
        summary = train(model_cfg, PreparedDataset(data_dir), out, preset=args.config, train_config=train_cfg,
                        max_steps=args.max_steps, resume=args.resume, accelerator=args.accelerator,
                        devices=args.devices, num_nodes=args.num_nodes, strategy=args.strategy, progress=True,
                        init=args.init)
    except TrainingDiverged:
        print(file=sys.stderr)  # end the progress bar's line, so the error gets a line of its own
        raise
    if summary.get("windows_per_s"):
        print(f"throughput: {summary['windows_per_s']:.1f} training windows per second")
    print(f"trained {summary['steps']} steps; train loss {summary['train_loss']}, val loss {summary['val_loss']}")
    _print_outputs(f"run folder {out}", [Path(summary["last_model"])] +
                   ([Path(summary["best_model"])] if summary["best_model"] else []) + [out / "checkpoints" / "last.ckpt"])
    return 0


# --------------------------------------------------------------------------------------------
# evaluate, beat-plot
# --------------------------------------------------------------------------------------------


def cmd_evaluate(args: argparse.Namespace) -> int:
    from aichoreo.data.motion_files import list_motion_files
    from aichoreo.evaluate import evaluate, format_report, get_protocol

    given = {"seed_frames": args.seed_frames, "fps": args.fps, "coordinates": args.coordinates,
             "max_frames": args.max_frames}
    overrides = {k: v for k, v in given.items() if v is not None}
    if overrides.get("max_frames") == 0:
        overrides["max_frames"] = None  # 0 = every generated frame
    protocol = get_protocol(args.protocol, **overrides)
    pred, real = list_motion_files(args.pred), list_motion_files(args.real)
    cache = None if args.no_cache else (args.cache_dir or config.default_cache_dir())
    report = evaluate(pred, real, protocol=protocol, music_dir=args.music, cache_dir=cache,
                      workers=args.workers, progress=not args.json)
    print(_dump_json(report) if args.json else format_report(report))
    return 0


def cmd_beat_plot(args: argparse.Namespace) -> int:
    import numpy as np

    from aichoreo.audio import BEATS, FEATURE_DIM, song_features
    from aichoreo.audio import FPS as MUSIC_FPS
    from aichoreo.data.motion_files import dance_music
    from aichoreo.metrics import beat_frames_at, plot_beat_alignment

    if Path(args.output).suffix.lower() != ".png":
        raise InputError(args.output, "the plot is a PNG: name it OUT.png")
    joints, fps = _motion_joints(args.motion, args.fps)
    if args.music.suffix.lower() == ".npy":
        from aichoreo.fileio import read_npy

        feats = read_npy(args.music)
        if feats.ndim != 2 or feats.shape[1] != FEATURE_DIM or feats.dtype.kind not in "fiu":
            raise InputError(args.music, f"has shape {feats.shape} ({feats.dtype}), expected music features "
                                         f"(T, {FEATURE_DIM}) as aichoreo features writes")
        beats = feats[:, BEATS]
        if not np.isin(beats, (0, 1)).all():
            raise InputError(args.music, f"its beat column ({BEATS}) holds other values than 0 and 1")
        beats = beats != 0  # a 0/1 column, also in a file of integers (not a list of beat frames)
    else:
        beats = song_features(args.music, bpm=args.bpm)[:, BEATS]
    offset = args.music_offset
    if offset is None:  # a dance's frame 0 sounds at its --start
        made = dance_music(args.motion)
        offset = made[1] if made else 0.0
    # The features are at 60 fps; a motion at another rate sees the beats at their times, in its frames.
    beats = beat_frames_at(beats, music_fps=MUSIC_FPS, fps=fps, offset_s=offset)
    plot_beat_alignment(joints, beats, args.output, fps=fps, mode=args.mode, title=args.motion.name)
    _print_outputs("wrote", [Path(args.output)])
    return 0


def _label_path(text: str) -> tuple[str, str]:
    label, sep, path = text.partition("=")
    if not sep:  # a bare path: labelled by its run folder (runs/NAME/models/last.pt -> NAME)
        p = Path(text)
        label = p.parent.parent.name if p.parent.name == "models" else p.stem
        path = text
    if not label or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=MODEL_FILE or MODEL_FILE, got {text!r}")
    return label, path


def cmd_benchmark_table(args: argparse.Namespace) -> int:
    from aichoreo.benchmark import benchmark_table, markdown_table, protocol_text
    from aichoreo.data.dataset import PreparedDataset

    checkpoints = dict(args.checkpoints or [])
    if len(checkpoints) != len(args.checkpoints or []):
        raise InputError(None, "two --checkpoints share a name; label them NAME=FILE")
    if not checkpoints and args.no_references:
        raise InputError(None, "nothing to score: give --checkpoints or drop --no-references")
    with _output_dir(Path(args.output)) as out:
        result = benchmark_table(PreparedDataset(args.data), checkpoints, out, seconds=args.seconds,
                                 frames_per_step=args.frames_per_step, references=not args.no_references,
                                 random_seed=args.random_seed, progress=True)
    protocol = result["protocol"]
    print(protocol_text(protocol, protocol))
    print()
    print(markdown_table(result["rows"]))
    _print_outputs(f"outputs in {out}", [out / name for name in ("table.md", "table.csv", "results.json", "frames.png")])
    return 0


def cmd_quality(args: argparse.Namespace) -> int:
    from aichoreo.pipeline import load_dance_model
    from aichoreo.quality_report import QualityOptions, format_report, quality_report

    model, meta = load_dance_model(args.checkpoint)
    options = QualityOptions(split=args.split, seed_motion=args.seed_motion, frames_per_step=args.frames_per_step,
                             lock_feet=not args.no_foot_lock, random_seed=args.random_seed,
                             window_s=args.window_seconds, style=args.style,
                             beats_from=None if args.beats_from is None else str(args.beats_from),
                             **({"seam_ease": args.seam_ease} if "seam_ease" in args else {}),
                             **({"room_radius": args.room_radius} if "room_radius" in args else {}),
                             **({"style_strength": args.style_strength} if "style_strength" in args else {}))
    with _output_dir(Path(args.output)) as out:
        report = quality_report(model, args.data, out, options, model_meta=meta,
                                label=args.label or Path(str(args.checkpoint)).stem, progress=True)
    print(format_report(report))
    _print_outputs(f"outputs in {out}", [out / n for n in ("report.md", "report.csv", "report.json", "speed.png")])
    return 0


# --------------------------------------------------------------------------------------------
# dance
# --------------------------------------------------------------------------------------------


def _formats(text: str) -> tuple[str, ...]:
    from aichoreo.export import FORMATS

    if text == "all":
        return FORMATS
    chosen = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown format(s) {', '.join(unknown) or text!r}; choose from "
                                         f"{', '.join(FORMATS)} or all")
    return chosen


def cmd_dance(args: argparse.Namespace) -> int:
    from aichoreo.audio import FeatureCache
    from aichoreo.pipeline import DanceOptions, dance

    out = Path(args.output)
    for song in args.songs:
        if not Path(song).is_file():
            raise InputError(song, "no such file" if not Path(song).is_dir() else "is a folder, expected an audio file")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise InputError(None, "--device cuda: no CUDA device is available")
    options = DanceOptions(seconds=args.seconds, start=args.start, seed_motion=args.seed_motion,
                           frames_per_step=args.frames_per_step, batch_size=args.batch_size, device=args.device,
                           formats=args.formats, random_seed=args.random_seed, bpm=args.bpm,
                           lock_feet=not args.no_foot_lock, character=args.character, bone_map=args.map,
                           figure=args.figure, keyframes=args.keyframes, continue_from=args.continue_from,
                           keep=args.keep, keep_from=args.keep_from, style=args.style,
                           **({"seam_ease": args.seam_ease} if "seam_ease" in args else {}),
                           **({"room_radius": args.room_radius} if "room_radius" in args else {}),
                           **({"style_strength": args.style_strength} if "style_strength" in args else {}))
    cache = None if args.no_cache else FeatureCache(args.cache_dir or config.default_cache_dir() / "features")
    summaries = dance(args.songs, args.checkpoint, out, options, aistpp_root=args.aistpp, cache=cache, progress=True)
    for s in summaries:
        _print_outputs(f"{Path(s['song']).name} -> {s['out']}", [Path(p) for p in s["files"].values()])
    return 0


def cmd_live(args: argparse.Namespace) -> int:
    from aichoreo.live import live

    def ready(url: str | None) -> None:
        if url is not None:
            print(f"live viewer: {url}  (open it in a browser; Ctrl-C stops)", file=sys.stderr, flush=True)
        elif sys.stderr.isatty():
            print("dancing (Ctrl-C stops)", file=sys.stderr, flush=True)

    summary = live(args.song, stdin=args.stdin, device=args.input_device, model=args.checkpoint, serve=args.serve,
                   vmc=args.vmc, record=args.record, realtime=not args.fast, rate=args.rate, channels=args.channels,
                   bpm=args.bpm, delay_s=args.delay, stats=args.stats, style=args.style, lock_feet=not args.no_foot_lock,
                   smooth_hz=args.smooth or None, style_strength=getattr(args, "style_strength", None),
                   lookahead_s=args.lookahead, on_ready=ready)
    latency = summary["latency_s"]
    print(f"danced {summary['seconds']:.1f} s: {summary['late_frames']} late frames, latency p95 "
          f"{latency['p95'] if latency['p95'] is not None else '-'} s"
          + (" (stopped)" if summary["interrupted"] else ""), file=sys.stderr)
    outputs = [Path(p) for p in (summary["recording"], args.stats) if p]
    if outputs:
        _print_outputs("written", outputs)
    return {"SIGTERM": 128 + signal.SIGTERM, "SIGINT": 130}.get(summary["interrupted"], 0)


def cmd_retarget(args: argparse.Namespace) -> int:
    from aichoreo.retarget import retarget

    summary = retarget(args.motion, args.character, Path(args.output), bone_map=args.map, progress=True)
    if args.json:
        print(_dump_json(summary))
    else:
        print(f"{summary['frames']} frames at {summary['fps']:g} fps; bones found by {summary['scheme']} names; "
              f"scale {summary['scale']:.3f}")
    _print_outputs("wrote", [Path(summary["out"])])
    return 0


# --------------------------------------------------------------------------------------------
# data prepare
# --------------------------------------------------------------------------------------------


# aichoreo.data.prepare.MUSIC_FEATURES' names, written here so that --help does not import librosa (a test
# checks they agree).
MUSIC_FEATURE_CHOICES = ("reference", "stream")
OVERWRITE_HELP = ("rebuild even if the folder is already prepared with the same dances and music features (a run "
                  "that stops before the end leaves no index: prepare again)")
MUSIC_FEATURES_HELP = ("reference: the paper's whole-song features; stream: the features a live run computes as the "
                       "audio arrives, for models that dance live (fact-small-stream; docs/live.md)")


def cmd_prepare_aistpp(args: argparse.Namespace) -> int:
    from aichoreo.data.prepare import MUSIC_FEATURES, prepare_aistpp

    with _output_dir(Path(args.output)) as out:
        ds = prepare_aistpp(args.src, args.music, out, workers=args.workers, progress=True, overwrite=args.overwrite,
                            music_spec=MUSIC_FEATURES[args.music_features])
    counts = ", ".join(f"{s}: {len(ds.names(s))}" for s in ("train", "val", "test"))
    _print_outputs(f"prepared {len(ds.names())} AIST++ sequences ({counts})", [out / "index.json"])
    return 0

def cmd_prepare_dwm(args: argparse.Namespace) -> int:
    from aichoreo.data.prepare import MUSIC_FEATURES, prepare_dwm

    if args.src is None:
        data = config.default_data_dir()
        if data is None or not (data / "dance_with_melody").is_dir():
            raise InputError(None, "give --src: no dance_with_melody folder in $AICHOREO_DATA or ../shared/data")
        args.src = data / "dance_with_melody"
    with _output_dir(Path(args.output)) as out:
        ds = prepare_dwm(args.src, out, fits=args.fits, fit_iterations=args.fit_iterations, progress=True,
                         overwrite=args.overwrite, music_spec=MUSIC_FEATURES[args.music_features],
                         motion_from=args.motion_from)
    counts = ", ".join(f"{s}: {len(ds.names(s))}" for s in ("train", "val", "test"))
    _print_outputs(f"prepared {len(ds.names())} Dance-with-Melody dances ({counts})", [out / "index.json"])
    return 0



# --------------------------------------------------------------------------------------------
# reconstruct, fit
# --------------------------------------------------------------------------------------------


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from aichoreo.reconstruct.pipeline import reconstruct

    with _output_dir(Path(args.output)) as out:
        result = reconstruct(args.keypoints2d, args.cameras, out, fps=args.fps, units_per_metre=args.units_per_metre,
                             fit_iterations=args.fit_iterations, progress=True)
    summary = result["summary"]
    print(_dump_json(summary) if args.json else
          "\n".join(f"{k}: {v}" for k, v in summary.items() if not isinstance(v, (list, dict))))
    _print_outputs(f"outputs in {out}", [Path(result["keypoints3d"]), Path(result["motion"])])
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from aichoreo.reconstruct.pipeline import fit_joints_file

    out = Path(args.output)
    if out.suffix != ".pkl":
        raise InputError(out, "the output is an AIST++ motion pickle: give a .pkl file name")
    summary = fit_joints_file(args.joints, args.layout, args.fps, out, units=args.units, floor=args.floor,
                              iterations=args.iterations, progress=True)
    print(_dump_json(summary) if args.json else
          "\n".join(f"{k}: {v}" for k, v in summary.items() if not isinstance(v, (list, dict))))
    _print_outputs("wrote", [out])
    return 0

# --------------------------------------------------------------------------------------------
# parser
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aichoreo",
        description="Music-conditioned 3D dance generation (FACT / AIST++): music features, "
        "AIST++ data, metrics, training.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    p = sub.add_parser(
        "features", formatter_class=fmt, help="compute 35-d FACT music features (60 fps) of songs",
        description="Write the 35-d FACT music features, float32 (T, 35) with T = 1 + floor(samples at "
        "30720 Hz / 512): envelope, 20 MFCC, 12 chroma, onset peaks, beats. The beat tracker's tempo prior "
        "comes from --bpm, else from an AIST++ music id in the file name (mBR0 = 80 BPM), else is estimated. "
        "Features are cached on disk, keyed by file content and parameters.",
    )
    p.add_argument("songs", nargs="+", help="audio files (wav, mp3, flac, ogg, opus)")
    p.add_argument("-o", "--output", required=True,
                   help="OUT.npy for one song, or a folder (one <stem>.npy per song)")
    p.add_argument("--bpm", type=_positive_float, default=None, help="tempo prior for beat tracking")
    p.add_argument("--workers", type=_positive_int, default=2, help="songs computed in parallel")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="feature cache folder (default: $AICHOREO_CACHE/features or ~/.cache/aichoreo/features)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser(
        "render", formatter_class=fmt, help="draw a motion as a skeleton video (.mp4) or frame strip (.png)",
        description="Render joints (.npy (T, 24, 3) metres y-up) or a motion file (AIST++ or EDGE .pkl, AMASS "
        ".npz, aichoreo's SMPL .bvh) from a fixed camera.",
    )
    p.add_argument("motion", type=_existing_file,
                   help="motion file: .npy joints, .pkl (AIST++ or EDGE), .npz (AMASS) or .bvh (SMPL skeleton)")
    p.add_argument("-o", "--output", required=True, help="OUT.mp4 or OUT.png")
    p.add_argument("--fps", type=_motion_fps, default=60.0, help="frame rate of a .npy joints file")
    p.add_argument("--music", type=_existing_file, default=None, help="audio to mux into the video")
    p.add_argument("--music-offset", type=_non_negative_float, default=0.0,
                   help="seconds into the music at motion frame 0 (inside the song)")
    p.add_argument("--figure", choices=["body", "stick"], default="body",
                   help="the video's dancer: a body of capsules, or the stick figure (PNG strips: the stick figure)")
    p.set_defaults(func=cmd_render)


    p = sub.add_parser("config", formatter_class=fmt, help="list presets, show a resolved configuration",
                       description="Model presets: the released FACT (fact), its ablations, fact-small and its "
                       "ablations (fact-small-*), tiny; the baselines li2020, dancenet, dancerevolution and their "
                       "-small versions.")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    q = csub.add_parser("list", help="presets with their parameter counts")
    q.set_defaults(func=cmd_config_list)
    q = csub.add_parser("show", formatter_class=fmt,
                        help="the resolved configuration of a preset, or of a model file with its styles")
    q.add_argument("name", help="preset name (aichoreo config list), a model file, or a bundled model (default, styles)")
    q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a field (repeatable)")
    q.add_argument("--json", action="store_true", help="one JSON object with name, params, model, train")
    q.set_defaults(func=cmd_config_show)

    p = sub.add_parser(
        "train", formatter_class=fmt, help="train a model with PyTorch Lightning",
        description="Train a preset on a prepared dataset (a folder with index.json) or on an AIST++ "
        "annotations folder (with --music holding mBR0.wav ...; prepared once into the cache). Outputs under "
        "--out: config.json, checkpoints/last.ckpt (resume state), models/*.pt (model files: every "
        "checkpoint_every steps, best.pt, last.pt), logs/. Multi-GPU and multi-node through Lightning "
        "(--devices, --num-nodes; torchrun and SLURM are detected). Training stops with an error, saving "
        "nothing of the bad step, when the loss or the weights stop being finite (NaN, inf).",
    )
    p.add_argument("--config", required=True, help="preset name (aichoreo config list)")
    p.add_argument("--data", required=True, type=_existing_dir, help="prepared dataset or AIST++ annotations folder")
    p.add_argument("--music", type=_existing_dir, default=None, help="AIST++ music folder (with --data AIST++)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--max-steps", type=_positive_int, default=None, help="training steps (default: the preset's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a model or training field, e.g. --set d_model=256 --set checkpoint_every=500")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from checkpoints/last.ckpt, or from the newest intact "
                        "checkpoints/step*.ckpt when it is damaged (a run stopped before its first checkpoint "
                        "starts again from step 0, with or without --resume)")
    p.add_argument("--init", default=None, metavar="MODEL",
                   help="start from the weights of this model file, or of a bundled model (default, styles, "
                        "stream), instead of random ones: fine-tuning; --config and --set must build its "
                        "architecture (a model with styles may start from one without: the styles start at zero), and "
                        "the data must have its conventions (a resumed run ignores it)")
    p.add_argument("--accelerator", default="auto", help="cpu, gpu, auto")
    p.add_argument("--devices", default="auto", help="devices per node (number, list, or auto)")
    p.add_argument("--num-nodes", type=_positive_int, default=1, help="machines")
    p.add_argument("--strategy", default="auto", help="Lightning strategy, e.g. ddp")
    p.set_defaults(func=cmd_train)


    p = sub.add_parser(
        "benchmark-table", formatter_class=fmt, help="the paper-style table of several models on one test split",
        description="Generate with every model on a prepared dataset's test split (every test seed x every test "
        "song, the seed's 2 s then --seconds of dance) and score them, with four references (ground truth, random "
        "training clip, mean pose, frozen seed), under the FACT protocol: FID_k, FID_g, FID_g*, Dist_k, Dist_g, "
        "BeatAlign (paired dances), PFC, and the motion energy (mean joint speed) in the first and last 5 s. Writes "
        "table.md (with the protocol), table.csv, results.json, frames.png (every method on one seed and song) and the "
        "scored joints under OUTDIR; prints the protocol and the table. docs/results.md shows one.",
    )
    p.add_argument("--data", required=True, type=_existing_dir, help="prepared dataset (aichoreo data prepare ...)")
    p.add_argument("--checkpoints", nargs="+", type=_label_path, default=[], metavar="NAME=FILE",
                   help="model files (or 'default'), each optionally labelled NAME=FILE; a bare "
                        "RUN/models/last.pt is labelled RUN")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--seconds", type=_positive_float, default=20.0, help="seconds generated after each seed")
    p.add_argument("--frames-per-step", type=_positive_int, default=None,
                   help="frames kept per forward pass (default: each model's own, as aichoreo dance)")
    p.add_argument("--random-seed", type=int, default=0, help="seeds the random clips and the models' sampling")
    p.add_argument("--no-references", action="store_true", help="score the models only")
    p.set_defaults(func=cmd_benchmark_table)

    p = sub.add_parser(
        "quality", formatter_class=fmt, help="whole-song quality of a model against the real dancers (issue 14's report)",
        description="Dance every song of a prepared dataset's split (default: test) whole, from the built-in seed, "
        "through the same pipeline as 'aichoreo dance', and compare with the real dance on the same song: energy, "
        "fade, jitter, foot skate, BeatAlign, chunk seams, spread across songs, FID_k and FID_g* beside random "
        "training clips. Writes report.md, report.csv, report.json, speed.png and the generated joints "
        "(docs/quality.md).",
    )
    p.add_argument("--data", required=True, type=_existing_dir, help="a prepared dataset (aichoreo data prepare)")
    p.add_argument("--checkpoint", default="default", help="model file, or the name of a bundled model")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--split", default="test", help="the split whose songs are danced")
    p.add_argument("--seed-motion", default="neutral", choices=["neutral", "pose", "bounce"],
                   help="the built-in seed (aichoreo.seeds): neutral = the model file's seed pose, else bounce")
    p.add_argument("--frames-per-step", type=_positive_int, default=None,
                   help="frames kept per forward pass (default: the model's)")
    p.add_argument("--no-foot-lock", action="store_true",
                   help="score the model's raw motion: neither kept on the floor nor feet locked")
    p.add_argument("--random-seed", type=int, default=0, help="varies the bounce seed and the random clips")
    p.add_argument("--window-seconds", type=_positive_float, default=20.0,
                   help="fade compares the first and last this many seconds after the seed; FID clips are this long")
    p.add_argument("--seam-ease", type=_non_negative_int, default=argparse.SUPPRESS, metavar="FRAMES",
                   help=f"frames over which each predicted chunk is joined to the frames before it, as aichoreo "
                        f"dance (default: {SEAM_EASE_FRAMES}; 0: none)")
    p.add_argument("--room-radius", type=_non_negative_float, default=argparse.SUPPRESS, metavar="METRES",
                   help="as aichoreo dance (default: the model's own; 0: none)")
    p.add_argument("--style", default="auto",
                   help="dance every song in this style of the model (as aichoreo dance --style); auto: none")
    p.add_argument("--style-strength", type=_non_negative_float, default=argparse.SUPPRESS, metavar="S",
                   help=f"classifier-free guidance of --style (default: {STYLE_STRENGTH:g})")
    p.add_argument("--beats-from", type=_existing_dir, default=None, metavar="DATA",
                   help="score BeatAlign against the beats of this prepared dataset of the same dances (for a model "
                        "of streamed features: the reference's beats)")
    p.add_argument("--label", default=None, help="name of the model in the report (default: the file's stem)")
    p.set_defaults(func=cmd_quality)

    p = sub.add_parser(
        "evaluate", formatter_class=fmt, help="FID_k, FID_g, Dist_k, Dist_g, BeatAlign, PFC of generated motions",
        description="Score a folder of generated motions against a folder of real ones with the reference "
        "metric definitions under a named protocol (fact: seed excluded, world coordinates; bailando: zero-start "
        "coordinates). Folders hold .npy joints (T, 24, 3) metres y-up 60 fps, AIST++ motion .pkl files, EDGE's "
        "output .pkl files (30 fps, resampled to the protocol's rate; give --seed-frames 0), or the "
        "sub-folders that `aichoreo dance` writes. --music holds the songs (audio or (T, 35) .npy features) "
        "matched by name: same stem, a _<music> suffix, or the AIST++ music id in the name.",
    )
    p.add_argument("--pred", required=True, type=_existing_dir, help="generated motions")
    p.add_argument("--real", required=True, type=_existing_dir, help="real motions")
    p.add_argument("--music", type=_existing_dir, default=None, help="songs, for BeatAlign")
    p.add_argument("--protocol", choices=["fact", "bailando"], default="fact", help="evaluation protocol")
    p.add_argument("--seed-frames", type=int, default=None,
                   help="seed frames at the start of each generated file (default: the protocol's: fact 120, bailando 0)")
    p.add_argument("--max-frames", type=int, default=None,
                   help="generated frames kept after the seed (default 1200; 0 = all)")
    p.add_argument("--coordinates", choices=["world", "zero_start"], default=None,
                   help="override the protocol's coordinates")
    p.add_argument("--fps", type=_motion_fps, default=None, help="frame rate of .npy files (default 60)")
    p.add_argument("--workers", type=_positive_int, default=2, help="processes for music features")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="cache of real-set features (default: $AICHOREO_CACHE or ~/.cache/aichoreo)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "beat-plot", formatter_class=fmt, help="plot a motion's speed, kinematic beats and music beats (PNG)",
        description="Draw the motion speed curve with its kinematic beats and the music beats, and the BeatAlign "
        "score, as a PNG.",
    )
    p.add_argument("motion", type=_existing_file,
                   help=".npy joints, .pkl (AIST++ or EDGE), .npz (AMASS) or .bvh (SMPL skeleton)")
    p.add_argument("--music", required=True, type=_existing_file, help="the song (audio) or its (T, 35) .npy features")
    p.add_argument("-o", "--output", required=True, help="OUT.png")
    p.add_argument("--mode", choices=["fact", "bailando"], default="fact", help="BeatAlign definition")
    p.add_argument("--bpm", type=_positive_float, default=None, help="tempo prior for the song's beats")
    p.add_argument("--fps", type=_motion_fps, default=60.0, help="frame rate of a .npy joints file")
    p.add_argument("--music-offset", type=_non_negative_float, default=None,
                   help="seconds into the music at motion frame 0 (default: the --start of the dance.json beside "
                        "a dance's file, else 0)")
    p.set_defaults(func=cmd_beat_plot)


    p = sub.add_parser(
        "live", formatter_class=fmt, help="dance live while the music plays: to the browser, VMC apps or a file",
        description="Dance to music as it plays (docs/live.md). The audio comes from a song file played in real time, "
        "raw 16-bit PCM on stdin (e.g. ffmpeg -i URL -f s16le -ac 2 -ar 44100 - | aichoreo live --stdin ...), or an "
        "audio input (--input-device, needs pip install 'aichoreo[live]'). Its music features are computed as it "
        "arrives, the model (the bundled default one) predicts 0.33 s of dance at a time from the music heard up "
        "to 0.2 s past its start, and each frame leaves a fixed delay after its music arrived (about 0.27 s). The dance "
        "goes to the browser (--serve: a page that draws it, and plays the song of a file source), to a VMC "
        "receiver (--vmc: VSeeFace, Warudo, VNyan and Unity/Unreal VMC tools) and/or a recording (--record). "
        "Ctrl-C stops and writes the recording.",
    )
    p.add_argument("song", nargs="?", default=None, help="a song file to play in real time")
    p.add_argument("--stdin", action="store_true", help="read raw s16le PCM from stdin (see --rate, --channels)")
    p.add_argument("--input-device", nargs="?", const="", default=None, metavar="NAME",
                   help="record from an audio input (name or number; without one, the default input)")
    p.add_argument("--rate", type=_positive_int, default=44_100, help="sample rate of --stdin PCM, Hz")
    p.add_argument("--channels", type=_positive_int, default=2, help="channels of --stdin PCM")
    p.add_argument("--checkpoint", default="default",
                   help="a bundled model ('default'; 'styles', with --style; 'stream': fact-small-stream, trained "
                        "on the streamed features) or a model file")
    p.add_argument("--serve", default=None, metavar="[HOST:]PORT",
                   help="serve the live page on http://HOST:PORT/ (default host 127.0.0.1; port 0: any free port)")
    p.add_argument("--vmc", default=None, metavar="[HOST:]PORT",
                   help="send the dance over the VMC protocol (OSC/UDP) to HOST:PORT (VSeeFace listens on 39539)")
    p.add_argument("--record", type=Path, default=None, metavar="FILE",
                   help="write the session's dance to FILE (.npy FACT vectors, .bvh, or .pkl AIST++) when it ends")
    p.add_argument("--bpm", type=_positive_float, default=None, help="tempo prior of the live beat tracker (120)")
    p.add_argument("--delay", type=_non_negative_float, default=None,
                   help="seconds from a frame's music arriving to the frame leaving (default: the model's latency "
                        "+ 0.05 s, or twice a pass as timed before the music starts where that is longer)")
    p.add_argument("--fast", action="store_true",
                   help="take a song file as fast as it computes, not in real time (frames leave when computed)")
    p.add_argument("--no-foot-lock", action="store_true",
                   help="send the model's frames as they are: planted feet not held still (docs/live.md)")
    p.add_argument("--smooth", type=_non_negative_float, default=SMOOTH_HZ, metavar="HZ",
                   help="cut-off of the low-pass over the frames sent, which takes out what shakes at the joins of "
                        "the model's chunks and delays the motion by 1 / (2 pi HZ) s (16 ms at 10); 0: none "
                        "(docs/live.md)")
    p.add_argument("--lookahead", type=_positive_float, default=None, metavar="S",
                   help=f"seconds of music each pass hears from the start of the frames it predicts (default "
                        f"{HEARD_FRAMES / 60:g}, or the model's window where shorter; as little as 1/60): less gives "
                        "less latency, and the dance fades a little more over a song (docs/live.md)")
    p.add_argument("--stats", type=Path, default=None, metavar="FILE",
                   help="write per-frame timing, late frames, CPU and memory to this JSON file")
    p.add_argument("--style", default=None, help="for a model with styles: the style to dance")
    p.add_argument("--style-strength", type=_non_negative_float, default=argparse.SUPPRESS,
                   help="guidance of --style (as for aichoreo dance)")
    p.set_defaults(func=cmd_live)

    p = sub.add_parser(
        "dance", formatter_class=fmt, help="generate a dance for songs and export it (video, BVH, glTF, HTML, ...)",
        description="Dance for any song with a FACT or baseline model (default: the FACT model bundled with the "
        "package; --checkpoint takes any model file written by aichoreo train): the "
        "paper's autoregressive loop from a 2 s seed motion, for the whole song (any length; the dance ends with "
        "the music). One folder per song under OUTDIR with every export and a dance.json of the settings. A song's "
        "folder always describes one dance: it is written whole in a hidden OUTDIR/.<song>.staging-* folder and then "
        "replaces the folder of an earlier run, whose files are gone (also formats not asked for this time); if the "
        "folder holds files that its dance.json does not list, the run refuses before any work. A killed run's "
        "staging folder is removed by the next run. On the CPU the loop picks its thread count by timing its own "
        "passes, so it holds up when other work shares the CPU; AICHOREO_THREADS=N (or OMP_NUM_THREADS) fixes it.",
    )
    p.add_argument("songs", nargs="+", help="audio files (wav, mp3, flac, ogg, opus)")
    p.add_argument("-o", "--output", required=True,
                   help="output folder (one sub-folder per song, replaced as a whole on a re-run)")
    p.add_argument("--checkpoint", default="default",
                   help="model file, or a bundled model: default, or styles (knows --style cha-cha, rumba, waltz)")
    p.add_argument("--seconds", type=_positive_float, default=None,
                   help="dance to this many seconds of the song (the frames before its end: a take with "
                        "--start there begins on the next)")
    p.add_argument("--start", type=_non_negative_float, default=0.0,
                   help="seconds into the song where the dance starts")
    p.add_argument("--seed-motion", default="neutral",
                   help="neutral (built in: the model file's seed pose, else bounce), pose, bounce, an AIST++ "
                        "sequence name (with --aistpp), or a motion file (AIST++ or EDGE .pkl, AMASS .npz, "
                        ".bvh of the SMPL skeleton, joints or FACT vectors .npy)")
    p.add_argument("--aistpp", type=_existing_dir, default=None, help="AIST++ annotations folder, for AIST++ seeds")
    p.add_argument("--no-foot-lock", action="store_true",
                   help="keep the model's raw motion: neither kept on the floor nor planted feet held still "
                        "(docs/feet.md)")
    p.add_argument("--frames-per-step", type=_positive_int, default=None,
                   help="frames kept per forward pass (default: all the model predicts: 20 for FACT, 1 for causal FACT "
                        "and the baselines); 1 is the paper's loop; 20 was best for the default model and is 30x "
                        "faster (docs/generation.md); capped at what the model predicts")
    p.add_argument("--seam-ease", type=_non_negative_int, default=argparse.SUPPRESS, metavar="FRAMES",
                   help=f"frames over which each predicted chunk is joined to the frames before it (position and "
                        f"speed), so the chunks meet without a jump (default: {SEAM_EASE_FRAMES}, at most the "
                        "frames per pass; 0: as the model predicts them; docs/generation.md)")
    p.add_argument("--room-radius", type=_non_negative_float, default=argparse.SUPPRESS, metavar="METRES",
                   help="show the model its dancer no further than this from where the dance started, so that it "
                        "stays on the positions it was trained on (default: the model's own, 3 for the default "
                        "model, none for the others; 0: wherever the dancer is; the dancer itself still travels; "
                        "docs/generation.md)")
    p.add_argument("--batch-size", type=_positive_int, default=4, help="songs generated together")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where the model runs")
    p.add_argument("--formats", type=_formats, default="all",
                   help="comma-separated exports: aistpp, edge, amass, joints, bvh, glb, html, mp4, or all")
    p.add_argument("--random-seed", type=int, default=0,
                   help="varies the neutral seed motion, and the sampling of Li et al. 2020 and DanceNet models")
    p.add_argument("--bpm", type=_positive_float, default=None, help="tempo prior of the beat tracker")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="music-feature cache shared with aichoreo features (default: $AICHOREO_CACHE/features "
                        "or ~/.cache/aichoreo/features)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the feature cache")
    p.add_argument("--character", type=_existing_file, default=None,
                   help="also put the dance on this rigged humanoid (.glb, .gltf, .vrm, .bvh), written as "
                        "<character>_dance.glb/.vrm/.bvh beside the other exports (docs/retarget.md)")
    p.add_argument("--map", type=_existing_file, default=None,
                   help="JSON bone map for --character; without one, its VRM humanoid map or its bone names are used")
    p.add_argument("--figure", choices=["body", "stick"], default="body",
                   help="how dance.mp4 and dance.html draw the dancer: a body of capsules, or the stick figure "
                        "(the page switches with its b key)")
    p.add_argument("--keyframes", type=_existing_file, default=None,
                   help='JSON of poses pinned to moments: [{"time_s": 12.5, "pose": [72 axis-angle numbers]}, '
                        '{"time_s": 20, "from": "take.pkl", "frame": 30, "root": true}, ...]; the dance passes '
                        "through each; \"from\" takes any motion file --continue takes (docs/generation.md)")
    p.add_argument("--continue", dest="continue_from", type=_existing_file, default=None,
                   help="continue this dance: its last 2 s are the seed, and the new dance starts where it ends (with "
                        "--start: at that time of the song); any dance file aichoreo writes (dance.pkl, "
                        "dance_edge.pkl, dance_amass.npz, dance.bvh, dance_joints.npy), or an AMASS/EDGE file")
    p.add_argument("--keep", default=None, metavar="upper|lower|JOINTS",
                   help="joints that follow the --from motion frame for frame (upper: spine, head and arms; lower: "
                        "root, legs and the root's path; or SMPL joint names, comma-separated); the model dances the "
                        "rest around them")
    p.add_argument("--from", dest="keep_from", type=_existing_file, default=None,
                   help="the motion whose --keep joints the dance follows (any file --continue takes); its first 2 s "
                        "are the seed")
    p.add_argument("--style", default="auto",
                   help="dance in this style, for a model trained with styles (aichoreo config show MODEL lists them; "
                        "the bundled 'styles' model: cha-cha, rumba, waltz); auto (default): the music decides")
    p.add_argument("--style-strength", type=_non_negative_float, default=argparse.SUPPRESS, metavar="S",
                   help=f"how strongly the style is followed: classifier-free guidance, 1 = the styled model alone, "
                        f"more = further from an unstyled dance, twice the generation time (default: "
                        f"{STYLE_STRENGTH:g})")
    p.set_defaults(func=cmd_dance)

    p = sub.add_parser(
        "retarget", formatter_class=fmt, help="put a dance on your character (Mixamo, VRM, Unreal, Rigify, BVH rigs)",
        description="Retarget a dance (an AIST++ .pkl such as dance.pkl, an EDGE .pkl, an AMASS .npz, aichoreo's "
        "SMPL .bvh, or SMPL-24 joints .npy, fitted first) onto a rigged humanoid: a .glb/.gltf (written as .glb, keeping its mesh, skin, "
        "materials and clips, with the dance as the first animation), a VRM 0.x/1.0 (stays a .vrm), or a .bvh "
        "skeleton (its names, offsets and units). Bones are found from the VRM humanoid map or the names "
        "(Mixamo, Unreal Mannequin, Unity Humanoid, Rigify, plain Hips/LeftUpLeg...); --map gives any other "
        "rig's. Each bone points where the SMPL bone points whatever the rig's rest pose (T or A), the hips move "
        "in proportion to the legs, and planted feet stay planted on the floor (docs/retarget.md).",
    )
    p.add_argument("motion", type=_existing_file,
                   help="the dance: .pkl (AIST++ or EDGE), .npz (AMASS), .bvh (aichoreo's SMPL skeleton) or .npy "
                        "(joints or FACT vectors)")
    p.add_argument("--to", required=True, type=_existing_file, dest="character",
                   help="the character: .glb, .gltf, .vrm or .bvh")
    p.add_argument("-o", "--output", required=True, help="output file: .glb (for .glb/.gltf), .vrm or .bvh")
    p.add_argument("--map", type=_existing_file, default=None,
                   help='JSON bone map {"hips": "Pelvis", "leftUpperArm": "L_Arm", ...} with VRM humanoid '
                        "bone names as keys")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_retarget)


    p = sub.add_parser("data", formatter_class=fmt, help="prepare datasets in the common training format")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    prep = dsub.add_parser("prepare", formatter_class=fmt, help="convert a dataset into the common format")
    psub = prep.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    q = psub.add_parser(
        "aistpp", formatter_class=fmt, help="an AIST++ download",
        description="Write the common dataset format (index.json + sequences/*.npz: FACT motion vectors and "
        "music features at 60 fps) from an AIST++ annotations folder and its music folder. Splits: the "
        "cross-modal train list minus the ignore list, val (when the download has it) and test.",
    )
    q.add_argument("--src", required=True, type=_existing_dir, help="AIST++ annotations folder")
    q.add_argument("--music", required=True, type=_existing_dir, help="folder with mBR0.wav ...")
    q.add_argument("-o", "--output", required=True, help="output folder")
    q.add_argument("--workers", type=_positive_int, default=2, help="songs computed in parallel")
    q.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    q.add_argument("--music-features", choices=MUSIC_FEATURE_CHOICES, default="reference", help=MUSIC_FEATURES_HELP)
    q.set_defaults(func=cmd_prepare_aistpp)
    q = psub.add_parser(
        "dwm", formatter_class=fmt, help="the Dance-with-Melody motion capture (fitted to SMPL)",
        description="Fit every Dance-with-Melody dance (23 markers, 25 fps) to the SMPL skeleton, resample it to "
        "60 fps, pair it with its music from the dataset's offset, and write the common format with the fixed "
        "split of docs/results.md (test: DANCE_C_7, DANCE_R_8, DANCE_T_5, DANCE_W_32-34; val: DANCE_C_6, "
        "DANCE_R_7, DANCE_W_29, DANCE_W_31; the rest train).",
    )
    q.add_argument("--src", type=_existing_dir, default=None,
                   help="the dance_with_melody folder (default: $AICHOREO_DATA/dance_with_melody)")
    q.add_argument("-o", "--output", required=True, help="output folder")
    q.add_argument("--fits", type=_existing_dir, default=None,
                   help="reuse earlier SMPL fits (<ID>.pkl AIST++ motion pickles) found in this folder")
    q.add_argument("--fit-iterations", type=_positive_int, default=400, help="optimiser steps per dance")
    q.add_argument("--motion-from", type=_existing_dir, default=None,
                   help="take each dance's motion from this folder prepared earlier (no fitting), e.g. to prepare "
                   "the same dances with --music-features stream")
    q.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    q.add_argument("--music-features", choices=MUSIC_FEATURE_CHOICES, default="reference", help=MUSIC_FEATURES_HELP)
    q.set_defaults(func=cmd_prepare_dwm)


    p = sub.add_parser(
        "reconstruct", formatter_class=fmt, help="multi-view 2D keypoints -> 3D keypoints -> SMPL motion",
        description="Triangulate AIST++-layout 2D keypoints (keypoints2d (views, N, 17, 3) with confidences) with "
        "the AIST++ camera JSON (robust to wrong views), optimise them over time (keypoints3d_optim), and fit "
        "SMPL. Writes a keypoints3d pickle (in the cameras' units) and an AIST++ motion pickle to OUTDIR. "
        "2D keypoints come from any COCO-17 detector; running a detector on video is not part of aichoreo.",
    )
    p.add_argument("--keypoints2d", required=True, type=_existing_file, help="AIST++ keypoints2d pickle")
    p.add_argument("--cameras", required=True, type=_existing_file, help="AIST++ camera setting JSON")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--fps", type=_motion_fps, default=60.0, help="frame rate of the keypoints")
    p.add_argument("--units-per-metre", type=_positive_float, default=100.0, help="the cameras' units (AIST++: cm)")
    p.add_argument("--fit-iterations", type=_positive_int, default=400, help="SMPL fitting steps")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_reconstruct)

    p = sub.add_parser(
        "fit", formatter_class=fmt, help="fit the SMPL skeleton to 3D joints of any layout",
        description="Fit SMPL-24 (per-frame rotations, root translation, one scale) to 3D joints (.npy (T, J, 3), "
        "y up, or a Dance-with-Melody .npz) with a joint correspondence layout, and write an AIST++ motion pickle "
        "at 60 fps.",
    )
    p.add_argument("joints", type=_existing_file, help=".npy (T, J, 3) or .npz with 'joints' (and 'fps')")
    p.add_argument("--layout", required=True, choices=["coco17", "dwm23", "smpl24"], help="joint layout")
    p.add_argument("--fps", type=_motion_fps, default=None, help="frame rate (default: the .npz's)")
    p.add_argument("-o", "--output", required=True, help="OUT.pkl")
    p.add_argument("--units", choices=["m", "cm", "mm"], default="m", help="units of the joints")
    p.add_argument("--floor", choices=["drift", "constant", "none"], default="drift",
                   help="level a drifting floor under the feet / only stand on y = 0 / keep the data's frame")
    p.add_argument("--iterations", type=_positive_int, default=400, help="fitting steps")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_fit)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        parser.print_help()
        return 2
    formatter = warnings.formatwarning
    if not args.debug:
        warnings.formatwarning = _one_line_warning
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        if not _stdout_closed():
            raise  # another pipe (ffmpeg's): reported below, by the caller's own handling
        # `aichoreo ... | head -1`: the reader has gone; nothing to say to it, and Python's
        # flush of standard output at exit would fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except (AichoreoError, ValueError, OSError) as exc:
        if args.debug:
            raise
        # One line, whatever the message holds (ffmpeg's stderr, numpy's multi-line texts).
        text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
        print(f"aichoreo: error: {text}", file=sys.stderr)
        return 1
    except Terminated:
        print("aichoreo: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("aichoreo: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = formatter


def _stdout_closed() -> bool:
    """Whether standard output's reader has gone: a pipe closed at its other end reports an error
    condition to ``poll`` (Linux, macOS); elsewhere ``False``."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll here, or no real file behind stdout
        return False


def _terminate(signum, frame) -> None:
    if os.getpid() != _COMMAND_PID:  # a forked worker (music features): it ends as it always did
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    raise Terminated


_COMMAND_PID = os.getpid()


def run() -> None:
    """The ``aichoreo`` command (and ``python -m aichoreo``): :func:`main`, then the process's exit.

    At exit Python collects the garbage of every object still alive, scanning each of them: after a
    dance, torch's, the model's and the dance's (0.5-0.6 s of a 3-minute ``aichoreo dance`` that
    took 18-19 s, and about 0.3 s of any command that loaded the model). Frozen out of the
    collector's sight (``gc.freeze``) they are still freed as their last reference goes, without
    the scans; the files written are closed before :func:`main` returns. :func:`main` itself, which
    tests and other code call, leaves the collector as it was.
    """
    global _COMMAND_PID
    _COMMAND_PID = os.getpid()
    signal.signal(signal.SIGTERM, _terminate)  # ends the command as Ctrl-C does (Terminated)
    code = main()
    gc.freeze()
    raise SystemExit(code)


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Print a warning as one ``aichoreo: warning: ...`` line (Python's default adds the source
    line), through tqdm so that it never lands on a progress bar's line; the text left for
    Python to print is empty. A formatter rather than ``showwarning``: code that records warnings
    (``warnings.catch_warnings(record=True)``) still receives them."""
    from tqdm.auto import tqdm

    text = " ".join(str(message).split())
    tqdm.write(f"aichoreo: warning: {text}", file=sys.stderr)
    return ""


def _dump_json(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=False)
