"""Style (issue 17): style-conditioned FACT, guidance, training with the data's genres, the CLI, and
the style classifier that measures it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic_data import swaying_dataset

from aichoreo.cli import main
from aichoreo.data.dataset import PreparedDataset
from aichoreo.data.windows import FixedWindows, RandomWindows
from aichoreo.errors import InputError
from aichoreo.generate import STYLE_STRENGTH, generate
from aichoreo.metrics import StyleClassifier
from aichoreo.models import FACT, FACTConfig, build_model, get_preset, get_preset_training, load_model_file
from aichoreo.motion import SMPLMotion
from aichoreo.rotations import axis_angle_to_matrix
from aichoreo.train import with_data_styles

ROOT = Path(__file__).resolve().parents[1]
SONG = ROOT / "src" / "aichoreo" / "assets" / "music" / "demo_120bpm.ogg"
STYLES = ("cha-cha", "rumba", "waltz")


def _styled(**changes) -> FACTConfig:
    return get_preset("tiny", **{"styles": STYLES, "style_dropout": 0.15, **changes})


def _inputs(cfg: FACTConfig, b: int = 3):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(b, cfg.motion_len, cfg.motion_dim, generator=g),
            torch.randn(b, cfg.audio_len, cfg.audio_dim, generator=g))


def test_config_checks_and_round_trips_its_styles():
    cfg = _styled()
    assert FACTConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg  # lists come back as a tuple
    assert cfg.style_label("auto") == 0 and cfg.style_label("cha-cha") == 1 and cfg.style_label("waltz") == 3
    with pytest.raises(ValueError, match="unknown style 'tango'; this model knows cha-cha, rumba, waltz"):
        cfg.style_label("tango")
    with pytest.raises(ValueError, match="has no styles"):
        get_preset("tiny").style_label("waltz")
    for bad in ({"styles": ("waltz", "waltz")}, {"styles": ("auto",)}, {"styles": ("",)},
                {"style_dropout": 1.0}, {"style_dropout": -0.1}, {"style_music_swap": 1.5},
                {"style_music_swap": True}):
        with pytest.raises(ValueError):
            get_preset("tiny", **bad)
    assert get_preset("fact-small-style").style_dropout == 0.15  # issue 17: 10-20 %
    assert get_preset_training("fact-small-style")["style_balance"] is True


def test_the_style_changes_the_output_and_none_is_label_zero():
    torch.manual_seed(0)
    model = build_model(_styled()).eval()
    motion, audio = _inputs(model.config)
    plain = model(motion, audio)
    assert torch.equal(plain, model(motion, audio, style=torch.zeros(3, dtype=torch.long)))
    styled = model(motion, audio, style=torch.tensor([1, 2, 3]))
    assert (styled - plain).abs().amax(dim=(1, 2)).min() > 1e-4  # each style moves every window
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\]"):
        model(motion, audio, style=torch.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match="long tensor"):
        model(motion, audio, style=torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="has no styles"):
        build_model(get_preset("tiny"))(motion, audio, style=torch.tensor([1, 1, 1]))


def test_guidance_is_the_classifier_free_mix():
    torch.manual_seed(0)
    model = build_model(_styled()).eval()
    motion, audio = _inputs(model.config)
    style = torch.tensor([2, 0, 3])
    c = model(motion, audio, n_out=20, style=style)
    u = model(motion, audio, n_out=20)
    assert torch.allclose(model.guided(motion, audio, 20, style, 1.0), c)
    assert torch.allclose(model.guided(motion, audio, 20, style, 0.0), u, atol=1e-6)
    g = model.guided(motion, audio, 20, style, 2.5)
    assert torch.allclose(g, u + 2.5 * (c - u), atol=1e-5)
    assert torch.allclose(g[1], u[1], atol=1e-6)  # label 0 (auto) is the unconditioned dance at any strength


def test_style_dropout_hides_the_style_of_that_share_of_windows():
    torch.manual_seed(0)
    model = build_model(_styled(style_dropout=0.5))
    cfg = model.config
    motion = torch.randn(8, cfg.motion_frames, cfg.motion_dim)
    audio = torch.randn(8, cfg.audio_len, cfg.audio_dim)
    style = torch.tensor([1, 2, 3, 1, 2, 3, 1, 2])
    model.eval()
    with pytest.raises(ValueError, match="needs the windows' style labels"):
        model.training_loss(motion, audio)
    # In training, the same draw of torch.rand decides which labels become 0.
    model.train()
    torch.manual_seed(5)
    dropped = style.masked_fill(torch.rand(style.shape) < 0.5, 0)
    assert 0 < int((dropped == 0).sum()) < 8
    torch.manual_seed(5)
    loss = model.training_loss(motion, audio, style=style)
    model.eval()  # same weights, no dropout: the loss of the masked labels must match
    expected = model.training_loss(motion, audio, style=dropped)
    assert torch.allclose(loss, expected)
    assert not torch.allclose(expected, model.training_loss(motion, audio, style=style))


def test_music_swap_gives_styled_windows_another_styles_music():
    from aichoreo.models.fact import swap_music

    torch.manual_seed(0)
    audio = torch.arange(6, dtype=torch.float32)[:, None, None].expand(6, 4, 2).clone()  # window i's music: i
    style = torch.tensor([1, 2, 3, 0, 1, 2])
    swapped = swap_music(audio, style, 1.0)
    source = swapped[:, 0, 0].long()  # whose music each window now has
    assert (source[3] == 3) and (style[source[[0, 1, 2, 4, 5]]] != style[[0, 1, 2, 4, 5]]).all()
    assert (style[source[[0, 1, 2, 4, 5]]] > 0).all()  # never the music of a window shown without a style
    assert torch.equal(swap_music(audio, style, 0.0), audio)
    one_style = torch.tensor([2, 2, 0, 2, 2, 2])  # no other style in the batch: nothing to swap with
    assert torch.equal(swap_music(audio, one_style, 1.0), audio)
    torch.manual_seed(1)
    share = np.mean([(swap_music(audio, style, 0.5)[:, 0, 0] != audio[:, 0, 0]).float().mean() for _ in range(400)])
    assert abs(share - 0.5 * 5 / 6) < 0.05  # half of the five styled windows


def test_training_loss_swaps_the_music_of_styled_windows():
    model = build_model(_styled(style_dropout=0.0, style_music_swap=1.0))
    cfg = model.config
    motion = torch.randn(6, cfg.motion_frames, cfg.motion_dim)
    audio = torch.randn(6, cfg.audio_len, cfg.audio_dim)
    style = torch.tensor([1, 2, 3, 1, 2, 3])
    heard = []  # the music the network reads, as its audio embedding gets it
    model.audio_embed.register_forward_hook(lambda module, args, out: heard.append(args[0].detach().clone()))
    model.train()
    torch.manual_seed(3)
    model.training_loss(motion, audio, style=style)
    from aichoreo.models.fact import swap_music

    torch.manual_seed(3)
    swapped = swap_music(audio, style, 1.0)
    model.eval()  # the same draws, made outside; in eval nothing is swapped
    model.training_loss(motion, swapped, style=style)
    model.training_loss(motion, audio, style=style)
    assert torch.equal(heard[0], heard[1]) and not torch.equal(heard[0], heard[2])


def test_windows_carry_their_sequence_style():
    rng = np.random.default_rng(0)
    seqs = [(rng.standard_normal((300, 219)).astype(np.float32), rng.standard_normal((300, 35)).astype(np.float32))
            for _ in range(3)]
    windows = RandomWindows(seqs, window_len=260, motion_frames=140, audio_frames=240, styles=[2, 0, 3])
    for i in range(20):
        seq, _ = windows.locate(i)
        assert int(windows[i]["style"]) == [2, 0, 3][seq]
    assert "style" not in RandomWindows(seqs, window_len=260, motion_frames=140, audio_frames=240)[0]
    fixed = FixedWindows(seqs, window_len=260, motion_frames=140, audio_frames=240, stride=20, styles=[1, 2, 3])
    assert [int(fixed[i]["style"]) for i in range(len(fixed))] == [1] * 3 + [2] * 3 + [3] * 3  # starts 0, 20, 40
    with pytest.raises(ValueError, match="2 style labels for 3 sequences"):
        RandomWindows(seqs, window_len=260, motion_frames=140, audio_frames=240, styles=[1, 2])
    # balance: each style as often, however many sequences it has
    balanced = RandomWindows(seqs, window_len=260, motion_frames=140, audio_frames=240, styles=[1, 1, 2],
                             balance=True)
    drawn = np.bincount([balanced.locate(i)[0] for i in range(3000)], minlength=3) / 3000
    assert abs(drawn[2] - 0.5) < 0.04 and abs(drawn[0] - 0.25) < 0.04 and abs(drawn[1] - 0.25) < 0.04
    assert [balanced.locate(i) for i in range(5)] == [balanced.locate(i) for i in range(5)]  # a function of i
    with pytest.raises(ValueError, match="needs the sequences' styles"):
        RandomWindows(seqs, window_len=260, motion_frames=140, audio_frames=240, balance=True)


def _dataset(root: Path, genres: list[str]) -> Path:
    """The last sequence in val, the others in train."""
    return swaying_dataset(root, ["train"] * (len(genres) - 1) + ["val"], genres=genres, frames=400)


def test_training_names_the_styles_from_the_train_genres(tmp_path):
    data = PreparedDataset(_dataset(tmp_path / "d", ["waltz", "rumba", "waltz", "tango"]))
    cfg = with_data_styles(get_preset("tiny", style_dropout=0.1), data)
    assert cfg.styles == ("rumba", "waltz")  # sorted; tango is only in val
    assert with_data_styles(get_preset("tiny"), data) == get_preset("tiny")  # no style dropout: no styles
    named = get_preset("tiny", style_dropout=0.1, styles=("waltz",))
    assert with_data_styles(named, data) is named
    with pytest.raises(InputError, match="names no genre"):
        with_data_styles(cfg.__class__(**{**cfg.to_dict(), "styles": ()}),
                         PreparedDataset(_dataset(tmp_path / "e", ["", "", ""])))
    # a misspelt style learned from no window (its dance was unconditioned); tango is only in val
    for wrong in ("walz", "tango"):
        with pytest.raises(InputError, match=f"style '{wrong}' names no genre of the train split \\(rumba, waltz\\)"):
            with_data_styles(get_preset("tiny", style_dropout=0, styles=("rumba", wrong)), data)


@pytest.fixture(scope="module")
def style_model(tmp_path_factory) -> Path:
    """A tiny model with styles, trained 2 steps by the CLI on a dataset with genres."""
    tmp = tmp_path_factory.mktemp("style")
    data = _dataset(tmp / "data", ["waltz", "cha-cha", "waltz", "rumba"])
    assert main(["train", "--config", "tiny", "--data", str(data), "--out", str(tmp / "run"), "--max-steps", "2",
                 "--accelerator", "cpu", "--set", "style_dropout=0.2", "--set", "style_music_swap=1",
                 "--set", "batch_size=2",
                 "--set", "num_workers=0", "--set", "checkpoint_every=2", "--set", "val_every=2"]) == 0
    return tmp / "run" / "models" / "last.pt"


def test_trained_model_file_holds_its_styles(style_model, capsys):
    _, cfg, _ = load_model_file(style_model)
    assert cfg.styles == ("cha-cha", "waltz") and cfg.style_music_swap == 1.0
    assert main(["config", "show", str(style_model)]) == 0
    assert "styles: cha-cha, waltz (or auto)" in capsys.readouterr().out
    assert main(["config", "show", str(style_model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["styles"] == ["cha-cha", "waltz"]
    assert main(["config", "show", "default"]) == 0
    assert "styles: none" in capsys.readouterr().out


def _plain_tiny_run(tmp_path: Path):
    """A dataset of waltzes, a cha-cha and a rumba, a tiny config and training settings, and the
    model file of two steps of a run without styles on them: what a style run can start from."""
    from aichoreo.train import TrainConfig, train

    data = PreparedDataset(_dataset(tmp_path / "data", ["waltz", "cha-cha", "waltz", "rumba"]))
    tiny = dataclasses.replace(get_preset("tiny"), motion_len=12, audio_len=24, target_len=4)
    tc = TrainConfig(batch_size=2, lr=1e-3, lr_milestones=(), max_steps=2, num_workers=0, log_every=1)
    plain = Path(train(tiny, data, tmp_path / "plain", train_config=tc, progress=False, accelerator="cpu",
                       devices=1)["last_model"])
    return data, tiny, tc, plain


def test_a_style_model_can_start_from_a_model_without_styles(tmp_path, caplog):
    """--init of a model without styles into one with styles: every shared weight from the file, the
    style embedding at zero, so that the run starts as the file's model dancing unconditioned; the
    other way round is refused (the file's style embedding has no place)."""
    from aichoreo.train import train

    data, tiny, tc, plain = _plain_tiny_run(tmp_path)
    source, _, _ = load_model_file(plain)
    styled_cfg = dataclasses.replace(tiny, style_dropout=0.2)
    with caplog.at_level("WARNING", logger="aichoreo.train"):
        run = train(styled_cfg, data, tmp_path / "styled", train_config=dataclasses.replace(tc, lr=1e-12),
                    progress=False, accelerator="cpu", devices=1, init=plain)
    assert "style_embed.weight starts at zero" in caplog.text
    model, cfg, meta = load_model_file(run["last_model"])
    assert cfg.styles == ("cha-cha", "waltz") and meta["init"] == "last.pt"
    assert float(model.style_embed.weight.detach().abs().max()) < 1e-6
    motion, audio = _inputs(cfg, 2)
    with torch.no_grad():  # unconditioned, it is the file's model
        assert torch.allclose(model.eval()(motion, audio), source.eval()(motion, audio), atol=1e-4)
    with pytest.raises(InputError, match=r"last.pt: --init: its weights do not fit .*unexpected tensors "
                                         r"\(style_embed.weight\)"):
        train(tiny, data, tmp_path / "back", train_config=tc, progress=False, accelerator="cpu", devices=1,
              init=run["last_model"])


def test_train_only_teaches_styles_and_keeps_the_model(tmp_path):
    """train_only=style_embed from a model without styles, no style dropout: every other weight stays
    the file's to the bit and the "none" row stays zero, so the unconditioned dance is the file's
    model's; the styles' rows learn. A name that matches no parameter is refused before training."""
    from aichoreo.train import train

    data, tiny, tc, plain = _plain_tiny_run(tmp_path)
    source, _, _ = load_model_file(plain)
    styled_cfg = dataclasses.replace(tiny, styles=("cha-cha", "waltz"), style_dropout=0.0)
    only = dataclasses.replace(tc, lr=1e-2, train_only=("style_embed",))
    run = train(styled_cfg, data, tmp_path / "styled", train_config=only, progress=False, accelerator="cpu",
                devices=1, init=plain)
    model, cfg, meta = load_model_file(run["last_model"])
    assert meta["training"]["train_only"] == ["style_embed"]
    kept = source.state_dict()
    for name, value in model.state_dict().items():
        if name != "style_embed.weight":
            assert torch.equal(value, kept[name]), name
    rows = model.style_embed.weight.detach()
    assert torch.equal(rows[0], torch.zeros_like(rows[0]))  # none: never seen, never moved
    assert bool((rows[1:].abs().sum(-1) > 0).all())  # each style learned something
    with pytest.raises(InputError, match=r"train_only names no parameter of this model: style_embeds "
                                         r"\(it has audio_embed, .*style_embed\)"):
        train(styled_cfg, data, tmp_path / "bad", train_config=dataclasses.replace(only, train_only=("style_embeds",)),
              progress=False, accelerator="cpu", devices=1, init=plain)
    assert not (tmp_path / "bad").exists()


def test_train_only_without_init_says_the_rest_stays_random(tmp_path, caplog):
    from aichoreo.train import train

    data, tiny, tc, _ = _plain_tiny_run(tmp_path)
    styled_cfg = dataclasses.replace(tiny, styles=("cha-cha", "waltz"), style_dropout=0.0)
    with caplog.at_level("WARNING", logger="aichoreo.train"):
        train(styled_cfg, data, tmp_path / "random", train_config=dataclasses.replace(tc, train_only=("style_embed",)),
              progress=False, accelerator="cpu", devices=1)
    assert "without --init: every other parameter stays at its random initial value" in caplog.text


def test_dance_in_a_style(style_model, tmp_path):
    assert main(["dance", str(SONG), "--checkpoint", str(style_model), "-o", str(tmp_path / "a"), "--seconds", "5",
                 "--formats", "joints", "--style", "waltz", "--style-strength", "3"]) == 0
    summary = json.loads((tmp_path / "a" / SONG.stem / "dance.json").read_text())
    assert summary["options"]["style"] == "waltz" and summary["options"]["style_strength"] == 3.0
    assert main(["dance", str(SONG), "--checkpoint", str(style_model), "-o", str(tmp_path / "b"), "--seconds", "5",
                 "--formats", "joints"]) == 0
    auto = json.loads((tmp_path / "b" / SONG.stem / "dance.json").read_text())
    assert auto["options"]["style"] == "auto" and auto["options"]["style_strength"] == STYLE_STRENGTH
    waltz = np.load(tmp_path / "a" / SONG.stem / "dance_joints.npy")
    plain = np.load(tmp_path / "b" / SONG.stem / "dance_joints.npy")
    assert waltz.shape == plain.shape and not np.allclose(waltz[120:], plain[120:])
    assert np.allclose(waltz[:100, :, [0, 2]], plain[:100, :, [0, 2]], atol=1e-3)  # the same seed (its height
    # follows the floor fit over the whole dance)


def test_style_errors_are_one_line(style_model, tmp_path, capsys):
    cases = [(["--checkpoint", str(style_model), "--style", "tango"], "unknown style 'tango'; this model knows "
              "cha-cha, waltz (or auto)"),
             (["--style", "waltz"], "has no styles"),  # the bundled default model
             (["--checkpoint", str(style_model), "--style", "waltz", "--style-strength", "30"], "--style-strength")]
    for extra, message in cases:
        code = main(["dance", str(SONG), "-o", str(tmp_path / "x"), "--seconds", "5", "--formats", "joints", *extra])
        err = capsys.readouterr().err.strip()
        assert code != 0 and message in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert not (tmp_path / "x" / SONG.stem).exists()
    with pytest.raises(SystemExit):
        main(["dance", str(SONG), "-o", str(tmp_path / "x"), "--style-strength", "-1"])


def test_generate_checks_style_labels():
    torch.manual_seed(0)
    model = build_model(_styled()).eval()
    cfg = model.config
    music, seed = np.zeros((300, 35), np.float32), np.zeros((120, 225), np.float32)
    a = generate(model, music, seed, 20, frames_per_step=20, style=2, style_strength=2.0)
    b = generate(model, music, seed, 20, frames_per_step=20)
    assert a.shape == b.shape == (140, 225) and not np.allclose(a, b)
    for bad, message in ((7, r"labels must be in \[0, 3\]"), ([1, 2], "one per song"), (1.5, "integer label")):
        with pytest.raises(ValueError, match=message):
            generate(model, music, seed, 20, frames_per_step=20, style=bad)
    with pytest.raises(ValueError, match="style_strength"):
        generate(model, music, seed, 20, frames_per_step=20, style=1, style_strength=-1.0)
    with pytest.raises(ValueError, match="has no styles"):
        generate(build_model(get_preset("tiny")), music, seed, 20, frames_per_step=20, style=1)
    assert isinstance(model, FACT) and dataclasses.replace(cfg, style_dropout=0.2).styles == STYLES


def _swing(n: int, hz: float, amplitude: float, seed: int) -> np.ndarray:
    """Joints (n, 24, 3) of a body swinging its arms at ``hz``: a constructed 'style'."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None] / 60.0
    pose = np.zeros((n, 24, 3))
    pose[:, 16, 2] = amplitude * np.sin(2 * np.pi * hz * t[:, 0] + rng.uniform(0, 6))
    pose[:, 17, 2] = -pose[:, 16, 2]
    pose[:, 1, 0] = 0.2 * amplitude * np.sin(2 * np.pi * hz * t[:, 0])
    transl = np.concatenate([0.05 * rng.standard_normal() + 0.1 * np.sin(0.3 * t), np.full_like(t, 0.9),
                             0.1 * np.cos(0.3 * t)], axis=1)
    return SMPLMotion(axis_angle_to_matrix(pose + 0.02 * rng.standard_normal(pose.shape)), transl).joints()


def test_style_classifier_tells_constructed_styles_apart():
    slow = [_swing(900, 0.5, 0.4, s) for s in range(3)]
    fast = [_swing(900, 2.5, 1.0, s) for s in range(3, 6)]
    clf = StyleClassifier.fit(slow + fast, ["slow"] * 3 + ["fast"] * 3)
    assert clf.styles == ("fast", "slow")
    assert clf.accuracy([_swing(900, 0.5, 0.4, 9)], "slow") == 1.0
    assert clf.accuracy([_swing(900, 2.5, 1.0, 9)], "fast") == 1.0
    assert clf.accuracy([_swing(900, 2.5, 1.0, 9)], "slow") == 0.0
    assert len(clf.predict(_swing(900, 0.5, 0.4, 9))) == 5  # 5 s clips every 2.5 s
    assert clf.predict(_swing(200, 0.5, 0.4, 9)) == [] and np.isnan(clf.accuracy([_swing(200, 0.5, 0.4, 9)], "slow"))
    with pytest.raises(ValueError, match="knows fast, slow, not 'waltz'"):
        clf.accuracy(slow, "waltz")
    with pytest.raises(ValueError, match="two styles or more"):
        StyleClassifier.fit(slow, ["slow"] * 3)


def test_the_bundled_styles_model():
    import aichoreo
    from aichoreo.train import absolute_paths

    model, cfg, meta = aichoreo.load_model("styles")
    assert cfg.styles == STYLES and meta["preset"] == "fact-small-style"
    assert meta["training"]["style_balance"] is True and meta["weights_dtype"] == "float16"
    assert not absolute_paths({k: v for k, v in meta.items() if k != "conventions"})
    assert len(meta["seed"]["pose_axis_angle"]) == 24  # the built-in seed pose, as the default model's
    # Guided by a style, the bundled model's pass differs from the unconditioned one.
    motion, audio = _inputs(cfg, b=1)
    with torch.no_grad():
        styled = model.guided(motion, audio, 20, torch.tensor([3]), STYLE_STRENGTH)
        plain = model(motion, audio, n_out=20)
    assert (styled - plain).abs().max() > 1e-3


def test_quality_report_refuses_a_style_the_model_lacks(tmp_path, capsys):
    data = _dataset(tmp_path / "d", ["waltz", "rumba", "waltz"])
    assert main(["quality", "--data", str(data), "-o", str(tmp_path / "q"), "--style", "waltz"]) != 0
    err = capsys.readouterr().err.strip()
    assert "default: this model has no styles" in err and len(err.splitlines()) == 1
