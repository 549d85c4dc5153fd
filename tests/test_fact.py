"""FACT model: presets, parameter count, attention (scale, causality), init, loss, model files
(format, conventions, finite weights, the bundled model)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from torch import nn

from aichoreo.conventions import check_conventions, current_conventions, version1_conventions
from aichoreo.errors import InputError
from aichoreo.models import (
    FACT,
    FACTConfig,
    available_presets,
    build_model,
    count_parameters,
    fact_loss,
    get_preset,
    get_preset_training,
    load_model_file,
    model_state,
    save_model_file,
    split_window,
)
from aichoreo.models.common import LEGACY_TRAINING_KEYS
from aichoreo.models.fact import PRESETS as FACT_PRESETS, Block, glorot_limit

RELEASED_PARAMS = 120_406_977  # reference.md 4.2
# std of a normal truncated at +-2 std, relative to the untruncated std
TRUNC2_STD_FACTOR = math.sqrt(1 - 2 * 2 * math.exp(-2) / math.sqrt(2 * math.pi) / math.erf(2 / math.sqrt(2)))
CONVENTIONS = current_conventions()


def shrink(cfg: FACTConfig, **extra) -> FACTConfig:
    """The preset's structure (fusion, attention, targets, lengths) at width 16, <= 2 blocks per stack."""
    return dataclasses.replace(cfg, d_model=16, n_heads=2, d_mlp=32, motion_layers=min(cfg.motion_layers, 2),
                               audio_layers=min(cfg.audio_layers, 2), cross_layers=min(cfg.cross_layers, 2), **extra)


