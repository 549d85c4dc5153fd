"""Dance live, while the music plays (issue 18; docs/live.md): :func:`live`, which ``aichoreo live`` wraps.

Audio arrives from a source (:mod:`aichoreo.live.sources`: a file played in real time, raw PCM on
stdin, an input device), :class:`~aichoreo.live.engine.LiveDancer` turns it into frames as soon as
the music it has heard allows, and each frame leaves for the sinks (:mod:`aichoreo.live.sinks`: the
browser viewer, VMC over OSC, a recording) a fixed delay after its own music arrived, so that the
dance plays smoothly at 60 fps behind the music by that delay. Frames computed after their time
are sent at once and counted as late.
"""

from __future__ import annotations

import array
import json
import logging
import os
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from aichoreo.errors import InputError, Terminated
from aichoreo.fileio import atomic_path
from aichoreo.gcpause import FrozenHeap
from aichoreo.live.engine import SMOOTH_HZ, FrameSmoother, LiveDancer, LiveFrame
from aichoreo.live.sinks import Recorder, ViewerServer, VMCSender, parse_address
from aichoreo.live.sources import check_song, device_source, file_source, pcm_source
from aichoreo.motion import SMPLMotion

__all__ = ["live", "LiveDancer", "LiveFrame", "FrameSmoother", "DELAY_MARGIN_S", "SMOOTH_HZ"]

log = logging.getLogger(__name__)

#: Seconds added to the dancer's own latency (chunk, lookahead, feature rows) before a frame is due:
#: room for the pass and for a late block on a busy CPU (docs/live.md measures what is used); at
#: least twice a pass as timed before the music starts (:meth:`LiveDancer.warm_up`: a pass beside a
#: busy process took up to twice its idle time), for a slower CPU or a styled model's double pass.
DELAY_MARGIN_S = 0.05


