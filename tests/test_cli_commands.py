"""Smoke tests of the CLI paths not covered elsewhere: features, render, beat-plot, reconstruct, fit, help."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from aichoreo.cli import build_parser, main
from aichoreo.data.fixtures import click_track, write_aistpp_fixture

NAME = "gBR_sBM_cAll_d04_mBR0_ch01"


def test_help_lists_every_command():
    text = build_parser().format_help()
    for command in ("dance", "features", "evaluate", "beat-plot", "train", "config", "data", "reconstruct", "fit",
                    "render"):
        assert command in text
    out = subprocess.run([sys.executable, "-m", "aichoreo", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "dance" in out.stdout


def test_features_command_on_a_click_track(tmp_path, capsys):
    sf.write(tmp_path / "clicks.wav", click_track(12.0, 140.0, 22050), 22050)
    assert main(["features", str(tmp_path / "clicks.wav"), "-o", str(tmp_path / "f.npy"), "--bpm", "140",
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    feats = np.load(tmp_path / "f.npy")
    assert feats.shape == (1 + 12 * 30720 // 512, 35) and feats.dtype == np.float32
    beats = np.flatnonzero(feats[:, 34])
    assert np.median(np.diff(beats)) == pytest.approx(60 * 60 / 140, abs=1)  # 25.7 frames
    assert str(tmp_path / "f.npy") in capsys.readouterr().out
    # A folder output for several songs; a missing song is one line naming it.
    sf.write(tmp_path / "b.wav", click_track(4.0, 100.0, 22050), 22050)
    assert main(["features", str(tmp_path / "clicks.wav"), str(tmp_path / "b.wav"), "-o", str(tmp_path / "many"),
                 "--no-cache", "--workers", "1"]) == 0
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["b.npy", "clicks.npy"]
    assert main(["features", str(tmp_path / "nope.wav"), "-o", str(tmp_path / "x.npy"), "--no-cache"]) == 1
    assert "nope.wav: file not found" in capsys.readouterr().err
    # an upper-case .NPY is a file (it was a folder); two songs of one name are both named
    assert main(["features", str(tmp_path / "b.wav"), "-o", str(tmp_path / "B.NPY"), "--no-cache"]) == 0
    assert (tmp_path / "B.NPY").is_file()
    (tmp_path / "other").mkdir()
    sf.write(tmp_path / "other" / "B.wav", click_track(4.0, 100.0, 22050), 22050)
    assert main(["features", str(tmp_path / "b.wav"), str(tmp_path / "other" / "B.wav"), "-o",
                 str(tmp_path / "two"), "--no-cache"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'b.wav'} and {tmp_path / 'other' / 'B.wav'} share a file name" in err


@pytest.fixture(scope="module")
def aist(tmp_path_factory):
    root = tmp_path_factory.mktemp("aist")
    write_aistpp_fixture(root, sequences={NAME: "val"}, n_frames=60, music_dir=root / "music", seed=1)
    return root


def test_render_and_beat_plot(aist, tmp_path, capsys):
    motion = aist / "motions" / f"{NAME}.pkl"
    assert main(["render", str(motion), "-o", str(tmp_path / "frames.png")]) == 0
    assert (tmp_path / "frames.png").stat().st_size > 1000
    assert main(["render", str(motion), "-o", str(tmp_path / "v.mp4"), "--music", str(aist / "music" / "mBR0.wav")]) == 0
    assert (tmp_path / "v.mp4").stat().st_size > 1000
    assert main(["beat-plot", str(motion), "--music", str(aist / "music" / "mBR0.wav"), "-o",
                 str(tmp_path / "beats.png")]) == 0
    assert (tmp_path / "beats.png").is_file()
    assert main(["render", str(motion), "-o", str(tmp_path / "v.gif")]) == 1
    assert "unknown output type" in capsys.readouterr().err
    # any dance file aichoreo writes: the same picture from the BVH and the AMASS npz as from the .pkl
    from aichoreo.data.aistpp import load_motion_smpl
    from aichoreo.export import write_amass, write_bvh

    dance = load_motion_smpl(motion)
    for path in (write_bvh(dance, tmp_path / "d.bvh"), write_amass(dance, tmp_path / "d_amass.npz")):
        assert main(["render", str(path), "-o", str(tmp_path / f"{path.stem}.png")]) == 0
        assert main(["beat-plot", str(path), "--music", str(aist / "music" / "mBR0.wav"), "-o",
                     str(tmp_path / f"{path.stem}_beats.png")]) == 0
    from PIL import Image

    pixels = [np.asarray(Image.open(tmp_path / n), dtype=float) for n in ("d.png", "d_amass.png", "frames.png")]
    assert pixels[0].shape == pixels[2].shape and np.abs(pixels[0] - pixels[2]).mean() < 0.5  # the BVH keeps 6 decimals
    assert np.abs(pixels[1] - pixels[2]).mean() < 0.5
    (tmp_path / "d.txt").write_text("1 2 3")
    assert main(["render", str(tmp_path / "d.txt"), "-o", str(tmp_path / "t.png")]) == 1
    assert "d.txt: unknown motion format .txt" in capsys.readouterr().err
    # a frame rate no capture has: a damaged AMASS header asked a video of 224 GiB (MemoryError traceback)
    with np.load(tmp_path / "d_amass.npz") as data:
        fields = dict(data)
    for rate, expected in ((1e-9, "its frame rate is 1e-09 fps"), (np.array([60.0, 30.0]), "has shape (2,)")):
        np.savez(tmp_path / "slow.npz", **{**fields, "mocap_framerate": rate})
        assert main(["render", str(tmp_path / "slow.npz"), "-o", str(tmp_path / "slow.mp4")]) == 1
        err = capsys.readouterr().err
        assert "slow.npz: " in err and expected in err and "Traceback" not in err, err
    with pytest.raises(SystemExit):
        main(["render", str(tmp_path / "d.bvh"), "-o", str(tmp_path / "x.mp4"), "--fps", "1e-9"])
    from aichoreo.cli import _motion_fps
    from aichoreo.skeleton import MOTION_FPS_RANGE

    assert _motion_fps(str(MOTION_FPS_RANGE[0])) == MOTION_FPS_RANGE[0]  # the CLI's copy of the range agrees
    assert _motion_fps(str(MOTION_FPS_RANGE[1])) == MOTION_FPS_RANGE[1]
    with pytest.raises(Exception):
        _motion_fps(str(MOTION_FPS_RANGE[1] * 1.001))


def test_reconstruct_and_fit_commands(aist, tmp_path, capsys):
    pytest.importorskip("aniposelib")
    out = tmp_path / "rec"
    assert main(["reconstruct", "--keypoints2d", str(aist / "keypoints2d" / f"{NAME}.pkl"), "--cameras",
                 str(aist / "cameras" / "setting1.json"), "-o", str(out), "--fit-iterations", "100", "--json"]) == 0
    printed = capsys.readouterr().out
    assert f"{NAME}_keypoints3d.pkl" in printed and f"{NAME}_motion.pkl" in printed
    from aichoreo.data.aistpp import load_keypoints3d, load_motion_smpl

    assert load_keypoints3d(out / f"{NAME}_keypoints3d.pkl").shape == (60, 17, 3)
    assert len(load_motion_smpl(out / f"{NAME}_motion.pkl")) == 60
    # fit: SMPL joints of the fixture as a .npy in metres.
    joints = load_motion_smpl(aist / "motions" / f"{NAME}.pkl").joints()
    np.save(tmp_path / "j.npy", joints)
    assert main(["fit", str(tmp_path / "j.npy"), "--layout", "smpl24", "--fps", "60", "-o", str(tmp_path / "m.pkl"),
                 "--floor", "none", "--iterations", "150"]) == 0
    fitted = load_motion_smpl(tmp_path / "m.pkl")
    assert len(fitted) == 60
    assert main(["fit", str(tmp_path / "j.npy"), "--layout", "smpl24", "--fps", "60", "-o", str(tmp_path / "m.txt")]) == 1
    assert "give a .pkl file name" in capsys.readouterr().err


def test_warnings_are_one_line_each(tmp_path):
    """A silent song and a WAV cut short each warn in one 'aichoreo: warning:' line naming the file
    (Python's default format adds a second line with the source of the warn call)."""
    sf.write(tmp_path / "silence.wav", np.zeros(22050 * 3, np.float32), 22050)
    sf.write(tmp_path / "full.wav", click_track(6.0, 120.0, 22050), 22050, subtype="PCM_16")
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    for song in ("silence.wav", "cut.wav"):
        out = subprocess.run([sys.executable, "-m", "aichoreo", "features", str(tmp_path / song), "-o",
                              str(tmp_path / f"{song}.npy"), "--no-cache"], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        lines = [line for line in out.stderr.splitlines() if "warning" in line.lower()]
        assert len(lines) == 1 and lines[0].startswith("aichoreo: warning: ") and song in lines[0], out.stderr
        assert "warnings.warn" not in out.stderr and "UserWarning" not in out.stderr


def test_a_terminated_command_cleans_up_as_an_interrupted_one(tmp_path):
    """SIGTERM (kill, timeout, a service manager) ends a command as Ctrl-C does: a render so killed
    left its hidden temporary video behind."""
    import subprocess
    import sys
    import time

    from aichoreo.skeleton import rest_joints

    joints = rest_joints()[None] + np.sin(np.arange(7200) / 30)[:, None, None] * 0.1
    np.save(tmp_path / "long.npy", joints.astype(np.float32))
    proc = subprocess.Popen([sys.executable, "-m", "aichoreo", "render", str(tmp_path / "long.npy"), "-o",
                             str(tmp_path / "v.mp4")], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".") for p in tmp_path.iterdir()) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)
    time.sleep(0.2)  # into the video's frames
    proc.terminate()
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143 and "aichoreo: terminated" in err and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.npy"]


def test_a_reader_that_goes_away_is_no_error(tmp_path):
    """`aichoreo config list | head -1`: the write to a closed pipe gave a traceback (or 'Broken pipe' as an
    error after the work was done); now the command ends quietly with SIGPIPE's status."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "aichoreo", "config", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command writes
    err = proc.communicate(timeout=120)[1].decode()
    assert proc.returncode == 141 and err == "", err
