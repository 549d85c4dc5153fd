"""What every architecture of :mod:`aichoreo.models` shares: config plumbing and the model interface.

**Config.** Each architecture has one frozen dataclass that derives from :class:`ModelConfig`:
it holds the architecture only (what the model file needs to rebuild the network), and
``to_dict`` / ``from_dict`` give the JSON form stored in model files and shown by ``aichoreo
config show --json``. The optimiser and schedule are the training run's business
(:class:`aichoreo.train.TrainConfig`); a named preset (:class:`Preset`) pairs a config with the
training settings it was tuned with. A config also answers, as properties, the window geometry
the engine and the generation loop need:

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
from typing import Any, NamedTuple, Protocol

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


#: Optimiser and schedule keys that model files written before format version 2 hold in their
#: config (they moved to :class:`aichoreo.train.TrainConfig`); ``from_dict`` drops them.
LEGACY_TRAINING_KEYS = ("batch_size", "lr", "lr_milestones", "lr_gamma", "adam_betas", "adam_eps", "max_steps")

#: The CPU-scale schedule of every ``*-small`` preset (fact-small's, docs/fact.md): batch 16,
#: Adam lr 3e-4, x0.1 at step 6,000, 8,000 steps.
SMALL_TRAINING: dict[str, Any] = {"batch_size": 16, "lr": 3e-4, "lr_milestones": (6_000,), "max_steps": 8_000}


class Preset(NamedTuple):
    """A named experiment: an architecture and the training settings it was tuned with."""

    model: Any  # a config dataclass of this package
    training: dict[str, Any]  # fields of aichoreo.train.TrainConfig (batch size, Adam, schedule, steps)


@dataclass(frozen=True)
class ModelConfig:
    """What every architecture's config shares: serialisation and the window-geometry defaults.

    Fields are the architecture only; optimiser settings live in the training config.
    """

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
        # Files written before format version 2 carry the optimiser in the config: not part of
        # the network, so dropped here (load_model_file keeps them in the meta as "training").
        data = {k: v for k, v in data.items() if k in known or k not in LEGACY_TRAINING_KEYS}
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
