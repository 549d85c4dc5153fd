"""Training with PyTorch Lightning: one thin module around any registered model (FACT and the baselines).

The engine knows a model only through the interface of :mod:`aichoreo.models.common`: the
config's window geometry and ``model.training_loss(motion, audio, step)``. The optimiser and
schedule are the run's (:class:`TrainConfig`); every model file records the data conventions
(:mod:`aichoreo.conventions`) and no path of this machine (:func:`model_file_meta`).

Phases of one run (``train(...)``):

1. data: the prepared dataset's train split becomes an endless stream of random windows
   (:class:`aichoreo.data.windows.RandomWindows`); window ``i`` depends only on ``(seed, i)``
   and global step ``k`` reads windows ``[k * B, (k + 1) * B)``, split over the processes;
2. model and optimiser: the preset's model config; Adam (batch size, betas and epsilon from the
   training config: the Keras epsilon 1e-7 for FACT) with the step-wise multi-step learning-rate
   schedule (reference.md §4.1);
3. Lightning ``Trainer``: devices, nodes and precision from the caller; DDP when several
   processes take part (``torchrun`` and SLURM are detected by Lightning);
4. outputs under ``out``: ``config.json`` (the resolved configuration), ``checkpoints/``
   (Lightning resume state: weights, optimiser, scheduler, loop counters; ``last.ckpt``),
   ``models/`` (plain model files every ``checkpoint_every`` steps, the last ``keep_last``
   kept, ``best.pt`` by validation loss, ``last.pt`` at the end), ``logs/version_N/metrics.csv`` (one
   per invocation) and ``tensorboard/`` when TensorBoard is installed.

Resuming from ``checkpoints/last.ckpt`` restores step, weights, optimiser state and learning
rate; the window stream continues at the restored step, so the loss trajectory equals that of
an uninterrupted run for models without dropout (FACT: data order is its only randomness).
The baselines use dropout; Lightning does not restore the random state, so their resumed runs
follow a different (equally valid) dropout sequence.

A run never ends silently broken and can always be restarted (docs/training.md):
:class:`FiniteGuard` stops it with :class:`TrainingDiverged` when the loss or the weights stop
being finite, before anything of that step is saved; :func:`resume_point` starts a folder with
no checkpoint again from step 0 and resumes from the newest intact checkpoint
(:func:`checkpoint_problem`), naming the damaged ones.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import math
import os
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from aichoreo.data.dataset import INDEX_FILE, PreparedDataset
from aichoreo.data.windows import FixedWindows, RandomWindows, StepSampler
from aichoreo.errors import InputError
from aichoreo.fileio import atomic_path, read_json
from aichoreo.audio import DEFAULT_SPEC, MusicFeatureSpec
from aichoreo.conventions import check_conventions, conventions_of
from aichoreo.motion import FACT_PADDED_DIM
from aichoreo.models import (
    BUNDLED_MODELS,
    MAX_WEIGHT,
    ModelConfig,
    build_model,
    load_model,
    model_name,
    save_model_file,
    state_mismatch,
)
from aichoreo.models.common import LEGACY_TRAINING_KEYS, check_choice, check_int, check_positive

log = logging.getLogger(__name__)

RUN_FILE = "config.json"
# Lightning's precision names (lightning.fabric.utilities.types._PRECISION_INPUT), checked with the
# other --set values rather than by Lightning after the run folder exists.
PRECISIONS = ("64-true", "32-true", "16-true", "bf16-true", "16-mixed", "bf16-mixed", "transformer-engine",
              "transformer-engine-float16", "64", "32", "16", "bf16")


class TrainingDiverged(InputError):
    """The training loss or the weights stopped being finite; raised before anything non-finite is saved."""


def _warn(message: str, *args: Any) -> None:
    """A warning from the first process only (every DDP process runs :func:`train`)."""
    from lightning.pytorch.utilities import rank_zero_only

    if rank_zero_only.rank == 0:
        log.warning(message, *args)


@dataclass(frozen=True)
class TrainConfig:
    """Everything about a run that is not the architecture: optimiser, schedule and engine.

    A preset supplies its optimiser and schedule (:func:`aichoreo.models.get_preset_training`);
    the defaults below are PyTorch's Adam at lr 1e-4, batch 32, no schedule.
    """

    # --- optimiser and schedule --------------------------------------------------------------
    batch_size: int = 32  # windows per step (global, over all processes)
    lr: float = 1e-4  # Adam learning rate before the first milestone
    lr_milestones: tuple[int, ...] = ()  # steps at which lr is multiplied by lr_gamma
    lr_gamma: float = 0.1  # lr factor at each milestone
    adam_betas: tuple[float, ...] = (0.9, 0.999)  # Adam beta1, beta2
    adam_eps: float = 1e-8  # Adam epsilon (FACT: the Keras 1e-7)
    max_steps: int | None = None  # training steps; None = until stopped (give --max-steps)
    # --- data augmentation (beyond the paper; aichoreo.data.windows) ------------------------------
    mirror: bool = False  # half the windows mirrored left-right
    tempo_stretch: float = 0.0  # windows played at a uniform random rate in [1 - x, 1 + x], music and motion together
    style_balance: bool = False  # a model with styles: every style as often (a style, then one of its dances),
    # not every dance as often; Dance with Melody's train split has 22 waltzes to 2 cha-chas
    # Parameters trained, by name or name prefix (e.g. "style_embed"); the others stay as they start
    # (--init). Empty: all of them. Teaching a finished model styles and nothing else (docs/training.md).
    train_only: tuple[str, ...] = ()
    # --- engine --------------------------------------------------------------------------------

    checkpoint_every: int = 1000  # steps between resume checkpoints and model files (mint: 1,000)
    keep_last: int = 3  # model files kept besides best.pt and last.pt
    val_every: int = 1000  # steps between validation passes (0: never)
    log_every: int = 50  # steps between logged training losses
    num_workers: int = 2  # data-loader worker processes per training process
    seed: int = 0  # seed of the window stream and of the initial weights
    precision: str = "32-true"  # Lightning precision: "32-true", "bf16-mixed" (GPU), "16-mixed"
    val_windows_per_sequence: int = 8  # fixed validation windows per val sequence

    def __post_init__(self) -> None:
        for name in ("checkpoint_every", "keep_last", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.val_every < 0 or self.num_workers < 0:
            raise ValueError("val_every and num_workers must be >= 0")
        check_int("batch_size", self.batch_size, minimum=1)
        # -1 kept every window but the last ([:-1]); a seed below 0 failed in numpy naming no key
        check_int("val_windows_per_sequence", self.val_windows_per_sequence, minimum=1)
        check_int("seed", self.seed, minimum=0)
        check_choice("precision", str(self.precision), PRECISIONS)  # --set precision=32 arrives as a number
        for name in ("lr", "adam_eps"):
            check_positive(name, getattr(self, name))
        if isinstance(self.lr_gamma, bool) or not isinstance(self.lr_gamma, (int, float)) or not 0 < self.lr_gamma <= 1:
            raise ValueError(f"lr_gamma must be in (0, 1], got {self.lr_gamma!r}")
        milestones = tuple(self.lr_milestones)
        if any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in milestones) \
                or list(milestones) != sorted(set(milestones)):
            raise ValueError(f"lr_milestones must be increasing positive step numbers, got {self.lr_milestones!r}")
        betas = tuple(self.adam_betas)
        if len(betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas):
            raise ValueError(f"adam_betas must be two numbers in [0, 1), got {self.adam_betas!r}")
        if self.max_steps is not None:
            check_int("max_steps", self.max_steps, minimum=1)
        if not isinstance(self.mirror, bool):
            raise ValueError(f"mirror must be true or false, got {self.mirror!r}")
        if not isinstance(self.style_balance, bool):
            raise ValueError(f"style_balance must be true or false, got {self.style_balance!r}")
        if isinstance(self.tempo_stretch, bool) or not isinstance(self.tempo_stretch, (int, float)) \
                or not 0 <= self.tempo_stretch < 0.5:
            raise ValueError(f"tempo_stretch must be a number in [0, 0.5), got {self.tempo_stretch!r}")
        if isinstance(self.train_only, str) or not all(isinstance(n, str) and n for n in self.train_only):
            raise ValueError(f"train_only must be parameter names, got {self.train_only!r}")
        # Lists arrive from JSON and --set; store tuples so configs stay hashable and comparable.
        object.__setattr__(self, "lr_milestones", milestones)
        object.__setattr__(self, "train_only", tuple(self.train_only))
        object.__setattr__(self, "adam_betas", tuple(float(b) for b in betas))


def trained_parameters(model: torch.nn.Module, names: tuple[str, ...]) -> list[torch.nn.Parameter]:
    """The parameters of ``model`` that :attr:`TrainConfig.train_only` names (each a parameter's
    name or a prefix of it, at a dot); all of them when ``names`` is empty. The others stop
    requiring gradients, so the backward pass computes none for them and they keep their values.
    :class:`InputError` for a name that matches nothing (it lists the model's parameters)."""
    params = dict(model.named_parameters())
    if not names:
        return list(params.values())
    matched = {n: {k for k in params if k == n or k.startswith(n + ".")} for n in names}
    chosen = set().union(*matched.values())
    missing = [n for n, found in matched.items() if not found]
    if missing:
        tops = sorted({k.split(".")[0] for k in params})
        raise InputError(None, f"train_only names no parameter of this model: {', '.join(missing)} "
                               f"(it has {', '.join(tops)})")
    for name, p in params.items():
        p.requires_grad_(name in chosen)
    return [params[k] for k in params if k in chosen]


def learning_rate(step: int, config: TrainConfig) -> float:
    """The learning rate at ``step``: ``lr * lr_gamma ** (number of milestones <= step)``."""
    return config.lr * config.lr_gamma ** sum(step >= m for m in config.lr_milestones)


#: TrainConfig fields a resumed run must share with its config.json: the optimiser, schedule, data
#: augmentation and the seed of the window stream (another seed resumed into other windows, while
#: config.json kept the first) (``max_steps`` may grow: the schedule can be extended). Model files
#: record them.
RESUME_MUST_MATCH = ("batch_size", "lr", "lr_milestones", "lr_gamma", "adam_betas", "adam_eps", "mirror",
                     "tempo_stretch", "style_balance", "train_only", "seed")


def resume_mismatch(saved: dict[str, Any], config: ModelConfig, train_config: TrainConfig) -> str | None:
    """How a run's saved ``config.json`` dict differs from the configs of a resume, or None.

    Run folders written before the optimiser left the model config hold it under ``"model"``;
    both layouts are read.
    """
    saved_model = dict(saved.get("model") or {})
    saved_train = {**{k: saved_model.pop(k) for k in LEGACY_TRAINING_KEYS if k in saved_model},
                   **(saved.get("train") or {})}
    try:  # fields added since the run started take their defaults, as when its model files load
        saved_model = type(config).from_dict(saved_model).to_dict()
    except (TypeError, ValueError):
        pass  # unknown keys: compared as they are, and named below
    if saved_model != config.to_dict():
        keys = sorted(k for k in set(saved_model) | set(config.to_dict())
                      if saved_model.get(k) != config.to_dict().get(k))
        return f"the run was started with another model config ({', '.join(keys)})"
    now = json.loads(json.dumps(dataclasses.asdict(train_config)))  # tuples -> lists, as in the file
    keys = [k for k in RESUME_MUST_MATCH if k in saved_train and saved_train[k] != now[k]]
    if keys:
        return f"the run was started with other training settings ({', '.join(keys)})"
    return None


class DanceModule(L.LightningModule):
    """Lightning wrapper: loss, optimiser and schedule around any registered model."""

    def __init__(self, config: ModelConfig, train_config: TrainConfig, train_set: RandomWindows,
                 val_set: FixedWindows | None, max_steps: int):
        super().__init__()
        self.config = config
        self.train_config = train_config
        self.model = build_model(config)
        self.train_set = train_set
        self.val_set = val_set
        self.max_steps = max_steps

    def _loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if "style" in batch:  # windows of a model with styles carry their labels
            return self.model.training_loss(batch["motion"], batch["audio"], self.global_step, style=batch["style"])
        return self.model.training_loss(batch["motion"], batch["audio"], self.global_step)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=False)
        self.log("lr", self.optimizers().param_groups[0]["lr"], on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.log("val/loss", self._loss(batch), prog_bar=True, on_step=False, on_epoch=True,
                 batch_size=len(batch["motion"]), sync_dist=True)

    def configure_optimizers(self):
        cfg = self.train_config
        trained = trained_parameters(self.model, cfg.train_only)
        optimiser = torch.optim.Adam(trained, lr=cfg.lr, betas=tuple(cfg.adam_betas),
                                     eps=cfg.adam_eps, weight_decay=0.0)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: learning_rate(step, cfg) / cfg.lr)
        return {"optimizer": optimiser, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def train_dataloader(self) -> DataLoader:
        world = self.trainer.world_size
        batch_size = self.train_config.batch_size
        if batch_size % world:
            raise InputError(None, f"batch_size {batch_size} is the global batch and must be a "
                                   f"multiple of the {world} training processes")
        per_process = batch_size // world
        sampler = StepSampler(batch_size=per_process, n_steps=self.max_steps,
                              first_step=lambda: self.trainer.global_step,
                              rank=self.trainer.global_rank, world_size=world)
        return DataLoader(self.train_set, batch_size=per_process, sampler=sampler,
                          num_workers=self.train_config.num_workers,
                          persistent_workers=self.train_config.num_workers > 0)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_set is None or len(self.val_set) == 0:
            return []
        return DataLoader(self.val_set, batch_size=self.train_config.batch_size, shuffle=False, num_workers=0)


class ModelFiles(L.Callback):
    """Plain model files (``models/step0001000.pt``), the last ``keep`` kept, ``best.pt``, ``last.pt``."""

    def __init__(self, folder: Path, every: int, keep: int, meta: dict[str, Any]):
        self.folder = folder
        self.every = every
        self.keep = keep
        self.meta = meta
        self.best = math.inf

    def _save(self, trainer: L.Trainer, module: DanceModule, name: str, **extra: Any) -> None:
        # FiniteGuard, called before this callback, has checked the weights at every save point.
        if trainer.is_global_zero:
            save_model_file(self.folder / name, module.model, module.config, step=trainer.global_step,
                            **self.meta, **extra)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every == 0:
            self._save(trainer, module, f"step{step:07d}.pt")
            if trainer.is_global_zero:
                old = sorted(self.folder.glob("step*.pt"))[: -self.keep]
                for path in old:
                    path.unlink(missing_ok=True)

    def on_validation_end(self, trainer, module) -> None:
        value = trainer.callback_metrics.get("val/loss")
        if value is None or trainer.sanity_checking:
            return
        value = float(value)
        if value < self.best:
            self.best = value
            self._save(trainer, module, "best.pt", val_loss=value)

    def on_train_end(self, trainer, module) -> None:
        self._save(trainer, module, "last.pt")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state.get("best", math.inf))


