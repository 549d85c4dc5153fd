"""Training engine: windows, schedule, model files, exact resume, bad data."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from aichoreo.data.dataset import PreparedDataset, SequenceEntry, write_index, write_sequence
from aichoreo.data.windows import RandomWindows, StepSampler
from aichoreo.errors import InputError
from aichoreo.models import get_preset, get_preset_training, load_model_file
from aichoreo.train import TrainConfig, TrainingDiverged, checkpoint_problem, learning_rate, train

TINY = dataclasses.replace(get_preset("tiny"), motion_len=12, audio_len=24, target_len=4)
TINY_TRAIN = {"batch_size": 4, "lr": 1e-3, "lr_milestones": (6,), "max_steps": 8, "num_workers": 0, "log_every": 1}


def _tc(**fields) -> TrainConfig:
    """The tiny training config with ``fields`` replaced."""
    return TrainConfig(**{**TINY_TRAIN, **fields})


def _sequence(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(n)[:, None]
    motion = np.concatenate([0.1 * np.sin(t / 7 + rng.uniform(0, 6, 3)),
                             np.tile(np.eye(3).ravel(), (n, 24)) + 0.05 * np.sin(t / 5 + rng.uniform(0, 6, 216))], 1)
    music = rng.standard_normal((n + 10, 35)) * 0.1
    return motion.astype(np.float32), music.astype(np.float32)


@pytest.fixture
def dataset(tmp_path: Path) -> PreparedDataset:
    rng = np.random.default_rng(0)
    entries = []
    for i, (split, n) in enumerate([("train", 80), ("train", 60), ("train", 10), ("val", 50)]):
        name = f"seq{i}"
        write_sequence(tmp_path / "data", name, *_sequence(rng, n))
        entries.append(SequenceEntry(name=name, split=split, n_frames=n))
    write_index(tmp_path / "data", entries, fps=60.0, music_spec={})
    return PreparedDataset(tmp_path / "data")


def test_windows_are_a_function_of_the_index(dataset):
    seqs = [(s.motion, s.music) for s in dataset.load_split("train")]
    a = RandomWindows(seqs, window_len=24, motion_frames=16, audio_frames=24, seed=3)
    b = RandomWindows(seqs, window_len=24, motion_frames=16, audio_frames=24, seed=3)
    assert a.n_dropped == 1  # the 10-frame sequence cannot hold a window
    for i in (0, 5, 1234):
        wa, wb = a[i], b[i]
        assert torch.equal(wa["motion"], wb["motion"]) and torch.equal(wa["audio"], wb["audio"])
        assert wa["motion"].shape == (16, 225) and wa["audio"].shape == (24, 35)
        assert torch.all(wa["motion"][:, :6] == 0)  # mint's 6-dim zero pad
    seq, start = a.locate(7)
    assert 0 <= start <= a.lengths[seq] - 24
    # Motion and audio windows share the start frame.
    w = a[7]
    assert torch.equal(w["motion"][:, 6:], torch.from_numpy(seqs[[0, 1][seq]][0][start:start + 16]))
    assert torch.equal(w["audio"], torch.from_numpy(seqs[[0, 1][seq]][1][start:start + 24]))


def test_step_sampler_splits_global_batches_over_processes():
    r0 = list(StepSampler(batch_size=2, n_steps=3, rank=0, world_size=2))
    r1 = list(StepSampler(batch_size=2, n_steps=3, rank=1, world_size=2))
    assert r0 == [0, 1, 4, 5, 8, 9] and r1 == [2, 3, 6, 7, 10, 11]
    resumed = list(StepSampler(batch_size=2, n_steps=3, first_step=lambda: 2, rank=0, world_size=1))
    assert resumed == [4, 5]


def test_learning_rate_schedule_of_the_released_config():
    cfg = TrainConfig(**get_preset_training("fact"))
    assert learning_rate(0, cfg) == 1e-4
    assert learning_rate(99_999, cfg) == 1e-4
    assert learning_rate(100_000, cfg) == pytest.approx(1e-5)
    assert learning_rate(150_000, cfg) == pytest.approx(1e-6)


def _losses(run: Path) -> list[float]:
    frames = [pd.read_csv(f) for f in sorted((run / "logs").glob("version_*/metrics.csv"))]
    rows = pd.concat(frames).dropna(subset=["train/loss"])
    return list(rows.groupby("step")["train/loss"].last())


def test_train_writes_model_files_and_resumes_exactly(dataset, tmp_path):
    tc = _tc(checkpoint_every=4, keep_last=2, val_every=4)
    full = train(TINY, dataset, tmp_path / "full", train_config=tc, progress=False, accelerator="cpu", devices=1)
    assert full["steps"] == 8
    models = sorted(p.name for p in (tmp_path / "full" / "models").iterdir())
    assert models == ["best.pt", "last.pt", "step0000004.pt", "step0000008.pt"]
    model, cfg, meta = load_model_file(tmp_path / "full" / "models" / "last.pt")
    assert cfg == TINY and meta["step"] == 8
    run_cfg = json.loads((tmp_path / "full" / "config.json").read_text())
    assert run_cfg["model"] == TINY.to_dict()

    # Stop after 4 steps, then resume to 8: the same losses and the same final weights.
    train(TINY, dataset, tmp_path / "split", train_config=tc, max_steps=4, progress=False, accelerator="cpu",
          devices=1)
    # --max-steps is what the model files record as the run's steps
    assert load_model_file(tmp_path / "split" / "models" / "last.pt")[2]["training"]["max_steps"] == 4
    with pytest.raises(InputError, match="already holds a training run"):
        train(TINY, dataset, tmp_path / "split", train_config=tc, progress=False, accelerator="cpu", devices=1)
    # Resuming with another architecture is refused; a longer schedule is allowed.
    with pytest.raises(InputError, match="another model config"):
        train(dataclasses.replace(TINY, d_model=32), dataset, tmp_path / "split", train_config=tc,
              progress=False, accelerator="cpu", devices=1, resume=True)
    train(TINY, dataset, tmp_path / "split", train_config=tc, progress=False, accelerator="cpu", devices=1,
          resume=True)
    expected = _losses(tmp_path / "full")
    assert len(expected) == 8
    assert _losses(tmp_path / "split") == pytest.approx(expected, rel=1e-6)
    resumed, _, _ = load_model_file(tmp_path / "split" / "models" / "last.pt")
    for (k, a), (_, b) in zip(model.state_dict().items(), resumed.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), k


def test_data_too_short_for_a_window_is_a_clear_error(dataset, tmp_path):
    long_cfg = dataclasses.replace(TINY, motion_len=100, audio_len=200)
    with pytest.raises(InputError, match="nothing usable for training"):
        train(long_cfg, dataset, tmp_path / "run", train_config=_tc(), progress=False, accelerator="cpu", devices=1)


def test_non_finite_training_stops_before_anything_non_finite_is_saved(dataset, tmp_path):
    # lr 1e30: the first Adam step moves every weight by ~1e30, which no model file may hold
    # (aichoreo.models.MAX_WEIGHT): stopped before anything is saved (it saved a step-1 model no
    # command could load).
    tc = _tc(lr=1e30, checkpoint_every=1, keep_last=5, val_every=1)
    with pytest.raises(TrainingDiverged, match=r"training stopped at step 1: the weights are not finite, or beyond "
                                               r"1e\+06 .*no resume checkpoint was written yet"):
        train(TINY, dataset, tmp_path / "huge", train_config=tc, progress=False, accelerator="cpu", devices=1)
    assert not list((tmp_path / "huge" / "models").glob("*.pt"))
    # lr 1e5: weights of ~1e5 after the first step, a loss that overflows at the next.
    tc = _tc(lr=1e5, checkpoint_every=1, keep_last=5, val_every=1)
    with pytest.raises(TrainingDiverged, match=r"training stopped at step 2: the training loss is (nan|inf); .*"
                                               r"learning rate too high \(lr 100000\).*step 1\)"):
        train(TINY, dataset, tmp_path / "run", train_config=tc, progress=False, accelerator="cpu", devices=1)
    models = tmp_path / "run" / "models"
    assert not (models / "last.pt").exists()
    assert sorted(p.name for p in models.glob("step*.pt")) == ["step0000001.pt"]
    for path in models.glob("*.pt"):
        model, _, _ = load_model_file(path)
        assert all(torch.isfinite(p).all() for p in model.parameters()), path.name
    # The resume state of the last good step stays usable.
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert checkpoint_problem(last) is None
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 1


def _model_file(path: Path, step: int) -> None:
    from aichoreo.conventions import current_conventions
    from aichoreo.models import build_model, save_model_file

    save_model_file(path, build_model(TINY), TINY, conventions=current_conventions(), step=step)


def test_a_run_stopped_before_its_first_checkpoint_starts_again(dataset, tmp_path, caplog):
    tc = _tc(max_steps=2, checkpoint_every=100, val_every=1)
    for resume in (False, True):
        # What a run killed at its first steps leaves: config.json, logs, a best.pt from a validation.
        run = tmp_path / f"run{resume}"
        (run / "models").mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"preset": "tiny", "train": {"checkpoint_every": 100}}))
        _model_file(run / "models" / "best.pt", step=1)  # from the killed attempt: before step 100
        caplog.clear()
        summary = train(TINY, dataset, run, train_config=tc, progress=False, accelerator="cpu", devices=1,
                        resume=resume)
        assert summary["steps"] == 2
        assert "stopped before its first checkpoint; starting it again from step 0" in caplog.text
        assert json.loads((run / "config.json").read_text())["model"] == TINY.to_dict()
        load_model_file(run / "models" / "best.pt")  # replaced by this run's
        # Now it has a checkpoint: a plain re-run is refused again.
        with pytest.raises(InputError, match="already holds a training run"):
            train(TINY, dataset, run, train_config=tc, progress=False, accelerator="cpu", devices=1)
    # Model files without any resume checkpoint (checkpoints/ deleted) are never overwritten: a
    # last.pt, and a best.pt kept alone from a run that got past its first checkpoint (or that is
    # not provably from this run at all).
    kept = tmp_path / "kept"
    (kept / "models").mkdir(parents=True)
    (kept / "models" / "last.pt").write_bytes(b"a trained model")
    for resume in (False, True):
        with pytest.raises(InputError, match=r"holds model files \(last.pt\) but no resume checkpoint"):
            train(TINY, dataset, kept, train_config=tc, progress=False, accelerator="cpu", devices=1, resume=resume)
    best_only = tmp_path / "best_only"
    (best_only / "models").mkdir(parents=True)
    (best_only / "config.json").write_text(json.dumps({"preset": "tiny", "train": {"checkpoint_every": 100}}))
    _model_file(best_only / "models" / "best.pt", step=4000)
    foreign = tmp_path / "foreign"
    (foreign / "models").mkdir(parents=True)
    (foreign / "config.json").write_text("{}")
    (foreign / "models" / "best.pt").write_bytes(b"a model of the user's")
    for folder in (best_only, foreign):
        with pytest.raises(InputError, match=r"holds model files \(best.pt\) but no resume checkpoint"):
            train(TINY, dataset, folder, train_config=tc, progress=False, accelerator="cpu", devices=1)
        assert (folder / "models" / "best.pt").exists()
    with pytest.raises(InputError, match="nothing to resume"):
        train(TINY, dataset, tmp_path / "none", train_config=tc, progress=False, accelerator="cpu", devices=1,
              resume=True)


def test_damaged_sequence_files_are_named(dataset, tmp_path):
    path = dataset.root / "sequences" / "seq1.npz"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(InputError) as err:
        train(TINY, dataset, tmp_path / "run", train_config=_tc(), progress=False, accelerator="cpu", devices=1)
    assert str(err.value).startswith(f"{path}: not a readable .npz file")
    assert "\n" not in str(err.value) and not (tmp_path / "run").exists()
    # NaN in the data is refused at loading, naming the file and the frame.
    motion, music = _sequence(np.random.default_rng(0), 60)
    motion[17, 40] = np.nan
    write_sequence(dataset.root, "seq1", motion, music)
    with pytest.raises(InputError, match=r"seq1.npz: motion holds 1 non-finite values \(NaN or inf, in float32\), "
                                         r"the first at frame 17"):
        dataset.load("seq1")
    # So are values that float32 (what training computes in) cannot hold.
    np.savez(path, motion=np.full((60, 219), 1e300), music=music)
    with pytest.raises(InputError, match=r"seq1.npz: motion holds 13140 non-finite values .* at frame 0"):
        dataset.load("seq1")
    np.savez(path, motion=np.zeros((60, 219), np.float32))
    with pytest.raises(InputError, match="seq1.npz: not a sequence file: no 'music' array"):
        dataset.load("seq1")


@pytest.mark.parametrize("setting, says", [
    ({"val_windows_per_sequence": -1}, "val_windows_per_sequence must be an integer >= 1"),  # kept all but one
    ({"seed": -1}, "seed must be an integer >= 0"),  # numpy's message named no key
    ({"precision": "foo"}, "precision must be one of"),  # Lightning's, after the run folder existed
])
def test_training_settings_are_checked_with_their_names(setting, says):
    with pytest.raises(ValueError, match=says):
        TrainConfig(**setting)


def test_a_malformed_index_is_named(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    for text, says in (("[1]", "not a dataset index: holds a JSON list"),
                       ('{"format": "aichoreo-dataset", "version": 1}', "no valid 'fps'"),
                       ('{"format": "aichoreo-dataset", "version": 1, "fps": -3}', "fps must be a positive"),
                       # a split of another name was left out of training; a sequence listed twice counted twice
                       ('{"format": "aichoreo-dataset", "version": 1, "fps": 60, "sequences": [{"name": "a", '
                        '"split": "training", "n_frames": 300}]}', "sequence 'a' has split 'training'"),
                       ('{"format": "aichoreo-dataset", "version": 1, "fps": 60, "sequences": [{"name": "a", '
                        '"split": "train", "n_frames": 300}, {"name": "a", "split": "train", "n_frames": 300}]}',
                        "sequence 'a' is listed twice"),
                       ('{"format": "aichoreo-dataset", "version": 1, "fps": 60, "sequences": null}',
                        "malformed 'sequences'")):
        (root / "index.json").write_text(text)
        with pytest.raises(InputError, match=says) as err:
            PreparedDataset(root)
        assert str(err.value).startswith(str(root / "index.json"))


def test_a_run_can_start_from_a_model_file(dataset, tmp_path, caplog):
    """--init: fine-tuning starts from the file's weights (with a tiny learning rate, the weights stay
    where the file had them), the model files name it, and a file that cannot be the run's start is
    one clear error naming it."""
    first = train(TINY, dataset, tmp_path / "first", train_config=_tc(), progress=False, accelerator="cpu",
                  devices=1)
    start = Path(first["last_model"])
    started, _, _ = load_model_file(start)
    noise = dataclasses.replace(TINY, context_noise=0.01)  # the loss may differ: the weights' shapes do not
    with caplog.at_level("WARNING", logger="aichoreo.train"):
        tuned = train(noise, dataset, tmp_path / "tuned", train_config=_tc(lr=1e-9, max_steps=2, lr_milestones=()),
                      progress=False, accelerator="cpu", devices=1, init=start)
    assert "differs from this run's in context_noise" in caplog.text
    model, _, meta = load_model_file(tuned["last_model"])
    assert meta["init"] == "last.pt"
    for (k, a), (_, b) in zip(started.state_dict().items(), model.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-5), k
    # the same run without --init: its random start is far from the file's weights
    scratch = train(TINY, dataset, tmp_path / "scratch", train_config=_tc(lr=1e-9, max_steps=2, lr_milestones=()),
                    progress=False, accelerator="cpu", devices=1)
    other, _, _ = load_model_file(scratch["last_model"])
    assert not all(torch.allclose(a, b, atol=1e-3) for a, b in zip(started.state_dict().values(),
                                                                    other.state_dict().values()))

    with pytest.raises(InputError, match=r"last.pt: --init: its weights do not fit this run's model \(.* has shape"):
        train(dataclasses.replace(TINY, d_model=32), dataset, tmp_path / "wide", train_config=_tc(), progress=False,
              accelerator="cpu", devices=1, init=start)
    with pytest.raises(InputError, match="missing.pt: no such model file"):
        train(TINY, dataset, tmp_path / "none", train_config=_tc(), progress=False, accelerator="cpu", devices=1,
              init=tmp_path / "missing.pt")
    from aichoreo.audio import STREAM_SPEC

    streamed = tmp_path / "streamed"  # the same sequences with the live features: other conventions
    rng = np.random.default_rng(0)
    write_sequence(streamed, "seq0", *_sequence(rng, 80))
    write_index(streamed, [SequenceEntry(name="seq0", split="train", n_frames=80)], fps=60.0,
                music_spec=STREAM_SPEC.to_dict())
    with pytest.raises(InputError, match="--init was trained on data with other conventions"):
        train(TINY, PreparedDataset(streamed), tmp_path / "streamrun", train_config=_tc(), progress=False,
              accelerator="cpu", devices=1, init=start)
    # data at a frame rate no dance is made at: refused before training (it trained, and every model
    # file it wrote was refused by aichoreo dance)
    slow = tmp_path / "slow"
    write_sequence(slow, "seq0", *_sequence(rng, 80))
    write_index(slow, [SequenceEntry(name="seq0", split="train", n_frames=80)], fps=30.0, music_spec={})
    with pytest.raises(InputError, match=r"slow/index.json: a model trained on it could not dance here: .*30 fps"):
        train(TINY, PreparedDataset(slow), tmp_path / "slowrun", train_config=_tc(), progress=False,
              accelerator="cpu", devices=1)
    assert not (tmp_path / "slowrun").exists()
