"""What every architecture of :mod:`aichoreo.models` shares: config plumbing and the model interface.

**Config.** Each architecture has one frozen dataclass that derives from :class:`ModelConfig`:
the optimiser fields (batch size, Adam, step-wise schedule, steps) live here once, so that the
training engine reads them the same way for every model, and ``to_dict`` / ``from_dict`` give the
JSON form stored in model files and shown by ``aichoreo config show --json``. A config also
answers, as properties, the window geometry the engine and the generation loop need:

- ``motion_len``: seed / context frames (120 = 2 s at 60 fps for every preset here);
- ``audio_len``: music frames one generation step reads, starting at the context's first frame;
  so a song of ``n`` music frames allows ``n - audio_len + 1`` generated frames;
- ``motion_frames`` / ``audio_frames`` / ``window_len``: motion, music and total frames of one
  training window (``audio_frames`` defaults to ``audio_len``);
- ``n_future``: the most frames one generation step may produce (``frames_per_step`` limit);
- ``default_frames_per_step``: what ``aichoreo dance`` uses unless told otherwise.

**Model.** Every registered ``nn.Module`` implements four methods (duck-typed, see
:class:`DanceModel`): ``training_loss`` for the engine, and ``start`` / ``predict`` / ``advance``
for the generation loop, which sits in :mod:`aichoreo.generate` so that the rotation clean-up
between ``predict`` and ``advance`` is the same for every model.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Protocol

import torch


def check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class ModelConfig:
    """Optimiser and schedule fields shared by every architecture (training only).

    They do not change the network; they travel with it so that a preset names a whole
    experiment. Subclasses call :meth:`validate_optimiser` from their ``__post_init__``.
    """

    batch_size: int = 32  # windows per step (global, over all processes)
    lr: float = 1e-4  # Adam learning rate before the first milestone
    lr_milestones: tuple[int, ...] = ()  # steps at which lr is multiplied by lr_gamma
    lr_gamma: float = 0.1  # lr factor at each milestone
    adam_betas: tuple[float, ...] = (0.9, 0.999)  # Adam beta1, beta2
    adam_eps: float = 1e-8  # Adam epsilon
    max_steps: int | None = None  # training steps; None = until stopped (give --max-steps)

    def validate_optimiser(self) -> None:
        check_int("batch_size", self.batch_size, minimum=1)
        for name in ("lr", "adam_eps"):
            check_positive(name, getattr(self, name))
        if not (isinstance(self.lr_gamma, (int, float)) and 0 < self.lr_gamma <= 1):
            raise ValueError(f"lr_gamma must be in (0, 1], got {self.lr_gamma!r}")
        milestones = tuple(self.lr_milestones)
        if any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in milestones) \
                or list(milestones) != sorted(set(milestones)):
            raise ValueError(f"lr_milestones must be increasing positive step numbers, got {self.lr_milestones!r}")
        if len(self.adam_betas) != 2 or not all(0 <= b < 1 for b in self.adam_betas):
            raise ValueError(f"adam_betas must be two numbers in [0, 1), got {self.adam_betas!r}")
        if self.max_steps is not None:
            check_int("max_steps", self.max_steps, minimum=1)
        # Lists arrive from JSON and --set; store tuples so configs stay hashable and comparable.
        object.__setattr__(self, "lr_milestones", milestones)
        object.__setattr__(self, "adam_betas", tuple(float(b) for b in self.adam_betas))

    def learning_rate(self, step: int) -> float:
        """The learning rate at ``step``: ``lr * lr_gamma ** (number of milestones <= step)``."""
        return self.lr * self.lr_gamma ** sum(step >= m for m in self.lr_milestones)

    @property
    def audio_frames(self) -> int:
        """Music frames of a training window (the generation window unless a model needs more)."""
        return self.audio_len

    @property
    def default_frames_per_step(self) -> int:
        """Frames per generation step when the user names none (overridden where measured)."""
        return 1

    # --- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """All fields as JSON-able Python values (tuples become lists)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """Inverse of :meth:`to_dict`; unknown keys are an error, missing keys take the default."""
        label = cls.__name__.removesuffix("Config")
        if not isinstance(data, dict):
            raise ValueError(f"a {label} config must be a dict, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown {label} config keys: {', '.join(map(str, unknown))}")
        return cls(**data)


class DanceModel(Protocol):
    """The interface the training engine and the generation loop use (every registered model).

    Shapes: B batch, W window frames, F = ``config.motion_dim`` (225), M = ``config.audio_dim`` (35);
    all at 60 fps, motion frame ``i`` and music frame ``i`` sounding at the same time.
    """

    config: Any

    def training_loss(self, motion: torch.Tensor, audio: torch.Tensor, step: int) -> torch.Tensor:
        """Scalar loss of a batch of windows: ``motion (B, >= motion_frames, F)`` and
        ``audio (B, >= audio_len, M)`` starting at the same frame; ``step`` = global step
        (for curricula)."""

    def start(self, seed: torch.Tensor, audio: torch.Tensor,
              generator: torch.Generator | None = None) -> Any:
        """Generation state from ``seed (B, motion_len, F)`` and the whole song ``audio (B, T_a, M)``."""

    def predict(self, state: Any, k: int) -> torch.Tensor:
        """The next ``k <= config.n_future`` frames ``(B, k, F)`` (not yet part of the context)."""

    def advance(self, state: Any, frames: torch.Tensor) -> None:
        """Append ``frames (B, k, F)`` (the cleaned prediction) to the context."""


def sinusoid_table(n_positions: int, width: int) -> torch.Tensor:
    """``(n_positions, width)`` fixed sinusoidal positions (Vaswani et al. 2017): sin on even
    features, cos on odd ones, wavelengths from 2 pi to 10000 * 2 pi."""
    position = torch.arange(n_positions, dtype=torch.float64)[:, None]
    rate = torch.pow(10000.0, -(torch.arange(width) // 2 * 2).double() / width)[None]
    angle = position * rate
    table = torch.where(torch.arange(width)[None] % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table.float()


class SlidingContext:
    """``start`` / ``advance`` of the models whose context is the last ``motion_len`` frames and whose
    music window starts where the context starts (FACT, Li et al. 2020, DanceNet)."""

    config: Any

    def start(self, seed: torch.Tensor, audio: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        return {"context": seed, "audio": audio, "done": 0, "generator": generator}

    def music_window(self, state: dict) -> torch.Tensor:
        """Music frames ``[done, done + audio_len)`` ``(B, A, M)``: the window of the current context."""
        return state["audio"][:, state["done"]: state["done"] + self.config.audio_len]

    def advance(self, state: dict, frames: torch.Tensor) -> None:
        k = frames.shape[1]
        state["context"] = torch.cat([state["context"][:, k:], frames], dim=1)  # (B, T, F)
        state["done"] += k
