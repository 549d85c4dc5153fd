"""Training with PyTorch Lightning: one thin module around any registered model (FACT and the baselines).

The engine knows a model only through the interface of :mod:`aichoreo.models.common`: the
config's window geometry and optimiser fields, and ``model.training_loss(motion, audio, step)``.

Phases of one run (``train(...)``):

1. data: the prepared dataset's train split becomes an endless stream of random windows
   (:class:`aichoreo.data.windows.RandomWindows`); window ``i`` depends only on ``(seed, i)``
   and global step ``k`` reads windows ``[k * B, (k + 1) * B)``, split over the processes;
2. model and optimiser: the preset's config; Adam (betas and epsilon from the config: the Keras
   epsilon 1e-7 for FACT) with the step-wise multi-step learning-rate schedule (reference.md §4.1);
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
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from aichoreo.data.dataset import PreparedDataset
from aichoreo.data.windows import FixedWindows, RandomWindows, StepSampler
from aichoreo.errors import InputError
from aichoreo.fileio import atomic_path
from aichoreo.models import ModelConfig, build_model, model_name, save_model_file

log = logging.getLogger(__name__)

RUN_FILE = "config.json"


@dataclass(frozen=True)
class TrainConfig:
    """Engine settings of a run (the model config holds batch size, learning rate and steps)."""

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


def learning_rate(step: int, config: ModelConfig) -> float:
    """The learning rate at ``step``: ``lr * gamma ** (number of milestones <= step)``."""
    return config.learning_rate(step)


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
        cfg = self.config
        optimiser = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=tuple(cfg.adam_betas),
                                     eps=cfg.adam_eps, weight_decay=0.0)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: learning_rate(step, cfg) / cfg.lr)
        return {"optimizer": optimiser, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def train_dataloader(self) -> DataLoader:
        world = self.trainer.world_size
        if self.config.batch_size % world:
            raise InputError(None, f"batch_size {self.config.batch_size} is the global batch and must be a "
                                   f"multiple of the {world} training processes")
        per_process = self.config.batch_size // world
        sampler = StepSampler(batch_size=per_process, n_steps=self.max_steps,
                              first_step=lambda: self.trainer.global_step,
                              rank=self.trainer.global_rank, world_size=world)
        return DataLoader(self.train_set, batch_size=per_process, sampler=sampler,
                          num_workers=self.train_config.num_workers,
                          persistent_workers=self.train_config.num_workers > 0)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_set is None or len(self.val_set) == 0:
            return []
        return DataLoader(self.val_set, batch_size=self.config.batch_size, shuffle=False, num_workers=0)


class ModelFiles(L.Callback):
    """Plain model files (``models/step0001000.pt``), the last ``keep`` kept, ``best.pt``, ``last.pt``."""

    def __init__(self, folder: Path, every: int, keep: int, meta: dict[str, Any]):
        self.folder = folder
        self.every = every
        self.keep = keep
        self.meta = meta
        self.best = math.inf

    def _save(self, trainer: L.Trainer, module: DanceModule, name: str, **extra: Any) -> None:
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


def load_windows(data: PreparedDataset, config: ModelConfig, train_config: TrainConfig
                 ) -> tuple[RandomWindows, FixedWindows | None]:
    """The training stream and the validation windows of a prepared dataset."""
    motion_frames = config.motion_frames
    train = [(s.motion, s.music) for s in data.load_split("train")]
    if not train:
        raise InputError(data.root, "has no sequence in the train split")
    try:
        train_set = RandomWindows(train, window_len=config.window_len, motion_frames=motion_frames,
                                  audio_frames=config.audio_frames, seed=train_config.seed)
    except ValueError as exc:
        raise InputError(data.root, f"nothing usable for training: {exc}") from None
    if train_set.n_dropped:
        log.warning("%d train sequences are shorter than a %d-frame window and are skipped",
                    train_set.n_dropped, config.window_len)
    val = [(s.motion, s.music) for s in data.load_split("val")]
    val_set = None
    if val:
        val_set = FixedWindows(val, window_len=config.window_len, motion_frames=motion_frames,
                               audio_frames=config.audio_frames, max_per_sequence=train_config.val_windows_per_sequence)
        if len(val_set) == 0:
            log.warning("no val sequence is long enough for a %d-frame window: no validation", config.window_len)
            val_set = None
    return train_set, val_set


def write_run_config(out: Path, preset: str, config: ModelConfig, train_config: TrainConfig, data: Path) -> None:
    with atomic_path(out / RUN_FILE) as tmp:
        tmp.write_text(json.dumps({"preset": preset, "architecture": model_name(config), "model": config.to_dict(),
                                   "train": dataclasses.asdict(train_config), "data": str(data)}, indent=2))


def train(config: ModelConfig, data: PreparedDataset, out: str | os.PathLike, *,
          preset: str = "custom", train_config: TrainConfig = TrainConfig(), max_steps: int | None = None,
          resume: bool = False, accelerator: str = "auto", devices: int | str = "auto", num_nodes: int = 1,
          strategy: str = "auto", progress: bool = True) -> dict[str, Any]:
    """Train ``config`` on ``data``; outputs under ``out`` (module docstring). Returns a summary."""
    out = Path(out)
    steps = max_steps or config.max_steps
    if steps is None:
        raise InputError(None, "this preset trains until stopped: give --max-steps")
    last_ckpt = out / "checkpoints" / "last.ckpt"
    if resume:
        if not last_ckpt.is_file():
            raise InputError(last_ckpt, "nothing to resume: no Lightning checkpoint here")
        saved = json.loads((out / RUN_FILE).read_text())
        # The schedule may be extended on resume; everything else must match.
        same = {k: v for k, v in config.to_dict().items() if k != "max_steps"}
        if {k: v for k, v in saved.get("model", {}).items() if k != "max_steps"} != same:
            raise InputError(out / RUN_FILE, "the run was started with another model config; resume it "
                                             "with the same --config and --set values")
    elif (out / RUN_FILE).exists() or last_ckpt.exists():
        raise InputError(out, "already holds a training run; pass --resume to continue it or choose another --out")

    L.seed_everything(train_config.seed, workers=True, verbose=False)
    train_set, val_set = load_windows(data, config, train_config)
    module = DanceModule(config, train_config, train_set, val_set, steps)
    out.mkdir(parents=True, exist_ok=True)

    from lightning.pytorch.callbacks import LambdaCallback, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    # One log version per invocation (logs/version_N): a resumed run appends a version, never overwrites.
    loggers = [CSVLogger(out, name="logs")]
    if importlib.util.find_spec("tensorboard") is not None:  # optional: TensorBoard logs when installed
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(out, name="tensorboard", default_hp_metric=False))
    resume_ckpt = ModelCheckpoint(dirpath=out / "checkpoints", filename="step{step:07d}", auto_insert_metric_name=False,
                                  every_n_train_steps=train_config.checkpoint_every, save_last=True,
                                  save_top_k=train_config.keep_last, monitor="step", mode="max")
    throughput = Throughput(config.batch_size)
    # Written once every process has joined (DDP children re-run this function and must not see
    # a half-started run as an existing one).
    record = LambdaCallback(on_fit_start=lambda trainer, module: trainer.is_global_zero and not resume and
                            write_run_config(out, preset, config, train_config, data.root))
    files = ModelFiles(out / "models", train_config.checkpoint_every, train_config.keep_last,
                       {"preset": preset, "data": str(data.root), "data_description": data.description})
    trainer = L.Trainer(
        accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy,
        precision=train_config.precision, max_steps=steps, max_epochs=-1,
        callbacks=[record, resume_ckpt, files, throughput], logger=loggers,
        log_every_n_steps=train_config.log_every, enable_progress_bar=progress,
        val_check_interval=train_config.val_every or None, check_val_every_n_epoch=None,
        limit_val_batches=1.0 if (val_set is not None and train_config.val_every) else 0,
        num_sanity_val_steps=0, use_distributed_sampler=False, enable_model_summary=False,
        deterministic=False,
    )
    trainer.fit(module, ckpt_path=str(last_ckpt) if resume else None)
    summary = {"out": str(out), "steps": trainer.global_step, "windows_per_s": throughput.windows_per_s,
               "train_loss": _metric(trainer, "train/loss"), "val_loss": _metric(trainer, "val/loss"),
               "best_model": str(out / "models" / "best.pt") if (out / "models" / "best.pt").exists() else None,
               "last_model": str(out / "models" / "last.pt")}
    return summary


def _metric(trainer: L.Trainer, key: str) -> float | None:
    value = trainer.callback_metrics.get(key)
    return None if value is None else float(value)