def random_inputs(cfg: FACTConfig, batch: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    motion = torch.randn(batch, cfg.window_len, cfg.motion_dim, generator=g)
    audio = torch.randn(batch, cfg.window_len, cfg.audio_dim, generator=g)
    return split_window(motion, audio, cfg)


# ----------------------------------------------------------------------------- sizes and presets


def test_released_parameter_count_is_exact():
    cfg = get_preset("fact")
    assert count_parameters(cfg) == RELEASED_PARAMS
    with torch.device("meta"):
        block = Block(cfg)
    assert sum(p.numel() for p in block.parameters()) == 7_483_072
    assert RELEASED_PARAMS - 16 * 7_483_072 == 677_825  # embeddings, positions, head


def test_ablation_sizes_follow_their_definition():
    per_block = 7_483_072
    assert count_parameters(get_preset("fact-nofusion")) == 14 * per_block + 180_800 + 96_000 + 180_225
    assert count_parameters(get_preset("fact-latefusion")) == 27 * per_block + 677_825
    for name in ("fact-causal", "fact-future1", "fact-future10"):
        assert count_parameters(get_preset(name)) == RELEASED_PARAMS


def test_presets_define_the_ablations():
    names = available_presets()
    for required in ("fact", "fact-small", "fact-causal", "fact-future1", "fact-future10", "fact-nofusion",
                     "fact-latefusion", "tiny"):
        assert required in names
    assert names[0] == "fact"
    fact = get_preset("fact")
    assert (fact.motion_len, fact.audio_len, fact.target_len, fact.d_model, fact.n_heads, fact.d_mlp) == (
        120, 240, 20, 800, 10, 3072)
    assert get_preset_training("fact") == {"batch_size": 32, "lr": 1e-4, "lr_milestones": (100_000, 150_000),
                                           "adam_eps": 1e-7}
    assert get_preset("fact-future1").target_len == 1 and get_preset("fact-future10").target_len == 10
    causal = get_preset("fact-causal")
    assert causal.attention == "causal" and causal.target_start == 1 and causal.target_len == 120
    nof, late = get_preset("fact-nofusion"), get_preset("fact-latefusion")
    assert (nof.motion_layers, nof.audio_layers, nof.cross_layers) == (14, 0, 0)
    assert (late.motion_layers, late.audio_layers, late.cross_layers) == (13, 13, 1)
    assert get_preset("tiny").d_model == 16


def test_get_preset_overrides_and_unknown_name():
    assert get_preset("tiny", d_model=32).d_model == 32
    with pytest.raises(InputError, match="fact-huge"):
        get_preset("fact-huge")
    with pytest.raises(ValueError, match="multiple of n_heads"):
        get_preset("tiny", d_model=15)


@pytest.mark.parametrize("name", list(FACT_PRESETS))
def test_every_preset_runs_forward_and_backward(name):
    cfg = shrink(get_preset(name))
    model = build_model(cfg)
    assert isinstance(model, FACT)
    motion, audio, target = random_inputs(cfg)
    out = model(motion, audio)
    heads = 2 if cfg.prediction == "anchored" else 1  # steps and frames
    assert out.shape == (2, cfg.n_tokens, 225 * heads)
    # The paper's windows (120 + 240), but for the live preset's shorter music window (120 + 132).
    assert cfg.n_tokens == (120 if cfg.fusion == "none" else 252 if name == "fact-small-stream" else 360)
    loss = fact_loss(out[..., :225], target, cfg)
    loss.backward()
    assert torch.isfinite(loss)
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    # Gradient reaches the input embedding through every motion block.
    assert grads["motion_embed.weight"].abs().sum() > 0


def test_no_fusion_ignores_audio_and_outputs_motion_tokens_only():
    cfg = shrink(get_preset("fact-nofusion"))
    model = build_model(cfg)
    assert not hasattr(model, "audio_embed") and not hasattr(model, "cross")
    motion, audio, _ = random_inputs(cfg)
    out = model(motion, None)
    assert out.shape == (2, 120, 225)
    torch.testing.assert_close(model(motion, audio), out, rtol=0, atol=0)


# ----------------------------------------------------------------------------- config


def test_config_dict_round_trip_is_json_able():
    for name in available_presets():  # the baselines' configs too
        cfg = get_preset(name)
        data = json.loads(json.dumps(cfg.to_dict()))
        assert type(cfg).from_dict(data) == cfg
    assert isinstance(get_preset("dancenet").to_dict()["dilations"], list)  # tuples become JSON lists


@pytest.mark.parametrize("field, value, message", [
    ("attention", "sparse", "attention must be one of"),
    ("attention_scale", "dim", "attention_scale must be one of"),
    ("init", "keras", "init must be one of"),
    ("fusion", "middle", "fusion must be one of"),
    ("d_model", 0, "d_model must be an integer"),
    ("target_len", 400, "exceeds"),
])
def test_config_rejects_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(FACTConfig(), **{field: value})


def test_config_consistency_rules():
    with pytest.raises(ValueError, match="target_len must equal motion_len"):
        FACTConfig(attention="causal")  # target_len 20
    with pytest.raises(ValueError, match="fusion 'none'"):
        FACTConfig(fusion="none")  # still has audio and cross-modal blocks
    with pytest.raises(ValueError, match="unknown FACT config keys: colour"):
        FACTConfig.from_dict({"colour": "red"})


# ----------------------------------------------------------------------------- windows and loss


def test_split_window_targets_full_and_causal():
    frames = torch.arange(240.0)[:, None].expand(240, 225)  # value = frame index
    audio = torch.zeros(240, 35)
    full = get_preset("tiny")
    m, a, t = split_window(frames, audio, full)
    assert m.shape == (120, 225) and a.shape == (240, 35) and t.shape == (20, 225)
    assert t[:, 0].tolist() == list(range(120, 140))
    causal = shrink(get_preset("fact-causal"))
    _, _, t = split_window(frames, audio, causal)
    assert t[:, 0].tolist() == list(range(1, 121))  # output token i <- frame i + 1
    assert causal.window_len == 240 and get_preset("fact").window_len == 240
    with pytest.raises(ValueError, match="needs 140"):
        split_window(frames[:130], audio, full)


def test_fact_loss_is_mse_over_first_target_tokens():
    cfg = get_preset("tiny")
    g = torch.Generator().manual_seed(1)
    out = torch.randn(3, 360, 225, generator=g)
    target = torch.randn(3, 20, 225, generator=g)
    expected = ((out[:, :20] - target) ** 2).sum() / (3 * 20 * 225)
    torch.testing.assert_close(fact_loss(out, target, cfg), expected)
    with pytest.raises(ValueError, match=r"target must have shape \(B, 20, 225\)"):
        fact_loss(out, target[:, :10], cfg)


# ----------------------------------------------------------------------------- attention


def manual_attention(attn: nn.Module, x: torch.Tensor, n_heads: int, scale: float, causal: bool) -> torch.Tensor:
    """Softmax attention written out with loops over heads, for comparison."""
    b, n, d = x.shape
    e = d // n_heads
    qkv = x @ attn.qkv.weight.T  # (B, N, 3D) laid out (3, H, E)
    heads = []
    for h in range(n_heads):
        q = qkv[..., 0 * d + h * e: 0 * d + (h + 1) * e]
        k = qkv[..., 1 * d + h * e: 1 * d + (h + 1) * e]
        v = qkv[..., 2 * d + h * e: 2 * d + (h + 1) * e]
        logits = q @ k.transpose(1, 2) * scale
        if causal:
            logits = logits.masked_fill(torch.ones(n, n).triu(1).bool(), float("-inf"))
        heads.append(torch.softmax(logits, dim=-1) @ v)
    return torch.cat(heads, dim=-1) @ attn.out.weight.T + attn.out.bias


@pytest.mark.parametrize("scale_kind, attention", [("model", "full"), ("head", "full"), ("model", "causal")])
def test_attention_scale_quirk_matches_manual_attention(scale_kind, attention):
    extra = {"target_len": 120} if attention == "causal" else {}
    cfg = dataclasses.replace(get_preset("tiny"), d_model=32, n_heads=4, attention_scale=scale_kind,
                              attention=attention, **extra)
    expected_scale = 32 ** -0.5 if scale_kind == "model" else 8 ** -0.5
    assert cfg.scale == pytest.approx(expected_scale)
    torch.manual_seed(0)
    attn = build_model(cfg).motion_encoder.blocks[0].attn
    x = torch.randn(2, 7, 32) * 3  # large logits, so the scale visibly matters
    torch.testing.assert_close(attn(x), manual_attention(attn, x, 4, expected_scale, attention == "causal"),
                               rtol=1e-5, atol=1e-5)
    other = 8 ** -0.5 if scale_kind == "model" else 32 ** -0.5
    assert (attn(x) - manual_attention(attn, x, 4, other, attention == "causal")).abs().max() > 1e-2


def test_released_scale_is_full_width():
    assert get_preset("fact").scale == pytest.approx(0.0353553, abs=1e-7)
    assert dataclasses.replace(get_preset("fact"), attention_scale="head").scale == pytest.approx(0.1118034)


def _grad_of_output_token(model, motion, audio, token):
    motion = motion.clone().requires_grad_(True)
    audio = audio.clone().requires_grad_(True)
    model(motion, audio)[:, token].sum().backward()
    return motion.grad.abs().sum(dim=(0, 2)), audio.grad.abs().sum(dim=(0, 2))  # per frame


def test_causal_model_cannot_see_the_future():
    torch.manual_seed(0)
    cfg = shrink(get_preset("fact-causal"), token_order="motion-audio")
    model = build_model(cfg)
    motion, audio, _ = random_inputs(cfg, batch=1)
    out = model(motion, audio)
    j = 60
    changed = motion.clone()
    changed[:, j] += 5.0
    out2 = model(changed, audio)
    torch.testing.assert_close(out2[:, :j], out[:, :j], rtol=0, atol=1e-6)
    assert (out2[:, j:120] - out[:, j:120]).abs().amax(dim=-1).min() > 1e-4
    # Motion first in a causal sequence: music tokens come after every motion token.
    louder = audio + 5.0
    torch.testing.assert_close(model(motion, louder)[:, :120], out[:, :120], rtol=0, atol=1e-6)
    # Gradient: output token 30 depends on motion frames 0..30 and no later one.
    g_motion, g_audio = _grad_of_output_token(model, motion, audio, 30)
    assert (g_motion[:31] > 0).all() and (g_motion[31:] == 0).all()
    assert (g_audio == 0).all()


def test_causal_audio_first_hears_the_music_but_not_future_motion():
    torch.manual_seed(0)
    cfg = shrink(get_preset("fact-causal"))
    assert cfg.token_order == "audio-motion"  # the preset hears the music
    model = build_model(cfg)
    motion, audio, _ = random_inputs(cfg, batch=1)
    g_motion, g_audio = _grad_of_output_token(model, motion, audio, 30)
    assert (g_motion[:31] > 0).all() and (g_motion[31:] == 0).all()
    assert (g_audio > 0).all()


def test_full_attention_sees_the_future():
    torch.manual_seed(0)
    cfg = shrink(get_preset("fact"))
    model = build_model(cfg)
    motion, audio, _ = random_inputs(cfg, batch=1)
    changed = motion.clone()
    changed[:, 60] += 5.0
    assert (model(changed, audio)[:, 0] - model(motion, audio)[:, 0]).abs().max() > 1e-4
    g_motion, g_audio = _grad_of_output_token(model, motion, audio, 0)
    assert (g_motion > 0).all() and (g_audio > 0).all()


def test_token_order_is_irrelevant_under_full_attention():
    # No positions inside the cross-modal stack: full attention is permutation-equivariant.
    torch.manual_seed(0)
    cfg = shrink(get_preset("fact"))
    model = build_model(cfg)
    swapped = FACT(dataclasses.replace(cfg, token_order="audio-motion"))
    swapped.load_state_dict(model.state_dict())
    motion, audio, _ = random_inputs(cfg)
    torch.testing.assert_close(swapped(motion, audio), model(motion, audio), rtol=1e-5, atol=1e-5)


def test_forward_rejects_wrong_shapes():
    model = build_model(get_preset("tiny"))
    with pytest.raises(ValueError, match=r"motion must have shape \(B, 120, 225\)"):
        model(torch.zeros(1, 100, 225), torch.zeros(1, 240, 35))
    with pytest.raises(ValueError, match=r"audio \(B, 240, 35\) is required"):
        model(torch.zeros(1, 120, 225))


# ----------------------------------------------------------------------------- initialisation


def test_tf_init_statistics():
    torch.manual_seed(0)
    cfg = dataclasses.replace(get_preset("tiny"), d_model=128, n_heads=4, d_mlp=512)
    model = build_model(cfg)
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and name != "head":
            fan_out, fan_in = module.weight.shape
            limit = glorot_limit(fan_in, fan_out)
            w = module.weight
            assert w.abs().max() <= limit and w.abs().max() > 0.97 * limit, name
            assert w.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.05), name
            if module.bias is not None:
                assert (module.bias == 0).all(), name
        if isinstance(module, nn.LayerNorm):
            assert (module.weight == 1).all() and (module.bias == 0).all()
    assert glorot_limit(800, 2400) == pytest.approx(math.sqrt(6 / 3200))  # the released qkv layer
    for table in (model.motion_pos, model.audio_pos, model.head.weight):
        assert table.abs().max() <= 0.04 and table.abs().max() > 0.035
        assert table.std().item() == pytest.approx(0.02 * TRUNC2_STD_FACTOR, rel=0.05)
    assert (model.head.bias == 0).all()