def nonfinite_parameters(model: torch.nn.Module) -> list[str]:
    """Names of the parameters holding a NaN, an infinity or a value beyond
    :data:`aichoreo.models.MAX_WEIGHT`, which no model file may hold (one host synchronisation for
    all of them): a step of lr 1e30 saved weights of 1e30 that no command could then load."""
    named = list(model.named_parameters())
    if not named:
        return []
    usable = torch.stack([torch.isfinite(p).all() & (p.abs().max() <= MAX_WEIGHT) if p.numel() else
                          torch.tensor(True, device=p.device) for _, p in named]).tolist()
    return [name for (name, _), ok in zip(named, usable) if not ok]


class FiniteGuard(L.Callback):
    """Stops training with :class:`TrainingDiverged` once the loss or the weights are not finite.

    The loss is checked after every step (one host synchronisation, which the progress bar makes
    anyway), the weights before every save point (resume checkpoint, model files, end of run). It
    runs before :class:`ModelFiles` and Lightning's ``ModelCheckpoint`` (Lightning calls checkpoint
    callbacks last), so the step that went wrong is never saved and the last resume checkpoint
    keeps the last good state.
    """

    def __init__(self, out: Path, data: Path, every: int):
        self.out = out
        self.data = data
        self.every = every
        self.saved_step: int | None = None  # step of the newest resume checkpoint known to be finite

    def on_train_start(self, trainer, module) -> None:
        if trainer.global_step > 0:  # resumed: the checkpoint it came from was checked before loading
            self.saved_step = trainer.global_step

    def _stop(self, trainer: L.Trainer, what: str) -> TrainingDiverged:
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else float("nan")
        kept = ("no resume checkpoint was written yet" if self.saved_step is None else
                f"checkpoints/last.ckpt keeps the last good state (step {self.saved_step}) for --resume")
        return TrainingDiverged(self.out, f"training stopped at step {trainer.global_step}: {what}; likely causes: "
                                          f"a learning rate too high (lr {lr:g}) or extreme values in the data "
                                          f"({self.data}); nothing non-finite was saved, {kept}")

    def _check_weights(self, trainer: L.Trainer, module: DanceModule) -> None:
        if bad := nonfinite_parameters(module.model):
            more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
            raise self._stop(trainer, f"the weights are not finite, or beyond {MAX_WEIGHT:g} "
                                      f"({', '.join(bad[:3])}{more})")

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None:
            bad = not bool(torch.isfinite(loss.detach()).all())
            if trainer.world_size > 1:  # all processes must stop at the same step, or DDP hangs
                bad = trainer.strategy.reduce_boolean_decision(bad, all=False)
            if bad:
                value = float(loss.detach().float().mean())
                shown = f"{value}" if not math.isfinite(value) else "not finite on another process"
                raise self._stop(trainer, f"the training loss is {shown}")
        if trainer.global_step % self.every == 0:
            self._check_weights(trainer, module)
            self.saved_step = trainer.global_step

    def on_validation_end(self, trainer, module) -> None:
        if not trainer.sanity_checking:  # before ModelFiles writes best.pt
            self._check_weights(trainer, module)

    def on_train_end(self, trainer, module) -> None:
        self._check_weights(trainer, module)


