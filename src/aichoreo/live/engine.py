"""The live dancer: audio blocks in, dance frames out, as the music plays (issue 18).

:class:`LiveDancer` holds what a live run carries from block to block: the streamed music
features (:class:`aichoreo.featurestream.StreamFeatures`), the last ``motion_len`` frames of
dance, and when each sample arrived. Feeding it a block returns every frame that the audio heard
so far allows, each with the times a latency measurement needs.

Time alignment is the offline loop's (:mod:`aichoreo.generate`): frame ``f`` of the dance sounds at
music time ``f / 60`` s, the first ``motion_len`` frames (2 s) are the seed, and the pass that
predicts frames ``t .. t + K - 1`` reads the music window that starts at row ``t - motion_len``.
Live, a pass hears :data:`aichoreo.defaults.HEARD_FRAMES` (12) rows from ``t`` on by default:
``fact-small-stream``'s window ends there (a 6-frame chunk and 6 frames of lookahead); a window
that reaches further (the paper's: 120 rows, 2 s past ``t``) gets the heard rows mirrored in place
of the music not yet heard, as the offline loop pads a song's end
(:func:`aichoreo.generate.extend_music`). A row is final ``LOOKAHEAD_FRAMES`` (2) rows after its
time, so frame ``t`` can leave once the audio of music time ``(t + 12 - 1 + 2) / 60`` s has
arrived: 13 frames (0.22 s), plus the pass itself (fewer rows heard, ``heard_frames``, less).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from aichoreo.defaults import HEARD_FRAMES, SEAM_EASE_FRAMES, SMOOTH_HZ
from aichoreo.featurestream import LOOKAHEAD_FRAMES, StreamFeatures
from aichoreo.footlock import FootLocker
from aichoreo.generate import SeamEaser, clean_frames, extend_music, model_room, room_predict
from aichoreo.motion import FACT_ROTATIONS, SMPLMotion
from aichoreo.rotations import project_to_so3

__all__ = ["LiveDancer", "LiveFrame", "FrameSmoother", "SMOOTH_HZ", "HEARD_FRAMES"]


class FrameSmoother:
    """A first-order low-pass over the frames a live dance sends: ``smoother(frames (k, 225)) ->
    (k, 225)``, frame by frame, carrying its state from call to call.

    Each output moves from the one before toward the new frame by ``alpha = 1 / (1 + fps / (2 pi
    hz))``: an exponential moving average, the one-euro filter (Casiez, Roussel and Vogel, CHI 2012;
    what VTuber trackers smooth poses with) without its speed term. The rotation matrices are
    averaged entry by entry and projected back onto SO(3): frames 1/60 s apart differ by a few
    degrees, over which that is the interpolation along the rotations' own path to well under a
    degree. The root's translation is averaged as it is. The live model predicts 0.1 s chunks whose
    joins leave a shake at 10 Hz and above, which this removes; it delays the motion by about ``1 /
    (2 pi hz)`` s (16 ms, one frame at 60 fps, at :data:`SMOOTH_HZ`). The first frame passes as it is.
    """

    def __init__(self, fps: float, hz: float = SMOOTH_HZ):
        if not (np.isfinite(hz) and hz > 0 and np.isfinite(fps) and fps > 0):
            raise ValueError(f"fps and hz must be positive, got {fps!r}, {hz!r}")
        self.alpha = 1.0 / (1.0 + fps / (2.0 * np.pi * hz))
        self.state: np.ndarray | None = None  # (225,) float64: the last frame sent

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        out = np.array(frames, dtype=np.float64)  # (k, 225)
        for i in range(len(out)):  # the average itself is the state (any split gives the same frames)
            if self.state is not None:
                out[i] = self.state + self.alpha * (out[i] - self.state)
            self.state = out[i].copy()
        rot = out[:, FACT_ROTATIONS].reshape(len(out), -1, 3, 3)
        out[:, FACT_ROTATIONS] = project_to_so3(rot).reshape(len(out), -1)
        return out.astype(np.float32)


@dataclass(frozen=True)
class LiveFrame:
    """One frame of the live dance.

    ``index``: frame number (music time ``index / fps`` s); ``vector``: ``(225,)`` FACT motion vector
    (rotations on SO(3)); ``heard``: wall time (``time.monotonic()``) at which the audio of the
    frame's own music time had arrived; ``needed``: wall time at which the last audio the frame
    depends on arrived; ``ready``: wall time at which the frame was computed.
    """

    index: int
    vector: np.ndarray
    heard: float
    needed: float
    ready: float


class LiveDancer:
    """Dance to audio as it arrives: ``push(samples) -> [LiveFrame, ...]``.

    Args:
        model: a FACT model in eval mode: the default model, or one trained on streamed features
            (``fact-small-stream``).
        spec: its :class:`aichoreo.audio.MusicFeatureSpec`; the features are streamed whatever its
            ``stream`` (a model of whole-song features hears their live form).
        seed: ``(motion_len, 225)`` FACT vectors the dance starts with (the built-in seed).
        bpm: the beat tracker's tempo prior (None: 120).
        frames_per_step: frames kept per pass (default: the model's ``default_frames_per_step``, 6 for
            ``fact-small-stream``; more hear less music ahead).
        threads: torch's intra-op threads for the passes (1 leaves the other core to the audio and
            the sinks, and is the fastest for one small model on this 2-core CPU: docs/live.md).
        style, style_strength: as :func:`aichoreo.generate.generate` (a model with styles).
        lock_feet: hold planted feet still in the frames sent (:class:`aichoreo.footlock.FootLocker`,
            the live form of ``aichoreo dance``'s clean-up); the model reads its own frames back
            unlocked, as offline.
        smooth_hz: the cut-off of the low-pass over the frames sent (:class:`FrameSmoother`, before
            the foot lock), Hz; None: the model's frames as they are. The model reads its own
            frames back unsmoothed.
        heard_frames: music rows a pass hears from its chunk's first frame on, 1 to the model's
            window past the context (``audio_len - motion_len``); default
            :data:`aichoreo.defaults.HEARD_FRAMES`, or the whole window where it is shorter. Fewer:
            less latency (:attr:`latency_frames`).
    """

    def __init__(self, model: torch.nn.Module, spec, seed: np.ndarray, *, bpm: float | None = None,
                 frames_per_step: int | None = None, threads: int = 1, style: int | None = None,
                 style_strength: float = 1.0, lock_feet: bool = True, smooth_hz: float | None = SMOOTH_HZ,
                 heard_frames: int | None = None):
        cfg = model.config
        window = cfg.audio_len - cfg.motion_len
        if heard_frames is not None and not (int(heard_frames) == heard_frames and 1 <= heard_frames <= window):
            raise ValueError(f"heard_frames must be a whole number in [1, {window}], got {heard_frames!r}")
        self.model, self.cfg, self.spec = model, cfg, spec
        self.k = cfg.default_frames_per_step if frames_per_step is None else int(frames_per_step)
        if not 1 <= self.k <= cfg.n_future:
            raise ValueError(f"frames_per_step must be in [1, {cfg.n_future}], got {frames_per_step!r}")
        seed = np.asarray(seed, dtype=np.float32)
        if seed.shape != (cfg.motion_len, cfg.motion_dim):
            raise ValueError(f"seed must be ({cfg.motion_len}, {cfg.motion_dim}), got {seed.shape}")
        self.fps = spec.fps
        self.threads = int(threads)
        # A model of whole-song features (the default one) hears the streamed features of the same
        # spec: the live form of the same columns (docs/live.md measures how it dances to them).
        self.features = StreamFeatures(spec, bpm=bpm)
        self.heard = min(window, HEARD_FRAMES) if heard_frames is None else int(heard_frames)
        self.context = seed.copy()  # (motion_len, 225): the last frames of the dance
        self.seed = seed
        self.rows = np.zeros((0, cfg.audio_dim), dtype=np.float32)  # music rows self.first_row ..
        self.first_row = 0
        self.row_arrival = np.zeros(0)  # wall time each kept row became final
        self.sample_arrival: list[tuple[int, float]] = []  # (samples received after a block, its arrival)
        self.block_samples = 0  # the last block's samples
        self.music_frames: int | None = None  # the stream's frames, once it has ended
        self.next_frame = 0  # the next frame to emit
        # As generate_dances joins chunk seams (not with one frame per pass: every step is a seam)
        # and keeps the model's view of the root within its room, where the model file sets one.
        self.easer = SeamEaser(seed, min(SEAM_EASE_FRAMES, self.k)) if self.k > 1 else None
        self.predict = room_predict(model, torch.from_numpy(seed)[None], model_room(cfg))
        self.passes = 0
        self.pass_seconds = 0.0
        self.locker = FootLocker(self.fps) if lock_feet else None
        self.smoother = None if smooth_hz is None else FrameSmoother(self.fps, smooth_hz)
        self.style = None if style is None else torch.tensor([int(style)])
        self.style_strength = float(style_strength)

    @property
    def latency_frames(self) -> int:
        """Frames between a chunk's first frame's music time and the last audio its pass reads: the
        rows heard from that frame on (:data:`aichoreo.defaults.HEARD_FRAMES`, or a shorter window's)
        and the rows' own lookahead; whatever the frames kept per pass."""
        return self.heard - 1 + LOOKAHEAD_FRAMES

    def warm_up(self, passes: int = 3) -> float:
        """Run the model's pass ``passes + 1`` times on the seed and silent music before the music
        starts, and return the median time of the last ``passes``, in seconds; the dance's state does
        not change. A process's first pass is the slowest (measured: 67 ms against 38 for a styled
        pass, whose first frames were then late); what the others take sets the delay's margin
        (:func:`aichoreo.live.live`)."""
        silence = np.zeros((self.cfg.audio_len, self.cfg.audio_dim), dtype=np.float32)
        seconds = []
        for _ in range(passes + 1):
            t0 = time.perf_counter()
            self._predict(self.context, silence)
            seconds.append(time.perf_counter() - t0)
        return float(np.median(seconds[1:])) if passes else seconds[0]

    def _arrival_of_sample(self, sample: int) -> float:
        """Wall time at which absolute sample ``sample`` had arrived (the block that brought it), or,
        for a sample still to come, will have: the last block's arrival plus the samples between
        at the music's own rate. A pass keeps frames whose music has not arrived yet (up to its
        chunk's end); given the last block's time they were all sent at once, then nothing for
        the rest of the chunk (12 frames 17 ms apart, 8 at once, a gap of 130 ms)."""
        for end, arrival in self.sample_arrival:
            if end > sample:
                return arrival
        if not self.sample_arrival:
            return time.monotonic()
        end, arrival = self.sample_arrival[-1]
        # in blocks as large as the last one, arriving at the music's own pace
        size = max(1, self.block_samples)
        return arrival + math.ceil((sample + 1 - end) / size) * size / self.spec.sample_rate

    def push(self, samples: np.ndarray, arrival: float | None = None) -> list[LiveFrame]:
        """Feed mono samples ``(n,)`` at ``spec.sample_rate`` that arrived at wall time ``arrival``
        (default now); return the frames they complete."""
        arrival = time.monotonic() if arrival is None else float(arrival)
        before = self.features.n_samples
        new = self.features.push(samples)
        self.sample_arrival.append((self.features.n_samples, arrival))
        self.block_samples = self.features.n_samples - before
        return self._take(new, arrival)

    def finish(self) -> list[LiveFrame]:
        """The end of the stream: the last rows (the audio after it taken as silence) and the frames
        up to the last row's: the last passes hear the music there is and the rest of their window
        mirrored, as the offline loop dances a song's end (:func:`aichoreo.generate.extend_music`)."""
        arrival = time.monotonic()
        return self._take(self.features.finish(), arrival, final=True)

    def _take(self, new: np.ndarray, arrival: float, final: bool = False) -> list[LiveFrame]:
        cfg = self.cfg
        if len(new):
            self.rows = np.concatenate([self.rows, new])
            self.row_arrival = np.concatenate([self.row_arrival, np.full(len(new), arrival)])
        n_rows = self.first_row + len(self.rows)  # rows known
        if final:
            self.music_frames = n_rows  # the song's frames: passes before its end was known went past it
        out = []
        hop = self.spec.hop_length
        while True:
            f = self.next_frame
            if f < cfg.motion_len:  # the seed: out as soon as its own row is final
                if f >= n_rows:
                    break
                heard = self._arrival_of_sample(f * hop)
                vector = self._locked(self.seed[f:f + 1])[0]
                out.append(LiveFrame(f, vector, heard, self.row_arrival[f - self.first_row], time.monotonic()))
                self.next_frame += 1
                continue
            last_row = f + self.heard  # exclusive end of the music the pass hears
            if last_row > n_rows:
                if not final or f >= n_rows:
                    break
                last_row = n_rows  # the stream has ended: no more music will come
            t0 = time.perf_counter()
            pred = self._pass(f, last_row)
            frames = self._locked(pred[:n_rows - f] if final else pred)
            self.pass_seconds += time.perf_counter() - t0
            self.passes += 1
            ready = time.monotonic()
            needed = float(self.row_arrival[last_row - 1 - self.first_row])
            for i, vector in enumerate(frames):
                out.append(LiveFrame(f + i, vector, self._arrival_of_sample((f + i) * hop), needed, ready))
            self.next_frame += len(frames)
        # Keep the rows the next pass reads, and the arrivals of samples not yet reached.
        keep_from = max(0, self.next_frame - cfg.motion_len)
        drop = keep_from - self.first_row
        if drop > 0:
            self.rows, self.row_arrival = self.rows[drop:], self.row_arrival[drop:]
            self.first_row = keep_from
        first_sample = self.next_frame * hop
        while len(self.sample_arrival) > 1 and self.sample_arrival[0][0] <= first_sample:
            self.sample_arrival.pop(0)
        return out

    def _locked(self, frames: np.ndarray) -> np.ndarray:
        """``frames (k, 225)`` as sent: smoothed, then planted feet held (where switched on)."""
        if self.smoother is not None:
            frames = self.smoother(frames)
        if self.locker is None:
            return frames
        # projected onto SO(3) in _pass already (clean_frames; the join turns them by rotations)
        return self.locker(SMPLMotion.from_fact_vector(frames, fps=self.fps, project=False)).to_fact_vector(
            padded=True)

    def _predict(self, context: np.ndarray, window: np.ndarray) -> np.ndarray:
        """The model's pass: ``context (T, 225)`` and music ``window (A, 35)`` -> the next ``K``
        frames ``(K, 225)``, rotations on SO(3); on this dancer's threads, styled where it is."""
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                state = self.model.start(torch.from_numpy(context)[None], torch.from_numpy(window)[None])
                if self.style is not None:
                    state["style"], state["guidance"] = self.style, self.style_strength
                return clean_frames(self.predict(state, self.k))[0].numpy()
        finally:
            torch.set_num_threads(previous)

    def _pass(self, f: int, end: int) -> np.ndarray:
        """Frames ``f .. f + K - 1`` ``(K, 225)``: one forward pass on the context and its music, the
        rows up to ``end`` (exclusive) heard, the rest of the window those mirrored."""
        cfg = self.cfg
        start = f - cfg.motion_len - self.first_row
        heard = self.rows[start:end - self.first_row]  # (T + heard, 35)
        pred = self._predict(self.context, extend_music(heard, cfg.audio_len - len(heard)))  # (K, 225)
        if self.easer is not None:
            pred = self.easer.ease(pred)
            self.easer.record(pred)
        self.context = np.concatenate([self.context[len(pred):], pred])
        return pred
