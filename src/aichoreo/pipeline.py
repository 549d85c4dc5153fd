"""Dance for any song: music features, a seed motion, the autoregressive loop, every export.

For each song (any format :func:`aichoreo.audio.load_audio` reads, any length):

1. the audio is loaded at 30,720 Hz and cut to ``[start, start + seconds)``; its 35-d features
   are computed on that cut (beat prior: ``bpm``, else the AIST++ id in the name, else estimated),
   the first song's in a forked process while the model loads where that is safe (:class:`FeaturePrefetch`);
2. a 2 s seed motion: ``neutral`` (built in, :mod:`aichoreo.seeds`: the model file's seed pose
   standing still, or for files without one a dancer bouncing on the song's tempo), ``pose`` or
   ``bounce`` to choose, an AIST++ sequence name (its first 120 frames; needs the annotation
   folder), or a motion file (``.pkl`` AIST++ motion or ``.npy`` FACT vectors);
3. generation (:func:`aichoreo.generate.generate_dances`), several songs per batch; the music is
   extended at its end by mirroring its last 2 s, so that the last window exists and **the
   dance ends with the music** (the released loop stops 2 s before the end); rotations are
   projected onto SO(3) and planted feet held still (``lock_feet``, :mod:`aichoreo.footlock`);
4. exports (:func:`aichoreo.export.export_all`) and a ``dance.json`` with every setting, the
   model and the speed, written together into ``out/<song stem>/``, which replaces the folder of
   an earlier run as a whole (see :func:`dance`).

Frame ``i`` of every output sounds at ``start + i / 60`` s of the song.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import json
import logging
import math
import os
import re
import signal
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aichoreo.audio import (
    DEFAULT_SPEC,
    SAMPLE_RATE,
    FeatureCache,
    MusicFeatureSpec,
    estimate_tempo,
    load_audio,
    music_features,
    resolve_bpm,
)
from aichoreo.conventions import model_spec
from aichoreo.defaults import SEAM_EASE_FRAMES, STYLE_STRENGTH
from aichoreo.direct import (
    CONTINUE_JOIN_S,
    continuation_seed,
    keep_edit,
    keep_parts,
    keep_source,
    kept_joints,
    keyframe_warp,
    read_keyframes,
    style_label,
)
from aichoreo.errors import InputError
from aichoreo.export import FORMATS, SongAAC, aac_wanted, export_all, write_character_html
from aichoreo.fileio import (
    atomic_path,
    check_distinct_stems,
    check_writable,
    clean_stale_staging,
    naming,
    output_folder,
    read_json,
    staging_folder,
)
from aichoreo.gcpause import FrozenHeap
from aichoreo.motion import SMPLMotion
from aichoreo.retarget import (
    SOURCE_SUFFIXES,
    Character,
    load_character,
    output_name,
    read_source_motion,
    retarget_motion,
    write_character_motion,
)
from aichoreo.seeds import SEED_KINDS, builtin_seed
from aichoreo.skeleton import FPS

log = logging.getLogger(__name__)

HOP = SAMPLE_RATE // int(FPS)  # samples per feature frame (512)
SUMMARY = "dance.json"  # the settings of a song's dance and the files it wrote, in its folder
EXPORT_NAME = "dance"  # the exports' file stem: dance.mp4, dance_joints.npy, ...
# export_all's hidden folder; one killed by an older version (which exported into the song's folder
# itself) may still sit there, and is aichoreo's.
_EXPORT_STAGING = re.compile(rf"^\.{re.escape(EXPORT_NAME)}\.exporting-")


@dataclass(frozen=True)
class DanceOptions:
    """Settings of ``aichoreo dance`` that change the result (recorded in ``dance.json``)."""

    seconds: float | None = None  # length of the song to dance to, from ``start`` (None: to its end)
    start: float = 0.0  # seconds into the song where the dance starts
    seed_motion: str = "neutral"  # "neutral", an AIST++ sequence name, or a .pkl/.npy motion file
    frames_per_step: int | None = None  # frames kept per forward pass; None = the model's default (FACT: all it
    # predicts, 20 for the default model, measured best in docs/generation.md; 1 = the paper's loop)
    batch_size: int = 4  # songs generated together
    device: str = "cpu"  # "cpu" or "cuda"
    formats: tuple[str, ...] = FORMATS  # exports to write
    random_seed: int = 0  # varies the neutral seed motion and the sampling of sampling models
    bpm: float | None = None  # tempo prior of the beat tracker
    lock_feet: bool = True  # keep on the floor, hold planted feet still (aichoreo.footlock); False = the model's raw motion
    character: str | None = None  # a rigged humanoid (.glb, .gltf, .vrm, .bvh): the dance is also written on it
    bone_map: str | None = None  # JSON bone map for the character (default: found from its VRM map or bone names)
    figure: str = "body"  # how the video and the viewer draw the dancer: "body" (capsules) or "stick"
    keyframes: str | None = None  # JSON of poses pinned to moments of the dance (aichoreo.direct)
    continue_from: str | None = None  # a dance (.pkl) to continue: its last 2 s are the seed, not output
    keep: str | None = None  # "upper", "lower" or joint names: those joints follow keep_from frame for frame
    keep_from: str | None = None  # the motion (.pkl) whose kept joints the dance follows; its first 2 s are the seed
    seam_ease: int = SEAM_EASE_FRAMES  # frames over which each predicted chunk joins the last (0: as predicted)
    room_radius: float | None = None  # metres from the start within which the model is shown its root (0: no
    # limit; None: the model's own, config.room_radius)
    style: str = "auto"  # a style the model knows (aichoreo config show MODEL), or "auto": the music decides
    style_strength: float = STYLE_STRENGTH  # classifier-free guidance of the style (1: the styled model alone)

    def __post_init__(self) -> None:
        if self.seconds is not None and not (math.isfinite(self.seconds) and self.seconds > 0):
            raise InputError(None, f"--seconds must be a positive number of seconds, got {self.seconds}")
        if not (math.isfinite(self.start) and self.start >= 0):
            raise InputError(None, f"--start must be a time >= 0 s in the song, got {self.start}")
        if self.batch_size < 1 or (self.frames_per_step is not None and self.frames_per_step < 1):
            raise InputError(None, "--batch-size and --frames-per-step must be >= 1")
        if not (math.isfinite(self.style_strength) and 0 <= self.style_strength <= 20):
            raise InputError(None, f"--style-strength must be a number in [0, 20], got {self.style_strength}")
        if self.seam_ease < 0 or (self.room_radius is not None
                                  and not (math.isfinite(self.room_radius) and self.room_radius >= 0)):
            raise InputError(None, f"--seam-ease and --room-radius must be >= 0, got {self.seam_ease} and "
                                   f"{self.room_radius}")


@dataclass
class Song:
    """One song's prepared inputs."""

    path: Path
    features: np.ndarray  # (T, 35) of the cut, 60 fps
    bpm: float
    seed: np.ndarray = field(repr=False, default=None)  # (120, 225)
    timings: dict[str, float] = field(default_factory=dict)  # wall seconds of this song's stages
    edit: Any = field(repr=False, default=None)  # a continuation's seam easing: generate()'s edit, or None
    warp: Any = field(repr=False, default=None)  # keyframes: generate_dances()'s warp, or None
    lead: int = 0  # frames before the dance's time 0 (a continuation's seed), dropped after generation
    keep: Any = field(repr=False, default=None)  # (source SMPLMotion, joints, root) of --keep, or None
    aac: SongAAC | None = field(repr=False, default=None)  # the song being encoded as the exports' AAC
    first_join: int | None = None  # frames over which the first chunk joins the seed (a continuation's)
    planted: np.ndarray | None = field(repr=False, default=None)  # (T, 2) a kept motion's foot contacts, held too

    @property
    def n_frames(self) -> int:
        return len(self.features)

    @property
    def frames(self) -> int:
        """Frames generated, seed included: the song's, or fewer where a kept motion ends first."""
        return self.n_frames if self.keep is None else min(self.n_frames, len(self.keep[0]))


