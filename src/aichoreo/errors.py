"""Errors that reach the user as one clear line.

Every problem with user input (a file, an option, a checkpoint) is raised as an
:class:`InputError` naming the file and the problem; the CLI prints its message and
exits non-zero without a traceback.
"""

from __future__ import annotations

import os


class AichoreoError(Exception):
    """Base class of the errors the CLI reports as one line."""


class InputError(AichoreoError):
    """Bad user input: ``InputError(path, problem)`` reads ``"<path>: <problem>"``."""

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{self.path}: {problem}")

    def __reduce__(self):
        # Rebuild from (path, problem), so the error crosses process boundaries (worker pools).
        return (type(self), (self.path, self.problem))


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a service manager) turned into an interrupt by the
    ``aichoreo`` command, so that it ends as Ctrl-C ends it: temporary files removed, child
    processes stopped, recordings kept (a render killed so left its hidden temporary video)."""
