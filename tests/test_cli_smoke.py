"""Every sub-command of ``aichoreo``: its ``--help`` in a fresh process, one real run on tiny generated
inputs, and hostile inputs answered with one line naming the user's file.

The sub-commands are read from :func:`aichoreo.cli.build_parser`, so a new command without a smoke run
fails :func:`test_every_command_has_a_smoke_run`, and a command that cannot even import fails its run.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from aichoreo.cli import build_parser, main
from aichoreo.data.fixtures import click_track, dance_pose, write_aistpp_fixture
from aichoreo.skeleton import rest_joints

NAME = "gBR_sBM_cAll_d04_mBR0_ch01"  # the fixture's sequence (music mBR0, 80 BPM)
SR = 22050


def _leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every runnable command line prefix: ``("dance",)``, ``("data", "prepare", "dwm")``, ..."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [prefix]
    return [leaf for name, sub in subs[0].choices.items() for leaf in _leaf_commands(sub, prefix + (name,))]


COMMANDS = _leaf_commands(build_parser())


# --------------------------------------------------------------------------------------------
# Tiny inputs, made once for the module


@dataclass
class Inputs:
    root: Path
    song: Path  # 4 s click track at 120 BPM
    joints: Path  # (90, 24, 3) metres, a dancing SMPL body
    features: Path  # (90, 35) music features of 1.5 s with a beat every half second
    aist: Path  # an AIST++ tree with one 60-frame sequence and its music
    dataset: Path  # a prepared dataset: 2 train, 1 val, 2 test sequences of 4 s
    model: Path  # a tiny FACT model file
    dwm: Path  # a Dance-with-Melody folder with one short dance and its mp3


def _prepared_dataset(root: Path) -> Path:
    from aichoreo.data.dataset import SequenceEntry, write_index, write_sequence
    from aichoreo.motion import SMPLMotion
    from aichoreo.rotations import axis_angle_to_matrix

    rng = np.random.default_rng(0)
    entries = []
    for i, split in enumerate(("train", "train", "val", "test", "test")):
        poses, transl = dance_pose(240, 100.0 + 10 * i, rng, fps=60.0)
        motion = SMPLMotion(axis_angle_to_matrix(poses), transl).to_fact_vector()
        music = rng.standard_normal((240, 35)).astype(np.float32)
        music[:, 34] = np.arange(240) % 30 == 0
        write_sequence(root, f"d{i}", motion, music)
        entries.append(SequenceEntry(name=f"d{i}", split=split, n_frames=240))
    write_index(root, entries, fps=60.0, music_spec={})
    return root


def _dwm_folder(root: Path) -> Path:
    """One DWM-format dance (23 markers at 25 fps taken from a SMPL body) and its mp3."""
    from aichoreo.reconstruct.layouts import DWM23
    from aichoreo.skeleton import forward_kinematics_axis_angle

    root.mkdir()
    poses, transl = dance_pose(50, 100.0, np.random.default_rng(1), fps=25.0)
    smpl = forward_kinematics_axis_angle(poses, transl)
    markers = np.zeros((50, DWM23.n_joints, 3), np.float32)
    for target in DWM23.targets:
        markers[:, list(target.sources)] = smpl[:, target.joint, None]
    np.savez(root / "DANCE_C_1.npz", joints=markers, fps=np.float64(25.0), music_offset_s=np.float64(0.5),
             genre=np.array("cha-cha"))
    sf.write(root / "DANCE_C_1.mp3", click_track(3.0, 100.0, SR), SR, format="MP3")
    return root


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Inputs:
    from aichoreo.conventions import current_conventions
    from aichoreo.models import build_model, get_preset, save_model_file
    from aichoreo.skeleton import forward_kinematics_axis_angle

    # Lightning gives its logger a handler on the sys.stderr of the moment it is imported: imported
    # inside a test's capsys, that stream is closed by the next test (a "Logging error" traceback).
    import lightning.pytorch  # noqa: F401

    root = tmp_path_factory.mktemp("smoke")
    sf.write(root / "clicks.wav", click_track(4.0, 120.0, SR), SR)
    poses, transl = dance_pose(90, 120.0, np.random.default_rng(0), fps=60.0)
    np.save(root / "joints.npy", forward_kinematics_axis_angle(poses, transl).astype(np.float32))
    (root / "motions").mkdir()
    for k in range(3):
        poses, transl = dance_pose(150, 100.0 + 10 * k, np.random.default_rng(k), fps=60.0)
        np.save(root / "motions" / f"m{k}.npy", forward_kinematics_axis_angle(poses, transl).astype(np.float32))
    features = np.zeros((90, 35), np.float32)
    features[::30, 34] = 1
    np.save(root / "features.npy", features)
    write_aistpp_fixture(root / "aist", sequences={NAME: "val"}, n_frames=60, music_dir=root / "aist" / "music",
                         seed=1)
    torch.manual_seed(0)
    cfg = get_preset("tiny")
    model = save_model_file(root / "tiny.pt", build_model(cfg), cfg, conventions=current_conventions(),
                            preset="tiny")
    return Inputs(root=root, song=root / "clicks.wav", joints=root / "joints.npy", features=root / "features.npy",
                  aist=root / "aist", dataset=_prepared_dataset(root / "dataset"), model=model,
                  dwm=_dwm_folder(root / "dwm"))


# --------------------------------------------------------------------------------------------
# One real run per command: its arguments, and a check of what it wrote or printed


def _check_default_dance(out: Path, printed: str, inputs: Inputs) -> None:
    joints = np.load(out / "clicks" / "dance_joints.npy")
    assert joints.shape == (1 + 4 * 30720 // 512, 24, 3) and np.isfinite(joints).all()  # the whole song
    assert np.abs(joints).max() < 10 and joints[..., 1].max() > 1.0  # a body of human size, standing
    summary = json.loads((out / "clicks" / "dance.json").read_text())
    assert summary["model"]["checkpoint"] == "default"


RunCase = tuple[Callable[[Path, Inputs], list[str]], Callable[[Path, str, Inputs], None]]

def _check_live(out: Path, printed: str, inputs: Inputs) -> None:
    vectors = np.load(out / "live.npy")  # the bundled stream model, as fast as it computes
    assert vectors.shape[1] == 219 and 1 + 4 * 30720 // 512 - 13 <= len(vectors) <= 1 + 4 * 30720 // 512
    assert str(out / "live.npy") in printed


RUNS: dict[tuple[str, ...], RunCase] = {
    ("live",): (lambda out, i: [str(i.song), "--fast", "--record", str(out / "live.npy")], _check_live),
    ("features",): (
        lambda out, i: [str(i.song), "-o", str(out / "f.npy"), "--bpm", "120", "--no-cache"],
        lambda out, printed, i: np.testing.assert_array_equal(np.load(out / "f.npy").shape, (241, 35)),
    ),
    ("render",): (
        lambda out, i: [str(i.joints), "-o", str(out / "frames.png")],
        lambda out, printed, i: (out / "frames.png").read_bytes().startswith(b"\x89PNG") or pytest.fail("no PNG"),
    ),
    ("config", "list"): (
        lambda out, i: [],
        lambda out, printed, i: ("tiny" in printed and "fact-small" in printed) or pytest.fail(printed),
    ),
    ("config", "show"): (
        lambda out, i: ["tiny", "--json"],
        lambda out, printed, i: json.loads(printed)["name"] == "tiny" or pytest.fail(printed),
    ),
    ("train",): (
        lambda out, i: ["--config", "tiny", "--data", str(i.dataset), "--out", str(out / "run"), "--max-steps", "2",
                        "--accelerator", "cpu", "--set", "batch_size=2", "--set", "num_workers=0",
                        "--set", "motion_len=12", "--set", "audio_len=24", "--set", "target_len=4"],
        lambda out, printed, i: (out / "run" / "models" / "last.pt").is_file() or pytest.fail(printed),
    ),
    ("benchmark-table",): (
        lambda out, i: ["--data", str(i.dataset), "--checkpoints", f"tiny={i.model}", "--seconds", "1",
                        "-o", str(out / "table")],
        lambda out, printed, i: "| tiny |" in (out / "table" / "table.md").read_text() or pytest.fail(printed),
    ),
    ("quality",): (
        # --seam-ease 0: the tiny random model's eased 0.5 s clips are nearly constant, and FID's matrix
        # square root of their covariance then fails its check (the feature sets are too small or
        # degenerate); the run checks the command, the report's numbers are checked elsewhere.
        lambda out, i: ["--data", str(i.dataset), "--checkpoint", str(i.model), "--seed-motion", "bounce",
                        "--window-seconds", "0.5", "--seam-ease", "0", "-o", str(out / "quality")],
        lambda out, printed, i: "worst_fade" in (out / "quality" / "report.md").read_text() or pytest.fail(printed),
    ),
    ("evaluate",): (
        lambda out, i: ["--pred", str(i.root / "motions"), "--real", str(i.root / "motions"), "--seed-frames", "0",
                        "--no-cache", "--json"],
        lambda out, printed, i: np.isfinite(json.loads(printed)["fid_k"]) or pytest.fail(printed),
    ),
    ("beat-plot",): (
        lambda out, i: [str(i.joints), "--music", str(i.features), "-o", str(out / "beats.png")],
        lambda out, printed, i: (out / "beats.png").read_bytes().startswith(b"\x89PNG") or pytest.fail("no PNG"),
    ),
    ("dance",): (
        # The bundled default model, loaded and run on a click track.
        lambda out, i: [str(i.song), "-o", str(out), "--checkpoint", "default", "--formats", "joints"],
        _check_default_dance,
    ),
    ("data", "prepare", "aistpp"): (
        lambda out, i: ["--src", str(i.aist), "--music", str(i.aist / "music"), "-o", str(out / "prep"),
                        "--workers", "1"],
        lambda out, printed, i: json.loads((out / "prep" / "index.json").read_text()) or pytest.fail(printed),
    ),
    ("data", "prepare", "dwm"): (
        lambda out, i: ["--src", str(i.dwm), "-o", str(out / "prep"), "--fit-iterations", "5"],
        lambda out, printed, i: (out / "prep" / "sequences").is_dir() or pytest.fail(printed),
    ),
    ("reconstruct",): (
        lambda out, i: ["--keypoints2d", str(i.aist / "keypoints2d" / f"{NAME}.pkl"), "--cameras",
                        str(i.aist / "cameras" / "setting1.json"), "-o", str(out / "rec"), "--fit-iterations", "5"],
        lambda out, printed, i: (out / "rec" / f"{NAME}_motion.pkl").is_file() or pytest.fail(printed),
    ),
    ("fit",): (
        lambda out, i: [str(i.joints), "--layout", "smpl24", "--fps", "60", "-o", str(out / "m.pkl"),
                        "--iterations", "5"],
        lambda out, printed, i: (out / "m.pkl").is_file() or pytest.fail(printed),
    ),
    ("retarget",): (
        # The fixture's AIST++ motion onto a small Mixamo-named rig (tests/rigs.py).
        lambda out, i: [str(i.aist / "motions" / f"{NAME}.pkl"), "--to", str(_rig(out)), "-o", str(out / "r.glb")],
        lambda out, printed, i: ((out / "r.glb").is_file() and "bones found by mixamo names" in printed)
        or pytest.fail(printed),
    ),
}


def _rig(folder: Path) -> Path:
    from rigs import build_rig, write_rig_glb

    return write_rig_glb(build_rig("mixamo", pose="A"), folder / "hero.glb")


def test_every_command_has_a_smoke_run():
    assert set(COMMANDS) == set(RUNS), "a sub-command without a smoke run (or a run of a removed one)"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_in_a_fresh_process(command):
    result = subprocess.run([sys.executable, "-m", "aichoreo", *command, "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: aichoreo " + " ".join(command)) and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", sorted(RUNS), ids=" ".join)
def test_one_real_run(command, inputs, tmp_path, capsys):
    if command == ("reconstruct",):
        pytest.importorskip("aniposelib")
    arguments, check = RUNS[command]
    code = main([*command, *arguments(tmp_path, inputs)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.err, captured.err
    check(tmp_path, captured.out, inputs)


# --------------------------------------------------------------------------------------------
# Hostile inputs: exit 1, one line "aichoreo: error: <the user's file>: ...", no traceback


def _hostile_files(root: Path) -> dict[str, Path]:
    root.mkdir(exist_ok=True)
    files = {}
    files["empty.npy"] = root / "empty.npy"
    files["empty.npy"].write_bytes(b"")
    full = root / "full.npy"
    np.save(full, np.zeros((60, 24, 3), np.float32))
    files["cut.npy"] = root / "cut.npy"
    files["cut.npy"].write_bytes(full.read_bytes()[:300])
    np.savez(root / "full.npz", joints=np.zeros((60, 24, 3)), fps=60.0)
    files["cut.npz"] = root / "cut.npz"
    files["cut.npz"].write_bytes((root / "full.npz").read_bytes()[:200])
    files["empty.npz"] = root / "empty.npz"
    files["empty.npz"].write_bytes(b"")
    files["flat.npy"] = root / "flat.npy"
    np.save(files["flat.npy"], np.zeros(100, np.float32))
    files["narrow.npy"] = root / "narrow.npy"
    np.save(files["narrow.npy"], np.zeros((100, 3), np.float32))
    seed = np.zeros((130, 225), np.float32)
    seed[:, 9:] = np.tile(np.eye(3, dtype=np.float32).ravel(), 24)
    seed[:, 6:9] = 1e30
    files["huge_seed.npy"] = root / "huge_seed.npy"
    np.save(files["huge_seed.npy"], seed)
    files["cut.json"] = root / "cut.json"
    files["cut.json"].write_text('[{"name": "c01", "size": [1920, 1080], "matrix": [[1600.0, 0')
    files["zip.npy"] = root / "zip.npy"  # an .npz saved under a .npy name
    files["zip.npy"].write_bytes((root / "full.npz").read_bytes())
    files["no_frames.npy"] = root / "no_frames.npy"
    np.save(files["no_frames.npy"], np.zeros((0, 225), np.float32))
    files["mm.npy"] = root / "mm.npy"  # joints in millimetres: a person standing, 1.5 m from the origin
    np.save(files["mm.npy"], np.tile(1000.0 * (rest_joints() + [1.5, 0.0, 0.0]), (60, 1, 1)).astype(np.float32))
    files["slow.npz"] = root / "slow.npz"  # joints at 1e-9 fps: the resampler asked for 17 TiB
    np.savez(files["slow.npz"], joints=np.zeros((10, 24, 3)), fps=1e-9)
    files["wav.npy"] = root / "wav.npy"  # a song renamed: numpy spoke of "pickled data"
    files["wav.npy"].write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40))
    files["cut.glb"] = root / "cut.glb"  # a glb cut off after its header
    files["cut.glb"].write_bytes(b"glTF\x02\x00\x00\x00\x00\x10\x00\x00JSON")
    return files


HOSTILE: list[tuple[str, Callable[[dict[str, Path], Inputs, Path], list[str]], str, str]] = [
    # (id, arguments, the file the line names, what it says)
    ("fit 0-byte npy", lambda f, i, o: ["fit", str(f["empty.npy"]), "--layout", "smpl24", "--fps", "60",
                                        "-o", str(o / "m.pkl")], "empty.npy", "empty or ends early"),
    ("fit truncated npy", lambda f, i, o: ["fit", str(f["cut.npy"]), "--layout", "smpl24", "--fps", "60",
                                           "-o", str(o / "m.pkl")], "cut.npy", "not a readable .npy file"),
    ("fit truncated npz", lambda f, i, o: ["fit", str(f["cut.npz"]), "--layout", "smpl24", "-o", str(o / "m.pkl")],
     "cut.npz", "not a readable .npz file"),
    ("fit at 1e-9 fps", lambda f, i, o: ["fit", str(f["slow.npz"]), "--layout", "smpl24", "-o", str(o / "m.pkl")],
     "slow.npz", "its frame rate is 1e-09 fps"),
    ("fit 0-byte npz", lambda f, i, o: ["fit", str(f["empty.npz"]), "--layout", "smpl24", "-o", str(o / "m.pkl")],
     "empty.npz", "empty or ends early"),
    ("fit millimetres as metres", lambda f, i, o: ["fit", str(f["mm.npy"]), "--layout", "smpl24", "--fps", "60",
                                                   "-o", str(o / "m.pkl")], "mm.npy", "wrong units?"),
    ("dance 0-byte seed", lambda f, i, o: ["dance", str(i.song), "-o", str(o / "d"), "--checkpoint", str(i.model),
                                           "--formats", "joints", "--seed-motion", str(f["empty.npy"])],
     "empty.npy", "empty or ends early"),
    ("dance truncated seed", lambda f, i, o: ["dance", str(i.song), "-o", str(o / "d"), "--checkpoint", str(i.model),
                                              "--formats", "joints", "--seed-motion", str(f["cut.npy"])],
     "cut.npy", "not a readable .npy file"),
    ("dance npz as npy seed", lambda f, i, o: ["dance", str(i.song), "-o", str(o / "d"), "--checkpoint", str(i.model),
                                               "--formats", "joints", "--seed-motion", str(f["zip.npy"])],
     "zip.npy", "holds named arrays (.npz content)"),
    ("dance seed without frames", lambda f, i, o: ["dance", str(i.song), "-o", str(o / "d"), "--checkpoint",
                                                   str(i.model), "--formats", "joints", "--seed-motion",
                                                   str(f["no_frames.npy"])], "no_frames.npy", "T >= 1"),
    ("beat-plot npz as npy music", lambda f, i, o: ["beat-plot", str(i.joints), "--music", str(f["zip.npy"]),
                                                    "-o", str(o / "b.png")], "zip.npy", "holds named arrays"),
    ("fit npz as npy", lambda f, i, o: ["fit", str(f["zip.npy"]), "--layout", "smpl24", "--fps", "60",
                                        "-o", str(o / "m.pkl")], "zip.npy", "holds named arrays"),
    ("dance huge seed", lambda f, i, o: ["dance", str(i.song), "-o", str(o / "d"), "--checkpoint", str(i.model),
                                         "--formats", "joints", "--seed-motion", str(f["huge_seed.npy"])],
     "huge_seed.npy", "the root moves 1e+30 m from the origin"),
    ("beat-plot 0-byte music", lambda f, i, o: ["beat-plot", str(i.joints), "--music", str(f["empty.npy"]),
                                                "-o", str(o / "b.png")], "empty.npy", "empty or ends early"),
    ("beat-plot truncated music", lambda f, i, o: ["beat-plot", str(i.joints), "--music", str(f["cut.npy"]),
                                                   "-o", str(o / "b.png")], "cut.npy", "not a readable .npy file"),
    ("beat-plot 1-d music", lambda f, i, o: ["beat-plot", str(i.joints), "--music", str(f["flat.npy"]),
                                             "-o", str(o / "b.png")], "flat.npy", "expected music features (T, 35)"),
    ("beat-plot narrow music", lambda f, i, o: ["beat-plot", str(i.joints), "--music", str(f["narrow.npy"]),
                                                "-o", str(o / "b.png")], "narrow.npy", "has shape (100, 3)"),
    ("beat-plot truncated motion", lambda f, i, o: ["beat-plot", str(f["cut.npy"]), "--music", str(i.features),
                                                    "-o", str(o / "b.png")], "cut.npy", "not a readable .npy file"),
    ("render truncated motion", lambda f, i, o: ["render", str(f["cut.npy"]), "-o", str(o / "v.png")],
     "cut.npy", "not a readable .npy file"),
    ("render a renamed song", lambda f, i, o: ["render", str(f["wav.npy"]), "-o", str(o / "v.png")],
     "wav.npy", "not a .npy file: it does not begin as one"),
    ("render millimetres", lambda f, i, o: ["render", str(f["mm.npy"]), "-o", str(o / "v.png")],
     "mm.npy", "the body measures 1.04e+03 m from its centre to its farthest joint"),
    ("evaluate truncated music features", lambda f, i, o: ["evaluate", "--pred", str(i.root / "motions"), "--real",
                                                           str(i.root / "motions"), "--music", str(f["cut.npy"].parent),
                                                           "--seed-frames", "0", "--no-cache"],
     "cut.npy", "not a readable .npy file"),
    ("reconstruct truncated cameras", lambda f, i, o: ["reconstruct", "--keypoints2d",
                                                       str(i.aist / "keypoints2d" / f"{NAME}.pkl"), "--cameras",
                                                       str(f["cut.json"]), "-o", str(o / "rec")],
     "cut.json", "not valid JSON"),
    ("retarget truncated motion", lambda f, i, o: ["retarget", str(f["cut.npy"]), "--to", str(_rig(f["cut.npy"].parent)),
                                                   "-o", str(o / "r.glb")], "cut.npy", "not a readable .npy file"),
    ("retarget millimetres", lambda f, i, o: ["retarget", str(f["mm.npy"]), "--to", str(_rig(f["mm.npy"].parent)),
                                              "-o", str(o / "r.glb")], "mm.npy", "the body measures 1.04e+03 m"),
    ("retarget truncated character", lambda f, i, o: ["retarget", str(i.aist / "motions" / f"{NAME}.pkl"), "--to",
                                                      str(f["cut.glb"]), "-o", str(o / "r.glb")],
     "cut.glb", "cannot read as glTF"),
    ("render offset past the song", lambda f, i, o: ["render", str(i.joints), "-o", str(o / "v.mp4"), "--music",
                                                     str(i.song), "--music-offset", "10"],
     "clicks.wav", "is 4.00 s long; the music offset 10 s is past its end"),
]


@pytest.mark.parametrize("case", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_input_is_one_line_naming_the_file(case, inputs, tmp_path, capsys):
    _, arguments, culprit, says = case
    files = _hostile_files(tmp_path / "in")
    out = tmp_path / "out"
    assert main(arguments(files, inputs, out)) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("aichoreo: error: ") and err.endswith("\n"), err
    named = next((p for p in [*files.values(), inputs.song] if p.name == culprit), None)
    assert f"{named}: " in err and says in err, err
    assert not out.exists()  # nothing written, no empty folder left


@pytest.mark.parametrize("case", [c for c in HOSTILE if c[0] in ("fit npz as npy", "beat-plot 1-d music")],
                         ids=lambda c: c[0])
def test_hostile_input_as_a_user_sees_it(case, inputs, tmp_path):
    """In-process, an escaped exception would fail the test before stderr is read; as a process, a
    user sees what the interpreter prints: one line, no traceback."""
    _, arguments, culprit, says = case
    files = _hostile_files(tmp_path / "in")
    run = subprocess.run([sys.executable, "-m", "aichoreo", *arguments(files, inputs, tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("aichoreo: error: ") and says in run.stderr


@pytest.mark.parametrize("arguments, says", [
    (["dance", "SONG", "-o", "OUT", "--seconds", "inf"], "argument --seconds: must be a positive finite number: 'inf'"),
    (["dance", "SONG", "-o", "OUT", "--start", "nan"], "argument --start: must be a finite number >= 0: 'nan'"),
    (["render", "SONG", "-o", "OUT.mp4", "--music-offset", "-1"],
     "argument --music-offset: must be a finite number >= 0: '-1'"),
], ids=["seconds inf", "start nan", "negative music offset"])
def test_impossible_numbers_are_usage_errors(arguments, says, inputs, tmp_path, capsys):
    arguments = [str(inputs.song) if a == "SONG" else str(tmp_path / a) if a.startswith("OUT") else a
                 for a in arguments]
    with pytest.raises(SystemExit) as exited:
        main(arguments)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].endswith(says)
    assert not any(tmp_path.iterdir())


def test_the_command_exits_with_mains_code_and_its_heap_frozen():
    """``aichoreo`` (:func:`aichoreo.cli.run`) exits with :func:`main`'s status, the objects alive
    frozen out of the collector's sight for the exit's collections (0.5 s of a 3-minute dance)."""
    probe = ("import atexit, gc, sys\n"
             "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0))\n"
             "from aichoreo.cli import run\n"
             "sys.argv = ['aichoreo'] + sys.argv[1:]\n"
             "run()\n")
    ok = subprocess.run([sys.executable, "-c", probe, "config", "list"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and ok.stdout.strip().endswith("frozen True"), ok.stderr
    bad = subprocess.run([sys.executable, "-c", probe, "config", "show", "no-such-model"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 1 and "no-such-model" in bad.stderr and "Traceback" not in bad.stderr
    # main() itself, as tests and other code call it, leaves the collector alone
    assert main(["config", "list"]) == 0 and gc.get_freeze_count() == 0