class Throughput(L.Callback):
    """Training windows per second (all processes), logged and printed at the end."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.start_time: float | None = None
        self.start_step = 0
        self.windows_per_s: float | None = None

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        # The clock starts after the first step, so set-up and warm-up are not counted.
        now = time.perf_counter()
        if self.start_time is None:
            self.start_time, self.start_step = now, trainer.global_step
        elif trainer.global_step > self.start_step:
            self.windows_per_s = (trainer.global_step - self.start_step) * self.batch_size / (now - self.start_time)
            module.log("windows_per_s", self.windows_per_s, prog_bar=True, on_step=True, on_epoch=False)


def with_data_styles(config: ModelConfig, data: PreparedDataset) -> ModelConfig:
    """``config`` with its styles named from the data: a model that learns styles
    (``style_dropout > 0``) and names none gets the genres of the train split, sorted (Dance with
    Melody: cha-cha, rumba, waltz; AIST++: its ten genres). Any other config is returned as is."""
    genres = sorted({e.genre for e in data.entries if e.split == "train" and e.genre})
    unknown = [s for s in getattr(config, "styles", ()) if s not in genres]
    if unknown:  # a misspelt style learned from no window, and its dance was unconditioned
        raise InputError(data.root, f"style {unknown[0]!r} names no genre of the train split "
                                    f"({', '.join(genres) or 'none'}): --set styles=... takes those")
    if not getattr(config, "style_dropout", 0) or getattr(config, "styles", ()):
        return config
    if not genres:
        raise InputError(data.root, "names no genre for its train sequences: a model with styles needs them "
                                    "(the 'genre' of each sequence in index.json)")
    return dataclasses.replace(config, styles=tuple(genres))


def _style_labels(config: ModelConfig, sequences: list) -> list[int] | None:
    """Per sequence its style label for ``config`` (0, none, for a genre the model does not know), or
    None for a model without styles."""
    styles = getattr(config, "styles", ())
    if not styles:
        return None
    return [1 + styles.index(s.entry.genre) if s.entry.genre in styles else 0 for s in sequences]


def load_windows(data: PreparedDataset, config: ModelConfig, train_config: TrainConfig
                 ) -> tuple[RandomWindows, FixedWindows | None]:
    """The training stream and the validation windows of a prepared dataset (with the sequences'
    style labels where ``config`` has styles)."""
    motion_frames = config.motion_frames
    train_sequences = data.load_split("train")
    train = [(s.motion, s.music) for s in train_sequences]
    if not train:
        raise InputError(data.root, "has no sequence in the train split")
    try:
        train_set = RandomWindows(train, window_len=config.window_len, motion_frames=motion_frames,
                                  audio_frames=config.audio_frames, seed=train_config.seed,
                                  mirror=train_config.mirror, tempo_stretch=train_config.tempo_stretch,
                                  styles=_style_labels(config, train_sequences),
                                  balance=train_config.style_balance and bool(getattr(config, "styles", ())))
    except ValueError as exc:
        raise InputError(data.root, f"nothing usable for training: {exc}") from None
    if train_set.n_dropped:
        log.warning("%d train sequences are shorter than a %d-frame window and are skipped",
                    train_set.n_dropped, config.window_len)
    val_sequences = data.load_split("val")
    val = [(s.motion, s.music) for s in val_sequences]
    val_set = None
    if val:
        val_set = FixedWindows(val, window_len=config.window_len, motion_frames=motion_frames,
                               audio_frames=config.audio_frames, max_per_sequence=train_config.val_windows_per_sequence,
                               styles=_style_labels(config, val_sequences))
        if len(val_set) == 0:
            log.warning("no val sequence is long enough for a %d-frame window: no validation", config.window_len)
            val_set = None
    return train_set, val_set


def write_run_config(out: Path, preset: str, config: ModelConfig, train_config: TrainConfig, data: Path) -> None:
    """``config.json`` of a run: preset, architecture, model config, training config (optimiser,
    schedule, engine) and the data folder; what ``--resume`` compares (:func:`resume_mismatch`).
    The data path stays as given: the run folder is the user's own, never shipped."""
    with atomic_path(out / RUN_FILE) as tmp:
        tmp.write_text(json.dumps({"preset": preset, "architecture": model_name(config), "model": config.to_dict(),
                                   "train": dataclasses.asdict(train_config), "data": str(data)}, indent=2))


