"""DanceRevolution: a local-attention music encoder and a recurrent dance decoder.

Ruozi Huang, Huang Hu, Wei Wu, Kei Sawada, Mi Zhang, Daxin Jiang, *Dance Revolution: Long-Term
Dance Generation with Music via Curriculum Learning*, ICLR 2021; baseline of the FACT paper's
Table 1, which adapted it from 2D to 3D output (reference.md §8). Re-written from the
description in reference.md and a reading of stonyhu/DanceRevolution ``v2/model.py``
(nothing copied):

- encoder: music ``(B, T_a, 35)`` -> linear -> + fixed sinusoidal positions (1-based, as
  released) -> ``encoder_layers`` post-LN transformer blocks whose self-attention only reaches
  +-``attention_window`` frames (ReLU feed-forward, dropout);
- decoder: the previous pose -> linear embedding -> dropout -> three stacked LSTM cells;
  output = linear([top LSTM state, encoder output at the input pose's frame]) = the next pose.
  As released, cell ``l`` reads the state cell ``l - 1`` had *before* this step (one step of
  delay per layer; ``stagger=False`` gives the usual stack);
- training: "dynamic auto-condition": decoder inputs alternate ``n`` self-generated frames and
  ``condition_step`` (10) ground-truth frames, ``n`` growing during training. Released:
  ``n = floor(epoch * 0.01)``; our engine counts steps, so ``n = floor(step /
  ac_steps_per_frame)``. L1 loss on every predicted frame.

Adaptations to the toolkit's interface (docs/results.md): poses are the FACT motion vector
(225-d, 60 fps) instead of 2D OpenPose keypoints; music is the 35-d FACT features instead of
the released 438-d ones; instead of a fixed start pose and random initial LSTM states, the
2 s seed (``motion_len`` frames, ground truth in training too) warms the decoder up from zero
states, and the curriculum starts after it.

Shapes: B batch, W window frames, T_a song frames, D ``d_model``, H ``hidden_size``,
F ``motion_dim``, M ``audio_dim``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aichoreo.models.common import SMALL_TRAINING, ModelConfig, Preset, check_int, sinusoid_table


@dataclass(frozen=True)
class DanceRevolutionConfig(ModelConfig):
    """One DanceRevolution model (defaults = the released v2 settings where they apply)."""

    # --- data layout -------------------------------------------------------------------------
    motion_dim: int = 225  # FACT motion vector
    audio_dim: int = 35  # FACT music features
    motion_len: int = 120  # seed frames that warm the decoder up (2 s at 60 fps)
    train_len: int = 360  # frames per training window: the seed, then the curriculum
    # --- encoder ---------------------------------------------------------------------------------
    d_model: int = 200
    n_heads: int = 8
    d_inner: int = 1024
    encoder_layers: int = 2
    attention_window: int = 100  # frames either side a music frame attends to
    dropout: float = 0.1
    # --- decoder ---------------------------------------------------------------------------------
    pose_embed: int = 200  # "d_word_vec": the embedded previous pose
    hidden_size: int = 1024  # LSTM width
    stagger: bool = True  # released quirk: cell l reads cell l-1's state from the previous step
    # --- dynamic auto-condition ------------------------------------------------------------------
    condition_step: int = 10  # ground-truth frames per block
    ac_steps_per_frame: int = 3_000  # training steps per extra self-generated frame (released: 100 epochs)

    def __post_init__(self) -> None:
        for name in ("motion_dim", "audio_dim", "motion_len", "d_model", "n_heads", "d_inner", "encoder_layers",
                     "attention_window", "pose_embed", "hidden_size", "condition_step", "ac_steps_per_frame"):
            check_int(name, getattr(self, name), minimum=1)
        check_int("train_len", self.train_len, minimum=self.motion_len + 1)
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.stagger, bool):
            raise ValueError(f"stagger must be true or false, got {self.stagger!r}")

    @property
    def audio_len(self) -> int:
        # Frame t + 1 is predicted from the pose and the encoder output of frame t.
        return self.motion_len

    @property
    def motion_frames(self) -> int:
        return self.train_len

    @property
    def audio_frames(self) -> int:
        return self.train_len - 1  # the encoder hears the whole window in training

    @property
    def window_len(self) -> int:
        return self.train_len

    @property
    def n_future(self) -> int:
        return 1

    def self_generated(self, step: int) -> int:
        """Self-generated frames per curriculum block at training ``step``."""
        return step // self.ac_steps_per_frame

    def own_inputs(self, step: int, n_inputs: int) -> list[bool]:
        """Which of ``n_inputs`` decoder inputs are the decoder's own previous output at ``step``:
        never within the seed (the first ``motion_len`` inputs), then blocks of
        :meth:`self_generated` own frames followed by ``condition_step`` ground-truth frames."""
        n_self = self.self_generated(step)
        block = n_self + self.condition_step
        return [i >= self.motion_len and (i - self.motion_len) % block < n_self for i in range(n_inputs)]


PAPER = DanceRevolutionConfig()
# The released optimiser: Adam lr 1e-4, batch 32 (PyTorch's Adam epsilon 1e-8), no schedule.
PAPER_TRAINING: dict[str, Any] = {"batch_size": 32, "lr": 1e-4}
PRESETS: dict[str, Preset] = {
    "dancerevolution": Preset(PAPER, PAPER_TRAINING),
    # CPU scale, the schedule of fact-small (SMALL_TRAINING); 240-frame windows and a curriculum that reaches
    # 10 self-generated frames per block after 1,000 steps.
    "dancerevolution-small": Preset(dataclasses.replace(PAPER, train_len=240, d_model=128, n_heads=4, d_inner=512,
                                                        pose_embed=128, hidden_size=256, ac_steps_per_frame=100),
                                    SMALL_TRAINING),
}


class LocalSelfAttention(nn.Module):
    """Multi-head self-attention limited to keys within +-``window`` frames, computed in chunks of
    queries so that a whole song (tens of thousands of frames) never needs a ``T x T`` mask."""

    def __init__(self, d_model: int, n_heads: int, window: int, dropout: float, chunk: int = 512):
        super().__init__()
        self.n_heads, self.window, self.chunk, self.dropout = n_heads, window, chunk, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)  # (B, H, N, E)
        p = self.dropout if self.training else 0.0
        pieces = []
        for start in range(0, n, self.chunk):
            stop = min(n, start + self.chunk)
            lo, hi = max(0, start - self.window), min(n, stop + self.window)
            qi = torch.arange(start, stop, device=x.device)[:, None]
            kj = torch.arange(lo, hi, device=x.device)[None]
            allowed = (qi - kj).abs() <= self.window  # (chunk, keys)
            pieces.append(F.scaled_dot_product_attention(q[:, :, start:stop], k[:, :, lo:hi], v[:, :, lo:hi],
                                                         attn_mask=allowed, dropout_p=p))
        y = torch.cat(pieces, dim=2).transpose(1, 2).reshape(b, n, d)
        return self.out(y)


class EncoderBlock(nn.Module):
    """Post-LN block (as released): LN(x + Attn(x)), then LN(x + FFN(x))."""

    def __init__(self, cfg: DanceRevolutionConfig):
        super().__init__()
        self.attn = LocalSelfAttention(cfg.d_model, cfg.n_heads, cfg.attention_window, cfg.dropout)
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.ffn = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_inner), nn.ReLU(), nn.Linear(cfg.d_inner, cfg.d_model))
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln1(x + self.drop(self.attn(x)))
        return self.ln2(x + self.drop(self.ffn(x)))


class DanceRevolution(nn.Module):
    """Music encoder + LSTM pose decoder; see the module docstring for the data flow."""

    def __init__(self, config: DanceRevolutionConfig):
        super().__init__()
        self.config = config
        cfg = config
        self.music_embed = nn.Linear(cfg.audio_dim, cfg.d_model)
        self.encoder = nn.ModuleList(EncoderBlock(cfg) for _ in range(cfg.encoder_layers))
        self.pose_embed = nn.Linear(cfg.motion_dim, cfg.pose_embed)
        self.drop = nn.Dropout(cfg.dropout)
        self.cells = nn.ModuleList([nn.LSTMCell(cfg.pose_embed, cfg.hidden_size),
                                    nn.LSTMCell(cfg.hidden_size, cfg.hidden_size),
                                    nn.LSTMCell(cfg.hidden_size, cfg.hidden_size)])
        self.head = nn.Linear(cfg.hidden_size + cfg.d_model, cfg.motion_dim)

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Music ``(B, T_a, M)`` -> encoder outputs ``(B, T_a, D)``."""
        positions = sinusoid_table(audio.shape[1] + 1, self.config.d_model)[1:].to(audio)  # 1-based
        x = self.music_embed(audio) + positions
        for block in self.encoder:
            x = block(x)
        return x

    def zero_state(self, batch: int, like: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        z = like.new_zeros(batch, self.config.hidden_size)
        return [z] * 3, [z] * 3

    def step(self, pose: torch.Tensor, music: torch.Tensor, state: tuple[list, list]
             ) -> tuple[torch.Tensor, tuple[list, list]]:
        """One decoder step: ``pose (B, F)`` of frame t and ``music (B, D)`` = encoder output at t ->
        frame t + 1 ``(B, F)`` and the new state."""
        h, c = state
        x = self.drop(self.pose_embed(pose))
        new_h, new_c = [], []
        for layer, cell in enumerate(self.cells):
            if layer == 0:
                inp = x
            else:
                inp = h[layer - 1] if self.config.stagger else new_h[layer - 1]
            hl, cl = cell(inp, (h[layer], c[layer]))
            new_h.append(hl)
            new_c.append(cl)
        return self.head(torch.cat([new_h[-1], music], dim=-1)), (new_h, new_c)

    # --- the model interface (aichoreo.models.common.DanceModel) --------------------------------
    def training_loss(self, motion: torch.Tensor, audio: torch.Tensor, step: int = 0) -> torch.Tensor:
        """L1 over frames ``1 .. W - 1`` of the window, decoder inputs per the curriculum at ``step``."""
        cfg = self.config
        w = cfg.train_len
        motion, audio = motion[:, :w], audio[:, : w - 1]
        enc = self.encode(audio)  # (B, W - 1, D)
        own = cfg.own_inputs(step, w - 1)
        state = self.zero_state(len(motion), motion)
        previous, outputs = None, []
        for i in range(w - 1):
            pose = previous.detach() if own[i] else motion[:, i]  # detached, as released
            previous, state = self.step(pose, enc[:, i], state)
            outputs.append(previous)
        return F.l1_loss(torch.stack(outputs, dim=1), motion[:, 1:])

    def start(self, seed: torch.Tensor, audio: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        """Encode the whole song once; run the seed's first T - 1 frames through the decoder."""
        enc = self.encode(audio)  # (B, T_a, D)
        state = self.zero_state(len(seed), seed)
        for i in range(seed.shape[1] - 1):
            _, state = self.step(seed[:, i], enc[:, i], state)
        return {"enc": enc, "state": state, "pose": seed[:, -1], "t": seed.shape[1] - 1, "pending": None}

    def predict(self, state: dict, k: int) -> torch.Tensor:
        frame, state["pending"] = self.step(state["pose"], state["enc"][:, state["t"]], state["state"])
        return frame[:, None]  # (B, 1, F)

    def advance(self, state: dict, frames: torch.Tensor) -> None:
        state["state"], state["pose"], state["t"] = state["pending"], frames[:, -1], state["t"] + 1
