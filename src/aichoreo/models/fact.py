"""FACT: the Full-Attention Cross-modal Transformer of *AI Choreographer* (Li et al., ICCV 2021).

One plain ``nn.Module`` (:class:`FACT`) configured by one frozen dataclass (:class:`FACTConfig`);
the released model and every ablation of the paper are presets of it (:data:`PRESETS`).
The network follows the released TensorFlow code, google-research/mint
``mint/core/base_models.py`` and ``mint/core/fact_model.py`` with
``configs/fact_v5_deeper_t10_cm12.config``, re-written here (nothing copied):

- motion ``(B, 120, 225)`` -> linear -> + learned positions -> motion transformer (2 blocks);
- audio ``(B, 240, 35)`` -> linear -> + learned positions -> audio transformer (2 blocks);
- concatenate along time, motion first ``(B, 360, D)`` -> cross-modal transformer (12 blocks,
  no positions added) -> linear head to 225 on every token.

Blocks are pre-LN with no final LayerNorm; attention has a bias-free qkv projection and an
output projection with bias; the MLP uses the tanh form of GELU. Two quirks of the released
code are kept by default and switchable: attention logits scaled by ``d_model ** -0.5`` instead
of ``head_dim ** -0.5``, and TensorFlow/Keras initialisation (docs/fact.md).

Axis legend for the shape comments:
    B batch, T motion frames (``motion_len``), A audio frames (``audio_len``), N tokens,
    D model width (``d_model``), H heads, E head width (D / H), F features per frame
    (``motion_dim`` = 225 for the motion vector, ``audio_dim`` = 35 for the music features).

All frames are at 60 fps (AIST++); motion frame ``i`` and audio frame ``i`` of a window sound
at the same time.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from aichoreo.models.common import (
    SMALL_TRAINING,
    ModelConfig,
    Preset,
    SlidingContext,
    check_choice,
    check_int,
    check_positive,
)
from aichoreo.models.rootframe import ROOT_ROTATION, TRANSLATION, from_frame, heading_frame, hide_ground, to_frame

Attention = Literal["full", "causal"]
AttentionScale = Literal["model", "head"]
Init = Literal["tf", "torch"]
Fusion = Literal["early", "late", "none"]
Gelu = Literal["tanh", "erf"]
TokenOrder = Literal["motion-audio", "audio-motion"]
RootFrame = Literal["world", "last"]
Prediction = Literal["frames", "steps", "anchored"]

#: Steps (``prediction="steps"``) are regressed times this: change per frame x 60 = per second at
#: FACT's 60 fps. A dancer's root moves about 1 cm per frame; in metres per frame such numbers were
#: swamped by the network's initial output and not learned (after 500 training steps the predicted
#: root speed on real contexts was 2.7-4.0 m/s, the true one 0.5, uncorrelated).
STEP_SCALE = 60.0

_CHOICES: dict[str, tuple[str, ...]] = {
    "attention": get_args(Attention),
    "attention_scale": get_args(AttentionScale),
    "init": get_args(Init),
    "fusion": get_args(Fusion),
    "gelu": get_args(Gelu),
    "token_order": get_args(TokenOrder),
    "root_frame": get_args(RootFrame),
    "prediction": get_args(Prediction),
}


@dataclass(frozen=True)
class FACTConfig(ModelConfig):
    """Architecture and loss of one FACT model (defaults = the released model).

    The optimiser and schedule are training settings (:class:`aichoreo.train.TrainConfig`; the
    released ones are :data:`RELEASED_TRAINING`). Derived quantities (:attr:`target_start`,
    :attr:`n_future`, ...) are properties, not fields, so they never disagree with the fields they
    come from.
    """

    # --- data layout -------------------------------------------------------------------
    motion_dim: int = 225  # features per motion frame (6 zero pad + 3 translation + 24 x 9 rotation)
    audio_dim: int = 35  # features per music frame (envelope, 20 MFCC, 12 chroma, peak, beat)
    motion_len: int = 120  # frames of motion context at 60 fps (2 s seed)
    audio_len: int = 240  # frames of music at 60 fps (4 s: the context's 2 s plus the next 2 s)
    target_len: int = 20  # frames supervised per window (future-N); = motion_len when causal
    frames_per_step: int = 0  # frames generation keeps per pass unless told (0: every predicted frame); fewer
    # than target_len when the music window is cut short after them (fact-small-stream)
    room_radius: float = 0.0  # metres from the start within which generation shows the model its root unless
    # told (aichoreo.generate.RoomKeeper; 0: wherever the dancer is, as released). A property of trained
    # weights, set when a model is shipped: 3 for the bundled default (docs/results.md, "Seams and shaking")
    # --- network -------------------------------------------------------------------------
    d_model: int = 800  # token width, shared by all three transformers
    n_heads: int = 10  # attention heads (head width d_model / n_heads = 80)
    d_mlp: int = 3072  # hidden units of each block's MLP
    motion_layers: int = 2  # blocks of the motion transformer
    audio_layers: int = 2  # blocks of the audio transformer (0 when fusion is "none")
    cross_layers: int = 12  # blocks of the cross-modal transformer (0 when fusion is "none")
    attention: Attention = "full"  # "full" (FACT) or "causal" (every stack, shift-by-1 targets)
    attention_scale: AttentionScale = "model"  # "model": d_model**-0.5 (released quirk); "head": head_dim**-0.5
    init: Init = "tf"  # "tf": Glorot-uniform linears, trunc-normal positions/head; "torch": PyTorch defaults
    init_std: float = 0.02  # std (before truncation at 2 std) of positions and head, "tf" init
    fusion: Fusion = "early"  # "early"/"late": encoders + cross-modal stack; "none": motion stack only
    token_order: TokenOrder = "motion-audio"  # order of the cross-modal sequence (matters only when causal)
    gelu: Gelu = "tanh"  # GELU form: "tanh" approximation (released) or exact "erf"
    layernorm_eps: float = 1e-5  # LayerNorm epsilon
    # --- representation and training noise (beyond the paper; docs/fact.md, "fact-small-v2") ------
    root_frame: RootFrame = "world"  # "world" (released) or "last": each window seen from its last context
    # frame, translated to x = z = 0 and turned to face +z (aichoreo.models.rootframe)
    prediction: Prediction = "frames"  # "frames" (released): every value of each future frame; "steps": each
    # frame's change from the one before, summed from the last context frame (a chunk starts where the
    # context ends), trained to pull a context that is off back over the chunk (step_targets);
    # "anchored": both, from two heads, the summed steps bent to end on the last frame (anchor_blend)
    ground_input: bool = True  # False: the context's root x, z are not shown to the network (zeroed in the
    # root frame), so where the dancer travels follows from the pose and the music, not from the path so far
    context_noise: float = 0.0  # std of the noise added to the motion context in training (0: none)
    speed_loss: float = 0.0  # weight of speed_matching_loss ("steps", "anchored"; 0: none)
    # --- style (issue 17; docs/fact.md "Style") -----------------------------------------------
    styles: tuple[str, ...] = ()  # the styles the model is conditioned on, label i + 1 = styles[i] (label 0:
    # none given); empty: no style input. Training fills them in from the train split's genres when
    # style_dropout > 0 and none are named (aichoreo.train.with_data_styles)
    style_dropout: float = 0.0  # fraction of training windows shown without their style, so that the model
    # also learns to dance unconditioned and classifier-free guidance can weigh the style (Ho & Salimans 2022)
    style_music_swap: float = 0.0  # fraction of the windows that keep their style whose music is replaced
    # by the music of a window of another style in the batch: the label alone then tells the style, which
    # the music otherwise tells as well (docs/fact.md "Style"; docs/results.md "Music from another style")

    def __post_init__(self) -> None:
        # Read back from a model file, tuples arrive as lists; stored as a tuple, the config stays
        # hashable and equal to the one it was saved from.
        object.__setattr__(self, "styles", tuple(self.styles) if isinstance(self.styles, (list, tuple))
                           else self.styles)
        for name, choices in _CHOICES.items():
            check_choice(name, getattr(self, name), choices)
        for name in ("motion_dim", "audio_dim", "motion_len", "audio_len", "target_len",
                     "d_model", "n_heads", "d_mlp"):
            check_int(name, getattr(self, name), minimum=1)
        for name in ("motion_layers", "audio_layers", "cross_layers"):
            check_int(name, getattr(self, name), minimum=0)
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        if self.fusion == "none":
            if self.audio_layers or self.cross_layers or not self.motion_layers:
                raise ValueError("fusion 'none' needs motion_layers >= 1 and audio_layers = cross_layers = 0")
        elif not self.cross_layers:
            raise ValueError(f"fusion {self.fusion!r} needs cross_layers >= 1")
        if self.attention == "causal" and self.target_len != self.motion_len:
            raise ValueError("causal attention supervises every motion token: target_len must equal "
                             f"motion_len ({self.motion_len}), got {self.target_len}")
        if self.attention == "full" and self.target_len > self.n_tokens:
            raise ValueError(f"target_len ({self.target_len}) exceeds the {self.n_tokens} output tokens")
        check_int("frames_per_step", self.frames_per_step, minimum=0)
        if self.frames_per_step > self.n_future:
            raise ValueError(f"frames_per_step ({self.frames_per_step}) exceeds the {self.n_future} frames a pass "
                             "predicts")
        if self.fusion != "none" and self.audio_len < self.motion_len + self.default_frames_per_step:
            raise ValueError(f"audio_len ({self.audio_len}) ends before the frames a pass keeps (motion_len "
                             f"{self.motion_len} + {self.default_frames_per_step}): they would have no music")
        for name in ("layernorm_eps", "init_std"):
            check_positive(name, getattr(self, name))
        if isinstance(self.room_radius, bool) or not isinstance(self.room_radius, (int, float)) \
                or not 0 <= self.room_radius < 1000:
            raise ValueError(f"room_radius must be a number of metres in [0, 1000), got {self.room_radius!r}")
        if self.room_radius and self.root_frame != "world":
            raise ValueError("room_radius keeps the world root a model reads: it needs root_frame 'world'")
        if isinstance(self.context_noise, bool) or not isinstance(self.context_noise, (int, float)) \
                or not 0 <= self.context_noise < 1:
            raise ValueError(f"context_noise must be a number in [0, 1), got {self.context_noise!r}")
        if isinstance(self.speed_loss, bool) or not isinstance(self.speed_loss, (int, float)) \
                or not 0 <= self.speed_loss < 100:
            raise ValueError(f"speed_loss must be a number in [0, 100), got {self.speed_loss!r}")
        if self.speed_loss and self.prediction == "frames":
            raise ValueError("speed_loss weighs the predicted steps: it needs prediction 'steps' or 'anchored'")
        if not isinstance(self.ground_input, bool):
            raise ValueError(f"ground_input must be true or false, got {self.ground_input!r}")
        if not self.ground_input and self.root_frame != "last":
            raise ValueError("ground_input=False hides the root's path relative to the last frame: it needs "
                             "root_frame='last'")
        if not isinstance(self.styles, tuple) or not all(isinstance(n, str) and n.strip() for n in self.styles):
            raise ValueError(f"styles must be a list of style names, got {self.styles!r}")
        if len(set(self.styles)) != len(self.styles) or "auto" in self.styles:
            raise ValueError(f"style names must be distinct and not 'auto' (which means none), got {self.styles!r}")
        if isinstance(self.style_dropout, bool) or not isinstance(self.style_dropout, (int, float)) \
                or not 0 <= self.style_dropout < 1:
            raise ValueError(f"style_dropout must be a number in [0, 1), got {self.style_dropout!r}")
        if isinstance(self.style_music_swap, bool) or not isinstance(self.style_music_swap, (int, float)) \
                or not 0 <= self.style_music_swap <= 1:
            raise ValueError(f"style_music_swap must be a number in [0, 1], got {self.style_music_swap!r}")
        if self.attention == "causal" and (self.prediction != "frames" or self.root_frame != "world"):
            raise ValueError("step targets and the 'last' root frame are defined from the last context "
                             "frame, which causal (shift-by-1) targets overlap: use full attention")

    # --- derived quantities ---------------------------------------------------------------
    @property
    def head_dim(self) -> int:
        """Width E of one attention head."""
        return self.d_model // self.n_heads

    @property
    def n_tokens(self) -> int:
        """Output tokens of one forward pass: T + A, or T alone without fusion."""
        return self.motion_len if self.fusion == "none" else self.motion_len + self.audio_len

    @property
    def scale(self) -> float:
        """Attention logit scale: ``d_model ** -0.5`` (released quirk) or ``head_dim ** -0.5``."""
        return (self.d_model if self.attention_scale == "model" else self.head_dim) ** -0.5

    @property
    def target_start(self) -> int:
        """Window frame of the first target: T (future-N) or 1 (causal shift-by-1).

        Output token ``k`` (k < target_len) is trained on window frame ``target_start + k``.
        """
        return 1 if self.attention == "causal" else self.motion_len

    @property
    def window_len(self) -> int:
        """Frames a training window needs (motion and music share its start frame)."""
        return max(self.motion_len, self.target_start + self.target_len, self.audio_len)

    @property
    def n_future(self) -> int:
        """Frames beyond the context that one forward pass predicts (the most generation may keep)."""
        return 1 if self.attention == "causal" else self.target_len

    @property
    def motion_frames(self) -> int:
        """Motion frames of a training window: the context and the targets."""
        return max(self.motion_len, self.target_start + self.target_len)

    @property
    def default_frames_per_step(self) -> int:
        """Frames kept per generation step by default: every predicted future frame.

        For ``fact-small`` on Dance with Melody, K = 20 was both the fastest and the best
        setting measured (docs/generation.md); causal models predict one frame per pass;
        ``frames_per_step`` sets fewer (``fact-small-stream``: 6).
        """
        return self.frames_per_step or self.n_future

    def style_label(self, name: str) -> int:
        """The label of style ``name`` (1 + its index in :attr:`styles`); ``"auto"`` is 0, no style.

        Raises ValueError for a style the model does not know, or any style on a model without."""
        if name == "auto":
            return 0
        if not self.styles:
            raise ValueError(f"this model has no styles (it was trained without them), so it cannot dance {name!r}; "
                             "the bundled 'styles' model has some (--checkpoint styles), or train one with "
                             "--config fact-small-style")
        if name not in self.styles:
            raise ValueError(f"unknown style {name!r}; this model knows {', '.join(self.styles)} (or auto)")
        return 1 + self.styles.index(name)

    @property
    def music_lookahead(self) -> int:
        """Frames of music after the last frame a pass keeps by default (``audio_len - motion_len -
        default_frames_per_step``): how far ahead of the dance the model hears. 100 for the paper's
        windows (2 s); what a live run waits for beyond the chunk (``fact-small-stream``: 6 = 100 ms)."""
        return self.audio_len - self.motion_len - self.default_frames_per_step

    @property
    def first_future_token(self) -> int:
        """Output token predicting the frame right after the context (0, or T - 1 when causal)."""
        return self.motion_len - 1 if self.attention == "causal" else 0


# --------------------------------------------------------------------------------------------
# Presets (reference.md 4.1 and 4.4; docs/fact.md explains each)
# --------------------------------------------------------------------------------------------

FACT_RELEASED = FACTConfig()

#: The released training settings (reference.md 4.1, mint ``trainer.py`` and the config): batch
#: 32, Adam lr 1e-4 with the Keras epsilon 1e-7 (not PyTorch's 1e-8), x0.1 at steps 100,000 and
#: 150,000; no step limit (the released model stopped at step 214,501).
RELEASED_TRAINING: dict[str, Any] = {"batch_size": 32, "lr": 1e-4, "lr_milestones": (100_000, 150_000),
                                     "adam_eps": 1e-7}

# Trains on a 2-core CPU in about an hour (0.4 s per step measured, docs/fact.md): the same
# windows, loss and quirks at width 128 with 1 + 1 + 4 blocks; a higher lr and a short
# schedule (SMALL_TRAINING) suit the short run.
_SMALL = dataclasses.replace(FACT_RELEASED, d_model=128, n_heads=4, d_mlp=512,
                             motion_layers=1, audio_layers=1, cross_layers=4)
_SMALL_TRAINING = {**RELEASED_TRAINING, **SMALL_TRAINING}
STREAM_CHUNK = 6  # frames fact-small-stream predicts per pass (0.1 s)
STREAM_LOOKAHEAD = 6  # frames of music fact-small-stream hears past its chunk (0.1 s)
_V2_TRAINING = {**_SMALL_TRAINING, "mirror": True, "tempo_stretch": 0.15}

_ARCHITECTURES: dict[str, FACTConfig] = {
    # The released model: mint configs/fact_v5_deeper_t10_cm12.config, 120,406,977 parameters.
    "fact": FACT_RELEASED,
    # Attention ablation: causal attention in every stack, next-frame targets on all T tokens.
    # Music tokens first, so that the motion tokens can attend to them (docs/fact.md).
    "fact-causal": dataclasses.replace(FACT_RELEASED, attention="causal", target_len=120,
                                       token_order="audio-motion"),
    # Supervision ablations: full attention, future-1 and future-10 instead of future-20.
    "fact-future1": dataclasses.replace(FACT_RELEASED, target_len=1),
    "fact-future10": dataclasses.replace(FACT_RELEASED, target_len=10),
    # Fusion ablations: no audio at all (14-block motion transformer), or 13 + 13 + 1 blocks.
    "fact-nofusion": dataclasses.replace(FACT_RELEASED, fusion="none", motion_layers=14,
                                         audio_layers=0, cross_layers=0),
    "fact-latefusion": dataclasses.replace(FACT_RELEASED, fusion="late", motion_layers=13,
                                           audio_layers=13, cross_layers=1),
    "fact-small": _SMALL,
    # fact-small made to dance whole unheard songs (issue 14, docs/fact.md "fact-small-v2"): windows
    # seen from their last context frame, steps as targets, the root's path not an input, noise on the
    # context;
    # trained with mirrored and tempo-stretched windows (_V2_TRAINING).
    "fact-small-v2": dataclasses.replace(_SMALL, root_frame="last", prediction="steps", ground_input=False,
                                         context_noise=0.02),
    # fact-small-v2 with a second head that predicts the frames outright, on whose last frame each
    # chunk ends (prediction="anchored", anchor_blend): v2's seamless steps without its drift into a heap.
    "fact-small-v3": dataclasses.replace(_SMALL, root_frame="last", prediction="anchored", ground_input=False,
                                         context_noise=0.02),
    # fact-small told the style of each training window (the genres of the train split), which is
    # dropped 15 % of the time (issue 17: 10-20 %) so that it also dances unconditioned and the style
    # can be weighed by classifier-free guidance (--style, --style-strength; docs/fact.md "Style").
    "fact-small-style": dataclasses.replace(_SMALL, style_dropout=0.15),
    # The paper's ablations at the fact-small scale (docs/results.md trains and scores them). The
    # fusion variants keep the depth a motion frame's information passes through: no fusion =
    # motion + cross blocks in one stack; late fusion = (motion + cross - 1) per encoder + 1 block.
    "fact-small-causal": dataclasses.replace(_SMALL, attention="causal", target_len=120, token_order="audio-motion"),
    "fact-small-future1": dataclasses.replace(_SMALL, target_len=1),
    "fact-small-future10": dataclasses.replace(_SMALL, target_len=10),
    "fact-small-nofusion": dataclasses.replace(_SMALL, fusion="none", motion_layers=5, audio_layers=0, cross_layers=0),
    "fact-small-latefusion": dataclasses.replace(_SMALL, fusion="late", motion_layers=4, audio_layers=4,
                                                 cross_layers=1),
    # Live dancing (issue 18, docs/live.md): fact-small predicting 6 frames (0.1 s) per pass and hearing only
    # STREAM_LOOKAHEAD frames of music past them, so that a pose leaves at most 6 - 1 + 6 frames (plus the
    # streamed features' own 2) after its music arrives: about 0.22 s. Trained on a dataset prepared with
    # `--music-features stream`: what a live run computes. Supervised on 20 frames of which generation
    # keeps 6 (frames_per_step=6), with context noise 0.02, it faded less but shook twice as much
    # (docs/live.md).
    "fact-small-stream": dataclasses.replace(_SMALL, target_len=STREAM_CHUNK,
                                             audio_len=_SMALL.motion_len + STREAM_CHUNK + STREAM_LOOKAHEAD),
    # For tests: the paper's window lengths at width 16.
    "tiny": dataclasses.replace(FACT_RELEASED, d_model=16, n_heads=2, d_mlp=64,
                                motion_layers=1, audio_layers=1, cross_layers=1),
}
# Each preset with its training settings: the fact-small family trains on the CPU schedule, the
# others (the paper's scale, and tiny for tests) with the released one.
# fact-small-style sees every style equally often: Dance with Melody's train split has 22 waltzes, 4
# rumbas and 2 cha-chas, and trained with every dance equally often (7 % cha-cha windows) the model,
# asked for a cha-cha, danced what the style classifier took for a rumba (docs/results.md, "Style").
_STYLE_TRAINING = {**_SMALL_TRAINING, "style_balance": True}
PRESETS: dict[str, Preset] = {
    name: Preset(cfg, _V2_TRAINING if name in ("fact-small-v2", "fact-small-v3")
                 else _STYLE_TRAINING if name == "fact-small-style"
                 else _SMALL_TRAINING if name.startswith("fact-small") else RELEASED_TRAINING)
    for name, cfg in _ARCHITECTURES.items()
}


# --------------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------------


class SelfAttention(nn.Module):
    """Multi-head self-attention with an explicit logit scale (mint ``base_models.Attention``)."""

    def __init__(self, d_model: int, n_heads: int, scale: float, causal: bool):
        super().__init__()
        self.n_heads = n_heads
        self.scale = scale
        self.causal = causal
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, n_queries: int | None = None) -> torch.Tensor:
        """``(B, N, D) -> (B, N, D)``, or ``(B, n_queries, D)``: the first tokens' outputs alone
        (every token still attended to; full attention only)."""
        b, n, d = x.shape  # (B, N, D)
        # The qkv features are laid out (3, H, E), as the released "b n (qkv h d)" split.
        qkv = self.qkv(x).view(b, n, 3, self.n_heads, d // self.n_heads)  # (B, N, 3, H, E)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, H, N, E)
        if n_queries is not None:
            q, n = q[:, :, :n_queries], n_queries  # (B, H, n, E)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal, scale=self.scale)  # (B, H, n, E)
        y = y.transpose(1, 2).reshape(b, n, d)  # (B, n, D)
        return self.out(y)


class MLP(nn.Module):
    """Linear -> GELU -> linear (mint ``base_models.MLP``)."""

    def __init__(self, d_model: int, d_mlp: int, gelu: str):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_mlp)
        self.act = nn.GELU(approximate="tanh" if gelu == "tanh" else "none")
        self.fc2 = nn.Linear(d_mlp, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-LN transformer block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, cfg: FACTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model, eps=cfg.layernorm_eps)
        self.attn = SelfAttention(cfg.d_model, cfg.n_heads, cfg.scale, cfg.attention == "causal")
        self.ln2 = nn.LayerNorm(cfg.d_model, eps=cfg.layernorm_eps)
        self.mlp = MLP(cfg.d_model, cfg.d_mlp, cfg.gelu)

    def forward(self, x: torch.Tensor, n_queries: int | None = None) -> torch.Tensor:
        """``(B, N, D) -> (B, N, D)``, or the first ``n_queries`` tokens' outputs (full attention)."""
        h = self.attn(self.ln1(x), n_queries)
        x = (x if n_queries is None else x[:, :n_queries]) + h
        return x + self.mlp(self.ln2(x))