def test_torch_init_is_pytorch_default():
    torch.manual_seed(0)
    cfg = dataclasses.replace(get_preset("tiny"), d_model=128, n_heads=4, d_mlp=512, init="torch")
    model = build_model(cfg)
    w = model.cross.blocks[0].mlp.fc1.weight  # (512, 128)
    assert w.abs().max() <= 1 / math.sqrt(128) and w.abs().max() > 0.97 / math.sqrt(128)
    assert model.cross.blocks[0].mlp.fc1.bias.abs().max() > 0
    assert model.motion_pos.std().item() == pytest.approx(1.0, rel=0.05)


# ----------------------------------------------------------------------------- training sanity


def test_tiny_model_overfits_one_window():
    torch.manual_seed(0)
    cfg = get_preset("tiny", d_model=32)
    model = build_model(cfg)
    t = torch.arange(240.0)[:, None] / 60  # seconds at 60 fps
    freq, phase, amp = torch.rand(1, 225) * 2 + 0.5, torch.rand(1, 225) * 6.3, torch.rand(1, 225)
    motion = (amp * torch.sin(2 * math.pi * freq * t + phase))[None]  # smooth, like real motion
    audio = torch.randn(1, 240, 35)
    m, a, target = split_window(motion, audio, cfg)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, eps=get_preset_training("tiny")["adam_eps"])
    losses = []
    for _ in range(200):
        loss = fact_loss(model(m, a), target, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 100


# ----------------------------------------------------------------------------- model files


def test_model_file_round_trip_is_exact(tmp_path):
    torch.manual_seed(0)
    cfg = get_preset("tiny")
    model = build_model(cfg)
    path = save_model_file(tmp_path / "sub" / "m.pt", model, cfg, conventions=CONVENTIONS, step=1234, preset="tiny",
                           data={"sequences": ["gBR_sBM_cAll_d04_mBR0_ch01"]})
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]  # no temporary file left behind
    loaded, cfg2, meta = load_model_file(path, check_conventions=check_conventions)
    assert cfg2 == cfg and not loaded.training
    assert meta == {"step": 1234, "preset": "tiny", "data": {"sequences": ["gBR_sBM_cAll_d04_mBR0_ch01"]},
                    "conventions": CONVENTIONS}
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    motion, audio, _ = random_inputs(cfg)
    assert torch.equal(loaded(motion, audio), model.eval()(motion, audio))


