"""Autoregressive dance generation with any registered model (FACT and the baselines).

The loop asks the model for the next frames (``model.predict``), cleans them, and feeds them
back (``model.advance``); how a model turns its context and the music into frames is its own
(:mod:`aichoreo.models.common`). For FACT this is the released loop (google-research/mint ``mint/core/fact_model.py``,
``FACTModel.infer_auto_regressive``), re-written here: a seed of ``motion_len`` (120) frames and
the music features of the whole song, both starting at song time 0. At step ``i``

1. the music window is frames ``[i, i + audio_len)`` = ``[i, i + 240)``; stop when fewer remain;
2. the motion context is the last 120 frames (seed, then generated frames);
3. one forward pass; keep output token 0, the prediction of the frame right after the context;
4. drop the oldest context frame and append the prediction, which becomes motion frame ``120 + i``.

Options beyond the paper (docs/fact.md, "Generation"):

- ``frames_per_step=K`` keeps the first K future tokens of each pass (``K <= target_len``) and
  slides by K: about K times fewer forward passes;
- ``project_rotations=True`` (the default) puts each predicted frame back on the data manifold
  before feeding it back: rotation blocks projected onto SO(3) by SVD, the six pad dims set to 0.
  ``project_rotations=False`` feeds the raw prediction back, as the released code does.

All frames are at 60 fps: generated frame ``g`` (0-based) is motion frame ``120 + g`` and sounds
at music time ``(120 + g) / 60`` s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from aichoreo.defaults import SEAM_EASE_FRAMES, STYLE_STRENGTH  # noqa: F401 (generation's defaults)
from aichoreo.models import DanceModel
from aichoreo.models.common import SlidingContext
from aichoreo.motion import (
    FACT_DIM,
    FACT_PAD,
    FACT_PADDED_DIM,
    FACT_ROTATIONS,
    FACT_TRANSLATION,
    SMPLMotion,
    rotation_exp,
    rotation_log,
)
from aichoreo.rotations import project_to_so3, slerp_matrices
from aichoreo.skeleton import FPS, N_JOINTS
from aichoreo.threads import ThreadTuner

__all__ = ["generate", "generate_motion", "generate_dances", "extend_music", "n_generable_frames", "feet_locked"]

log = logging.getLogger(__name__)



def n_generable_frames(n_audio_frames: int, audio_len: int = 240) -> int:
    """Frames the loop can generate from a song of ``n_audio_frames`` music frames (60 fps).

    Step ``i`` needs music frames ``[i, i + audio_len)``, so ``n_audio_frames - audio_len + 1``
    steps fit (0 when the song is shorter than one window), whatever ``frames_per_step``.
    """
    return max(0, n_audio_frames - audio_len + 1)


def generate(
    model: DanceModel,
    music_features: np.ndarray | torch.Tensor,
    seed_motion: np.ndarray | torch.Tensor,
    n_frames: int | None = None,
    *,
    frames_per_step: int = 1,
    project_rotations: bool = True,
    device: str | torch.device | None = None,
    progress: bool = False,
    random_seed: int | None = 0,
    threads: int | ThreadTuner | None = None,
    edit: Callable[[int, np.ndarray], np.ndarray] | None = None,
    style: int | Sequence[int] | None = None,
    style_strength: float = 1.0,
    room_radius: float | None = None,
) -> np.ndarray:
    """Continue ``seed_motion`` as a dance to ``music_features``; return seed + generated frames.

    Args:
        model: a registered model (its config gives the window lengths); switched to eval mode
            for the call and restored after; moved to ``device`` when one is given.
        music_features: ``(T_audio, 35)`` FACT music features of the whole song at 60 fps, song
            time 0 = seed frame 0; or ``(B, T_audio, 35)`` for B songs of equal length.
        seed_motion: ``(120, 225)`` or ``(120, 219)`` FACT motion vectors (60 fps), or
            ``(B, 120, 225|219)`` with one seed per song.
        n_frames: frames to generate after the seed; ``None`` = as many as the music allows
            (:func:`n_generable_frames`; the paper generated ``min(1200, that)``). Larger values
            stop where the music runs out.
        frames_per_step: frames kept per forward pass (1 = the paper; up to ``config.n_future``).
        project_rotations: project predicted rotations onto SO(3) and zero the pad dims before
            feeding them back (and in the result); ``False`` = the released code's raw feedback.
        device: where to run; default the model's device.
        progress: show a tqdm bar over generated frames.
        random_seed: seed of the sampling of the models that sample (Li et al. 2020, DanceNet);
            ``None`` = torch's global generator. FACT and DanceRevolution are deterministic.
        threads: torch's intra-op threads for the loop on the CPU: a count, or a
            :class:`~aichoreo.threads.ThreadTuner` (read its ``passes`` afterwards); ``None`` = a
            new tuner, which picks the count from the passes' measured speed (:mod:`aichoreo.threads`:
            the default holds on a CPU that other work shares). Torch's count is restored after.
        edit: constrained generation: called after every pass as ``edit(first, frames)`` with the
            index of the first predicted frame in the dance (seed frame 0 = 0) and the predicted
            frames ``(B, k, 225)`` (numpy, rotations projected), it returns them edited; the edited
            frames are kept and fed back, so what follows is generated from them
            (:mod:`aichoreo.direct`: keyframes).
        style: for a model with styles, the style label (``config.style_label(name)``; 0 = none,
            unconditioned), one per song for a batch; ``None`` = none.
        style_strength: classifier-free guidance of the style (``FACT.guided``): 1 = the styled
            prediction alone; more pushes further from the unconditioned dance (two passes each).
        room_radius: metres; a model that reads world root positions is shown its root no
            further than this from where the seed starts (:class:`RoomKeeper`); ``None`` = as
            the released loop (:func:`generate_dances` uses the model's ``config.room_radius``).

    Returns:
        ``(120 + n, 225)`` float32, or ``(B, 120 + n, 225)`` for a batch: the seed (zero-padded to
        225 if given as 219) followed by ``n`` generated frames. Rotations of raw frames are not
        exactly orthonormal: decode with :meth:`SMPLMotion.from_fact_vector`, which projects.
    """
    cfg = model.config
    audio, seed, batched = _prepare_inputs(music_features, seed_motion, cfg.motion_len, cfg.audio_dim)
    available = n_generable_frames(audio.shape[1], cfg.audio_len)
    if available == 0:
        raise ValueError(f"music has {audio.shape[1]} frames; generation needs at least audio_len = "
                         f"{cfg.audio_len} (the seed's {cfg.motion_len} frames plus what follows)")
    if n_frames is not None and (isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 0):
        raise ValueError(f"n_frames must be a non-negative integer or None, got {n_frames!r}")
    if not isinstance(frames_per_step, int) or not 1 <= frames_per_step <= cfg.n_future:
        raise ValueError(f"frames_per_step must be an integer in [1, {cfg.n_future}] for this model "
                         f"(its target_len / attention), got {frames_per_step!r}")
    styles = _style_labels(cfg, style, audio.shape[0], style_strength)
    if room_radius is not None and (isinstance(room_radius, bool) or not isinstance(room_radius, (int, float))
                                    or not room_radius > 0):
        raise ValueError(f"room_radius must be a positive number of metres or None, got {room_radius!r}")
    n = available if n_frames is None else min(n_frames, available)
    if n_frames is not None and n_frames > available:
        log.info("music allows %d generated frames, not %d: stopping there", available, n_frames)

    if device is not None:
        model.to(device)
    run_device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            generator = None
            if random_seed is not None:
                generator = torch.Generator(device=run_device).manual_seed(random_seed)
            # One array for the whole dance, filled in place: no per-step list and no
            # concatenation, so a long song costs its output once (900 bytes per frame and song).
            out = torch.empty(seed.shape[0], seed.shape[1] + n, seed.shape[2], dtype=seed.dtype, device=run_device)
            out[:, :seed.shape[1]] = seed
            if run_device.type != "cpu":
                tuner = ThreadTuner((torch.get_num_threads(),))  # the CPU only feeds the device
            elif isinstance(threads, ThreadTuner):
                tuner = threads
            else:
                tuner = ThreadTuner(None if threads is None else (threads,))
            with tuner.run():
                _autoregress(model, audio.to(run_device), out[:, :seed.shape[1]], out[:, seed.shape[1]:],
                             frames_per_step, project_rotations, progress, generator, tuner, edit,
                             None if styles is None else (styles.to(run_device), float(style_strength)),
                             room_radius)
            log.info("generation passes per thread count: %s", tuner.passes)
    finally:
        model.train(was_training)
    out = out.cpu().numpy()  # (B, T + n, 225); no copy on the CPU
    return out if batched else out[0]


def _autoregress(model: DanceModel, audio: torch.Tensor, seed: torch.Tensor, out: torch.Tensor, k_max: int,
                 project: bool, progress: bool, generator: torch.Generator | None, tuner: ThreadTuner,
                 edit: Callable[[int, np.ndarray], np.ndarray] | None = None,
                 style: tuple[torch.Tensor, float] | None = None, room_radius: float | None = None) -> None:
    """The loop: ``audio (B, T_audio, 35)``, ``seed (B, T, 225)`` -> the generated frames written into
    ``out (B, n, 225)``; ``style``: the labels ``(B,)`` and the guidance, for a model with styles."""
    state = model.start(seed, audio, generator)
    if style is not None:
        state["style"], state["guidance"] = style
    predict = room_predict(model, seed, room_radius)
    n = out.shape[1]
    done = 0
    with tqdm(total=n, disable=not progress, unit="frame", desc="generate") as bar:
        while done < n:
            k = min(k_max, n - done)
            with tuner.timed(k):
                pred = predict(state, k)  # (B, k, F): motion frames T + done ...
                if project:
                    pred = clean_frames(pred)
                if edit is not None:
                    edited = edit(seed.shape[1] + done, pred.cpu().numpy())
                    pred = torch.as_tensor(np.asarray(edited, dtype=np.float32), device=pred.device)
                out[:, done:done + k] = pred
                model.advance(state, pred)
            done += k
            bar.update(k)


def feet_locked(motion: SMPLMotion, unwarped: SMPLMotion, seed_frames: int,
                planted: np.ndarray | None = None, *, given_seed: bool = False) -> SMPLMotion:
    """A generated dance kept on the floor its seed stands on (the seed's lowest foot joint,
    averaged; :func:`aichoreo.footlock.keep_on_floor`) with its planted feet held still
    (:func:`aichoreo.footlock.lock_feet`).

    ``unwarped``: the dance before keyframes bent it (``motion`` itself without keyframes). A foot
    planted there is held while the dance bends into a pose and out of it, also where the bend moves
    it fast enough not to count as planted in ``motion``: on the 6 test songs the keyframes' foot
    skate over the rest of the dance's went from 0.63-1.43 to 0.42-1.40 (over 1.3 on one song, was
    three), at 0.06-0.86 cm of error at the keyframes (was 0.00-0.24; docs/generation.md).

    ``planted``: ``(T', 2)`` bool, frames where a foot (left, right) counts as planted besides those
    found in the dance: a kept motion's own contacts (``--keep upper``: the legs the model makes
    around a real dancer's upper body rarely slow down enough to count, and the real dancer's feet
    were planted on those frames). Frame ``f`` is the dance's frame ``f``; frames past either end
    are ignored. A foot that moves too far during such a run is left alone (``lock_feet``'s
    ``max_slip_m``).

    ``given_seed``: the seed frames are a dance the user gave (``--continue``), which the new dance
    must go on from as it is. They come out unchanged, and the clean-up's corrections fade in over
    :data:`GIVEN_SEED_FADE` frames after them. Cleaned up like the rest, the given dance's end moved
    by up to 6 cm while the new frames carried on from the moved end, so the new dance started with
    a jump: 39-84 m/s^2 at the seam on the validation songs, 5-21 without the clean-up.
    """
    from aichoreo.footlock import foot_contacts, keep_on_floor, lock_feet, lowest_foot

    floor = float(lowest_foot(motion.joints()[:seed_frames]).mean())
    given, warped, motion = motion, motion is not unwarped, keep_on_floor(motion, floor)
    contacts = None
    if warped or planted is not None:
        contacts = foot_contacts(motion.joints(), fps=motion.fps)
    if warped:
        contacts |= foot_contacts(keep_on_floor(unwarped, floor).joints(), fps=motion.fps)
    if planted is not None:
        n = min(len(contacts), len(planted))
        contacts[:n] |= np.asarray(planted, dtype=bool)[:n]
    locked = lock_feet(motion, contacts)
    return _faded_in(given, locked, seed_frames, GIVEN_SEED_FADE) if given_seed else locked


def _faded_in(before: SMPLMotion, after: SMPLMotion, start: int, n: int) -> SMPLMotion:
    """``after`` with its change from ``before`` left out up to frame ``start`` and faded in over
    the ``n`` frames after it (a smoothstep; rotations along the geodesic, per joint)."""
    w = np.clip((np.arange(len(before)) - start + 1) / (n + 1), 0.0, 1.0)
    w = w * w * (3 - 2 * w)  # (T,): 0 up to frame start - 1, 1 from frame start + n
    part = (w > 0) & (w < 1)
    rot = np.where(w[:, None, None, None] > 0, after.rotations, before.rotations)
    rot[part] = slerp_matrices(before.rotations[part], after.rotations[part], w[part, None])
    trans = before.translation + w[:, None] * (after.translation - before.translation)
    return SMPLMotion(rot, trans.astype(after.translation.dtype), after.fps)


#: Frames over which the foot clean-up's corrections fade in after a given seed (feet_locked's
#: ``given_seed``: a continuation's). Half a second, not tuned: the corrections are a few centimetres
#: (up to 6 cm on the validation songs), which this adds at under 4 mm per frame.
GIVEN_SEED_FADE = 30
_SPIN_FRAMES = 6  # the velocities carried over a seam are the last 6 frames' (0.1 s)


def _end_slope() -> np.ndarray:
    """``(7,)`` weights of the last 7 frames (oldest first) that give the slope at the last one of the
    least-squares quadratic through them (Savitzky-Golay; scipy imported here, when a continuation needs it)."""
    from scipy.signal import savgol_coeffs

    return savgol_coeffs(_SPIN_FRAMES + 1, 2, deriv=1, pos=_SPIN_FRAMES, use="dot")


class SeamEaser:
    """Joins each predicted chunk to the frames before it by a correction spread over ``n`` frames.

    A chunk-predicting model's chunks do not join: each pass predicts its frames afresh, and the
    bundled model's first frame jumps back toward where its previous chunk started (a sawtooth at
    the chunk rate, 3 Hz with K = 20: docs/results.md). The last frames carried on one frame (each
    joint at its angular velocity over the last 0.1 s, the root at its velocity) give where the
    chunk should start and how fast; the chunk keeps its own motion, plus a correction that is the
    whole offset (rotations: per joint, in the joint's frame; root: in metres) and the velocity
    mismatch at its first frame and fades to none at frame ``n`` along a cubic Hermite curve, so
    position and velocity are continuous and the correction's own acceleration is small. Frames
    are ``(k, 225)`` FACT vectors; the eased frames are what the model reads back.

    ``first``: frames over which the first chunk is joined to the seed (default ``n``); longer than
    a chunk, the rest of the correction is cut at the chunk's end, and the next chunk, predicted
    from the corrected frames, is joined to them as any other. A continued dance's seed is the end
    of the given dance, and a join of its first chunk over 1 s spreads the model's offset from it
    over three chunks' time (:data:`aichoreo.direct.CONTINUE_JOIN_S`; measured in docs/generation.md).

    ``given``: the seed is a dance the user gave (``--continue``), and the first chunk carries on at
    its velocities at its last frame, from a quadratic fitted to its last 7 frames (Savitzky-Golay),
    not at their mean over 0.1 s, which lags where the dancer speeds up or slows down. On the
    validation songs of benchmarks/directed_dance.py the acceleration at a continuation's seam went
    from 5-21 to 1-13 m/s^2 (the real dances' 95th percentile there: 13). Between the model's own
    chunks the mean is kept: there the fit changed the quality report by no more than noise
    (worst jitter 0.985 -> 1.08, BeatAlign 1.09 -> 1.02, energy 0.552 -> 0.561).
    """

    def __init__(self, seed: np.ndarray, n: int, first: int | None = None, given: bool = False):
        self.n = int(n)
        self.first = self.n if first is None else int(first)
        self.history = np.asarray(seed, dtype=np.float64)[-(_SPIN_FRAMES + 1):]
        self.given = bool(given) and len(self.history) == _SPIN_FRAMES + 1

    def ease(self, x: np.ndarray) -> np.ndarray:
        """The chunk ``x (k, 225)`` joined to the history; float32 ``(k, 225)``."""
        h, k = self.history, len(x)
        x = np.array(x, dtype=np.float64)
        n, self.first = self.first, self.n  # the first chunk's join, then every other's
        fitted, self.given = self.given, False
        if n < 1 or k == 0:
            return x.astype(np.float32)
        back = len(h) - 1
        rots = h[:, FACT_ROTATIONS].reshape(len(h), N_JOINTS, 3, 3)
        last_rot = rots[-1]
        if fitted:  # the derivative at the last frame of a quadratic through the last frames, each
            # rotation as a turn from the last one (rots[i] = last @ exp(turn[i]))
            c = _end_slope()
            spin = np.tensordot(c, rotation_log(np.swapaxes(last_rot, -1, -2)[None] @ rots), axes=1)  # (24, 3)
            velocity = c @ h[:, FACT_TRANSLATION]  # (3,) metres per frame
        else:
            spin = rotation_log(np.swapaxes(rots[0], -1, -2) @ last_rot) / back  # (24, 3) per frame
            velocity = (h[-1, FACT_TRANSLATION] - h[0, FACT_TRANSLATION]) / back
        rot = x[:, FACT_ROTATIONS].reshape(k, N_JOINTS, 3, 3)
        carried = last_rot @ rotation_exp(spin)  # (24, 3, 3): the last frame turned on one frame
        offset = rotation_log(np.swapaxes(rot[0], -1, -2) @ carried)  # rot[0] @ exp(offset) = carried
        shift = h[-1, FACT_TRANSLATION] + velocity - x[0, FACT_TRANSLATION]
        if k > 1:  # the velocity mismatch at the first frame
            spin_gap = spin - rotation_log(np.swapaxes(rot[0], -1, -2) @ rot[1])
            velocity_gap = velocity - (x[1, FACT_TRANSLATION] - x[0, FACT_TRANSLATION])
        else:
            spin_gap, velocity_gap = np.zeros_like(spin), np.zeros(3)
        s = np.minimum(np.arange(k) / n, 1.0)
        h00 = (2 * s - 3) * s * s + 1  # Hermite basis: 1 -> 0, flat at both ends
        h10 = ((s - 2) * s + 1) * s * n  # 0 -> 0, slope 1 per frame at the start, flat at the end
        turn = offset[None] * h00[:, None, None] + spin_gap[None] * h10[:, None, None]  # (k, 24, 3)
        x[:, FACT_ROTATIONS] = (rot @ rotation_exp(turn)).reshape(k, -1)
        x[:, FACT_TRANSLATION] += shift[None] * h00[:, None] + velocity_gap[None] * h10[:, None]
        return x.astype(np.float32)

    def record(self, x: np.ndarray) -> None:
        self.history = np.concatenate([self.history, np.asarray(x, dtype=np.float64)])[-(_SPIN_FRAMES + 1):]


class RoomKeeper:
    """Shows a world-frame model its dance as if it had started at the origin of the room it was trained
    in, and its root no further than ``radius`` m (horizontally) from there, by
    shifting the whole context before each pass and the prediction back after.

    The music does not depend on where the dancer stands, but a model trained on root positions
    in one room reads them: the bundled model, once its dancer had travelled past the positions
    it was trained on, fell into a loop of one chunk that shakes. Within ``radius`` of its start
    the model sees the dance as it is, moved to start at the origin; beyond it the model sees itself
    at the radius, in the direction it went, while the dance itself goes on where it is (continuous:
    the shift changes only as the dancer moves). A dance from the built-in seed starts at the
    origin; a continuation of a dance that had walked 20 m from it was shown to the model there,
    and the new dancer flew off at 14 m/s (2026-12-08). ``start (B, 2)``: the first seed frame's
    horizontal root (x, z), y up.
    """

    def __init__(self, model: DanceModel, start: torch.Tensor, radius: float):
        self.model, self.start, self.radius = model, start, float(radius)

    def __call__(self, state: dict, k: int) -> torch.Tensor:
        """``model.predict(state, k)`` with the shift: ``(B, k, F)`` in the dance's own coordinates."""
        model, context = self.model, state["context"]
        away = context[:, -1, _GROUND] - self.start  # (B, 2)
        distance = away.norm(dim=-1, keepdim=True)
        # the start moved to the origin, and the root kept within the radius of it
        shift = self.start + away * (distance - self.radius).clamp(min=0) / distance.clamp(min=1e-9)
        if not bool((shift != 0).any()):
            return model.predict(state, k)
        state["context"] = context.clone()
        state["context"][..., _GROUND] -= shift[:, None]
        try:
            pred = model.predict(state, k)
        finally:
            state["context"] = context
        pred = pred.clone()
        pred[..., _GROUND] += shift[:, None]
        return pred


_GROUND = [FACT_TRANSLATION.start, FACT_TRANSLATION.start + 2]  # the root's x and z in a 225-d frame (y up)


def model_room(cfg: Any, radius: float | None = None) -> float | None:
    """The room radius generation uses: ``radius`` when given (0: none), else the model's
    ``config.room_radius``; ``None`` for none."""
    radius = getattr(cfg, "room_radius", 0.0) if radius is None else radius
    return float(radius) if radius else None


def room_predict(model: DanceModel, seed: torch.Tensor,
                 radius: float | None) -> Callable[[Any, int], torch.Tensor]:
    """What the loop calls for a pass, ``predict(state, k)``: a :class:`RoomKeeper` for ``model``
    from ``seed (B, T, 225)``, or ``model.predict`` itself where none applies: no radius (the
    paper's loop, which shows the model the positions as they are), or a model that does not read
    world root positions from a sliding context (FACT seen from its last frame,
    ``root_frame="last"``, already reads none; DanceRevolution keeps no context)."""
    if radius is None or not isinstance(model, SlidingContext):
        return model.predict
    if getattr(model.config, "root_frame", "world") != "world":
        return model.predict
    return RoomKeeper(model, seed[:, 0, _GROUND].clone(), radius)


def clean_frames(x: torch.Tensor) -> torch.Tensor:
    """Predicted 225-d frames ``(..., 225)`` with rotations projected onto SO(3) and pad dims zeroed.

    Translation (dims 6:9) is kept as predicted.
    """
    rot = x[..., FACT_ROTATIONS].reshape(*x.shape[:-1], N_JOINTS, 3, 3)  # (..., 24, 3, 3) row-major
    rot = project_to_so3(rot).reshape(*x.shape[:-1], N_JOINTS * 9)  # (..., 216)
    pad = x.new_zeros(*x.shape[:-1], FACT_PAD)
    return torch.cat([pad, x[..., FACT_TRANSLATION], rot], dim=-1)


def _style_labels(cfg: Any, style: int | Sequence[int] | None, batch: int, strength: float) -> torch.Tensor | None:
    """Checked style labels ``(B,)`` for :func:`generate`, or None."""
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 20:
        raise ValueError(f"style_strength must be a number in [0, 20], got {strength!r}")
    if style is None:
        return None
    styles = getattr(cfg, "styles", ())
    labels = torch.as_tensor([style] * batch if np.ndim(style) == 0 else list(style))
    if labels.dtype not in (torch.int64, torch.int32) or labels.shape != (batch,):
        raise ValueError(f"style must be one integer label or one per song ({batch}), got {style!r}")
    if not styles:
        raise ValueError("this model has no styles: style must be None")
    if bool(((labels < 0) | (labels > len(styles))).any()):
        raise ValueError(f"style labels must be in [0, {len(styles)}] (0: none; i: {styles[0]!r}, ...)")
    return labels.long()


def _prepare_inputs(music: Any, seed: Any, motion_len: int,
                    audio_dim: int) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Validated float32 CPU tensors ``(B, T_audio, 35)``, ``(B, T, 225)`` and whether batched."""
    music = torch.as_tensor(music, dtype=torch.float32, device="cpu").detach()
    seed = torch.as_tensor(seed, dtype=torch.float32, device="cpu").detach()
    if music.ndim not in (2, 3) or music.shape[-1] != audio_dim:
        raise ValueError(f"music_features must have shape (T_audio, {audio_dim}) or (B, T_audio, {audio_dim}), "
                         f"got {tuple(music.shape)}")
    if seed.ndim != music.ndim or seed.shape[-2] != motion_len or seed.shape[-1] not in (FACT_DIM, FACT_PADDED_DIM):
        lead = "" if music.ndim == 2 else "B, "
        raise ValueError(f"seed_motion must have shape ({lead}{motion_len}, {FACT_PADDED_DIM}) or "
                         f"({lead}{motion_len}, {FACT_DIM}) to match music_features, got {tuple(seed.shape)}")
    batched = music.ndim == 3
    if not batched:
        music, seed = music[None], seed[None]
    if music.shape[0] != seed.shape[0]:
        raise ValueError(f"{music.shape[0]} songs but {seed.shape[0]} seeds")
    if not (torch.isfinite(music).all() and torch.isfinite(seed).all()):
        raise ValueError("music_features or seed_motion contain NaN or inf")
    if seed.shape[-1] == FACT_DIM:
        seed = torch.cat([seed.new_zeros(*seed.shape[:-1], FACT_PAD), seed], dim=-1)  # (B, T, 225)
    return music, seed, batched


def generate_motion(
    model: DanceModel,
    music_features: np.ndarray | torch.Tensor,
    seed_motion: np.ndarray | torch.Tensor | SMPLMotion,
    n_frames: int | None = None,
    *,
    fps: float = FPS,
    **options: Any,
) -> SMPLMotion:
    """:func:`generate` for one song, returned as an :class:`SMPLMotion` (seed + generated frames).

    ``seed_motion`` may be an :class:`SMPLMotion` of exactly ``motion_len`` frames; ``fps`` is the
    frame rate of the model's data (AIST++ FACT: 60) and must match the seed's. ``options`` are
    :func:`generate`'s keywords. Rotations are projected onto SO(3) on the way out in any case.
    """
    if np.ndim(music_features) != 2:
        raise ValueError("generate_motion takes one song, music_features (T_audio, 35); call generate for a batch")
    x = generate(model, music_features, _seed_vectors(seed_motion, fps), n_frames, **options)
    return SMPLMotion.from_fact_vector(x, fps=fps)


def _seed_vectors(seed: Any, fps: float) -> Any:
    """FACT vectors of a seed: an :class:`SMPLMotion` (at the model's ``fps``) converted, anything else as given."""
    if isinstance(seed, SMPLMotion):
        if seed.fps != fps:
            raise ValueError(f"seed motion is at {seed.fps} fps, the model at {fps} fps: resample it first")
        return seed.to_fact_vector(padded=True)
    return seed


def _projected_seed(seed: Any) -> np.ndarray:
    """A seed's ``(T, 225)`` vectors with rotations projected like every generated frame
    (:func:`clean_frames`), so that a dance needs no second projection at the end; anything that is
    not finite FACT vectors is returned as given, for :func:`generate` to refuse."""
    x = np.asarray(seed, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] not in (FACT_DIM, FACT_PADDED_DIM) or not np.isfinite(x).all():
        return x
    if x.shape[1] == FACT_DIM:
        x = np.concatenate([np.zeros((len(x), FACT_PAD), np.float32), x], axis=1)
    return clean_frames(torch.from_numpy(x)).numpy()


def extend_music(features: np.ndarray, frames: int, total: int | None = None) -> np.ndarray:
    """Music ``(T, 35)`` followed by its last ``frames`` frames mirrored, then mirrored again as
    often as needed to reach ``total`` rows (default ``T + frames``).

    The loop reads ``audio_len - motion_len`` (120) music frames past the last frame it generates;
    mirroring the song's end lets a dance last as long as its song (the released loop stops 2 s
    early). What a frame reads never depends on ``total``: a song padded for a longer batch
    mate is danced exactly as alone.
    """
    out = np.concatenate([features, features[::-1][:frames]], axis=0)
    total = len(out) if total is None else total
    while len(out) < total:
        out = np.concatenate([out, out[::-1][: total - len(out)]], axis=0)
    return out[:total]


def generate_dances(
    model: DanceModel,
    songs: Sequence[np.ndarray],
    seeds: Sequence[np.ndarray | SMPLMotion],
    *,
    frames: Sequence[int] | None = None,
    frames_per_step: int | None = None,
    lock_feet: bool = True,
    batch_size: int = 4,
    device: str | torch.device | None = None,
    progress: bool = False,
    random_seed: int = 0,
    fps: float = FPS,
    timings: dict[str, float] | None = None,
    edits: Sequence[Callable[[int, np.ndarray], np.ndarray] | None] | None = None,
    warps: Sequence[Callable[[SMPLMotion], SMPLMotion] | None] | None = None,
    seam_ease: int = SEAM_EASE_FRAMES,
    styles: Sequence[int] | None = None,
    style_strength: float = 1.0,
    room_radius: float | None = None,
    first_joins: Sequence[int | None] | None = None,
    planted: Sequence[np.ndarray | None] | None = None,
    given_seeds: Sequence[bool] | None = None,
    tuner: ThreadTuner | None = None,
) -> list[SMPLMotion]:
    """One dance per song, as :class:`SMPLMotion`: the generation pipeline every command uses.

    Songs are generated ``batch_size`` at a time (their music padded to the longest, which does
    not change any song's dance, :func:`extend_music`); then, once per dance, the rotations are
    projected onto SO(3) and, with ``lock_feet``, the dancer is kept on the floor the seed stands on
    (:func:`aichoreo.footlock.keep_on_floor`: slow vertical drift removed) and planted feet are held
    still (:func:`aichoreo.footlock.lock_feet`).

    Args:
        songs: per song ``(T_i, 35)`` music features at 60 fps, song time 0 = seed frame 0.
        seeds: per song a ``(motion_len, 225|219)`` FACT seed or an :class:`SMPLMotion` of
            ``motion_len`` frames.
        frames: per song the frames to return, seed included (default ``T_i``: the dance lasts
            as long as the music; more mirrors the music past its end).
        frames_per_step: frames kept per forward pass (default: the model's).
        random_seed: batch ``b`` (0-based index of its first song) samples with ``random_seed + b``.
        timings: if given, ``"generate_s"`` (generation and projection) and ``"feet_s"`` (the foot
            lock) wall seconds are added to it, and ``"threads"``: the loop's passes per thread count.
        edits: per song ``None`` or ``edit(first, frames (k, 225)) -> frames``, applied to that
            song's predicted frames as :func:`generate`'s ``edit`` (a continuation's seam,
            :mod:`aichoreo.direct`).
        warps: per song ``None`` or ``warp(motion) -> motion``, applied to the generated dance
            before the foot lock (keyframes, :func:`aichoreo.direct.keyframe_warp`).
        seam_ease: frames over which every predicted chunk is joined to the frames before it, at
            most the frames kept per pass (:class:`SeamEaser`; 0: the model's chunks as predicted).
            Not with one frame per pass.
        planted: per song ``None`` or ``(T_i, 2)`` frames where a foot counts as planted for the foot
            lock besides those found in the dance (a kept motion's contacts; :func:`feet_locked`).
        given_seeds: per song whether its seed is a dance the user gave, which the foot lock leaves
            as it is and the new frames go on from (a continuation's; :func:`feet_locked`'s
            ``given_seed``).
        first_joins: per song ``None`` or the frames over which its first chunk is joined to its
            seed instead (:class:`SeamEaser`'s ``first``; a continuation's, as ``--continue``
            does, whatever ``seam_ease`` is).
        room_radius: metres from the start within which a world-frame model is shown its root
            (:class:`RoomKeeper`; 0: wherever the dancer is, as the released loop); ``None``: the
            model's own (``config.room_radius``, set when a model is shipped; 3 for the bundled
            default).
        styles: per song a style label of a model with styles (0: none), or None;
            ``style_strength`` its guidance (:func:`generate`).
        tuner: the thread count's :class:`~aichoreo.threads.ThreadTuner` for every batch (a new
            one by default; the caller's where it watches a job of its own, :meth:`ThreadTuner.watch`).

    Returns:
        per song an :class:`SMPLMotion` of ``frames[i]`` frames at ``fps``, the seed first.
    """
    cfg = model.config
    if len(songs) != len(seeds):
        raise ValueError(f"{len(songs)} songs but {len(seeds)} seeds")
    frames = [len(s) for s in songs] if frames is None else list(frames)
    if len(frames) != len(songs) or any(f <= cfg.motion_len for f in frames):
        raise ValueError(f"frames must give each song more than the {cfg.motion_len} seed frames")
    if first_joins is not None and len(first_joins) != len(songs):
        raise ValueError(f"{len(first_joins)} first joins for {len(songs)} songs")
    if planted is not None and len(planted) != len(songs):
        raise ValueError(f"{len(planted)} planted-foot labels for {len(songs)} songs")
    if given_seeds is not None and len(given_seeds) != len(songs):
        raise ValueError(f"{len(given_seeds)} given-seed flags for {len(songs)} songs")
    k = cfg.default_frames_per_step if frames_per_step is None else frames_per_step
    room = model_room(cfg, room_radius)
    firsts = [None] * len(songs) if first_joins is None else first_joins
    givens = [False] * len(songs) if given_seeds is None else [bool(g) for g in given_seeds]
    seed_vectors = [_projected_seed(_seed_vectors(seed, fps)) for seed in seeds]
    tail = cfg.audio_len - cfg.motion_len  # music frames the last window reads past the last frame
    raw: list[np.ndarray] = []
    tuner = tuner or ThreadTuner()  # one for every batch: what it measured holds for the next
    t0 = time.perf_counter()
    for b in range(0, len(songs), batch_size):
        idx = range(b, min(b + batch_size, len(songs)))
        longest = max(frames[i] for i in idx)
        music = np.stack([extend_music(np.asarray(songs[i], dtype=np.float32)[:frames[i]], tail, longest + tail)
                          for i in idx])
        edit = None
        easers = ({i: SeamEaser(seed_vectors[i], min(seam_ease, k), firsts[i], given=givens[i]) for i in idx}
                  if k > 1 and (seam_ease > 0 or any(firsts[i] for i in idx)) else {})
        if easers or (edits is not None and any(edits[i] is not None for i in idx)):
            def edit(first: int, x: np.ndarray, idx=idx, easers=easers) -> np.ndarray:
                out = []
                for j, i in enumerate(idx):
                    y = easers[i].ease(x[j]) if easers else x[j]
                    if edits is not None and edits[i] is not None:
                        y = edits[i](first, y)
                    if easers:
                        easers[i].record(y)  # what the model reads back: the next chunk is joined to it
                    out.append(y)
                return np.stack(out)
        x = generate(model, music, np.stack([seed_vectors[i] for i in idx]), n_frames=longest - cfg.motion_len,
                     frames_per_step=k, device=device, progress=progress, random_seed=random_seed + b,
                     threads=tuner, edit=edit, style=None if styles is None else [styles[i] for i in idx],
                     style_strength=style_strength, room_radius=room)
        raw.extend(x[j, : frames[i]] for j, i in enumerate(idx))
    motions = [SMPLMotion.from_fact_vector(x, fps=fps, project=False) for x in raw]  # projected already
    unwarped = motions
    if warps is not None:
        motions = [m if w is None else w(m) for m, w in zip(motions, warps)]
    t1 = time.perf_counter()
    if lock_feet:
        motions = [feet_locked(m, u, cfg.motion_len, None if planted is None else planted[i], given_seed=givens[i])
                   for i, (m, u) in enumerate(zip(motions, unwarped))]
    if timings is not None:
        timings["generate_s"] = timings.get("generate_s", 0.0) + t1 - t0
        timings["feet_s"] = timings.get("feet_s", 0.0) + time.perf_counter() - t1
        timings["threads"] = dict(tuner.passes)
    return motions
