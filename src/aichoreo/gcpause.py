"""Short garbage-collection pauses in long runs: :class:`FrozenHeap`.

Python collects all of its generations now and then, scanning every object alive, and holds the
interpreter lock while it does. After torch and the model are loaded a process holds about 190,000
such objects, and each full collection took 90-130 ms on this project's 2-core CPU: 2 in 3 minutes of
``aichoreo live`` (every thread waits, the sender of the frames too: 8 frames late at 60 fps), 5 in
a 3-minute ``aichoreo dance`` (333 ms of its main thread). Objects alive at the start of a long run
stay alive through it; ``gc.freeze`` (Python 3.7+) moves them out of the collector's sight, so that
a full collection scans only what the run itself made.
"""

from __future__ import annotations

import gc
import threading
import time

__all__ = ["FrozenHeap"]

_depth = 0  # FrozenHeap blocks open in this process: only the outermost freezes and unfreezes
_lock = threading.Lock()  # blocks may open and close in several threads (dance() called from threads)


class FrozenHeap:
    """While the ``with`` block runs, every object alive at its start is frozen out of the garbage
    collector's sight (``gc.freeze``), and given back at its end (``gc.unfreeze``): they are
    collected as before afterwards. ``collect_first``: collect once before freezing, so that no
    garbage of before is kept until the end (about 0.1 s; worth it before a live session, not in a
    batch command). :attr:`pauses_ms` holds the duration of each full collection inside the block.
    Nested blocks, in one thread or several, leave the freezing to the outermost one."""

    def __init__(self, *, collect_first: bool = False) -> None:
        self.collect_first = collect_first
        self.pauses_ms: list[float] = []
        self._start = 0.0

    def __enter__(self) -> FrozenHeap:
        global _depth
        with _lock:
            if _depth == 0:
                if self.collect_first:
                    gc.collect()
                gc.freeze()
            _depth += 1
        gc.callbacks.append(self._time)
        return self

    def _time(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        elif info.get("generation") == 2:
            self.pauses_ms.append(1000 * (time.perf_counter() - self._start))

    def __exit__(self, *exc) -> None:
        global _depth
        gc.callbacks.remove(self._time)
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.unfreeze()

    @property
    def summary(self) -> dict[str, float | int]:
        """``{"full_collections": n, "longest_ms": ms}`` of the block so far."""
        return {"full_collections": len(self.pauses_ms), "longest_ms": round(max(self.pauses_ms, default=0.0), 2)}