def test_model_state_is_a_plain_dict():
    cfg = get_preset("tiny")
    state = model_state(build_model(cfg), cfg, conventions=CONVENTIONS, step=3)
    assert state["format"] == "aichoreo-model" and state["model"] == "fact" and state["meta"] == {"step": 3}
    assert state["format_version"] == 2 and state["conventions"] == CONVENTIONS
    assert state["config"] == cfg.to_dict()
    with pytest.raises(TypeError, match="not a plain value"):
        model_state(build_model(cfg), cfg, conventions=CONVENTIONS, when=object())
    with pytest.raises(ValueError, match="another config"):
        model_state(build_model(cfg), get_preset("tiny", d_model=32), conventions=CONVENTIONS)
    with pytest.raises(TypeError, match="conventions"):
        model_state(build_model(cfg), cfg, conventions={})


def test_corrupt_model_file_names_the_file(tmp_path):
    cfg = get_preset("tiny")
    good = save_model_file(tmp_path / "good.pt", build_model(cfg), cfg, conventions=CONVENTIONS)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a model\n" * 10)
    for path in (truncated, garbage):
        with pytest.raises(InputError, match="corrupt or not a torch file") as err:
            load_model_file(path)
        assert str(path) in str(err.value)
    with pytest.raises(InputError, match="no such model file"):
        load_model_file(tmp_path / "missing.pt")


