"""DanceNet: autoregressive dilated convolutions with a Gaussian-mixture output.

Wenlin Zhuang, Congyi Wang, Siyu Xia, Jinxiang Chai, Yangang Wang, *Music2Dance: DanceNet for
Music-driven Dance Generation*, arXiv 1910.05339 (2019); baseline of the FACT paper's Table 1
(reference.md §8). No code was released; this follows the paper's description as summarised
in reference.md: an autoregressive generator of dilated causal convolutions with residual
blocks, conditioned on musical style, rhythm and melody, whose output for the next pose is a
Gaussian mixture. WaveNet-style gated blocks (van den Oord et al. 2016) carry the conditioning.

On our one data pipeline (the 35-d FACT music features, reference.md §2) the three controls are:

- **rhythm**: envelope, onset peaks and beats (features 0, 33, 34), per frame;
- **melody**: 20 MFCC and 12 chroma (features 1-32), per frame;
- **style**: one vector per window, an MLP of the window's mean music features. The paper's
  style is a music-style label; our datasets carry none per song, so the network learns its
  own summary of the music instead (said in docs/results.md).

Network on the T context frames (B batch, F ``motion_dim`` 225, C = F - 6 predicted dims):
poses ``(B, C, T)`` -> 1x1 conv -> ``len(dilations)`` gated residual blocks (causal dilated
conv, kernel 2; gate ``tanh(Wx + Vc) * sigmoid(W'x + V'c)`` with c = rhythm, melody and style)
-> summed skips -> ReLU, 1x1, ReLU, 1x1 -> per position a mixture of ``n_mixtures`` diagonal
Gaussians over the C dims of the *next* frame. Position i sees frames ``<= i`` and the music
of frame ``i + 1`` (the frame it predicts). Loss: negative log-likelihood per dim; generation
samples a component, then the Gaussian (its std times ``temperature``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aichoreo.models.common import SMALL_TRAINING, ModelConfig, Preset, SlidingContext, check_int, check_positive

RHYTHM_FEATURES = (0, 33, 34)  # envelope, peak one-hot, beat one-hot (reference.md §2)
MELODY_FEATURES = tuple(range(1, 33))  # 20 MFCC, 12 chroma


@dataclass(frozen=True)
class DanceNetConfig(ModelConfig):
    """One DanceNet: the convolution stack, the conditioning and the mixture (defaults = paper preset)."""

    # --- data layout ---------------------------------------------------------------------------
    motion_dim: int = 225  # FACT motion vector
    audio_dim: int = 35  # FACT music features (the rhythm / melody split assumes this layout)
    pad_dims: int = 6  # leading zero dims: not modelled
    motion_len: int = 120  # context frames (2 s seed at 60 fps)
    # --- network ---------------------------------------------------------------------------------
    channels: int = 256  # residual channels
    skip_channels: int = 256
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 1, 2, 4, 8, 16, 32, 64)  # receptive field 255
    kernel_size: int = 2
    rhythm_channels: int = 32  # per-frame rhythm embedding
    melody_channels: int = 64  # per-frame melody embedding
    style_dim: int = 64  # per-window style vector
    # --- output and loss ---------------------------------------------------------------------------
    n_mixtures: int = 8
    min_log_std: float = -7.0  # floor of each Gaussian's log std (keeps the NLL bounded)
    target_len: int = 120  # supervised positions, the last ones (all T = WaveNet-style teacher forcing)
    temperature: float = 1.0  # std scale when sampling

    def __post_init__(self) -> None:
        for name in ("motion_dim", "motion_len", "channels", "skip_channels", "rhythm_channels",
                     "melody_channels", "style_dim", "n_mixtures", "target_len"):
            check_int(name, getattr(self, name), minimum=1)
        check_int("pad_dims", self.pad_dims, minimum=0)
        check_int("kernel_size", self.kernel_size, minimum=2)
        if self.audio_dim != 35:
            raise ValueError(f"DanceNet splits the 35-d FACT music features into rhythm and melody; "
                             f"audio_dim must be 35, got {self.audio_dim!r}")
        dilations = tuple(self.dilations)
        if not dilations:
            raise ValueError("dilations must name at least one block")
        for d in dilations:
            check_int("each dilation", d, minimum=1)
        object.__setattr__(self, "dilations", dilations)
        if self.target_len > self.motion_len:
            raise ValueError(f"target_len ({self.target_len}) exceeds the {self.motion_len} positions")
        if not math.isfinite(self.min_log_std):
            raise ValueError("min_log_std must be finite")
        check_positive("temperature", self.temperature)

    @property
    def audio_len(self) -> int:
        return self.motion_len + 1

    @property
    def motion_frames(self) -> int:
        return self.motion_len + 1

    @property
    def window_len(self) -> int:
        return self.motion_len + 1

    @property
    def n_future(self) -> int:
        return 1

    @property
    def receptive_field(self) -> int:
        """Frames one output position depends on."""
        return 1 + (self.kernel_size - 1) * sum(self.dilations)


PAPER = DanceNetConfig()
# Adam lr 1e-4, batch 32, no schedule (PyTorch's Adam epsilon 1e-8).
PAPER_TRAINING: dict[str, Any] = {"batch_size": 32, "lr": 1e-4}
PRESETS: dict[str, Preset] = {
    "dancenet": Preset(PAPER, PAPER_TRAINING),
    # CPU scale, the schedule of fact-small (SMALL_TRAINING); one stack of six blocks (receptive field 64 frames).
    "dancenet-small": Preset(dataclasses.replace(PAPER, channels=96, skip_channels=96, dilations=(1, 2, 4, 8, 16, 32),
                                                 rhythm_channels=16, melody_channels=32, style_dim=32, n_mixtures=4),
                             SMALL_TRAINING),
}


class GatedBlock(nn.Module):
    """Causal dilated conv + conditioning, gated; returns (residual output, skip)."""

    def __init__(self, cfg: DanceNetConfig, dilation: int, cond_channels: int, last: bool = False):
        super().__init__()
        self.pad = (cfg.kernel_size - 1) * dilation
        self.conv = nn.Conv1d(cfg.channels, 2 * cfg.channels, cfg.kernel_size, dilation=dilation)
        self.cond = nn.Conv1d(cond_channels, 2 * cfg.channels, 1)
        # The last block feeds only the skips (its residual output would be unused).
        self.res = None if last else nn.Conv1d(cfg.channels, cfg.channels, 1)
        self.skip = nn.Conv1d(cfg.channels, cfg.skip_channels, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv(F.pad(x, (self.pad, 0))) + self.cond(cond)  # (B, 2C, T), left-padded: causal
        filt, gate = h.chunk(2, dim=1)
        z = torch.tanh(filt) * torch.sigmoid(gate)  # (B, C, T)
        out = x if self.res is None else (x + self.res(z)) * math.sqrt(0.5)
        return out, self.skip(z)


class DanceNet(SlidingContext, nn.Module):
    """``forward(motion (B, T, F), audio (B, T + 1, 35)) -> (logit, mean, log_std)`` of the mixture
    for frames 1..T: ``(B, T, K)``, ``(B, T, K, C)``, ``(B, T, K, C)``."""

    def __init__(self, config: DanceNetConfig):
        super().__init__()
        self.config = config
        cfg = config
        c = cfg.motion_dim - cfg.pad_dims
        self.pose_in = nn.Conv1d(c, cfg.channels, 1)
        self.rhythm = nn.Conv1d(len(RHYTHM_FEATURES), cfg.rhythm_channels, 1)
        self.melody = nn.Conv1d(len(MELODY_FEATURES), cfg.melody_channels, 1)
        self.style = nn.Sequential(nn.Linear(cfg.audio_dim, cfg.style_dim), nn.ReLU(),
                                   nn.Linear(cfg.style_dim, cfg.style_dim))
        cond_channels = cfg.rhythm_channels + cfg.melody_channels + cfg.style_dim
        n = len(cfg.dilations)
        self.blocks = nn.ModuleList(GatedBlock(cfg, d, cond_channels, last=i == n - 1)
                                    for i, d in enumerate(cfg.dilations))
        self.out1 = nn.Conv1d(cfg.skip_channels, cfg.skip_channels, 1)
        self.out2 = nn.Conv1d(cfg.skip_channels, cfg.n_mixtures * (1 + 2 * c), 1)

    def forward(self, motion: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cfg = self.config
        if motion.ndim != 3 or motion.shape[1:] != (cfg.motion_len, cfg.motion_dim):
            raise ValueError(f"motion must have shape (B, {cfg.motion_len}, {cfg.motion_dim}), got {tuple(motion.shape)}")
        if audio.ndim != 3 or audio.shape[1:] != (cfg.audio_len, cfg.audio_dim):
            raise ValueError(f"audio must have shape (B, {cfg.audio_len}, {cfg.audio_dim}), got {tuple(audio.shape)}")
        b, t = motion.shape[:2]
        x = self.pose_in(motion[..., cfg.pad_dims:].transpose(1, 2))  # (B, ch, T)
        heard = audio[:, 1:].transpose(1, 2)  # (B, 35, T): position i hears frame i + 1
        style = self.style(audio.mean(dim=1))[:, :, None].expand(-1, -1, t)  # (B, S, T)
        cond = torch.cat([self.rhythm(heard[:, list(RHYTHM_FEATURES)]), self.melody(heard[:, list(MELODY_FEATURES)]),
                          style], dim=1)  # (B, R + Me + S, T)
        skips = 0
        for block in self.blocks:
            x, skip = block(x, cond)
            skips = skips + skip
        params = self.out2(F.relu(self.out1(F.relu(skips)))).transpose(1, 2)  # (B, T, K * (1 + 2C))
        k, c = cfg.n_mixtures, cfg.motion_dim - cfg.pad_dims
        logit, mean, log_std = params.split([k, k * c, k * c], dim=-1)
        mean = mean.reshape(b, t, k, -1)
        log_std = log_std.reshape(b, t, k, -1).clamp(min=cfg.min_log_std)
        return logit, mean, log_std

    # --- the model interface (aichoreo.models.common.DanceModel) --------------------------------
    def training_loss(self, motion: torch.Tensor, audio: torch.Tensor, step: int = 0) -> torch.Tensor:
        """Mixture negative log-likelihood per dim of frames ``[T - target_len + 1, T + 1)``."""
        cfg = self.config
        logit, mean, log_std = self(motion[:, : cfg.motion_len], audio[:, : cfg.audio_len])
        n = cfg.target_len
        x = motion[:, cfg.motion_len + 1 - n: cfg.motion_len + 1, cfg.pad_dims:]  # (B, n, C)
        logit, mean, log_std = logit[:, -n:], mean[:, -n:], log_std[:, -n:]
        z = (x[:, :, None] - mean) * torch.exp(-log_std)  # (B, n, K, C)
        log_normal = (-0.5 * z.square() - log_std).sum(-1) - 0.5 * math.log(2 * math.pi) * x.shape[-1]  # (B, n, K)
        log_p = torch.logsumexp(F.log_softmax(logit, dim=-1) + log_normal, dim=-1)  # (B, n)
        return -log_p.mean() / x.shape[-1]

    def predict(self, state: dict, k: int) -> torch.Tensor:
        cfg = self.config
        logit, mean, log_std = self(state["context"], self.music_window(state))
        logit, mean, log_std = logit[:, -1], mean[:, -1], log_std[:, -1]  # (B, K), (B, K, C), (B, K, C)
        component = torch.multinomial(torch.softmax(logit.float(), dim=-1), 1, generator=state["generator"])  # (B, 1)
        pick = component[:, :, None].expand(-1, 1, mean.shape[-1])
        mu, log_sigma = mean.gather(1, pick)[:, 0], log_std.gather(1, pick)[:, 0]  # (B, C)
        noise = torch.randn(mu.shape, generator=state["generator"], device=mu.device, dtype=mu.dtype)
        values = mu + cfg.temperature * torch.exp(log_sigma) * noise
        frame = torch.cat([values.new_zeros(len(values), cfg.pad_dims), values], dim=-1)
        return frame[:, None]  # (B, 1, F)
