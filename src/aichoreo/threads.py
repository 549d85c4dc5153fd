"""How many CPU threads the generation loop gives torch: measured while it runs, not guessed.

On a CPU that other work shares, torch's default (one intra-op thread per core) collapses: its
OpenMP threads wait for each other at every operation, and one of them always waits for a core
the other process holds. Measured on the project's 2-core machine, the default model on the
bundled song generated at 0.27x real time with 2 threads beside a 2-thread training run, and at
10x with 1 thread in the same minute (docs/generation.md, "The whole command"). On an idle machine more
threads are faster. Neither count is right everywhere, and the load changes during a long song.

So :class:`ThreadTuner` times the loop's own passes: it tries each candidate count for a few
passes, keeps the fastest for a while, and tries them all again, so that a job starting or
ending beside it is noticed within seconds. The thread count changes the speed, not the dance,
up to float rounding: the default model's loop gave the same bits with 1 and 2 threads on this
machine; a random test network differed in the last bits, which its own feedback amplified to
1e-5 over a dozen passes. For bit-for-bit repeatable runs, fix the count (``AICHOREO_THREADS``).

The user's choice wins: with ``OMP_NUM_THREADS`` or ``AICHOREO_THREADS`` set, or a CPU affinity of
one core, nothing is tuned (:func:`thread_candidates`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

__all__ = ["ThreadTuner", "thread_candidates", "usable_cores"]

FIRST_KEEP = 10  # passes the first round's choice is kept (then twice as many each round that agrees)
ENV = "AICHOREO_THREADS"  # a fixed thread count for generation (like OMP_NUM_THREADS, for aichoreo only)


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows: no affinity
        return max(1, os.cpu_count() or 1)


def thread_candidates(environ: dict[str, str] | None = None) -> tuple[int, ...]:
    """Thread counts the tuner tries, fewest first; one count = fixed, not tuned.

    ``AICHOREO_THREADS`` (a positive integer) fixes the count; so does ``OMP_NUM_THREADS``, which
    torch already follows (its count is kept). Otherwise 1 and every usable core: one thread
    never waits for a second, all of them are fastest on an idle machine. (Counts in between are
    not tried: the project's 2-core machine has none, so nothing was measured about them.)
    """
    environ = os.environ if environ is None else environ
    fixed = environ.get(ENV, "").strip()
    if fixed:
        try:
            n = int(fixed)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"{ENV} must be a positive integer, got {fixed!r}")
        return (n,)
    if environ.get("OMP_NUM_THREADS", "").strip():
        return (torch.get_num_threads(),)
    cores = usable_cores()
    return (1,) if cores == 1 else (1, cores)


class ThreadTuner:
    """Chooses torch's intra-op thread count pass by pass from the passes' measured speed.

    Use :meth:`run` around the loop and :meth:`timed` around each pass::

        tuner = ThreadTuner()
        with tuner.run():
            while ...:
                with tuner.timed(frames):
                    ...one pass...

    Each round tries every candidate for ``probe`` passes and keeps the one with the least median
    time per frame: for :data:`FIRST_KEEP` passes, twice as many each round that chooses the same
    count again, at most ``keep``. The first pass after a switch is not counted (thread pools warm
    up), and a candidate whose pass takes more than ``give_up`` times the best time so far in the
    round is dropped at once: on a busy CPU one pass with every core can take 30 times longer than
    with one, and three of them would cost more than the round saves. A round that kept more than
    the fewest threads also ends when ``patience`` of its passes in a row take more than ``change``
    times its measure (a job started beside the loop), and any round ends when a job the caller
    watches ends (:meth:`watch`). With 20 frames per pass of the default model a steady round is
    about 2,100 frames (35 s of dance, 1-2 s of wall time), 3 of its 106 passes on one thread when
    two are faster; measured on a 3-minute song (2026-12-06), the tuned loop ran at 28.5-34.3x real
    time where two fixed threads ran at 32.9x (the idle machine's own noise is of that size).
    Torch's previous count is restored at the end. ``clock`` (seconds) times the passes.
    """

    def __init__(self, candidates: tuple[int, ...] | None = None, *, probe: int = 3, keep: int = 100,
                 give_up: float = 2.0, change: float = 1.3, patience: int = 3,
                 clock: Callable[[], float] = time.perf_counter):
        self.candidates = thread_candidates() if candidates is None else tuple(candidates)
        if not self.candidates or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in self.candidates):
            raise ValueError(f"thread candidates must be positive integers, got {self.candidates!r}")
        self.probe, self.keep, self.give_up = max(2, probe), max(1, keep), give_up
        self.change, self.patience = change, max(1, patience)
        self._watched: list[Callable[[], bool]] = []
        self.clock = clock
        self.history: list[tuple[int, float]] = []  # (threads, seconds per frame) of every pass
        self.passes: dict[int, int] = {}  # passes run per thread count
        self._plan = self._rounds()

    @property
    def tuning(self) -> bool:
        return len(self.candidates) > 1

    def watch(self, done: Callable[[], bool]) -> None:
        """End the round when ``done()`` turns true: a job of the caller's beside the loop (an
        encoder) that frees a core when it ends, which the passes of fewer threads do not feel.
        Asked after each kept pass (it must be cheap); forgotten once true."""
        self._watched.append(done)

    def _job_ended(self) -> bool:
        running = [w for w in self._watched if not w()]
        ended, self._watched = len(running) < len(self._watched), running
        return ended

    @contextmanager
    def run(self):
        """Restore torch's thread count when the loop ends (however it ends)."""
        before = torch.get_num_threads()
        try:
            yield self
        finally:
            torch.set_num_threads(before)

    def _rounds(self) -> Iterator[int]:
        """The thread count of each pass, forever. Resumed after the pass it chose has run, so
        ``self.history[-1]`` is that pass's time."""
        if not self.tuning:
            while True:
                yield self.candidates[0]
        keep, last = min(self.keep, FIRST_KEEP), None
        while True:
            measured: dict[int, float] = {}
            for n in self.candidates:
                best = min(measured.values(), default=float("inf"))
                times = []
                for i in range(self.probe):
                    yield n
                    t = self.history[-1][1]
                    if i > 0:
                        times.append(t)
                    if t > self.give_up * best:
                        times = [t]
                        break
                times.sort()
                measured[n] = times[len(times) // 2]
            chosen = min(measured, key=measured.get)
            # Kept for `keep` passes, twice as many each round that chose the same count again, up to
            # `self.keep`: a load that changes (at first `aichoreo dance` generates beside ffmpeg,
            # which encodes the song's AAC for a second or so) is seen by the next round within a
            # few tenths of a second, a steady one costs a round every `self.keep` passes. The fewest
            # threads' passes neither feel a core being freed nor lose by a job starting (their
            # times beside a busy process vary, and ending rounds on that cost a slow probe of more
            # threads each time); more threads' passes feel a job starting at once, so then the round
            # ends early when `patience` passes in a row took more than `change` times its measure.
            keep = min(self.keep, 2 * keep) if chosen == last else min(self.keep, FIRST_KEEP)
            last, slow = chosen, 0
            watch_speed = chosen != min(self.candidates)
            for _ in range(keep):
                yield chosen
                slow = slow + 1 if watch_speed and self.history[-1][1] > measured[chosen] * self.change else 0
                if slow >= self.patience or self._job_ended():
                    last = None  # the load changed: the next round keeps its count for FIRST_KEEP passes
                    break

    @contextmanager
    def timed(self, frames: int):
        """Set the thread count for one pass of ``frames`` frames, and time it."""
        n = next(self._plan)
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        self.passes[n] = self.passes.get(n, 0) + 1
        t0 = self.clock()
        yield
        self.history.append((n, (self.clock() - t0) / max(frames, 1)))