def live(song: str | os.PathLike | None = None, *, stdin: bool = False, device: str | None = None,
         model: Any = "default", serve: str | None = None, vmc: str | None = None,
         record: str | os.PathLike | None = None, realtime: bool = True, rate: int = 44_100, channels: int = 2,
         bpm: float | None = None, delay_s: float | None = None, threads: int = 1,
         stats: str | os.PathLike | None = None, progress: bool = True, style: str | None = None,
         style_strength: float | None = None, lock_feet: bool = True, smooth_hz: float | None = SMOOTH_HZ,
         lookahead_s: float | None = None, on_ready=None) -> dict[str, Any]:
    """Dance to one audio source as it plays and send the frames to every sink given.

    Args:
        song / stdin / device: the source, exactly one: a song file played in real time, raw s16le
            PCM on stdin (``rate`` Hz, ``channels`` interleaved; ``ffmpeg -i URL -f s16le -``), or
            an input device (name or number; ``""`` = the default input).
        model: a bundled model name (``"default"``; ``"stream"``: ``fact-small-stream``, trained on the
            streamed features) or a model file; it hears the streamed form of its music features.
        serve: ``HOST:PORT`` of the browser viewer (port 0: any free one).
        vmc: ``HOST:PORT`` of a VMC receiver (VSeeFace listens on 39539).
        record: a ``.npy`` / ``.bvh`` / ``.pkl`` file written when the session ends (also on Ctrl-C).
        realtime: False takes a song file as fast as it is computed (tests, quality runs); frames
            then leave as soon as they are computed.
        bpm: the beat tracker's tempo prior (default 120).
        delay_s: seconds between a frame's music arriving and the frame leaving (default: the
            model's latency plus :data:`DELAY_MARGIN_S`, or twice a pass where that is longer).
        threads: torch threads for the passes.
        lock_feet: hold planted feet still (:class:`aichoreo.footlock.FootLocker`); False sends the
            model's frames as they are.
        smooth_hz: the cut-off of the low-pass over the frames sent (Hz; :class:`FrameSmoother`: 16 ms
            of delay at the default 10 Hz); None: none.
        lookahead_s: seconds of music a pass hears from its chunk's first frame on (default 0.2 s,
            :data:`aichoreo.defaults.HEARD_FRAMES`, or the model's whole window where it is
            shorter); less gives less latency, up to the model's window more.
        stats: a JSON file for the per-frame timing (latencies, late frames, CPU, memory).
        on_ready: called with the live page's URL (None without ``serve``) once the sinks are up,
            before the music starts (the CLI prints it; tests open it).

    Returns:
        The session's summary: frames, seconds, passes, late frames, latency percentiles (s),
        CPU use (fraction of one core), resident memory at the start and end (MB), outputs.
    """
    from aichoreo.conventions import check_conventions, model_spec
    from aichoreo.defaults import STYLE_STRENGTH
    from aichoreo.direct import style_label
    from aichoreo.models import load_model
    from aichoreo.seeds import builtin_seed

    sources = [s for s in (song is not None, stdin, device is not None) if s]
    if len(sources) != 1:
        raise InputError(None, "give one audio source: a song file, --stdin, or --input-device")
    if serve is None and vmc is None and record is None:
        raise InputError(None, "give somewhere to send the dance: --serve, --vmc and/or --record")
    if song is not None:
        song = check_song(song)
    if isinstance(model, (str, os.PathLike)):
        net, cfg, meta = load_model(model, check_conventions=check_conventions)
    else:
        net, cfg, meta = model, model.config, {}
    spec = model_spec(meta)
    label = style_label(cfg, style, str(model)) if style is not None else None
    strength = STYLE_STRENGTH if style_strength is None else float(style_strength)
    seed = builtin_seed("neutral", meta, n_frames=cfg.motion_len, bpm=120.0 if bpm is None else bpm,
                        random_seed=0).to_fact_vector(padded=True)
    fps = spec.fps
    heard = None
    if lookahead_s is not None:
        window = cfg.audio_len - cfg.motion_len
        heard = int(round(float(lookahead_s) * fps)) if np.isfinite(float(lookahead_s)) else -1
        if not 1 <= heard <= window:
            raise InputError(None, f"--lookahead must be between {1 / fps:.3f} and {window / fps:.3f} s for this "
                                   f"model (a pass hears 1 to {window} rows of music), got {lookahead_s}")
    dancer = LiveDancer(net, spec, seed, bpm=bpm, threads=threads, style=label or None,
                        style_strength=strength, lock_feet=lock_feet, smooth_hz=smooth_hz, heard_frames=heard)
    pass_s = dancer.warm_up()  # also takes the first, slowest pass before the music
    margin = max(DELAY_MARGIN_S, 2.0 * pass_s)
    delay = dancer.latency_frames / fps + margin if delay_s is None else float(delay_s)
    if not 0 <= delay <= 10:
        raise InputError(None, f"--delay must be between 0 and 10 s, got {delay}")

    _check_outputs(record, stats)
    sinks: list = []
    recorder = None
    finished = False
    try:
        if record is not None:
            recorder = Recorder(record, fps)
            sinks.append(recorder)
        if vmc is not None:
            sinks.append(VMCSender(*parse_address(vmc, 39539, "--vmc")))
        viewer = None
        if serve is not None:
            host, port = parse_address(serve, 8765, "--serve")
            viewer = ViewerServer(host, port, fps=fps, title=f"aichoreo live: {Path(song).name if song else 'live'}",
                                  music=Path(song) if song is not None and realtime else None)
            sinks.append(viewer)
        if song is not None:
            blocks = file_source(song, realtime=realtime)
        elif stdin:
            blocks = pcm_source(rate=rate, channels=channels)
        else:
            blocks = device_source(device or None)
        if on_ready is not None:
            on_ready(viewer.url if viewer is not None else None)
        # A full garbage collection over torch's objects paused every thread, the frames' sender
        # too, for up to 133 ms: 8 frames at 60 fps (aichoreo.gcpause).
        with FrozenHeap(collect_first=True) as heap:
            summary = _run(dancer, blocks, sinks, delay if realtime else None, progress)
        summary["gc"] = heap.summary
        if dancer.features.n_samples == 0 and not summary["interrupted"]:
            where = "stdin" if stdin else ("the input device" if song is None else str(song))
            raise InputError(None, f"{where}: no audio arrived before the stream ended (nothing to dance to)")
        finished = True
    finally:
        written = None
        for sink in sinks:
            try:
                if sink is recorder:
                    # a session that failed (no audio, a sink that broke) leaves no recording of its
                    # first frame behind; one stopped by Ctrl-C or SIGTERM keeps what it danced
                    written = recorder.close(dancer.music_frames) if finished else recorder.discard()
                else:
                    sink.close()
            except InputError:
                raise
            except Exception as exc:  # one sink failing to close must not lose the recording
                log.warning("closing %s: %s", type(sink).__name__, str(exc) or type(exc).__name__)
    summary["recording"] = None if written is None else str(written)
    summary["delay_s"] = delay if realtime else None
    summary["warm_pass_ms"] = round(1000 * pass_s, 2)  # a pass as timed before the music (the margin's basis)
    if stats is not None:
        path = Path(stats)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(summary, indent=1))
    summary.pop("frames_timing", None)
    return summary


def _check_outputs(record: str | os.PathLike | None, stats: str | os.PathLike | None) -> None:
    """The stats file can be written, checked before the music starts (a folder failed after the
    whole session, and the dance was lost); the recording is checked by its :class:`Recorder`."""
    if stats is not None and Path(stats).is_dir():
        raise InputError(stats, "is a folder; name the file to write")
    if record is not None and stats is not None and Path(record).resolve() == Path(stats).resolve():
        raise InputError(stats, "is the recording too: give the stats their own file")