def song_inputs(path: str | os.PathLike, options: DanceOptions, motion_len: int,
                cache: FeatureCache | None = None, lead_s: float = 0.0,
                spec: MusicFeatureSpec = DEFAULT_SPEC) -> Song:
    """Load and cut the song, compute its features (``spec``: the model's); errors name the file.

    ``lead_s``: the features start this many seconds before ``options.start`` (a continuation's
    seed sounds there), silence where that is before the song begins.

    With a ``cache`` (the one ``aichoreo features`` uses), features computed before for the same
    song content, cut and tempo prior are read instead of decoding the song again; the features
    of a whole song are shared with ``aichoreo features``.
    """
    path = Path(path)
    prior = resolve_bpm(path, options.bpm)
    key = None
    if cache is not None:
        key = cache.key(path, prior, spec, cut=(options.start, options.seconds, lead_s))
        feats = cache.load(key, spec)
        if feats is not None:
            _check_long_enough(path, len(feats), motion_len)
            # The features' own estimate is this function of their envelope (column 0).
            bpm = prior if prior is not None else estimate_tempo(feats[:, 0], spec=spec)
            return Song(path=path, features=feats, bpm=float(bpm))
    y = load_audio(path, SAMPLE_RATE)
    n_samples = len(y)
    first = int(round(options.start * SAMPLE_RATE))
    if first >= len(y):
        raise InputError(path, f"is {len(y) / SAMPLE_RATE:.2f} s long; --start {options.start} s is past its end")
    last = len(y) if options.seconds is None else min(len(y), first + int(round(options.seconds * SAMPLE_RATE)))
    lead = int(round(lead_s * SAMPLE_RATE))
    y = y[max(0, first - lead):last]
    if lead > first:  # before the song begins: silence
        y = np.concatenate([np.zeros(lead - first, y.dtype), y])
    # A cut that ends inside the song (--seconds) keeps the frames before its end: the frame at its
    # end is the first of the next part (`--start` there), so that two takes do not both dance it.
    n_frames = -(-len(y) // HOP) if last < n_samples else len(y) // HOP + 1
    _check_long_enough(path, n_frames, motion_len, len(y) / SAMPLE_RATE)
    # load_audio warned already if the song is silent; a cut of it is checked again.
    cut = first > 0 or last < n_samples or lead > 0
    feats, bpm = music_features(y, bpm=prior, path=path, warn_silent=cut, return_tempo=True, spec=spec)
    feats = feats[:n_frames]
    if cache is not None:
        cache.store(key, feats)
    return Song(path=path, features=feats, bpm=bpm)


class FeaturePrefetch:
    """The first song's features (:func:`song_inputs`, with the default feature spec) computed in a
    forked process while this one imports torch and loads the model.

    Importing torch and loading the bundled model take 1.5-2 s of one core; the features of the
    first song take 2-4 s, of which importing librosa is 1-1.5 s (measured on this project's 2-core
    CPU); before, the one waited for the other. Only where forking is safe and there is something
    to overlap: on Linux, in a process that has not imported torch (``aichoreo dance``; a Python
    caller that has imported it computes the features itself) and runs no other thread, with two
    usable cores or more.
    A killed command's child is interrupted by the kernel (it asks to be when its parent dies).
    Whatever goes wrong in the child (a bad file, a killed process) leaves :meth:`result` ``None``
    and the caller computes the features as before, where the same error is raised and reported.
    The child's warnings and log messages (a silent song) are held back and given out here when
    its features are used, so that a recomputation does not say them twice.
    """

    def __init__(self, process: Any, connection: Any, path: Path):
        self.process, self.connection, self.path = process, connection, path

    @classmethod
    @contextlib.contextmanager
    def start(cls, path: str | os.PathLike, options: DanceOptions, cache: FeatureCache | None):
        """A prefetch of ``path``'s features (or ``None`` where none is started), stopped on exit."""
        import threading

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        # Another thread could hold a lock (logging's, an allocator's) that the forked child would wait on forever.
        if (not sys.platform.startswith("linux") or "torch" in sys.modules or cores < 2
                or threading.active_count() > 1):
            yield None
            return
        import multiprocessing

        context = multiprocessing.get_context("fork")
        try:
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_prefetch_features,
                                      args=(send, Path(path), options, cache, os.getpid(), receive),
                                      name="aichoreo-features", daemon=True)
            # The child starts with Ctrl-C ignored until it has its own handler (an interrupt in
            # multiprocessing's start-up code would print a traceback); this process only for an instant.
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                process.start()
            finally:
                signal.signal(signal.SIGINT, previous)
        except OSError as error:  # no process to be had (a limit on processes or memory): compute here
            log.info("features computed in this process: %s", error)
            yield None
            return
        send.close()
        prefetch = cls(process, receive, Path(path))
        try:
            yield prefetch
        finally:
            prefetch.stop()

    def pending(self) -> bool:
        """Whether the child is still computing (its answer not sent yet)."""
        try:
            return self.process.is_alive() and not self.connection.poll()
        except (EOFError, OSError):
            return False

    def result(self, spec: MusicFeatureSpec) -> Song | None:
        """The child's :class:`Song` (waits for it), or ``None``: it failed, or the model's feature
        ``spec`` is not the one it computed."""
        if spec != DEFAULT_SPEC:
            self.stop()
            return None
        try:
            message = self.connection.recv()  # our own child's (features, bpm), over a private pipe
        except (EOFError, OSError):
            message = None
        self.stop()
        if message is None:
            return None
        features, bpm, said, logged = message
        for text, category in said:
            warnings.warn(text, category, stacklevel=2)
        for name, level, text in logged:
            logging.getLogger(name).log(level, "%s", text)
        return Song(path=self.path, features=features, bpm=bpm)

    def stop(self) -> None:
        """Stop the child if it still runs: interrupts first (again every 0.1 s: the first may come
        before it listens), so that a cache entry it is writing is removed, not left half-written;
        killed if it has not ended within 2 s."""
        for _ in range(20):
            if not self.process.is_alive():
                break
            with contextlib.suppress(OSError):
                os.kill(self.process.pid, signal.SIGINT)
            self.process.join(0.1)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.connection.close()