class NotAWeight:
    """An arbitrary class: ``weights_only=True`` refuses to unpickle it."""


def test_foreign_files_are_refused(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(InputError, match="not an aichoreo model file"):
        load_model_file(other)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"format": "aichoreo-model", "obj": NotAWeight()}, unsafe)
    with pytest.raises(InputError, match=r"unsafe\.pt: not an aichoreo model file"):
        load_model_file(unsafe)


def test_state_dict_that_does_not_fit_the_config(tmp_path):
    cfg = get_preset("tiny")
    state = model_state(build_model(cfg), cfg, conventions=CONVENTIONS)
    state["config"]["d_model"] = 32  # the weights are still 16 wide
    path = tmp_path / "wrong.pt"
    torch.save(state, path)
    with pytest.raises(InputError, match=r"wrong\.pt: state_dict does not fit the config: .*motion_pos has shape "
                                         r"\(120, 16\), the config needs \(120, 32\)"):
        load_model_file(path)
    state = model_state(build_model(cfg), cfg, conventions=CONVENTIONS)
    state["config"]["cross_layers"] = 2
    torch.save(state, path)
    with pytest.raises(InputError, match=r"missing \d+ tensors \(cross\.blocks\.1\."):
        load_model_file(path)
    state["config"]["fusion"] = "sideways"
    torch.save(state, path)
    with pytest.raises(InputError, match="bad fact config: fusion must be one of"):
        load_model_file(path)


# ----------------------------------------------------------------------------- conventions, finite weights


def _tiny_file(tmp_path, name="m.pt", **state_changes):
    cfg = get_preset("tiny")
    torch.manual_seed(0)
    state = model_state(build_model(cfg), cfg, conventions=CONVENTIONS, step=5)
    state.update(state_changes)
    path = tmp_path / name
    torch.save(state, path)
    return path


@pytest.mark.parametrize("change, message", [
    ({"fps": 30.0}, "the model was trained at 30 fps, this aichoreo generates at 60 fps"),
    ({"music_features": {**CONVENTIONS["music_features"], "hop_length": 256, "n_mfcc": 13}},
     "trained on music features with hop_length=256, n_mfcc=13; this aichoreo computes hop_length=512, n_mfcc=20"),
    ({"joints": {"set": "smplx55", "names": ["pelvis"] * 55}}, "skeleton is 'smplx55' \\(55 joints\\)"),
    ({"motion": "edge-151"}, "reads and writes 'edge-151' motion vectors"),
    ({"velocity_units": "cm/s"}, "does not know \\(velocity_units\\)"),
])
def test_a_model_of_other_conventions_is_refused_in_one_line(tmp_path, change, message):
    path = _tiny_file(tmp_path, conventions={**CONVENTIONS, **change})
    with pytest.raises(InputError, match=message) as err:
        load_model_file(path, check_conventions=check_conventions)
    assert str(err.value).startswith(f"{path}: cannot be used here") and "\n" not in str(err.value)
    # The package alone does not judge conventions; it hands them back.
    assert load_model_file(path)[2]["conventions"]["motion"] == {**CONVENTIONS, **change}["motion"]


