"""Li et al. 2020: a two-stream transformer over music and discretised motion.

Jiaman Li, Yihang Yin, Hang Chu, Yi Zhou, Tingwu Wang, Sanja Fidler, Hao Li, *Learning to
Generate Diverse Dance Motions with Transformer*, arXiv 2008.08171 (2020); baseline of the FACT
paper's Table 1 (reference.md §8). No code was released, so this follows the paper's description
as summarised in reference.md: a music stream and an autoregressive motion stream, poses
*discretised* and predicted as classes, sampled one frame at a time (diverse but jittery
motion). The sizes of the paper preset are ours (the paper gives none we could confirm):
six + six blocks at width 512, about the size of the other baselines.

Concretely, on the FACT motion vector (reference.md §3: 6 pad dims, 3 root translation in
metres, 24 row-major rotation matrices):

- every one of the 219 non-pad dims is cut into ``n_bins`` equal bins, rotation entries on
  [-1, 1] and translation on [-translation_bound, translation_bound] metres;
- music stream: music frames ``[s, s + T + lookahead)`` -> linear -> + learned positions ->
  ``music_layers`` pre-LN transformer encoder blocks (full attention);
- motion stream: the T context frames, each replaced by its bin centres -> linear -> + learned
  positions -> ``motion_layers`` pre-LN decoder blocks (causal self-attention, cross-attention
  to the music stream) -> linear head to ``219 x n_bins`` logits per token;
- token ``i`` predicts the classes of frame ``s + i + 1`` (cross-entropy on the last
  ``target_len`` tokens); generation samples every dim from its softmax at ``temperature``.

Shapes: B batch, T ``motion_len``, A ``audio_len`` = T + ``audio_lookahead``, D ``d_model``,
F ``motion_dim`` (225), M ``audio_dim`` (35), C = F - ``pad_dims`` (219), K ``n_bins``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aichoreo.models.common import SMALL_TRAINING, ModelConfig, Preset, SlidingContext, check_int, check_positive


@dataclass(frozen=True)
class Li2020Config(ModelConfig):
    """One Li et al. 2020 model: streams, discretisation and sampling (defaults = paper preset)."""

    # --- data layout (FACT motion vector) ---------------------------------------------------
    motion_dim: int = 225  # features per motion frame
    audio_dim: int = 35  # features per music frame
    pad_dims: int = 6  # leading zero dims of the motion vector: neither predicted nor embedded
    translation_dims: int = 3  # root translation (metres) right after the pad
    motion_len: int = 120  # context frames (2 s seed at 60 fps)
    audio_lookahead: int = 1  # music frames past the context the music stream hears
    # --- network ------------------------------------------------------------------------------
    d_model: int = 512
    n_heads: int = 8
    d_mlp: int = 2048
    music_layers: int = 6
    motion_layers: int = 6
    dropout: float = 0.1
    # --- discretisation, loss and sampling ------------------------------------------------------
    n_bins: int = 256  # classes per pose dim
    translation_bound: float = 4.0  # metres; translation bins span [-bound, bound]
    target_len: int = 120  # supervised tokens (the last ones; all T = plain teacher forcing)
    temperature: float = 1.0  # softmax temperature when sampling

    def __post_init__(self) -> None:
        for name in ("motion_dim", "audio_dim", "motion_len", "d_model", "n_heads", "d_mlp",
                     "music_layers", "motion_layers", "target_len"):
            check_int(name, getattr(self, name), minimum=1)
        for name in ("pad_dims", "translation_dims", "audio_lookahead"):
            check_int(name, getattr(self, name), minimum=0)
        check_int("n_bins", self.n_bins, minimum=2)
        if self.pad_dims + self.translation_dims >= self.motion_dim:
            raise ValueError("pad_dims + translation_dims must leave rotation dims in motion_dim")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        if self.target_len > self.motion_len:
            raise ValueError(f"target_len ({self.target_len}) exceeds the {self.motion_len} motion tokens")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        for name in ("translation_bound", "temperature"):
            check_positive(name, getattr(self, name))

    @property
    def audio_len(self) -> int:
        return self.motion_len + self.audio_lookahead

    @property
    def motion_frames(self) -> int:
        return self.motion_len + 1

    @property
    def window_len(self) -> int:
        return max(self.motion_frames, self.audio_len)

    @property
    def n_future(self) -> int:
        return 1

    @property
    def n_classes_dims(self) -> int:
        """C: predicted (non-pad) dims per frame."""
        return self.motion_dim - self.pad_dims


PAPER = Li2020Config()
# Adam lr 1e-4, batch 32, no schedule (PyTorch's Adam epsilon 1e-8).
PAPER_TRAINING: dict[str, Any] = {"batch_size": 32, "lr": 1e-4}
PRESETS: dict[str, Preset] = {
    "li2020": Preset(PAPER, PAPER_TRAINING),
    # CPU scale, the schedule of fact-small (SMALL_TRAINING); the last 20 tokens supervised and
    # 128 bins keep the 219-way classifier affordable (16 x 20 x 219 x 128 logits per step).
    "li2020-small": Preset(dataclasses.replace(PAPER, d_model=128, n_heads=4, d_mlp=512, music_layers=2,
                                               motion_layers=4, n_bins=128, target_len=20), SMALL_TRAINING),
}


class Quantiser:
    """Equal-width bins per dim: values ``(..., C)`` <-> class indices ``(..., C)`` in ``[0, K)``.

    Built from the config alone (no tensors in the model file): a model loaded onto the meta
    device and materialised with ``to_empty`` has nothing here to lose.
    """

    def __init__(self, cfg: Li2020Config):
        self.bounds = [cfg.translation_bound] * cfg.translation_dims + [1.0] * (cfg.n_classes_dims - cfg.translation_dims)
        self.n_bins = cfg.n_bins

    def _low_width(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        bound = torch.tensor(self.bounds, dtype=like.dtype if like.is_floating_point() else torch.float32,
                             device=like.device)
        return -bound, 2 * bound / self.n_bins

    def classes(self, x: torch.Tensor) -> torch.Tensor:
        low, width = self._low_width(x)
        index = torch.floor((x - low) / width).long()
        return index.clamp_(0, self.n_bins - 1)  # values outside the range fall in the end bins

    def centres(self, index: torch.Tensor) -> torch.Tensor:
        low, width = self._low_width(index)
        return low + (index.to(width.dtype) + 0.5) * width


class Li2020(SlidingContext, nn.Module):
    """``forward(motion (B, T, F), audio (B, A, M)) -> logits (B, T, C, K)``; token i -> frame i + 1."""

    def __init__(self, config: Li2020Config):
        super().__init__()
        self.config = config
        cfg = config
        d = cfg.d_model
        self.quantiser = Quantiser(cfg)
        self.music_embed = nn.Linear(cfg.audio_dim, d)
        self.music_pos = nn.Parameter(torch.zeros(cfg.audio_len, d))
        layer = dict(d_model=d, nhead=cfg.n_heads, dim_feedforward=cfg.d_mlp, dropout=cfg.dropout,
                     activation="gelu", batch_first=True, norm_first=True)
        self.music_stream = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer), cfg.music_layers,
                                                  norm=nn.LayerNorm(d), enable_nested_tensor=False)
        self.motion_embed = nn.Linear(cfg.n_classes_dims, d)
        self.motion_pos = nn.Parameter(torch.zeros(cfg.motion_len, d))
        self.motion_stream = nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer), cfg.motion_layers,
                                                   norm=nn.LayerNorm(d))
        self.head = nn.Linear(d, cfg.n_classes_dims * cfg.n_bins)
        nn.init.normal_(self.music_pos, std=0.02)
        nn.init.normal_(self.motion_pos, std=0.02)

    def forward(self, motion: torch.Tensor, audio: torch.Tensor, last: int | None = None) -> torch.Tensor:
        """Logits ``(B, T, C, K)``, or of the ``last`` tokens only ``(B, last, C, K)`` (the head is
        the costliest layer: training and generation need only the tokens they score)."""
        cfg = self.config
        if motion.ndim != 3 or motion.shape[1:] != (cfg.motion_len, cfg.motion_dim):
            raise ValueError(f"motion must have shape (B, {cfg.motion_len}, {cfg.motion_dim}), got {tuple(motion.shape)}")
        if audio.ndim != 3 or audio.shape[1:] != (cfg.audio_len, cfg.audio_dim):
            raise ValueError(f"audio must have shape (B, {cfg.audio_len}, {cfg.audio_dim}), got {tuple(audio.shape)}")
        poses = self.quantiser.centres(self.quantiser.classes(motion[..., cfg.pad_dims:]))  # (B, T, C) on bins
        music = self.music_stream(self.music_embed(audio) + self.music_pos)  # (B, A, D)
        x = self.motion_embed(poses) + self.motion_pos  # (B, T, D)
        later = torch.ones(cfg.motion_len, cfg.motion_len, dtype=torch.bool, device=x.device).triu(1)  # masked
        x = self.motion_stream(x, music, tgt_mask=later, tgt_is_causal=True)  # (B, T, D)
        if last is not None:
            x = x[:, -last:]
        return self.head(x).view(*x.shape[:2], cfg.n_classes_dims, cfg.n_bins)  # (B, T, C, K)

    # --- the model interface (aichoreo.models.common.DanceModel) --------------------------------
    def training_loss(self, motion: torch.Tensor, audio: torch.Tensor, step: int = 0) -> torch.Tensor:
        """Cross-entropy of the classes of frames ``[T - target_len + 1, T + 1)`` of the window."""
        cfg = self.config
        n = cfg.target_len
        logits = self(motion[:, : cfg.motion_len], audio[:, : cfg.audio_len], last=n)  # (B, n, C, K)
        target = self.quantiser.classes(motion[:, cfg.motion_len + 1 - n: cfg.motion_len + 1, cfg.pad_dims:])
        return F.cross_entropy(logits.reshape(-1, cfg.n_bins), target.reshape(-1))

    def predict(self, state: dict, k: int) -> torch.Tensor:
        cfg = self.config
        logits = self(state["context"], self.music_window(state), last=1)[:, 0]  # (B, C, K)
        probs = torch.softmax(logits.float() / cfg.temperature, dim=-1)
        index = torch.multinomial(probs.reshape(-1, cfg.n_bins), 1, generator=state["generator"])
        values = self.quantiser.centres(index.view(probs.shape[:2]))  # (B, C)
        frame = torch.cat([values.new_zeros(len(values), cfg.pad_dims), values], dim=-1)  # (B, F)
        return frame[:, None]  # (B, 1, F)