def _interrupt_when_orphaned(parent: int) -> None:
    """Ask Linux to interrupt this process when its parent dies (``prctl(PR_SET_PDEATHSIG)``): a
    killed ``aichoreo dance`` leaves no child computing features for nobody. Where the call is not
    to be had, nothing changes (the child then ends by itself when its work is done)."""
    import ctypes
    import ctypes.util

    with contextlib.suppress(OSError, AttributeError, TypeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGINT, 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the call
        os.kill(os.getpid(), signal.SIGINT)


def _prefetch_features(send: Any, path: Path, options: DanceOptions, cache: FeatureCache | None,
                       parent: int, receive: Any) -> None:
    """The child of :class:`FeaturePrefetch`: the features, or ``None`` on any failure, sent back.

    The parent may stop it at any moment (:meth:`FeaturePrefetch.stop`, or Ctrl-C in the terminal):
    while it works, an interrupt ends the work the usual way (a cache entry being written is
    removed); once the work is done, it ends the process at once. Either way it prints nothing (its
    standard error goes nowhere): a traceback from the child would be a second message beside the
    parent's one line.
    """
    working = [True]
    # No garbage collection in this short-lived process: importing librosa and computing one song's
    # features ran 3 full collections and 400 others, 0.2-0.26 s of the 3-4 s that the parent waits
    # for (a 3-minute song, 2026-12-07); what it allocates is freed by reference counting or at its exit.
    gc.disable()

    def on_interrupt(signum: int, frame: Any) -> None:
        if working[0]:
            raise KeyboardInterrupt
        os._exit(1)

    try:
        signal.signal(signal.SIGINT, on_interrupt)
        # The parent's end of the pipe, which the fork copied: with it open here, a parent killed
        # outright left this process writing its features (more than a pipe holds) to itself, for
        # good, when the interrupt of _interrupt_when_orphaned was lost (in a finaliser, where an
        # exception is swallowed). Closed, the write fails once the parent is gone.
        receive.close()
        _interrupt_when_orphaned(parent)
        # Silent: its warnings and log messages are sent to the parent, and an interrupt can land
        # anywhere, also in a finaliser, whose "Exception ignored" text would reach the terminal.
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 2)
        os.close(quiet)
        sys.unraisablehook = lambda unraisable: None
        message = None
        logged: list[tuple[str, int, str]] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                logged.append((record.name, record.levelno, record.getMessage()))

        ours = logging.getLogger("aichoreo")  # this process's own: the parent's handlers would print now
        ours.handlers, ours.propagate = [Keep()], False
        try:
            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always")
                song = song_inputs(path, options, 0, cache)  # the model's seed length is checked by the parent
            message = (song.features, song.bpm, [(str(w.message), w.category) for w in said], logged)
        except BaseException:  # the parent computes them itself and reports what went wrong
            pass
        working[0] = False
        if os.getppid() == parent:  # an orphan has nobody to send to
            send.send(message)
    finally:
        os._exit(0)  # no exit handlers, no traceback: the parent reads the pipe (or its end)