# An absolute POSIX or Windows path inside free text (not the slash of "N/A" or "km/h").
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:[\\/]|/)[^\s,;()'\"]*")


def without_paths(text: str) -> str:
    """``text`` with every absolute path replaced by its last component (its folder or file name)."""
    # PureWindowsPath splits at both separators, so one rule serves POSIX and Windows paths.
    return _ABSOLUTE_PATH.sub(lambda m: PureWindowsPath(m.group(0).rstrip("/\\")).name or m.group(0), text)


def absolute_paths(value: Any) -> list[str]:
    """Every absolute path inside ``value`` (strings, nested in lists and dicts), in order."""
    if isinstance(value, str):
        return _ABSOLUTE_PATH.findall(value)
    if isinstance(value, dict):
        return [p for v in value.values() for p in absolute_paths(v)]
    if isinstance(value, (list, tuple)):
        return [p for v in value for p in absolute_paths(v)]
    return []


def load_initial_weights(model: torch.nn.Module, init: str | os.PathLike, config: ModelConfig,
                         conventions: dict[str, Any], data: Path) -> None:
    """Put the weights of the model file ``init`` (a path, or a bundled model's name: ``"default"``
    ...) into ``model``, the run's model of ``config`` on the prepared data in ``data``, whose
    ``conventions`` the run's model files record (:func:`model_file_meta`): fine-tuning starts from
    them instead of random ones.

    Raises :class:`InputError` naming the file when it is not a model file, holds another
    architecture, has weights of other shapes than ``config`` builds (another width or depth), or
    was trained on other data conventions than ``data``'s (frame rate, music features, motion
    layout: the weights would read the wrong inputs). Settings that leave the weights' shapes alone
    (the loss, the context noise, the room) may differ from the file's; each one that does is logged.
    An input the run's model adds to the file's (``model.added_inputs``: the style embedding of a
    model with styles started from one without) starts at zero, and is logged.
    """
    bundled = isinstance(init, str) and init in BUNDLED_MODELS
    where, what = (None, f"--init {init} (a bundled model)") if bundled else (Path(init), "--init")
    source, file_config, meta = load_model(init)
    if type(file_config) is not type(config):
        raise InputError(where, f"{what} is a {model_name(file_config)} model; this run trains a {model_name(config)}")
    found_state, expected = source.state_dict(), model.state_dict()
    added = [k for k in getattr(model, "added_inputs", lambda other: [])(file_config) if k not in found_state]
    problem = state_mismatch({k: v for k, v in expected.items() if k not in added}, found_state)
    if problem:
        raise InputError(where, f"{what}: its weights do not fit this run's model ({problem.split(': ', 1)[-1]}); "
                                "give the --config and --set values of its architecture")
    found = meta.get("conventions")
    if found is not None and found != conventions:
        keys = sorted(k for k in set(conventions) | set(found) if conventions.get(k) != found.get(k))
        raise InputError(where, f"{what} was trained on data with other conventions ({', '.join(keys)}) than {data}")
    differ = sorted(k for k, v in config.to_dict().items() if file_config.to_dict().get(k) != v)
    if differ:
        _warn("starting from %s, whose config differs from this run's in %s", init, ", ".join(differ))
    if added:
        _warn("%s starts at zero: %s has no such weights", ", ".join(added), init)
    model.load_state_dict({**found_state, **{k: torch.zeros_like(expected[k]) for k in added}})


def model_file_meta(preset: str, data: PreparedDataset, train_config: TrainConfig) -> dict[str, Any]:
    """What every model file of a run records besides the weights: the data conventions, the
    preset, the training settings and the data provenance, without any path of this machine.

    ``data`` is the prepared folder's name and ``data_description`` its description with absolute
    paths cut to their last component: a model file is meant to travel. A dataset whose index
    records no music-feature spec (hand-made test data) is taken to hold the default features.
    """
    spec = data.music_spec
    if not spec:
        log.warning("%s records no music-feature spec; the model file records the default (mint's 35-d)", data.root)
        spec = DEFAULT_SPEC
    training = {k: v for k, v in json.loads(json.dumps(dataclasses.asdict(train_config))).items()
                if k in RESUME_MUST_MATCH or k == "max_steps"}
    return {"conventions": conventions_of(fps=data.fps, music_spec=spec), "preset": preset,
            "training": training, "data": data.root.name, "data_description": without_paths(data.description)}


def _checkpoint_step(path: Path) -> int:
    match = re.fullmatch(r"step(\d+)(-v\d+)?", path.stem)
    return int(match.group(1)) if match else -1


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def checkpoint_problem(path: Path) -> str | None:
    """Why the Lightning checkpoint ``path`` cannot be resumed from (truncated, damaged, non-finite), or None."""
    try:
        # A truncated file has lost its zip directory; testzip checks every member's CRC, which
        # catches damage inside the file that a lazy load would only meet half-way through a run.
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except Exception as exc:  # zipfile raises several types on a cut or foreign file; all mean the same
        return f"not a complete checkpoint (truncated or not a checkpoint at all: {_first_line(exc)})"
    if damaged is not None:
        return f"damaged: its member {damaged} fails its checksum"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # pickle and zip errors of a damaged file; the file is named by the caller
        return f"not a readable checkpoint ({_first_line(exc)})"
    if not isinstance(state, dict) or not {"state_dict", "global_step", "optimizer_states"} <= state.keys():
        return "not a training checkpoint of aichoreo train (no state_dict, global_step or optimiser state)"
    bad = [k for k, v in state["state_dict"].items()
           if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        return f"holds non-finite weights ({bad[0]})"
    return None


def resume_point(out: Path, resume: bool) -> Path | None:
    """The checkpoint a run in ``out`` continues from, or None when it starts (again) at step 0.

    A folder without any resume checkpoint (a run stopped before its first one) starts again
    from step 0, with or without ``resume``, saying so. With checkpoints, ``resume`` is required;
    the newest intact one is used: ``last.ckpt``, else the ``step*.ckpt`` files newest first,
    each damaged one named in a warning (the resumed run overwrites it when it saves that name
    again). :class:`InputError` when nothing can be used.
    """
    folder = out / "checkpoints"
    steps = sorted(folder.glob("step*.ckpt"), key=_checkpoint_step, reverse=True)
    candidates = ([folder / "last.ckpt"] if (folder / "last.ckpt").exists() else []) + steps
    if not candidates:
        models = sorted(p.name for p in (out / "models").glob("*.pt") if p.name != "best.pt" or not _stale_best(out))
        if models:  # e.g. checkpoints/ deleted to save space: a new run would overwrite these
            raise InputError(out, f"holds model files ({', '.join(models)}) but no resume checkpoint in "
                                  "checkpoints/, so it cannot be resumed; choose another --out")
        if (out / RUN_FILE).exists():
            _warn("%s: the run there stopped before its first checkpoint; starting it again from step 0", out)
        elif resume:
            raise InputError(folder / "last.ckpt", "nothing to resume: no Lightning checkpoint here")
        return None
    if not resume:
        raise InputError(out, "already holds a training run; pass --resume to continue it or choose another --out")
    damaged: list[tuple[Path, str]] = []
    for path in candidates:
        problem = checkpoint_problem(path)
        if problem is None:
            if damaged:
                _warn("%s; resuming from the newest intact checkpoint, %s",
                      "; ".join(f"{bad}: {why}" for bad, why in damaged), path)
            return path
        damaged.append((path, problem))
    raise InputError(folder, f"no intact checkpoint to resume from ({'; '.join(f'{p}: {w}' for p, w in damaged)})")



def _stale_best(out: Path) -> bool:
    """Whether ``out/models/best.pt`` is from an attempt of this run that stopped before its first
    checkpoint (the run's config.json exists and the file's step is below its checkpoint_every):
    only such a file is replaced by a restart; any other best.pt is a trained model to keep."""
    try:
        saved = read_json(out / RUN_FILE)
        every = int(saved["train"]["checkpoint_every"])
        state = torch.load(out / "models" / "best.pt", map_location="cpu", weights_only=True, mmap=True)
        step = int(state["meta"]["step"])
    except Exception:  # no run config, an older layout, a foreign or damaged file: not provably ours
        return False
    return step < every


def _start_run_folder(out: Path, preset: str, config: ModelConfig, train_config: TrainConfig, data: Path) -> None:
    """A run starting at step 0: its config.json, and no best.pt of an earlier attempt stopped before a checkpoint."""
    stale = out / "models" / "best.pt"
    if stale.exists():
        log.warning("%s: removed, it came from an earlier attempt of this run that stopped before its first "
                    "checkpoint", stale)
        stale.unlink()
    write_run_config(out, preset, config, train_config, data)


def _check_dims(config: ModelConfig, conventions: dict[str, Any]) -> None:
    """:class:`InputError` when the model's ``motion_dim`` or ``audio_dim`` is not the data's (a
    ``--set motion_dim=3`` failed on the first batch, inside the model, after the run had started)."""
    music = MusicFeatureSpec.from_dict(conventions["music_features"])
    wanted = {"motion_dim": FACT_PADDED_DIM, "audio_dim": music.feature_dim}
    wrong = [f"{k} {getattr(config, k)}" for k, v in wanted.items() if getattr(config, k) != v]
    if wrong:
        raise InputError(None, f"{' and '.join(wrong)}: this data has {FACT_PADDED_DIM}-d motion vectors "
                               f"({conventions['motion']}) and {music.feature_dim}-d music features; "
                               "leave motion_dim and audio_dim at those")


def train(config: ModelConfig, data: PreparedDataset, out: str | os.PathLike, *,
          preset: str = "custom", train_config: TrainConfig = TrainConfig(), max_steps: int | None = None,
          resume: bool = False, accelerator: str = "auto", devices: int | str = "auto", num_nodes: int = 1,
          strategy: str = "auto", progress: bool = True, init: str | os.PathLike | None = None) -> dict[str, Any]:
    """Train ``config`` on ``data``; outputs under ``out`` (module docstring). Returns a summary.

    ``init``: a model file (or a bundled model's name) whose weights the run starts from instead of
    random ones, to fine-tune it (:func:`load_initial_weights`); the model files record its name as
    ``meta["init"]``. A resumed run continues from its checkpoint and does not read it.
    """
    out = Path(out)
    steps = max_steps or train_config.max_steps
    if steps is None:
        raise InputError(None, "this preset trains until stopped: give --max-steps")
    # The steps run, whichever gave them: recorded in run.json and every model file's meta.training.
    train_config = dataclasses.replace(train_config, max_steps=steps)
    config = with_data_styles(config, data)  # the styles a style model learns, named in its files
    resume_from = resume_point(out, resume)  # None: the run starts at step 0
    if resume_from is not None:
        saved = read_json(out / RUN_FILE)
        # The schedule may be extended on resume; the model and optimiser must match.
        problem = resume_mismatch(saved, config, train_config)
        if problem:
            raise InputError(out / RUN_FILE, f"{problem}; resume it with the same --config and --set values")

    meta = model_file_meta(preset, data, train_config)
    # Data of another frame rate or music features trained to the end, and every model file it
    # wrote was then refused by `aichoreo dance`: refused here, before its windows are loaded.
    check_conventions(meta["conventions"], data.root / INDEX_FILE, what="a model trained on it could not dance here",
                      advice="prepare it again with aichoreo data prepare")

    _check_dims(config, meta["conventions"])

    L.seed_everything(train_config.seed, workers=True, verbose=False)
    train_set, val_set = load_windows(data, config, train_config)
    module = DanceModule(config, train_config, train_set, val_set, steps)
    trained_parameters(module.model, train_config.train_only)  # a name that matches nothing fails here
    if train_config.train_only and init is None and resume_from is None:
        log.warning("train_only=%s without --init: every other parameter stays at its random initial value",
                    ",".join(train_config.train_only))
    if init is not None:
        meta["init"] = Path(init).name  # a file's name, never a path of this machine
        if resume_from is None:
            load_initial_weights(module.model, init, config, meta["conventions"], data.root)
    out.mkdir(parents=True, exist_ok=True)

    from lightning.pytorch.callbacks import LambdaCallback, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    # One log version per invocation (logs/version_N): a resumed run appends a version, never overwrites.
    loggers = [CSVLogger(out, name="logs")]
    if importlib.util.find_spec("tensorboard") is not None:  # optional: TensorBoard logs when installed
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(out, name="tensorboard", default_hp_metric=False))
    # No version counter: a resumed run overwrites last.ckpt and stepN.ckpt under these names (a
    # damaged one, or one of a moved run folder), never writes last-v1.ckpt beside a stale last.ckpt.
    resume_ckpt = ModelCheckpoint(dirpath=out / "checkpoints", filename="step{step:07d}", auto_insert_metric_name=False,
                                  every_n_train_steps=train_config.checkpoint_every, save_last=True,
                                  save_top_k=train_config.keep_last, monitor="step", mode="max",
                                  enable_version_counter=False)
    throughput = Throughput(train_config.batch_size)
    # Written once every process has joined (DDP children re-run this function and must not see
    # a half-started run as an existing one).
    record = LambdaCallback(on_fit_start=lambda trainer, module: trainer.is_global_zero and resume_from is None and
                            _start_run_folder(out, preset, config, train_config, data.root))
    guard = FiniteGuard(out, data.root, train_config.checkpoint_every)
    files = ModelFiles(out / "models", train_config.checkpoint_every, train_config.keep_last, meta)
    trainer = L.Trainer(
        accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy,
        precision=train_config.precision, max_steps=steps, max_epochs=-1,
        callbacks=[record, guard, resume_ckpt, files, throughput], logger=loggers,
        log_every_n_steps=train_config.log_every, enable_progress_bar=progress,
        val_check_interval=train_config.val_every or None, check_val_every_n_epoch=None,
        limit_val_batches=1.0 if (val_set is not None and train_config.val_every) else 0,
        num_sanity_val_steps=0, use_distributed_sampler=False, enable_model_summary=False,
        deterministic=False,
    )
    # weights_only: a checkpoint holds tensors and plain values only, so nothing in it can run code.
    trainer.fit(module, ckpt_path=None if resume_from is None else str(resume_from), weights_only=True)
    summary = {"out": str(out), "steps": trainer.global_step, "windows_per_s": throughput.windows_per_s,
               "train_loss": _metric(trainer, "train/loss"), "val_loss": _metric(trainer, "val/loss"),
               "best_model": str(out / "models" / "best.pt") if (out / "models" / "best.pt").exists() else None,
               "last_model": str(out / "models" / "last.pt")}
    return summary


def _metric(trainer: L.Trainer, key: str) -> float | None:
    value = trainer.callback_metrics.get(key)
    return None if value is None else float(value)
