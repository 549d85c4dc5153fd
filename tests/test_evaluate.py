"""The evaluate command: protocols, music matching, caching, the conformance numbers end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from aichoreo.cli import main
from aichoreo.data.motion_files import list_motion_files
from aichoreo.evaluate import _music_key, evaluate, get_protocol


@pytest.fixture
def sets(conformance, tmp_path):
    ref = json.loads((conformance / "metrics_reference.json").read_text())
    for kind, key in (("real", "real"), ("pred", "generated")):
        (tmp_path / kind).mkdir()
        for name in ref["fid_dist"][key]:
            shutil.copy(conformance / "motions" / name, tmp_path / kind / name)
    return tmp_path, ref


def test_evaluate_reproduces_the_conformance_scores(sets, capsys):
    root, ref = sets
    # The conformance FID/Dist use whole motions in world coordinates: no seed, all frames.
    args = ["evaluate", "--pred", str(root / "pred"), "--real", str(root / "real"), "--seed-frames", "0",
            "--max-frames", "0", "--json", "--cache-dir", str(root / "cache")]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("fid_k", "fid_g", "dist_k", "dist_g"):
        assert report[key] == pytest.approx(ref["fid_dist"][key], rel=1e-9), key
    assert report["protocol"]["name"] == "fact" and report["protocol"]["coordinates"] == "world"
    assert report["protocol"]["n_generated"] == 6 and report["protocol"]["n_real"] == 16
    # A second run reads the real-set features from the cache and gives the same numbers.
    assert any((root / "cache" / "motion_features").iterdir())
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["fid_k"] == report["fid_k"]
    # A damaged cache entry (a disk error, a killed writer of an older version) is recomputed.
    entries = sorted((root / "cache" / "motion_features").iterdir())
    entries[0].write_bytes(entries[0].read_bytes()[:40])
    entries[1].write_bytes(b"")
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["fid_k"] == report["fid_k"]


def test_max_frames_zero_keeps_every_generated_frame(sets, capsys):
    """--max-frames 0 ("all") kept 1,200 frames: the override was dropped as not given."""
    root, _ = sets
    (root / "long").mkdir()
    pred = sorted((root / "pred").glob("*.npy"))
    for i, path in enumerate(pred):  # 1,500 frames whose last 300 come from another dance
        parts = [np.load(path)] * 4 + [np.load(pred[(i + 1) % len(pred)])]
        np.save(root / "long" / path.name, np.concatenate(parts))
    base = ["evaluate", "--pred", str(root / "long"), "--real", str(root / "real"), "--seed-frames", "0",
            "--json", "--no-cache"]
    reports = {}
    for n in ("0", "1200", "1500"):
        assert main([*base, "--max-frames", n]) == 0
        reports[n] = json.loads(capsys.readouterr().out)
    assert reports["0"]["protocol"]["max_frames"] is None
    assert reports["0"]["fid_k"] == reports["1500"]["fid_k"] != reports["1200"]["fid_k"]


def test_beat_align_with_music_features(sets, capsys):
    root, ref = sets
    (root / "music").mkdir()
    beats = np.zeros((300, 35), np.float32)
    beats[::30, 34] = 1  # the conformance music beats: every 30th frame from frame 0
    for name in ("gen_000", "gen_001", "gen_002"):
        np.save(root / "music" / f"{name}.npy", beats)
    pred = [root / "pred" / f"gen_00{i}.npy" for i in range(3)]
    real = list_motion_files(root / "real")
    report = evaluate(pred, real, protocol=get_protocol("fact", seed_frames=0, max_frames=None),
                      music_dir=root / "music")
    expected = np.mean(list(ref["beat_align_fact"]["scores"].values()))
    assert report["beat_align"] == pytest.approx(expected, rel=1e-6)
    assert report["protocol"]["n_beat_align"] == 3


def test_bailando_protocol_uses_zero_start_coordinates(sets):
    root, _ = sets
    pred, real = list_motion_files(root / "pred"), list_motion_files(root / "real")
    fact = evaluate(pred, real, protocol=get_protocol("fact", seed_frames=0))
    bailando = evaluate(pred, real, protocol=get_protocol("bailando"))
    assert bailando["protocol"]["coordinates"] == "zero_start"
    # The kinetic features' quirk measures distance from the origin: coordinates change FID_k.
    assert bailando["fid_k"] != pytest.approx(fact["fid_k"])
    # Geometric features are translation-invariant: FID_g differs only by the FID fallback order.
    assert bailando["fid_g"] == pytest.approx(fact["fid_g"], rel=1e-6)


def test_music_matching_rules():
    music = {"mBR0": Path("mBR0.wav"), "song": Path("song.mp3")}
    assert _music_key("song", music) == "song"
    assert _music_key("gBR_sBM_cAll_d04_mBR0_ch02_mBR0", music) == "mBR0"  # mint's <motion>_<music>
    assert _music_key("gBR_sBM_cAll_d04_mBR0_ch02", music) == "mBR0"  # AIST++ id in the name
    assert _music_key("other", music) is None


def test_evaluate_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["evaluate", "--pred", str(tmp_path / "empty"), "--real", str(tmp_path / "empty")]) == 1
    err = capsys.readouterr().err
    assert "empty" in err and "holds no motion files" in err and "Traceback" not in err
    (tmp_path / "bad").mkdir()
    np.save(tmp_path / "bad" / "a.npy", np.zeros((10, 17, 3)))
    np.save(tmp_path / "bad" / "b.npy", np.zeros((10, 17, 3)))
    assert main(["evaluate", "--pred", str(tmp_path / "bad"), "--real", str(tmp_path / "bad"), "--no-cache"]) == 1
    assert "a.npy: joints have shape (10, 17, 3), expected (T, 24, 3)" in capsys.readouterr().err
    # 4 frames after the seed pass the protocol's 3 but not PFC's 3 at 30 fps: named, not "pfc: ..." alone
    from aichoreo.skeleton import rest_joints

    (tmp_path / "short").mkdir()
    for name in ("a", "b"):
        np.save(tmp_path / "short" / f"{name}.npy", np.repeat(rest_joints()[None], 124, axis=0))
    assert main(["evaluate", "--pred", str(tmp_path / "short"), "--real", str(tmp_path / "short"), "--no-cache"]) == 1
    err = capsys.readouterr().err
    assert "a.npy: 4 frames scored: pfc:" in err and "Traceback" not in err


def test_features_constant_in_the_real_set_are_reported(tmp_path):
    from aichoreo.skeleton import rest_joints

    rng = np.random.default_rng(0)
    (tmp_path / "real").mkdir()
    (tmp_path / "pred").mkdir()
    for i in range(5):
        # Standing almost still: the fast-wrist tests (geometric 13, 14) never fire in the real set.
        still = rest_joints()[None] + 0.002 * rng.standard_normal((200, 24, 3)).cumsum(0) / 10
        np.save(tmp_path / "real" / f"r{i}.npy", still.astype(np.float32))
        waving = still.copy()
        waving[:, 21, 0] += 0.3 * np.sin(np.arange(200) / 3 + i)  # right wrist waves fast
        np.save(tmp_path / "pred" / f"p{i}.npy", waving.astype(np.float32))
    report = evaluate(list_motion_files(tmp_path / "pred"), list_motion_files(tmp_path / "real"),
                      protocol=get_protocol("fact", seed_frames=0, max_frames=None))
    constant = report["protocol"]["features_constant_in_real_set"]["geometric"]
    assert 12 in constant  # fast(rwrist), 0-based
    assert report["fid_g"] > 1e8  # the reference normalisation's 1e-10 at work
    assert np.isfinite(report["fid_g_varying"]) and report["fid_g_varying"] < 1e6


def test_edge_pickles_are_scored_at_the_protocols_frame_rate(tmp_path, capsys):
    """EDGE's output pickles (30 fps, z up, no smpl_scaling) beside AIST++ ones (60 fps): read by
    their keys and resampled to the protocol's 60 fps, so that the same dance scores as the same
    dance whichever of the two files holds it."""
    from aichoreo.data.fixtures import dance_pose
    from aichoreo.evaluate import load_protocol_joints
    from aichoreo.export.aistpp import write_aistpp
    from aichoreo.export.edge import write_edge
    from aichoreo.motion import SMPLMotion
    from aichoreo.rotations import axis_angle_to_matrix

    rng = np.random.default_rng(5)
    for kind in ("real", "aistpp", "edge"):
        (tmp_path / kind).mkdir()
    for i in range(4):
        poses, transl = dance_pose(361, 110.0 + 10 * i, rng, fps=60.0)  # 6 s
        motion = SMPLMotion(axis_angle_to_matrix(poses), transl, 60.0)
        write_aistpp(motion, tmp_path / "real" / f"r{i}.pkl")
        write_aistpp(motion, tmp_path / "aistpp" / f"d{i}.pkl")
        write_edge(motion, tmp_path / "edge" / f"d{i}.pkl")
    protocol = get_protocol("fact", seed_frames=0, max_frames=None)
    edge = load_protocol_joints(tmp_path / "edge" / "d0.pkl", protocol)
    aist = load_protocol_joints(tmp_path / "aistpp" / "d0.pkl", protocol)
    assert edge.shape == aist.shape == (361, 24, 3)  # 181 frames at 30 fps, back at 60
    np.testing.assert_allclose(edge[::2], aist[::2], atol=1e-5)  # the frames EDGE kept
    assert np.abs(edge - aist).max() < 0.02  # the ones between, slerped back (metres)
    scores = {}
    for kind in ("aistpp", "edge"):
        assert main(["evaluate", "--pred", str(tmp_path / kind), "--real", str(tmp_path / "real"), "--json",
                     "--seed-frames", "0", "--no-cache"]) == 0
        scores[kind] = json.loads(capsys.readouterr().out)
    assert scores["edge"]["protocol"]["fps"] == 60.0
    edge, aist = scores["edge"], scores["aistpp"]
    assert aist["fid_k"] < 1e-3 and aist["fid_g"] < 1e-3  # the same dances as the real set
    # Slerped back, the frames between differ a little (0.55 and 0.99 measured, against squared
    # distances between dances of about 170 and 35).
    assert edge["fid_k"] < 0.01 * edge["dist_k_real"] ** 2 and edge["fid_g"] < 0.05 * edge["dist_g_real"] ** 2
    for key in ("dist_k", "dist_g", "pfc"):
        assert edge[key] == pytest.approx(aist[key], rel=0.05), key


def test_too_few_real_clips_is_one_clear_error(tmp_path):
    """A dataset too short for two clips of the real set (quality report, benchmark) says so."""
    from types import SimpleNamespace

    from aichoreo.errors import InputError
    from aichoreo.evaluate import real_clips
    from aichoreo.motion import SMPLMotion

    still = SMPLMotion(np.broadcast_to(np.eye(3), (700, 24, 3, 3)), np.zeros((700, 3)), 60.0)
    data = SimpleNamespace(root=tmp_path / "data", names=lambda: ["a"],
                           load=lambda name: SimpleNamespace(motion=still.to_fact_vector()))
    with pytest.raises(InputError, match=r"data: fewer than two 10 s clips in the whole dataset: no real set"):
        real_clips(data, tmp_path / "out", 600)


def _beat_motion(fps: float, phase_s: float, seconds: float = 12.0) -> np.ndarray:
    """Joints (T, 24, 3) travelling along x at speed |sin|, still at phase_s + k * 0.5 s: kinematic beats there."""
    from aichoreo.skeleton import rest_joints

    t = np.arange(int(seconds * fps)) / fps
    x = np.cumsum(np.abs(np.sin(np.pi * (t - phase_s) / 0.5))) / fps
    return (rest_joints()[None] + x[:, None, None] * np.array([1.0, 0, 0])).astype(np.float32)


def _beat_music(folder: Path, names: list[str], seconds: float = 12.0) -> Path:
    """Music features at 60 fps with a beat every 0.5 s from 0 s, one file per name."""
    folder.mkdir()
    feats = np.zeros((int(seconds * 60), 35), np.float32)
    feats[::30, 34] = 1
    for name in names:
        np.save(folder / f"{name}.npy", feats)
    return folder


def test_beat_align_of_a_motion_at_30_fps_is_at_the_beats_times(tmp_path, capsys):
    """The music features are at 60 fps; a 30 fps motion compared with their frame numbers saw each beat
    at twice its time (BeatAlign 0.5 for a motion on every beat)."""
    music = _beat_music(tmp_path / "music", ["s1", "s2"])
    scores = {}
    for fps in (60, 30):
        (tmp_path / f"m{fps}").mkdir()
        for name in ("s1", "s2"):
            np.save(tmp_path / f"m{fps}" / f"{name}.npy", _beat_motion(fps, 0.0))
        assert main(["evaluate", "--pred", str(tmp_path / f"m{fps}"), "--real", str(tmp_path / f"m{fps}"),
                     "--music", str(music), "--fps", str(fps), "--seed-frames", "0", "--no-cache", "--json"]) == 0
        scores[fps] = json.loads(capsys.readouterr().out)["beat_align"]
    assert scores[60] > 0.95 and scores[30] > 0.95, scores


def test_dances_are_matched_to_their_songs_from_their_start(tmp_path, capsys):
    """`aichoreo dance` folders (<song>/dance_joints.npy, dance.json) are matched by the song, not by the
    file name `dance_joints` (BeatAlign was n/a), and a dance made with --start is scored from there."""
    music = _beat_music(tmp_path / "music", ["songA", "songB"])
    for name in ("songA", "songB"):
        folder = tmp_path / "dances" / name
        folder.mkdir(parents=True)
        # the song's beats at 0, 0.5, 1.0 s; the dance starts 0.25 s in: its beats at 0.25, 0.75 s of its own
        np.save(folder / "dance_joints.npy", _beat_motion(60, 0.25))
        (folder / "dance.json").write_text(json.dumps({"song": f"/somewhere/{name}.wav", "options": {"start": 0.25}}))
    assert main(["evaluate", "--pred", str(tmp_path / "dances"), "--real", str(tmp_path / "dances"),
                 "--music", str(music), "--seed-frames", "0", "--no-cache", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["protocol"]["n_beat_align"] == 2 and report["beat_align"] > 0.95, report["beat_align"]
    # beat-plot reads the same start from the dance.json (or --music-offset)
    out = tmp_path / "plot.png"
    assert main(["beat-plot", str(tmp_path / "dances" / "songA" / "dance_joints.npy"), "--music",
                 str(music / "songA.npy"), "-o", str(out)]) == 0 and out.is_file()
    assert main(["beat-plot", str(tmp_path / "dances" / "songA" / "dance_joints.npy"), "--music",
                 str(music / "songA.npy"), "-o", str(tmp_path / "plot.jpg")]) == 1  # a PNG, named so


def test_a_song_without_beats_leaves_its_motion_out_of_beat_align(tmp_path, capsys, caplog):
    """Silence is a valid song; one silent song ended the whole evaluation with an error naming no file."""
    music = _beat_music(tmp_path / "music", ["s1", "s2", "s3"])
    np.save(music / "s3.npy", np.zeros((720, 35), np.float32))  # no beat
    (tmp_path / "m").mkdir()
    for name in ("s1", "s2", "s3"):
        np.save(tmp_path / "m" / f"{name}.npy", _beat_motion(60, 0.0))
    assert main(["evaluate", "--pred", str(tmp_path / "m"), "--real", str(tmp_path / "m"), "--music", str(music),
                 "--seed-frames", "0", "--no-cache", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["protocol"]["n_beat_align"] == 2 and report["beat_align"] > 0.95
    assert "s3.npy" in caplog.text


def test_a_real_file_replaced_with_the_same_size_and_time_is_read_again(sets, capsys):
    """The feature cache was keyed by path, size and modification time: a file copied over another with
    its time kept (cp -p, rsync -a, tar) gave the features of the one before."""
    import os

    root, _ = sets
    args = ["evaluate", "--pred", str(root / "pred"), "--real", str(root / "real"), "--seed-frames", "0",
            "--max-frames", "0", "--json"]
    assert main([*args, "--cache-dir", str(root / "cache")]) == 0
    first = json.loads(capsys.readouterr().out)["fid_k"]
    target = sorted((root / "real").glob("*.npy"))[0]
    stat = target.stat()
    other = sorted((root / "pred").glob("*.npy"))[0]
    assert other.stat().st_size == stat.st_size
    shutil.copyfile(other, target)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert main([*args, "--cache-dir", str(root / "cache")]) == 0
    cached = json.loads(capsys.readouterr().out)["fid_k"]
    assert main([*args, "--no-cache"]) == 0
    assert cached == json.loads(capsys.readouterr().out)["fid_k"] != first