def _check_long_enough(path: Path, n_frames: int, motion_len: int, seconds: float | None = None) -> None:
    """:class:`InputError` when ``n_frames`` of music (``seconds`` long; else as long as a whole song of
    that many frames) leave nothing to dance after the seed."""
    if n_frames < motion_len + 1:
        seconds = (n_frames - 1) * HOP / SAMPLE_RATE if seconds is None else seconds
        raise InputError(path, f"the music to dance to is {seconds:.2f} s long; a dance "
                               f"needs more than the {motion_len / FPS:.0f} s seed motion")


def seed_motion(spec: str, *, n_frames: int, bpm: float, random_seed: int,
                aistpp_root: str | os.PathLike | None = None, model_meta: dict | None = None) -> np.ndarray:
    """``(n_frames, 225)`` FACT vectors of the seed named by ``spec`` (see the module docstring);
    the built-in ones (:mod:`aichoreo.seeds`) may come from the model file's ``model_meta``."""
    if spec in ("neutral", *SEED_KINDS):
        try:
            motion = builtin_seed(spec, model_meta, n_frames=n_frames, bpm=bpm, random_seed=random_seed)
        except ValueError as exc:
            raise InputError(None, f"--seed-motion {spec}: {exc}") from None
    elif spec.lower().endswith(SOURCE_SUFFIXES):
        path = Path(spec)
        if not path.is_file():
            raise InputError(path, "no such seed motion file")
        # A user's file: read without unpickling, and checked for finite, plausible values
        # (aichoreo.data.motion_files) before it conditions the model; at the model's 60 fps. Only its
        # start is read (a joints file is fitted on it alone), with 0.1 s for the resampling.
        motion = read_source_motion(path, first_s=n_frames / FPS + 0.1).resample(FPS)
    else:
        from aichoreo.data.aistpp import AISTPP, parse_sequence_name

        try:
            parse_sequence_name(spec)
        except ValueError:
            raise InputError(None, f"unknown seed motion {spec!r}: use 'neutral', 'pose', 'bounce', an AIST++ sequence name "
                                   "(with --aistpp DIR) or a motion file (.pkl, .npz, .bvh, .npy)") from None
        if aistpp_root is None:
            raise InputError(None, f"seed {spec!r} is an AIST++ sequence: give the annotations folder with --aistpp")
        motion = AISTPP(aistpp_root).motion(spec)
    if len(motion) < n_frames:
        raise InputError(spec, f"seed motion has {len(motion)} frames at 60 fps; {n_frames} are needed")
    return motion.slice(0, n_frames).to_fact_vector(padded=True)