def _run(dancer: LiveDancer, blocks, sinks: list, delay: float | None, progress: bool) -> dict[str, Any]:
    """The session's loop: blocks in, frames out when due; returns the summary (also on Ctrl-C).

    The frames leave from their own thread (:class:`_Sender`), each at its due time, so that neither
    the wait for the next block nor a pass holds a frame back."""
    sender = _Sender(sinks, dancer.fps, delay)
    wall0, cpu0 = time.monotonic(), time.process_time()
    rss = [(0.0, _rss_mb())]
    interrupted: str | bool = False  # or the signal that stopped the session
    last_status = wall0
    try:
        for samples, arrival in blocks:
            sender.put(dancer.push(samples, arrival))
            now = time.monotonic()
            if now - rss[-1][0] - wall0 >= 1.0:
                rss.append((now - wall0, _rss_mb()))
            if progress and now - last_status >= 1.0 and sys.stderr.isatty():
                last_status = now
                sys.stderr.write(f"\rlive {dancer.next_frame / dancer.fps:7.1f} s  passes {dancer.passes}  "
                                 f"late frames {sender.late}  ")
                sys.stderr.flush()
            sender.check()
        sender.put(dancer.finish())
        sender.close(wait=True)
    except KeyboardInterrupt as stop:
        interrupted = "SIGTERM" if isinstance(stop, Terminated) else "SIGINT"
        sender.close(wait=False)
    except BaseException:  # a source or sink that failed: stop the sender too, then say why
        sender.close(wait=False)
        raise
    if progress and sys.stderr.isatty():
        sys.stderr.write("\n")
    sender.check()
    wall = time.monotonic() - wall0
    rss.append((wall, _rss_mb()))
    t = np.frombuffer(sender.timing, dtype=np.float64).reshape(-1, 5)
    generated = t[t[:, 0] >= dancer.cfg.motion_len] if len(t) else t
    end_to_end = generated[:, 4] - generated[:, 1]
    compute = generated[:, 3] - generated[:, 2]

    def pct(x: np.ndarray, q: float) -> float | None:
        return None if x.size == 0 else round(float(np.percentile(x, q)), 4)

    return {
        "frames": int(len(t)), "seconds": round(len(t) / dancer.fps, 2), "wall_s": round(wall, 2),
        "passes": dancer.passes, "pass_ms_mean": round(1000 * dancer.pass_seconds / max(1, dancer.passes), 2),
        "frames_per_pass": dancer.k, "lookahead_s": round(dancer.heard / dancer.fps, 4),
        "late_frames": sender.late, "interrupted": interrupted,
        "latency_s": {"p50": pct(end_to_end, 50), "p95": pct(end_to_end, 95), "max": pct(end_to_end, 100)},
        "compute_s": {"p50": pct(compute, 50), "p95": pct(compute, 95), "max": pct(compute, 100)},
        "cpu_fraction": round((time.process_time() - cpu0) / max(wall, 1e-9), 3),
        "rss_mb": [[round(a, 1), b] for a, b in rss],
        "sinks": {type(s).__name__: getattr(s, "sent", None) for s in sinks},
        "frames_timing": t.round(5).tolist(),
    }


class _Sender:
    """Sends frames to the sinks from its own thread, each ``delay`` seconds after its music was
    heard (``None``: at once); a frame computed after that is sent at once and counted late.
    Timing rows: frame, heard, needed, ready, sent (``time.monotonic()`` seconds)."""

    def __init__(self, sinks: list, fps: float, delay: float | None):
        self.sinks, self.fps, self.delay = sinks, fps, delay
        self.queue: deque[LiveFrame] = deque()
        self.timing = array.array("d")  # 5 numbers per frame sent (40 bytes: flat memory over hours)
        self.late = 0
        self.error: BaseException | None = None
        self._closing = False
        self._abort = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="aichoreo-live-sender", daemon=True)
        self._thread.start()

    def put(self, frames: list[LiveFrame]) -> None:
        if frames:
            with self._wake:
                self.queue.extend(frames)
                self._wake.notify()

    def check(self) -> None:
        """Raise, in the caller's thread, what made a sink fail."""
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def close(self, wait: bool) -> None:
        """Stop after the queued frames (``wait``) or now."""
        with self._wake:
            self._closing, self._abort = True, not wait
            self._wake.notify()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self.queue and not self._closing:
                    self._wake.wait()
                if self._abort or (self._closing and not self.queue):
                    return
                batch = [self.queue[0]]
                due = None if self.delay is None else batch[0].heard + self.delay
                if due is not None and due > time.monotonic():
                    self._wake.wait(due - time.monotonic())
                    continue  # re-check: closing, or more frames
                self.queue.popleft()
                # Frames already due go together (one pass's frames when it was late, or no delay).
                while self.queue and (self.delay is None or self.queue[0].heard + self.delay <= time.monotonic()):
                    batch.append(self.queue.popleft())
            try:
                self._send(batch)
            except BaseException as exc:  # handed to the main thread by check()
                self.error = exc
                return

    def _send(self, frames: list[LiveFrame]) -> None:
        motion = SMPLMotion.from_fact_vector(np.stack([f.vector for f in frames]), fps=self.fps)
        for sink in self.sinks:
            sink.send(frames[0].index, motion)
        sent = time.monotonic()
        for f in frames:
            self.timing.extend((f.index, f.heard, f.needed, f.ready, sent))
            if self.delay is not None and f.ready > f.heard + self.delay:
                self.late += 1


def _rss_mb() -> float | None:
    """This process's resident memory now, in MB (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6, 1)
    except (OSError, ValueError, IndexError):
        return None