def test_public_load_model_and_dance_check_the_conventions_and_the_weights(tmp_path, capsys):
    import aichoreo
    from aichoreo.cli import main

    path = _tiny_file(tmp_path, conventions={**CONVENTIONS, "fps": 30.0})
    with pytest.raises(InputError, match="trained at 30 fps"):
        aichoreo.load_model(str(path))
    song = tmp_path / "song.wav"
    song.write_bytes(b"RIFF")  # never read: the model is refused first
    capsys.readouterr()
    assert main(["dance", str(song), "--checkpoint", str(path), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"{path}: cannot be used here: the model was trained at 30 fps" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    # A diverged run's model (NaN weights) used to reach generation and die in a LinAlgError traceback.
    state = torch.load(_tiny_file(tmp_path, "nan.pt"), weights_only=True)
    state["state_dict"]["cross.blocks.0.attn.qkv.weight"][0, 0] = float("nan")
    torch.save(state, tmp_path / "nan.pt")
    assert main(["dance", str(song), "--checkpoint", str(tmp_path / "nan.pt"), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'nan.pt'}: holds non-finite weights (NaN/inf) in 1 tensors" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_format_1_file_loads_as_facts_conventions_with_its_optimiser_in_meta(tmp_path):
    # Written as aichoreo wrote model files before conventions were recorded: no "conventions",
    # the optimiser keys inside "config".
    legacy = {"batch_size": 16, "lr": 3e-4, "lr_milestones": [4500], "lr_gamma": 0.1, "adam_betas": [0.9, 0.999],
              "adam_eps": 1e-7, "max_steps": 8000}
    cfg = get_preset("tiny")
    path = _tiny_file(tmp_path, format_version=1, config={**cfg.to_dict(), **legacy})
    state = torch.load(path, weights_only=True)
    del state["conventions"]
    torch.save(state, path)
    seen = []
    model, cfg2, meta = load_model_file(path, check_conventions=lambda found, p: seen.append(found))
    assert seen == [None] and cfg2 == cfg and meta["training"] == legacy and "conventions" not in meta
    check_conventions(None, path)  # format 1 reads as FACT's: this aichoreo's
    assert version1_conventions() == CONVENTIONS
    assert version1_conventions()["fps"] == 60.0 and version1_conventions()["music_features"]["n_mfcc"] == 20
    # A format-2 file must carry its conventions.
    broken = _tiny_file(tmp_path, "broken.pt")
    state = torch.load(broken, weights_only=True)
    del state["conventions"]
    torch.save(state, broken)
    with pytest.raises(InputError, match=r"broken\.pt: model file format 2 without its 'conventions'"):
        load_model_file(broken)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_naming_the_file(tmp_path, bad):
    cfg = get_preset("tiny")
    model = build_model(cfg)
    with torch.no_grad():
        model.head.weight[3, 1] = bad
    path = save_model_file(tmp_path / "diverged.pt", model, cfg, conventions=CONVENTIONS)
    with pytest.raises(InputError, match=r"diverged\.pt: holds non-finite weights \(NaN/inf\) in 1 tensors "
                                         r"\(head\.weight\); it was saved from a diverged run"):
        load_model_file(path)


def test_a_huge_weight_and_a_changed_byte_are_refused_naming_the_file(tmp_path):
    """A weight of 1e30 loaded, and the dance's rotations became NaN (an SVD traceback); a byte changed
    in a copy of the file loaded as a changed weight and danced without complaint."""
    cfg = get_preset("tiny")
    model = build_model(cfg)
    with torch.no_grad():
        model.head.weight[3, 1] = 1e30
    path = save_model_file(tmp_path / "huge.pt", model, cfg, conventions=CONVENTIONS)
    with pytest.raises(InputError, match=r"huge\.pt: holds weights beyond 1e\+06 in 1 tensors \(head\.weight\)"):
        load_model_file(path)
    good = save_model_file(tmp_path / "good.pt", build_model(cfg), cfg, conventions=CONVENTIONS)
    data = bytearray(good.read_bytes())
    import zipfile

    with zipfile.ZipFile(good) as archive:  # a byte inside the largest tensor's stored data
        info = max(archive.infolist(), key=lambda i: i.file_size)
    data[info.header_offset + 30 + len(info.filename) + len(info.extra) + info.file_size // 2] ^= 0x40
    (tmp_path / "flipped.pt").write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"flipped\.pt: damaged model file: its part .* fails its checksum"):
        load_model_file(tmp_path / "flipped.pt")


def test_a_damaged_meta_entry_is_refused_naming_the_file(tmp_path):
    cfg = get_preset("tiny")
    path = save_model_file(tmp_path / "m.pt", build_model(cfg), cfg, conventions=CONVENTIONS)
    state = torch.load(path, weights_only=True)
    state["meta"] = 5
    torch.save(state, path)
    with pytest.raises(InputError, match=r"m\.pt: damaged model file: its 'meta' entry is a int"):
        load_model_file(path)


def test_optimiser_settings_left_the_model_config():
    for name in available_presets():
        assert not set(LEGACY_TRAINING_KEYS) & set(get_preset(name).to_dict()), name
    # The training settings every preset had before they moved (batch, lr, milestones, gamma, Adam, steps).
    released = {"batch_size": 32, "lr": 1e-4, "lr_milestones": (100_000, 150_000), "adam_eps": 1e-7}
    small = {"batch_size": 16, "lr": 3e-4, "lr_milestones": (6_000,), "adam_eps": 1e-7, "max_steps": 8_000}
    for name in ("fact", "fact-causal", "fact-future1", "fact-future10", "fact-nofusion", "fact-latefusion", "tiny"):
        assert get_preset_training(name) == released, name
    for name in ("fact-small", "fact-small-causal", "fact-small-future1", "fact-small-future10",
                 "fact-small-nofusion", "fact-small-latefusion"):
        assert get_preset_training(name) == small, name
    for name in ("li2020", "dancenet", "dancerevolution"):
        assert get_preset_training(name) == {"batch_size": 32, "lr": 1e-4}, name
        assert get_preset_training(f"{name}-small") == {"batch_size": 16, "lr": 3e-4, "lr_milestones": (6_000,),
                                                        "max_steps": 8_000}
    with pytest.raises(InputError, match="fact-huge"):
        get_preset_training("fact-huge")


def test_presets_resolve_to_the_same_training_settings_as_before():
    from aichoreo.config import resolve_experiment
    from aichoreo.train import TrainConfig, learning_rate

    _, fact = resolve_experiment("fact")
    assert (fact.batch_size, fact.lr, fact.lr_milestones, fact.lr_gamma, fact.adam_betas, fact.adam_eps,
            fact.max_steps) == (32, 1e-4, (100_000, 150_000), 0.1, (0.9, 0.999), 1e-7, None)
    model, small = resolve_experiment("fact-small", ["lr=1e-3", "d_model=64", "train.lr_milestones=10,20"])
    assert (small.batch_size, small.lr, small.lr_milestones, small.adam_eps, small.max_steps, model.d_model) == (
        16, 1e-3, (10, 20), 1e-7, 8_000, 64)
    _, li = resolve_experiment("li2020-small")
    assert (li.batch_size, li.lr, li.lr_milestones, li.adam_eps, li.max_steps) == (16, 3e-4, (6_000,), 1e-8, 8_000)
    assert [learning_rate(s, fact) for s in (0, 99_999)] == [1e-4, 1e-4]
    assert learning_rate(150_000, fact) == pytest.approx(1e-6)
    with pytest.raises(InputError, match="model config has no field 'lr'"):
        resolve_experiment("fact", ["model.lr=1e-3"])
    for field, value, message in [("lr", -1.0, "lr must be a positive"),
                                  ("lr_milestones", (150_000, 100_000), "lr_milestones"),
                                  ("adam_betas", (0.9,), "adam_betas"), ("batch_size", 0, "batch_size"),
                                  ("lr_gamma", 2.0, "lr_gamma"), ("max_steps", 0, "max_steps")]:
        with pytest.raises(ValueError, match=message):
            TrainConfig(**{field: value})


# ----------------------------------------------------------------------------- the bundled model

# sha256 over (name, dtype, bytes) of the bundled weights, sorted by name: the trained run's
# float16 weights (re-saving the file for format 2, and again with its seed pose, kept them bit-identical).
DEFAULT_WEIGHTS_SHA256 = "0f2419a20c6354d9c38389e4ca2974043d70571646f46ccc7f9a301832acd45b"


def test_the_bundled_model_loads_carries_its_conventions_and_no_machine_path():
    import hashlib

    import numpy as np

    import aichoreo
    from aichoreo.generate import generate
    from aichoreo.models import bundled_model_path
    from aichoreo.train import absolute_paths

    model, cfg, meta = aichoreo.load_model("default")
    raw = torch.load(bundled_model_path("default"), weights_only=True)
    assert raw["format_version"] == 2 and raw["conventions"] == CONVENTIONS
    assert not set(LEGACY_TRAINING_KEYS) & set(raw["config"])
    assert meta["training"]["lr"] == 3e-4 and meta["preset"] == "fact-small"
    assert len(meta["seed"]["pose_axis_angle"]) == 24  # the built-in seed pose (scripts/ship_model.py --seed-data)
    everything = {k: v for k, v in raw.items() if k != "state_dict"}
    assert absolute_paths(everything) == [], absolute_paths(everything)
    assert not any(root in json.dumps(everything) for root in ("/work/", "/home/", "/root/", "/Users/", ":\\\\"))
    digest = hashlib.sha256()
    for name in sorted(raw["state_dict"]):
        tensor = raw["state_dict"][name]
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    assert digest.hexdigest() == DEFAULT_WEIGHTS_SHA256
    rng = np.random.default_rng(0)
    music = rng.normal(size=(400, 35)).astype(np.float32)
    seed = rng.normal(size=(120, 225)).astype(np.float32) * 0.1
    seed[:, :6] = 0
    out = generate(model, music[None], seed[None], n_frames=60)
    assert out.shape == (1, 180, 225) and np.isfinite(out).all()
    # What the bundled model generated for this input before the re-saves: 8306.708.
    assert float(np.abs(out).sum()) == pytest.approx(8306.708, rel=1e-4)


def test_a_runs_model_file_meta_names_no_machine_path_and_records_the_datas_conventions(tmp_path):
    from aichoreo.data.dataset import PreparedDataset, write_index
    from aichoreo.train import TrainConfig, absolute_paths, model_file_meta, without_paths

    assert without_paths("DWM from /data/x/dance_with_melody, fitted; N/A km/h") == \
        "DWM from dance_with_melody, fitted; N/A km/h"
    assert without_paths(r"AIST++ from C:\Users\me\aist (music /srv/music/)") == "AIST++ from aist (music music)"
    root = tmp_path / "prepared-30fps"
    write_index(root, [], fps=30.0, music_spec={**CONVENTIONS["music_features"], "sample_rate": 15_360},
                description=f"AIST++ from {tmp_path}/aist (music {tmp_path}/music)")
    meta = model_file_meta("fact-small", PreparedDataset(root), TrainConfig(lr=3e-4, batch_size=16))
    assert meta["data"] == "prepared-30fps" and meta["data_description"] == "AIST++ from aist (music music)"
    assert absolute_paths(meta) == [] and meta["training"]["lr"] == 3e-4 and meta["training"]["batch_size"] == 16
    assert meta["conventions"]["fps"] == 30.0 and meta["conventions"]["music_features"]["sample_rate"] == 15_360
    # Such a model is refused by this aichoreo (60 fps, 30,720 Hz features).
    with pytest.raises(InputError, match="trained at 30 fps.*sample_rate=15360"):
        check_conventions(meta["conventions"], "m.pt")


def test_resume_compares_model_and_optimiser_in_both_run_config_layouts():
    from aichoreo.train import TrainConfig, resume_mismatch

    cfg, tc = get_preset("tiny"), TrainConfig(**get_preset_training("tiny"))
    new = {"model": cfg.to_dict(), "train": json.loads(json.dumps(dataclasses.asdict(tc)))}
    assert resume_mismatch(new, cfg, dataclasses.replace(tc, max_steps=50, num_workers=0)) is None
    assert "other training settings (lr)" in resume_mismatch(new, cfg, dataclasses.replace(tc, lr=1.0))
    assert "another model config (d_model)" in resume_mismatch(new, get_preset("tiny", d_model=32), tc)
    # A run folder from before the move: the optimiser inside "model", engine fields only in "train".
    old = {"model": {**cfg.to_dict(), "batch_size": 32, "lr": 1e-4, "lr_milestones": [100_000, 150_000],
                     "lr_gamma": 0.1, "adam_betas": [0.9, 0.999], "adam_eps": 1e-7, "max_steps": None},
           "train": {"checkpoint_every": 1000, "seed": 0}}
    assert resume_mismatch(old, cfg, tc) is None
    assert "other training settings (adam_eps)" in resume_mismatch(old, cfg, dataclasses.replace(tc, adam_eps=1e-8))
    # A run started before fact-small-v2's fields existed: they take their defaults, as its files do.
    older = {"model": {k: v for k, v in cfg.to_dict().items()
                       if k not in ("root_frame", "prediction", "ground_input", "context_noise")}, "train": new["train"]}
    assert resume_mismatch(older, cfg, tc) is None
    assert "another model config (context_noise)" in resume_mismatch(older, get_preset("tiny", context_noise=0.1), tc)
    assert "other training settings (mirror)" in resume_mismatch(new, cfg, dataclasses.replace(tc, mirror=True))
    # another seed resumed into other windows, and config.json kept the first
    assert "other training settings (seed)" in resume_mismatch(new, cfg, dataclasses.replace(tc, seed=tc.seed + 5))


@pytest.mark.parametrize("changes", [{}, {"fusion": "none", "motion_layers": 2, "audio_layers": 0, "cross_layers": 0},
                                     {"fusion": "late"}, {"token_order": "audio-motion"},
                                     {"attention": "causal", "target_len": 120, "token_order": "audio-motion"},
                                     {"prediction": "anchored", "root_frame": "last"}])
def test_forward_n_out_equals_the_full_output_sliced(changes):
    """Generation asks for the first tokens only; the last block then computes them alone."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(get_preset("tiny"), **changes)
    model = FACT(cfg).eval()
    motion, audio = torch.randn(2, cfg.motion_len, 225), torch.randn(2, cfg.audio_len, 35)
    with torch.no_grad():
        full = model(motion, audio)
        for n in (1, 20, full.shape[1]):
            assert torch.allclose(model(motion, audio, n_out=n), full[:, :n], atol=1e-5)
        with pytest.raises(ValueError, match="n_out"):
            model(motion, audio, n_out=0)