def check_replaceable(folder: Path) -> None:
    """:class:`InputError` unless ``folder`` is absent, empty, or holds only what an earlier ``aichoreo
    dance`` wrote there: its ``dance.json`` and the files that file lists (and an unfinished export's
    hidden folder). Such a folder is replaced as a whole; any other file in it makes the run refuse,
    so that aichoreo never deletes a file it did not write."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise InputError(folder, "exists and is not a folder; aichoreo dance writes a folder of outputs there")
    if not folder.exists():
        return
    ours = {SUMMARY}
    try:
        listed = read_json(folder / SUMMARY).get("files", {})
        ours |= {Path(str(p)).name for p in listed.values()}
    except (InputError, OSError, AttributeError):  # no or unreadable dance.json: nothing is ours
        pass
    foreign = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()
                     if not (p.name in ours and (p.is_file() or p.is_symlink())) and not _EXPORT_STAGING.match(p.name))
    if foreign:
        shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more" if len(foreign) > 4 else "")
        raise InputError(folder, f"holds files that aichoreo dance did not write ({shown}); aichoreo replaces a "
                                 "song's folder as a whole: move them away or choose another --output")


def _swap_in(new: Path, folder: Path, previous: Path) -> None:
    """Put the folder ``new`` at ``folder``, moving an earlier ``folder`` to ``previous`` (inside the
    staging folder, removed with it). Two renames: if the second fails or is interrupted
    (Ctrl-C, a folder that appeared meanwhile), the earlier folder is put back. Only a process
    killed outright between the two leaves no folder (its dance is then in the staging folder,
    which the next run removes)."""
    had = folder.exists()
    if had:
        os.rename(folder, previous)
    try:
        os.rename(new, folder)
    except BaseException:
        if had and not folder.exists():
            os.rename(previous, folder)
        raise


def load_dance_model(name: str | os.PathLike, map_location: str = "cpu") -> tuple[Any, dict[str, Any]]:
    """``(model, meta)`` of ``"default"`` or a model file that can dance: conventions and weights
    checked (:func:`aichoreo.models.load_model`), ``meta`` with ``"checkpoint"``: ``name``."""
    from aichoreo.conventions import check_conventions
    from aichoreo.models import load_model

    model, cfg, meta = load_model(name, map_location=map_location, check_conventions=check_conventions)
    if not hasattr(cfg, "n_future"):
        raise InputError(name, "this model type cannot generate dance")
    return model, {"checkpoint": str(name), **meta}


def dance(songs: str | os.PathLike | list[str | os.PathLike], model: Any = "default",
          out: str | os.PathLike = "dances", options: DanceOptions | None = None, *,
          model_meta: dict | None = None, aistpp_root: str | os.PathLike | None = None,
          cache: FeatureCache | None = None, progress: bool = True, **settings: Any) -> list[dict[str, Any]]:
    """Generate and export a dance for each song into ``out/<song stem>/``; returns one summary dict per song.

    What ``aichoreo dance`` runs (the command only checks its arguments and calls this)::

        import aichoreo
        aichoreo.dance("song.mp3", out="dances", formats=("mp4", "glb"), seconds=30)

    Args:
        songs: one audio file or a list of them.
        model: ``"default"`` (the bundled model), a model file (its conventions and weights
            checked, :func:`aichoreo.load_model`), or a model already loaded.
        options: a :class:`DanceOptions`; ``settings`` are its fields as keywords (they replace
            those of ``options``).
        model_meta: recorded in ``dance.json``; filled in when ``model`` is loaded here.
        cache: music features are read from and written to it (:func:`song_inputs`); ``None``: none.

    Each song's folder describes one dance: it is written whole (the exports and ``dance.json``) in
    a hidden folder ``out/.<stem>.staging-*`` and then replaces the earlier run's folder, whose
    files are gone. A folder that holds anything the earlier ``dance.json`` does not list makes
    the run refuse before any work (:func:`check_replaceable`). Staging folders of killed runs are
    removed by the next run for that song; a failed run into a new ``out`` removes it again.
    """
    options = DanceOptions() if options is None else options
    if settings:
        unknown = sorted(set(settings) - {f.name for f in dataclasses.fields(DanceOptions)})
        if unknown:
            raise TypeError(f"dance() got unknown settings: {', '.join(unknown)}")
        options = dataclasses.replace(options, **settings)
    if isinstance(songs, (str, os.PathLike)):
        songs = [songs]
    load_s = 0.0
    with contextlib.ExitStack() as early:
        prefetch = None
        if isinstance(model, (str, os.PathLike)) and options.continue_from is None:
            prefetch = early.enter_context(FeaturePrefetch.start(songs[0], options, cache))
        if isinstance(model, (str, os.PathLike)):
            t0 = time.perf_counter()
            model, loaded_meta = load_dance_model(model, map_location=options.device)
            load_s = time.perf_counter() - t0
            model_meta = loaded_meta if model_meta is None else model_meta
        return _dance(songs, model, out, options, model_meta, aistpp_root, cache, progress, load_s, prefetch)


def _dance(songs: list[str | os.PathLike], model: Any, out: str | os.PathLike, options: DanceOptions,
           model_meta: dict | None, aistpp_root: str | os.PathLike | None, cache: FeatureCache | None,
           progress: bool, load_s: float, prefetch: FeaturePrefetch | None) -> list[dict[str, Any]]:
    """:func:`dance` once its model is loaded; ``prefetch``: the first song's features on the way."""
    from tqdm.auto import tqdm

    cfg = model.config
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "the output path exists and is a file, not a folder")
    check_writable(out)  # a read-only place refuses now, not after generation
    stems = [Path(s).stem for s in songs]
    check_distinct_stems(songs, "their output folders would collide")
    for stem in stems:  # refuse before any work, not after minutes of generation
        check_replaceable(out / stem)
    character = None
    if options.bone_map is not None and options.character is None:  # else a map, even a wrong one, did nothing
        raise InputError(options.bone_map, "a bone map goes with --character, the rig it maps")
    if options.character is not None:  # a rig that cannot be mapped fails now, not after generation
        character = load_character(options.character, options.bone_map)
    if options.frames_per_step is None:
        options = dataclasses.replace(options, frames_per_step=cfg.default_frames_per_step)
    elif options.frames_per_step > cfg.n_future:
        log.warning("--frames-per-step %d exceeds what this model predicts per pass; using %d",
                    options.frames_per_step, cfg.n_future)
        options = dataclasses.replace(options, frames_per_step=cfg.n_future)
    # Check every input before generating anything, so a bad song fails fast and writes nothing.
    if options.continue_from is not None and options.seed_motion != DanceOptions.seed_motion:
        raise InputError(None, "--continue and --seed-motion both give the seed motion; choose one")
    if (options.keep is None) != (options.keep_from is None):
        raise InputError(None, "--keep and --from go together: which joints to keep, and the motion they follow")
    kept = None
    if options.keep is not None:
        if options.continue_from is not None or options.seed_motion != DanceOptions.seed_motion:
            raise InputError(None, "--keep starts the dance from its --from motion; it cannot take --continue "
                                   "or --seed-motion as well")
        if options.keyframes is not None:
            # The kept joints are set from --from after the keyframes' warp: said, not left to be found
            # (a whole-body keyframe was 14 cm off with --keep upper, with no word).
            log.warning("%s: with --keep, keyframes pose the generated joints; the kept ones (%s) follow %s",
                        options.keyframes, options.keep, options.keep_from)
        joints, keep_root = kept_joints(options.keep)
        source = keep_source(options.keep_from, read=functools.partial(read_source_motion, progress=progress))
        if len(source) <= cfg.motion_len:
            raise InputError(options.keep_from, f"has {len(source)} frames; the dance needs more than the "
                                                f"{cfg.motion_len}-frame seed")
        kept = (source, joints, keep_root)
        kept_planted = _kept_contacts(source)  # every song keeps the same motion: found once
    style = style_label(cfg, options.style, (model_meta or {}).get("checkpoint"))
    keys = (None if options.keyframes is None
            else read_keyframes(options.keyframes, read=functools.partial(read_source_motion, progress=progress)))
    # Of a dance to continue only the end is read (a joints file is fitted on it alone), with a margin
    # of 0.1 s for the resampling of a file at another frame rate.
    continued = (None if options.continue_from is None else continuation_seed(
        options.continue_from, cfg.motion_len,
        read=functools.partial(read_source_motion, progress=progress, last_s=cfg.motion_len / FPS + 0.1)))
    if continued is not None and options.frames_per_step == 1:
        # Seams are joined chunk by chunk (generate.SeamEaser); one frame a pass has none to join.
        log.warning("--frames-per-step 1 predicts one frame a pass: the continuation is not joined to %s, and "
                    "may start with a jump", options.continue_from)
    lead = cfg.motion_len if continued is not None else 0
    # A bar over the songs, as decoding a long song and its features take seconds before generation's
    # bar: on a terminal only (disable=None), and erased when it closes (leave=False), also on an
    # error, so that one line says what went wrong and logs and pipes get that line alone.
    prepared = []
    with contextlib.ExitStack() as music:  # the songs' AAC, stopped and removed on the way out
        with tqdm(total=len(songs), disable=None if progress else True, unit="song", desc="music features",
                  leave=False) as bar:
            for i, path in enumerate(songs):
                t0 = time.perf_counter()
                # The AAC the exports use (the video's music, a large wav's on the page), encoded by ffmpeg
                # from now on, on the core that the features (one thread) leave idle; the first batch's
                # here, the others' when their batch starts (one temporary file per song meanwhile).
                aac = (music.enter_context(SongAAC(path))
                       if i < options.batch_size and aac_wanted(options.formats, path, options.start) else None)
                if i == 0 and prefetch is not None and "mp4" in options.formats and prefetch.pending():
                    # The video's compiled kernels (numba's import and cache: 0.5 s), loaded while this
                    # process would wait for the features, not after generation, when the video waits.
                    from aichoreo.raster import kernels

                    kernels()
                song = prefetch.result(model_spec(model_meta)) if i == 0 and prefetch is not None else None
                if song is not None:
                    _check_long_enough(song.path, song.n_frames, cfg.motion_len)
                else:
                    song = song_inputs(path, options, cfg.motion_len, cache, lead_s=lead / FPS,
                                       spec=model_spec(model_meta))
                song.aac = aac
                t1 = time.perf_counter()
                if continued is not None:  # the end of the given dance, where it stands: the new one starts there
                    song.seed, song.lead = continued.to_fact_vector(padded=True), lead
                elif kept is not None:  # the dance starts as the motion whose parts it keeps
                    song.seed, song.keep = kept[0].slice(0, cfg.motion_len).to_fact_vector(padded=True), kept
                    song.planted = kept_planted
                    song.edit = keep_edit(*kept)
                else:
                    song.seed = seed_motion(options.seed_motion, n_frames=cfg.motion_len, bpm=song.bpm,
                                            random_seed=options.random_seed + i, aistpp_root=aistpp_root,
                                            model_meta=model_meta)
                if continued is not None:  # the first chunk joined to the given dance over a longer time
                    song.first_join = round(CONTINUE_JOIN_S * FPS)
                if keys is not None:
                    song.warp = keyframe_warp(keys, dance_start=lead, n_frames=song.frames,
                                              first_editable=cfg.motion_len, source=options.keyframes)
                song.timings = {"model_load": load_s, "features": t1 - t0, "seed": time.perf_counter() - t1}
                prepared.append(song)
                bar.update(1)

        with output_folder(out):
            for stem in stems:  # what a killed run left behind
                clean_stale_staging(out, f"{stem}.staging")
            # torch's and the model's objects out of the collector's sight: 5 full collections over
            # them took 333 ms of a 3-minute dance's main thread (aichoreo.gcpause)
            with FrozenHeap():
                return _generate_and_export(prepared, model, out, options, model_meta, progress, character, style)