class Transformer(nn.Module):
    """A stack of blocks with no final LayerNorm (as released): (B, N, D) -> (B, N, D)."""

    def __init__(self, cfg: FACTConfig, n_layers: int):
        super().__init__()
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(n_layers))

    def forward(self, x: torch.Tensor, n_out: int | None = None) -> torch.Tensor:
        """``(B, N, D) -> (B, N, D)``; with ``n_out`` the last block computes the first ``n_out``
        tokens' outputs alone, ``(B, n_out, D)`` (full attention: no token depends on later blocks
        of another)."""
        for i, block in enumerate(self.blocks):
            x = block(x, n_out if i == len(self.blocks) - 1 else None)
        return x


class FACT(SlidingContext, nn.Module):
    """The FACT network: ``forward(motion (B, T, 225), audio (B, A, 35)) -> (B, T + A, 225)``.

    Output token ``k`` sits at the position of motion frame ``k`` for ``k < T`` and of audio frame
    ``k - T`` after that, whatever :attr:`FACTConfig.token_order`. With ``fusion="none"`` the
    audio is not used (it may be ``None``) and only the T motion tokens come out: ``(B, T, 225)``.
    Which tokens are supervised, and on which frames, is :func:`fact_loss` /
    :func:`split_window`.
    """

    def __init__(self, config: FACTConfig):
        super().__init__()
        self.config = config
        d = config.d_model
        self.motion_embed = nn.Linear(config.motion_dim, d)
        self.motion_pos = nn.Parameter(torch.empty(config.motion_len, d))  # (T, D)
        self.motion_encoder = Transformer(config, config.motion_layers)
        if config.fusion != "none":
            self.audio_embed = nn.Linear(config.audio_dim, d)
            self.audio_pos = nn.Parameter(torch.empty(config.audio_len, d))  # (A, D)
            self.audio_encoder = Transformer(config, config.audio_layers)
            self.cross = Transformer(config, config.cross_layers)
        if config.styles:  # row 0: no style (unconditioned); row i + 1: styles[i]
            self.style_embed = nn.Embedding(len(config.styles) + 1, d)
        # "anchored": the first motion_dim outputs are steps, the next motion_dim frames.
        self.head = nn.Linear(d, config.motion_dim * (2 if config.prediction == "anchored" else 1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """(Re-)initialise every parameter per ``config.init`` (docs/fact.md, "Initialisation")."""
        init_weights(self, self.config)

    def forward(self, motion: torch.Tensor, audio: torch.Tensor | None = None,
                n_out: int | None = None, style: torch.Tensor | None = None) -> torch.Tensor:
        """The output tokens ``(B, T + A, F)`` (``(B, T, F)`` without fusion); with ``n_out``, the
        first ``n_out`` of them, ``(B, n_out, F)``. ``F`` is 225, or 450 for
        ``prediction="anchored"`` (the steps, then the frames).

        With full attention and motion tokens first, ``n_out`` saves work, not only output: the
        last block's queries, MLP and the head run on those tokens alone (generation keeps the
        first ``k <= 20`` of 360 tokens; about 15 % of a pass of ``fact-small``). The result is
        the same as slicing the full output, up to float rounding.

        ``style (B,)`` integer labels (:meth:`FACTConfig.style_label`; 0 = none, also when ``None``)
        of a model with styles: the label's learned embedding is added to every motion and music
        token.
        """
        cfg = self.config
        _check_input("motion", motion, cfg.motion_len, cfg.motion_dim)
        if n_out is not None and not 1 <= n_out <= cfg.n_tokens:
            raise ValueError(f"n_out must be in [1, {cfg.n_tokens}], got {n_out}")
        s = self._style_tokens(style, motion)  # (B, 1, D) or 0
        # Cutting the last block's queries is exact only when no output token attends causally and
        # the tokens kept come first (motion-audio order, or no fusion).
        early = n_out if cfg.attention == "full" and (cfg.fusion == "none" or cfg.token_order == "motion-audio") else None
        m = self.motion_embed(motion) + self.motion_pos + s  # (B, T, D)
        if cfg.fusion == "none":
            return self.head(self.motion_encoder(m, early))[:, :n_out]  # (B, T | n_out, F)
        m = self.motion_encoder(m)  # (B, T, D)
        if audio is None:
            raise ValueError(f"this FACT model fuses music: audio (B, {cfg.audio_len}, {cfg.audio_dim}) is required")
        _check_input("audio", audio, cfg.audio_len, cfg.audio_dim)
        if audio.shape[0] != motion.shape[0]:
            raise ValueError(f"motion and audio batch sizes differ: {motion.shape[0]} vs {audio.shape[0]}")
        a = self.audio_embed(audio) + self.audio_pos + s  # (B, A, D)
        a = self.audio_encoder(a)  # (B, A, D)
        if cfg.token_order == "motion-audio":
            x = self.cross(torch.cat([m, a], dim=1), early)  # (B, T + A | n_out, D)
        else:
            x = self.cross(torch.cat([a, m], dim=1))  # (B, A + T, D)
            # Back to motion-first so that output token k always means motion position k.
            x = torch.cat([x[:, cfg.audio_len:], x[:, :cfg.audio_len]], dim=1)  # (B, T + A, D)
        return self.head(x[:, :n_out])  # (B, T + A | n_out, F)

    def _style_tokens(self, style: torch.Tensor | None, motion: torch.Tensor) -> torch.Tensor | float:
        """What the style adds to each token: ``(B, 1, D)``, or 0 for a model without styles."""
        if not self.config.styles:
            if style is not None:
                raise ValueError("this FACT model has no styles: style must be None")
            return 0.0
        if style is None:
            style = torch.zeros(motion.shape[0], dtype=torch.long, device=motion.device)
        if style.shape != (motion.shape[0],) or style.dtype != torch.long:
            raise ValueError(f"style must be a (B,) = ({motion.shape[0]},) long tensor of labels, "
                             f"got {tuple(style.shape)} {style.dtype}")
        if bool(((style < 0) | (style > len(self.config.styles))).any()):
            raise ValueError(f"style labels must be in [0, {len(self.config.styles)}]")
        return self.style_embed(style)[:, None]

    # --- the model interface of aichoreo.models.common.DanceModel ------------------------------
    def training_loss(self, motion: torch.Tensor, audio: torch.Tensor, step: int = 0,
                      style: torch.Tensor | None = None) -> torch.Tensor:
        """:func:`fact_loss` of a batch of windows cut by :func:`split_window` (``step`` unused).

        ``style (B,)``: the windows' style labels, for a model with styles (required there); in
        training each is replaced by 0 (none) with probability ``style_dropout``, and the music of a
        window that keeps its label by that of another style's window with probability
        ``style_music_swap`` (:func:`swap_music`).
        """
        cfg = self.config
        if cfg.styles:
            if style is None:
                raise ValueError("this FACT model has styles: training_loss needs the windows' style labels")
            if cfg.style_dropout and self.training:
                drop = torch.rand(style.shape, device=style.device) < cfg.style_dropout
                style = style.masked_fill(drop, 0)
            if cfg.style_music_swap and self.training:
                audio = swap_music(audio, style, cfg.style_music_swap)
        motion_input, audio_input, target = split_window(motion, audio, cfg)
        if cfg.root_frame == "last":
            origin, turn = heading_frame(motion_input[:, -1])
            motion_input, target = to_frame(motion_input, origin, turn), to_frame(target, origin, turn)
        clean = motion_input
        if cfg.context_noise and self.training:
            motion_input = motion_input + context_noise(motion_input, cfg.context_noise)
        if not cfg.ground_input:
            motion_input = hide_ground(motion_input)
        output = self(motion_input, audio_input, style=style)
        if cfg.prediction == "frames":
            return fact_loss(output, target, cfg)
        steps = step_targets(target, clean[:, -1:], motion_input[:, -1:])
        f = cfg.motion_dim
        loss = fact_loss(output[..., :f], steps, cfg)
        if cfg.prediction == "anchored":
            loss = loss + fact_loss(output[..., f:], target, cfg)
        if cfg.speed_loss:
            loss = loss + cfg.speed_loss * speed_matching_loss(output[:, :cfg.target_len, :f], steps)
        return loss

    def predict(self, state: dict, k: int) -> torch.Tensor:
        """The released loop's step (mint ``infer_auto_regressive``): the music window starts where
        the context starts; keep ``k`` future tokens from the first one."""
        cfg = self.config
        window = self.music_window(state)  # (B, A, 35)
        first = cfg.first_future_token  # 0 (full attention) or T - 1 (causal)
        context = state["context"]  # (B, T, F), world coordinates
        if cfg.root_frame == "last":
            origin, turn = heading_frame(context[:, -1])
            context = to_frame(context, origin, turn)
        # (the last frame's x, z are 0 in the root frame, hidden or not: root steps sum from there)
        out = self.guided(hide_ground(context) if not cfg.ground_input else context, window, first + k,
                          state.get("style"), state.get("guidance", 1.0))[:, first: first + k]  # (B, k, F)
        if cfg.prediction == "steps":
            out = context[:, -1:] + torch.cumsum(out, dim=1) / STEP_SCALE
        elif cfg.prediction == "anchored":
            f = cfg.motion_dim
            path = context[:, -1:] + torch.cumsum(out[..., :f], dim=1) / STEP_SCALE
            out = anchor_blend(path, out[..., f:])
        if cfg.root_frame == "last":
            out = from_frame(out, origin, turn)
        return out

    def guided(self, motion: torch.Tensor, audio: torch.Tensor, n_out: int, style: torch.Tensor | None,
               guidance: float) -> torch.Tensor:
        """The output tokens ``(B, n_out, F)`` for ``style (B,)`` labels, the style weighed by
        classifier-free guidance (Ho & Salimans 2022): ``u + guidance (c - u)`` from the
        unconditioned output ``u`` and the styled one ``c``. ``guidance`` 1 is the styled output
        alone (one pass); more pushes further from an unconditioned dance towards the style (two
        passes, batched together). A label 0 (``auto``) gives the unconditioned output whatever the
        guidance. The prediction is linear in the head's outputs (steps are summed after this), so
        guiding them is guiding the motion."""
        if style is None or guidance == 1.0 or not bool((style > 0).any()):
            return self(motion, audio, n_out=n_out, style=style)
        both = self(torch.cat([motion, motion]), torch.cat([audio, audio]), n_out=n_out,
                    style=torch.cat([style, torch.zeros_like(style)]))  # (2B, n_out, F)
        styled, plain = both.chunk(2)
        return plain + guidance * (styled - plain)

    def added_inputs(self, other: FACTConfig) -> list[str]:
        """Weights of this model that a model of config ``other`` lacks and that fine-tuning from it
        starts at zero (:func:`aichoreo.train.load_initial_weights`): the style embedding, when this
        model has styles and ``other`` none. Every token then gets what it got in that model, so the
        run starts as that model dancing unconditioned and learns the styles from there."""
        return ["style_embed.weight"] if self.config.styles and not other.styles else []

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameter values (120,406,977 for the released configuration)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)


def swap_music(audio: torch.Tensor, style: torch.Tensor, p: float) -> torch.Tensor:
    """``audio (B, A, F)`` with the music of each window that has a style label (``style (B,)``, > 0)
    replaced, with probability ``p``, by the music of a window of the batch with another label > 0,
    drawn uniformly (unchanged where the batch has none). Windows without a label keep theirs, so the
    unconditioned model still learns the style that the music tells.

    On Dance with Melody the music tells a window's style as well as its label does, so a style model
    learned to follow the music and hardly the label; with every styled window's music swapped,
    fine-tuning the bundled ``styles`` model made the style asked for recognised 0.62x as often as in
    real dances on the validation songs, against 0.38x after the same fine-tuning without the swap
    (docs/results.md, "Music from another style").
    """
    b = style.shape[0]
    other = (style[None, :] != style[:, None]) & (style[None, :] > 0)  # (B, B): j is another style than i
    chosen = torch.multinomial(other.float() + (~other.any(1, keepdim=True)).float(), 1)[:, 0]  # (B,)
    swap = (style > 0) & other.any(1) & (torch.rand(b, device=style.device) < p)
    return torch.where(swap[:, None, None], audio[chosen], audio)


def step_targets(target: torch.Tensor, clean_last: torch.Tensor, seen_last: torch.Tensor) -> torch.Tensor:
    """The targets of ``prediction="steps"``: ``target (B, L, F)`` frames -> ``(B, L, F)`` scaled steps.

    ``clean_last (B, 1, F)`` is the true last context frame, ``seen_last`` the one the network was
    shown (with training noise, or with the root's path hidden). The steps lead from ``seen_last``
    to the true frames, the gap closed over the chunk: frame ``k`` (0-based) of the path is the
    true frame plus ``(1 - (k + 1) / L)`` of the gap. So the first step is the true one (plus a
    1/L share of the gap): a chunk continues from the frame it is given, with no jump at the
    seam, while a context that drifted off is pulled back within one chunk. Steps from the true
    frame without that pull (the gap never closed) let the pose wander off over a song; closing it
    in the first step makes a jump at every seam (docs/fact.md, "fact-small-v2").
    """
    length = target.shape[1]
    keep = 1.0 - torch.arange(1, length + 1, dtype=target.dtype, device=target.device)[None, :, None] / length
    path = target + (seen_last - clean_last) * keep  # (B, L, F)
    return torch.diff(path, dim=1, prepend=seen_last) * STEP_SCALE


def speed_matching_loss(pred_steps: torch.Tensor, true_steps: torch.Tensor) -> torch.Tensor:
    """Squared error of each joint's mean speed over the chunk: ``(B, L, 225)`` scaled steps, predicted
    and true -> a scalar.

    A joint's speed is the norm of its 9 rotation-matrix steps (the root's 3 translation steps
    for the root's path), averaged over the chunk's ``L`` frames. Mean-squared steps are learned
    as their expected value, which shrinks wherever the direction is uncertain: the steps of
    ``fact-small-v2`` and ``-v3`` moved at about half the real dancers' speed (docs/results.md).
    This term asks for the right amount of movement per joint and window without asking when or
    which way.
    """
    def speeds(x: torch.Tensor) -> torch.Tensor:
        b, length, _ = x.shape
        rot = x[..., ROOT_ROTATION.start:].reshape(b, length, -1, 9).norm(dim=-1)  # (B, L, 24)
        trans = x[..., TRANSLATION].norm(dim=-1, keepdim=True)  # (B, L, 1)
        return torch.cat([trans, rot], dim=-1).mean(dim=1)  # (B, 25)

    return F.mse_loss(speeds(pred_steps), speeds(true_steps))


def anchor_blend(path: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """The chunk of ``prediction="anchored"``: ``path (B, k, F)`` (the summed steps) bent, along a
    smoothstep, so that it ends on the last of ``frames (B, k, F)`` (the frames predicted outright).

    Summed steps continue exactly from the last context frame (no seam) but nothing holds them to
    plausible poses: over a whole song they wandered off into a heap on the floor
    (``fact-small-v2``; the v3 weights with the steps alone did the same, docs/results.md). Frames
    predicted outright stay plausible but do not continue from the context (the released model's
    seams), and from frame to frame they shake. So the chunk keeps the steps' shape and only its
    offset moves: frame ``i`` is ``path_i + w_i (frames_{k-1} - path_{k-1})`` with
    ``w = 3s^2 - 2s^3``, ``s = (i + 1) / k``. It starts on the steps' path, ends on the anchor, and
    as ``w``'s slope is zero at both ends the correction adds no velocity at a seam; the next chunk
    starts from an anchored frame, so errors cannot pile up. (With ``k = 1`` the frame is the one
    predicted outright, as in the paper's loop.) Chosen on the validation songs over a hand-over
    to the whole predicted trajectory (jitter 3.0x the real dancers' against 1.17x) and over the
    chunk's mean offset (docs/results.md, "fact-small-v3").
    """
    k = path.shape[1]
    s = torch.arange(1, k + 1, dtype=path.dtype, device=path.device)[None, :, None] / k
    w = s * s * (3.0 - 2.0 * s)
    return path + w * (frames[:, -1:] - path[:, -1:])


def context_noise(context: torch.Tensor, std: float) -> torch.Tensor:
    """Noise for a training context ``(B, T, F)``: what the network will meet in its own output.

    Errors of an autoregressive model are not white: a generated context is off by a slowly
    varying amount (a pose a little wrong for many frames), which a per-frame noise of the same
    size would not teach (attention averages it away). So per window and dimension one offset,
    plus a drift that grows linearly over the context, both N(0, std), and white noise of half
    that size. The six pad dims stay zero. Uses torch's global generator (Lightning seeds it).
    """
    b, t, f = context.shape
    offset = torch.randn(b, 1, f, dtype=context.dtype, device=context.device)
    drift = torch.randn(b, 1, f, dtype=context.dtype, device=context.device)
    ramp = torch.linspace(-1.0, 0.0, t, dtype=context.dtype, device=context.device)[None, :, None]
    white = 0.5 * torch.randn(b, t, f, dtype=context.dtype, device=context.device)
    noise = std * (offset + drift * ramp + white)
    noise[..., :6] = 0.0
    return noise


def _check_input(name: str, x: torch.Tensor, length: int, dim: int) -> None:
    if x.ndim != 3 or x.shape[1] != length or x.shape[2] != dim:
        raise ValueError(f"{name} must have shape (B, {length}, {dim}), got {tuple(x.shape)}")


def init_weights(model: FACT, cfg: FACTConfig) -> None:
    """Initialise ``model`` in place.

    ``"tf"`` reproduces the Keras defaults of the released code (mint ``base_models.py``,
    ``base_model_util.create_initializer``): every linear layer Glorot-uniform with zero bias;
    position tables and the output head truncated normal with std ``init_std`` cut at 2 std;
    LayerNorm weight 1, bias 0. ``"torch"`` is what a naive port gets: PyTorch's ``nn.Linear``
    default (uniform +-1/sqrt(fan_in), bias too) and position tables N(0, 1) like ``nn.Embedding``.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                if cfg.init == "tf":
                    nn.init.xavier_uniform_(module.weight)
                    if module.bias is not None:
                        nn.init.zeros_(module.bias)
                else:
                    module.reset_parameters()
            elif isinstance(module, nn.LayerNorm):
                module.reset_parameters()
        positions = [model.motion_pos] + ([model.audio_pos] if cfg.fusion != "none" else [])
        if cfg.styles:  # a style is a learned offset of every token, initialised like the positions
            positions.append(model.style_embed.weight)
        for table in positions:
            if cfg.init == "tf":
                _trunc_normal(table, cfg.init_std)
            else:
                nn.init.normal_(table)
        if cfg.init == "tf":
            # The head alone uses the truncated normal (mint CrossModalLayer.cross_output_layer).
            _trunc_normal(model.head.weight, cfg.init_std)
            nn.init.zeros_(model.head.bias)


def _trunc_normal(t: torch.Tensor, std: float) -> None:
    # Keras TruncatedNormal redraws beyond 2 std; torch's version cuts at a and b the same way.
    nn.init.trunc_normal_(t, mean=0.0, std=std, a=-2 * std, b=2 * std)


def glorot_limit(fan_in: int, fan_out: int) -> float:
    """Bound of the Glorot-uniform distribution, sqrt(6 / (fan_in + fan_out))."""
    return math.sqrt(6.0 / (fan_in + fan_out))


# --------------------------------------------------------------------------------------------
# Training windows and loss (reference.md 4.3)
# --------------------------------------------------------------------------------------------


def split_window(motion: torch.Tensor, audio: torch.Tensor,
                 config: FACTConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cut one training window into model inputs and loss targets.

    Args:
        motion: ``(..., W, 225)`` motion frames ``[s, s + W)`` with ``W >= config.window_len``.
        audio: ``(..., W_a, 35)`` music frames ``[s, s + W_a)``, same start ``s``, ``W_a >= audio_len``.

    Returns:
        ``motion_input (..., T, 225)`` = frames ``[s, s + T)``; ``audio_input (..., A, 35)`` =
        ``[s, s + A)``; ``target (..., target_len, 225)`` = frames ``[s + target_start,
        s + target_start + target_len)``: ``[s + 120, s + 140)`` for the released model,
        ``[s + 1, s + 121)`` for the causal variant.
    """
    need = config.target_start + config.target_len
    if motion.shape[-2] < max(config.motion_len, need):
        raise ValueError(f"motion window has {motion.shape[-2]} frames, "
                         f"this config needs {max(config.motion_len, need)}")
    if audio.shape[-2] < config.audio_len:
        raise ValueError(f"audio window has {audio.shape[-2]} frames, this config needs {config.audio_len}")
    motion_input = motion[..., : config.motion_len, :]
    audio_input = audio[..., : config.audio_len, :]
    target = motion[..., config.target_start: need, :]
    return motion_input, audio_input, target


def fact_loss(output: torch.Tensor, target: torch.Tensor, config: FACTConfig) -> torch.Tensor:
    """Mean squared error over ``B x target_len x 225`` (mint ``compute_motion_generation_loss``).

    Args:
        output: ``(B, N, 225)`` model output; its first ``target_len`` tokens are compared.
        target: ``(B, target_len, 225)`` from :func:`split_window`.

    Nothing else enters the loss (no velocity, FK or contact term), and the six pad dimensions
    are regressed like the others (their target is 0).
    """
    n = config.target_len
    if target.ndim != 3 or target.shape[1] != n or target.shape[2] != config.motion_dim:
        raise ValueError(f"target must have shape (B, {n}, {config.motion_dim}), got {tuple(target.shape)}")
    if output.ndim != 3 or output.shape[1] < n or output.shape[::2] != target.shape[::2]:
        raise ValueError(f"output {tuple(output.shape)} does not match target {tuple(target.shape)}")
    return F.mse_loss(output[:, :n], target)