def _character_exports(smpl, character: Character, folder: Path, song: Path, options: DanceOptions,
                       timings: dict[str, float], *, page: bool, aac: SongAAC | None = None) -> dict[str, Path]:
    """The dance on ``character`` (its own file format), and with ``page`` the viewer page of it."""
    t0 = time.perf_counter()
    name = output_name(character)
    cm = retarget_motion(smpl, character)
    written = {"character": write_character_motion(cm, folder / name)}
    timings["character"] = time.perf_counter() - t0
    if page:
        t0 = time.perf_counter()
        joints = cm.world_positions / character.units_per_metre
        written["html"] = write_character_html(
            folder / f"{EXPORT_NAME}.html", glb=written["character"].read_bytes(),
            kind="vrm" if character.kind.startswith("vrm") else "gltf", fps=smpl.fps, frames=len(smpl),
            front=(float(cm.canonical[0, 2]), float(cm.canonical[2, 2])),
            bounds=np.stack([joints.min((0, 1)), joints.max((0, 1))]), audio_path=song,
            audio_offset_s=options.start, title=song.stem, aac=aac)
        timings["html"] = time.perf_counter() - t0
    return written


def _generate_and_export(prepared: list[Song], model, out: Path, options: DanceOptions, model_meta: dict | None,
                         progress: bool, character: Character | None = None, style: int = 0) -> list[dict[str, Any]]:
    summaries = []
    for b in range(0, len(prepared), options.batch_size):
        batch = prepared[b: b + options.batch_size]
        with contextlib.ExitStack() as music:
            for song in batch:
                if song.aac is None and aac_wanted(options.formats, song.path, options.start):
                    song.aac = music.enter_context(SongAAC(song.path))
                elif song.aac is not None:
                    music.callback(song.aac.close)  # done with once the batch is written
            summaries += _generate_batch(batch, b, model, out, options, model_meta, progress, character, style)
    return summaries


def _kept_contacts(source: SMPLMotion) -> np.ndarray:
    """``(T, 2)`` the foot contacts of a ``--keep`` motion, which the foot lock also holds in the dance
    built around it (:func:`aichoreo.generate.feet_locked`): with the upper body of a real dance kept,
    the legs' foot skate over the real dancer's went from 1.79-1.90 to 1.17-1.35 on the two test songs
    over 1.5 (docs/generation.md, "Keep parts")."""
    from aichoreo.footlock import foot_contacts

    return foot_contacts(source.joints(), fps=source.fps)


def _generate_batch(batch: list[Song], b: int, model, out: Path, options: DanceOptions, model_meta: dict | None,
                    progress: bool, character: Character | None, style: int) -> list[dict[str, Any]]:
    """Generate the dances of one batch of songs (``b``: the first one's index) and export each into
    its folder."""
    from tqdm.auto import tqdm

    from aichoreo.generate import generate_dances  # imports torch: not before the model is loaded
    from aichoreo.threads import ThreadTuner

    summaries = []
    timings: dict[str, float] = {}
    # The song's AAC is encoded by ffmpeg beside the first passes; one thread wins while it runs,
    # and the tuner tries every core again as soon as it ends.
    tuner = ThreadTuner()
    for song in batch:
        if song.aac is not None and not song.aac.done():
            tuner.watch(song.aac.done)
    t0 = time.perf_counter()
    # A dance that keeps parts of a motion lasts as long as the song and that motion both do.
    motions = generate_dances(model, [s.features for s in batch], [s.seed for s in batch],
                              frames=[s.frames for s in batch],
                              frames_per_step=options.frames_per_step, lock_feet=options.lock_feet,
                              batch_size=len(batch), device=options.device, progress=progress,
                              random_seed=options.random_seed + b, timings=timings,
                              edits=[s.edit for s in batch], warps=[s.warp for s in batch],
                              seam_ease=options.seam_ease, styles=[style] * len(batch) if style else None,
                              style_strength=options.style_strength, room_radius=options.room_radius,
                              first_joins=[s.first_join for s in batch],
                              planted=[s.planted for s in batch], given_seeds=[bool(s.lead) for s in batch],
                              tuner=tuner)
    elapsed = time.perf_counter() - t0
    generated_s = sum(s.frames - model.config.motion_len for s in batch) / FPS
    for j, (song, smpl) in enumerate(zip(batch, motions)):
        if song.lead:  # a continuation: the given dance's end was the seed, not part of this dance
            smpl = smpl.slice(song.lead)
        if song.keep is not None:  # after the foot lock: the kept joints equal the source exactly
            smpl = keep_parts(smpl, *song.keep)
        folder = out / song.path.stem
        # The song's folder is written whole in a hidden staging folder beside it and swapped in at
        # the end: it never mixes two runs' files, and a run killed midway leaves the earlier dance.
        with staging_folder(out, f"{folder.name}.staging") as staging:
            new = staging / "new"
            with naming(folder, new):
                exports: dict[str, float] = {}
                # A glTF or VRM character dances in the page itself (the SMPL skeleton page otherwise).
                on_page = character is not None and character.kind != "bvh" and "html" in options.formats
                formats = [f for f in options.formats if not (on_page and f == "html")]
                written = export_all(smpl, new, name=EXPORT_NAME, formats=formats, audio_path=song.path,
                                     audio_offset_s=options.start, progress=progress, timings=exports,
                                     figure=options.figure, aac=song.aac, title=song.path.stem) if formats else {}
                if character is not None:
                    written.update(_character_exports(smpl, character, new, song.path, options, exports,
                                                      page=on_page, aac=song.aac))
                summary = {
                    # the song's place in the command and its batch's first: a bounce seed varies with
                    # --random-seed + the place, a sampling model's draws with --random-seed + the batch's
                    # Absolute paths: dance.json is read from elsewhere than where the command ran.
                    "song": os.path.abspath(song.path), "song_index": b + j, "batch_first_song": b,
                    "out": os.path.abspath(folder), "frames": len(smpl),
                    "seconds": len(smpl) / FPS, "bpm_prior": song.bpm, "generation_wall_s": elapsed,
                    "generated_s_per_wall_s": generated_s / elapsed if elapsed > 0 else None,
                    "foot_lock_wall_s": timings.get("feet_s", 0.0),
                    # Wall seconds per stage; model_load and generation are shared by the songs of a run
                    # and of a batch (benchmarks/dance_end_to_end.py reads them).
                    "timings_s": {**song.timings, "generation": timings.get("generate_s", 0.0),
                                  "foot_lock": timings.get("feet_s", 0.0), "exports": exports},
                    "generation_threads": timings.get("threads", {}),  # the loop's passes per thread count
                    "options": {k: (list(v) if isinstance(v, tuple) else v)
                                for k, v in dataclasses.asdict(options).items()},
                    "model": model_meta or {},
                    "files": {k: os.path.abspath(folder / v.name) for k, v in written.items()},
                }
                with atomic_path(new / SUMMARY) as tmp:
                    tmp.write_text(json.dumps(summary, indent=2, default=str))
                check_replaceable(folder)  # again: files may have appeared during generation
                _swap_in(new, folder, staging / "previous")
        summary["files"]["summary"] = os.path.abspath(folder / SUMMARY)
        summaries.append(summary)
        if progress:
            tqdm.write(f"{song.path.name}: {len(smpl) / FPS:.1f} s of dance, generated at "
                       f"{summary['generated_s_per_wall_s']:.1f}x real time")
    return summaries

