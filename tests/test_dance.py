"""``aichoreo dance``: any song, the dance ends with the music, batching, seeds, bad input."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from aichoreo.cli import main
from aichoreo.pipeline import DanceOptions, dance
from aichoreo.seeds import bounce_seed as neutral_seed
from aichoreo.data.fixtures import click_track


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _song(path: Path, seconds: float, bpm: float = 120.0, sr: int = 22050) -> Path:
    sf.write(path, click_track(seconds, bpm, sr), sr)
    return path


def test_dance_covers_the_whole_song_and_writes_the_outputs(model_file, tmp_path, capsys):
    song = _song(tmp_path / "clicks.wav", 5.0)
    code = main(["dance", str(song), "-o", str(tmp_path / "out"), "--checkpoint", str(model_file),
                 "--formats", "joints,aistpp"])
    assert code == 0, capsys.readouterr().err
    folder = tmp_path / "out" / "clicks"
    joints = np.load(folder / "dance_joints.npy")
    n_music = 1 + int(5.0 * 30720) // 512
    assert joints.shape == (n_music, 24, 3)  # the dance ends with the music, not 2 s before it
    summary = json.loads((folder / "dance.json").read_text())
    assert summary["frames"] == n_music and summary["bpm_prior"] == pytest.approx(120, abs=2)
    # Every stage's wall time (benchmarks/dance_end_to_end.py reads them), each format's export too.
    stages = summary["timings_s"]
    assert set(stages) == {"model_load", "features", "seed", "generation", "foot_lock", "exports"}
    assert set(stages["exports"]) == {"joints", "aistpp"}
    assert all(v >= 0 for k, v in stages.items() if k != "exports") and stages["model_load"] > 0
    assert sum(summary["generation_threads"].values()) > 0  # the loop's passes per thread count
    assert str(folder / "dance.pkl") in capsys.readouterr().out


def test_the_songs_aac_is_encoded_once_while_the_features_are_computed(model_file, tmp_path, monkeypatch):
    """The video's music (and a large wav's on the page) is one AAC per song, started before the
    song's features and handed to the exports, which would otherwise encode it again."""
    import aichoreo.export.music as music

    started = []
    original = music.SongAAC.__init__

    def recording(self, song):
        started.append(Path(song).name)
        original(self, song)

    monkeypatch.setattr(music.SongAAC, "__init__", recording)
    song = _song(tmp_path / "clicks.wav", 4.0)
    dance(song, model_file, tmp_path / "out", DanceOptions(formats=("mp4", "html")), progress=False)
    assert started == ["clicks.wav"]
    assert (tmp_path / "out" / "clicks" / "dance.mp4").stat().st_size > 0
    started.clear()
    dance(song, model_file, tmp_path / "out2", DanceOptions(formats=("joints", "html")), progress=False)
    assert started == []  # a small wav goes into the page as it is; no video
    assert "<title>clicks</title>" in (tmp_path / "out2" / "clicks" / "dance.html").read_text()  # the song's name
    # Batches after the first start theirs when they begin: one each all the same.
    other = _song(tmp_path / "other.wav", 4.0, 100.0)
    dance([song, other], model_file, tmp_path / "out3", DanceOptions(formats=("mp4",), batch_size=1), progress=False)
    assert started == ["clicks.wav", "other.wav"]
    assert (tmp_path / "out3" / "other" / "dance.mp4").stat().st_size > 0


def test_batched_songs_equal_single_songs(model_file, tmp_path):
    from aichoreo.models import load_model_file

    model, _, _ = load_model_file(model_file)
    songs = [_song(tmp_path / "a.wav", 4.5, 110), _song(tmp_path / "b.wav", 6.0, 128)]
    opts = DanceOptions(formats=("joints",), batch_size=2)
    dance(songs, model, tmp_path / "together", opts, progress=False)
    dance(songs, model, tmp_path / "apart", DanceOptions(formats=("joints",), batch_size=1), progress=False)
    for name in ("a", "b"):
        together = np.load(tmp_path / "together" / name / "dance_joints.npy")
        apart = np.load(tmp_path / "apart" / name / "dance_joints.npy")
        np.testing.assert_allclose(together, apart, atol=1e-4)


def test_neutral_seed_stands_on_the_floor_and_varies():
    a, b = neutral_seed(120, 120.0, 0), neutral_seed(120, 120.0, 1)
    ja = a.joints()
    assert ja.shape == (120, 24, 3) and ja[..., 1].min() == pytest.approx(0, abs=1e-6)
    assert ja[:, 15, 1].min() > 1.2  # the head stays up: a standing dancer
    assert not np.allclose(ja, b.joints())


@pytest.mark.parametrize("make, extra, message", [
    (lambda d: d / "missing.wav", [], "no such file"),
    (lambda d: _song(d / "short.wav", 0.5), [], "a dance needs more than the 2 s seed motion"),
    (lambda d: _write(d / "empty.wav", b""), [], "empty.wav"),
    (lambda d: _write(d / "text.mp3", b"not audio at all"), [], "text.mp3"),
    (lambda d: _song(d / "ok.wav", 3.0), ["--seed-motion", "bogus"], "unknown seed motion 'bogus'"),
    (lambda d: _song(d / "ok.wav", 3.0), ["--checkpoint", "{notmodel}"], "not an aichoreo model file"),
])
def test_bad_input_is_one_clear_line_and_writes_nothing(model_file, tmp_path, capsys, make, extra, message):
    song = make(tmp_path)
    not_model = tmp_path / "notmodel.pt"
    torch.save({"weights": torch.zeros(2)}, not_model)
    extra = [e.replace("{notmodel}", str(not_model)) for e in extra]
    args = ["dance", str(song), "-o", str(tmp_path / "out"), "--formats", "joints"]
    if "--checkpoint" not in extra:
        args += ["--checkpoint", str(model_file)]
    assert main(args + extra) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.npy"))


def test_output_folder_that_is_a_file(model_file, tmp_path, capsys):
    song = _song(tmp_path / "ok.wav", 3.0)
    (tmp_path / "taken").write_text("x")
    assert main(["dance", str(song), "-o", str(tmp_path / "taken"), "--checkpoint", str(model_file)]) == 1
    assert "is a file, not a folder" in capsys.readouterr().err


def test_silent_song_warns_and_dances(model_file, tmp_path):
    sf.write(tmp_path / "silence.wav", np.zeros(22050 * 3, np.float32), 22050)
    with pytest.warns(UserWarning, match="silent") as record:
        assert main(["dance", str(tmp_path / "silence.wav"), "-o", str(tmp_path / "out"), "--checkpoint",
                     str(model_file), "--formats", "joints", "--bpm", "100"]) == 0
    assert (tmp_path / "out" / "silence" / "dance_joints.npy").is_file()
    assert len([w for w in record if "silent" in str(w.message)]) == 1  # the song is checked once
    # A silent stretch of a song with music is checked where the dance starts.
    y = np.concatenate([np.zeros(22050 * 3), click_track(3.0, 120.0, 22050)]).astype(np.float32)
    sf.write(tmp_path / "late.wav", y, 22050)
    with pytest.warns(UserWarning, match="silent") as record:
        assert main(["dance", str(tmp_path / "late.wav"), "-o", str(tmp_path / "out"), "--checkpoint",
                     str(model_file), "--formats", "joints", "--bpm", "100", "--seconds", "2.5"]) == 0
    assert len([w for w in record if "silent" in str(w.message)]) == 1


def test_the_dance_uses_the_tempo_the_features_estimated(model_file, tmp_path, monkeypatch):
    """One tempo estimate per song: the features' own (before, the envelope was analysed twice)."""
    import aichoreo.audio as audio

    from aichoreo.models import load_model_file

    song = _song(tmp_path / "clicks.wav", 5.0, bpm=100.0)
    expected = audio.estimate_tempo(audio.song_features(song)[:, 0])  # also warms librosa up first
    calls, tempograms = [], []
    estimate, tempogram = audio._tempo, audio._tempogram_mean
    # _tempo(envelope, spec, start_bpm, ...): the estimate starts from 120 BPM; the beat tracker's own
    # call starts from the prior it was given. Both weigh one mean tempogram, computed once.
    monkeypatch.setattr(audio, "_tempo", lambda *a, **k: calls.append(a[2]) or estimate(*a, **k))
    monkeypatch.setattr(audio, "_tempogram_mean", lambda *a, **k: tempograms.append(1) or tempogram(*a, **k))
    summary = dance([song], load_model_file(model_file)[0], tmp_path / "out", DanceOptions(formats=("joints",)),
                    progress=False)[0]
    assert calls.count(120.0) == 1 and len(calls) == 2, calls
    assert len(tempograms) == 1
    assert summary["bpm_prior"] == expected


# ------------------------------------------------------------------ the output folder describes one dance


def _dance(song: Path, out: Path, model_file: Path, formats: str = "joints") -> int:
    return main(["dance", str(song), "-o", str(out), "--checkpoint", str(model_file), "--formats", formats])


def test_rerun_replaces_the_song_folder_as_a_whole(model_file, tmp_path, capsys):
    song = _song(tmp_path / "clicks.wav", 3.0)
    out = tmp_path / "out"
    assert _dance(song, out, model_file, "joints,aistpp,bvh") == 0
    assert _dance(song, out, model_file, "joints") == 0, capsys.readouterr().err
    folder = out / "clicks"
    # The earlier run's pkl and bvh are gone: the folder holds exactly what dance.json lists.
    assert sorted(p.name for p in folder.iterdir()) == ["dance.json", "dance_joints.npy"]
    summary = json.loads((folder / "dance.json").read_text())
    assert summary["files"] == {"joints": str(folder / "dance_joints.npy")} and summary["out"] == str(folder)
    assert sorted(p.name for p in out.iterdir()) == ["clicks"]  # no staging folder left


def test_dance_json_names_its_files_from_anywhere(model_file, tmp_path, monkeypatch):
    """A command run with relative paths writes absolute ones into dance.json, which is read from
    elsewhere (until 2026-12-08 its paths were relative to where the command ran)."""
    _song(tmp_path / "clicks.wav", 3.0)
    monkeypatch.chdir(tmp_path)
    assert main(["dance", "clicks.wav", "-o", "out", "--checkpoint", str(model_file), "--formats", "joints"]) == 0
    summary = json.loads((tmp_path / "out" / "clicks" / "dance.json").read_text())
    assert summary["song"] == str(tmp_path / "clicks.wav") and summary["out"] == str(tmp_path / "out" / "clicks")
    assert summary["files"] == {"joints": str(tmp_path / "out" / "clicks" / "dance_joints.npy")}


def test_a_folder_with_foreign_files_is_refused_and_kept(model_file, tmp_path, capsys):
    song = _song(tmp_path / "clicks.wav", 3.0)
    out = tmp_path / "out"
    assert _dance(song, out, model_file) == 0
    (out / "clicks" / "notes.txt").write_text("my notes")
    capsys.readouterr()
    assert _dance(song, out, model_file, "joints,aistpp") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"aichoreo: error: {out / 'clicks'}: holds files that aichoreo dance did not write "
                          "(notes.txt)") and err.count("\n") == 1
    assert sorted(p.name for p in (out / "clicks").iterdir()) == ["dance.json", "dance_joints.npy", "notes.txt"]
    # A folder the user made (no dance.json) is not aichoreo's either.
    (tmp_path / "mine" / "clicks").mkdir(parents=True)
    (tmp_path / "mine" / "clicks" / "dance_joints.npy").write_text("not ours")
    assert _dance(song, tmp_path / "mine", model_file) == 1
    assert "dance_joints.npy" in capsys.readouterr().err
    assert (tmp_path / "mine" / "clicks" / "dance_joints.npy").read_text() == "not ours"
    # A dance.json nested too deeply for Python's decoder lists nothing: its folder's other files are foreign.
    (tmp_path / "mine" / "clicks" / "dance.json").write_text("[" * 100_000 + "]" * 100_000)
    assert _dance(song, tmp_path / "mine", model_file) == 1
    assert "holds files that aichoreo dance did not write (dance_joints.npy)" in capsys.readouterr().err


def test_a_killed_runs_staging_folders_are_removed_by_the_next_run(model_file, tmp_path):
    import fcntl

    from aichoreo.fileio import STAGING_LOCK

    song = _song(tmp_path / "clicks.wav", 3.0)
    out = tmp_path / "out"
    (out / ".clicks.staging-killed" / "new").mkdir(parents=True)  # killed while exporting: its lock is free
    (out / ".clicks.staging-killed" / STAGING_LOCK).touch()
    (out / ".clicks.staging-killed" / "new" / "dance.mp4").write_bytes(b"half")
    (out / "clicks" / ".dance.exporting-old").mkdir(parents=True)  # an export killed by an older version
    (out / ".other.staging-x").mkdir()  # another song's: left alone
    live = out / ".clicks.staging-live"  # a run writing this song now: its lock is held
    (live / "new").mkdir(parents=True)
    np.save(live / "new" / "dance_joints.npy", np.zeros((130, 24, 3), np.float32))
    with open(live / STAGING_LOCK, "w") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        assert _dance(song, out, model_file) == 0
    assert sorted(p.name for p in out.iterdir()) == [".clicks.staging-live", ".other.staging-x", "clicks"]
    assert sorted(p.name for p in (out / "clicks").iterdir()) == ["dance.json", "dance_joints.npy"]
    # aichoreo evaluate scores the finished dance only, never a run's unfinished files.
    from aichoreo.data.motion_files import list_motion_files

    assert list_motion_files(out) == [out / "clicks" / "dance_joints.npy"]


def test_a_song_with_the_longest_legal_name_dances_and_is_cleaned_up_after(model_file, tmp_path):
    """A song file name of 250 bytes (legal: at most 255) made a staging folder name the disk refused,
    after the dance was generated; the hidden names made of it are shortened, the same way each run."""
    from aichoreo.fileio import STAGING_LOCK, _name_part

    stem = "é" * 123  # 246 bytes of UTF-8
    song = _song(tmp_path / f"{stem}.wav", 3.0)
    out = tmp_path / "out"
    assert _dance(song, out, model_file) == 0
    assert sorted(p.name for p in out.iterdir()) == [stem]
    killed = out / f".{_name_part(stem + '.staging')}-killed"  # a killed run's, as staging_folder names it
    killed.mkdir()
    (killed / STAGING_LOCK).touch()
    assert len(killed.name.encode()) <= 255
    assert _dance(song, out, model_file) == 0
    assert sorted(p.name for p in out.iterdir()) == [stem]
    assert sorted(p.name for p in (out / stem).iterdir()) == ["dance.json", "dance_joints.npy"]


def test_an_output_folder_that_cannot_be_written_is_refused_before_any_work(model_file, tmp_path, capsys,
                                                                             monkeypatch):
    """Refused in one line naming the folder, before the song is decoded: it failed after generation,
    naming a hidden staging folder."""
    import aichoreo.pipeline as pipeline

    song = _song(tmp_path / "clicks.wav", 3.0)
    monkeypatch.setattr(pipeline, "song_inputs", lambda *a, **k: pytest.fail("the song was decoded"))
    (tmp_path / "afile").write_text("x")
    assert _dance(song, tmp_path / "afile" / "out", model_file) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'afile' / 'out'}: cannot be made: {tmp_path / 'afile'} is a file, not a folder" in err
    assert err.count("\n") == 1
    if Path("/sys").is_dir() and _refuses("/sys"):  # a place even root cannot write
        assert _dance(song, Path("/sys/aichoreo-out"), model_file) == 1
        err = capsys.readouterr().err
        assert "/sys/aichoreo-out: cannot be written (in /sys)" in err and ".staging" not in err
        assert err.count("\n") == 1


def _refuses(folder: str) -> bool:
    """Whether making a folder in ``folder`` fails, also for root (a read-only mount, sysfs)."""
    try:
        os.rmdir(tempfile.mkdtemp(dir=folder))
    except OSError:
        return True
    return False


def test_a_failed_export_names_the_users_path_and_leaves_no_folder(model_file, tmp_path, capsys, monkeypatch):
    import aichoreo.export as export

    def no_space(motion, path, **kwargs):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(export, "write_bvh", no_space)
    song = _song(tmp_path / "clicks.wav", 3.0)
    out = tmp_path / "new" / "out"
    assert _dance(song, out, model_file, "joints,bvh") == 1
    err = capsys.readouterr().err  # the progress bar of generation, then one error line
    assert err.endswith(f"\naichoreo: error: [Errno 28] No space left on device: '{out / 'clicks' / 'dance.bvh'}'\n")
    assert "staging" not in err and "exporting" not in err and "Traceback" not in err
    assert not (tmp_path / "new").exists()  # both folders it created are removed again
    # Into an earlier run's folder: that dance stays as it was.
    monkeypatch.undo()
    assert _dance(song, out, model_file, "joints") == 0
    before = (out / "clicks" / "dance.json").read_text()
    monkeypatch.setattr(export, "write_bvh", no_space)
    assert _dance(song, out, model_file, "bvh") == 1
    assert (out / "clicks" / "dance.json").read_text() == before
    assert sorted(p.name for p in out.iterdir()) == ["clicks"]


def _fact_seed(n: int = 130) -> np.ndarray:
    x = np.zeros((n, 225), np.float32)
    x[:, 9:] = np.tile(np.eye(3, dtype=np.float32).ravel(), 24)
    x[:, 7] = 0.9  # root height, metres
    return x


def _seed_file(path: Path, x: np.ndarray) -> Path:
    np.save(path, x)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda d: _write(d / "empty.npy", b""), "not a readable .npy file: it is empty or ends early"),
    (lambda d: _write(d / "cut.npy", _seed_file(d / "full.npy", _fact_seed()).read_bytes()[:5000]),
     "not a readable .npy file"),
    (lambda d: _seed_file(d / "huge.npy", _fact_seed() * np.float32(1e30)), "the root moves 9e+29 m from the origin"),
    (lambda d: _seed_file(d / "cm.npy", _fact_seed() + np.outer(np.arange(130), np.r_[np.zeros(6), 1.0, np.zeros(218)])
                          .astype(np.float32)), "the root moves at 60 m/s (the median over frames)"),
    (lambda d: _seed_file(d / "nan.npy", np.where(np.arange(225) == 100, np.nan, _fact_seed())),
     "contains NaN or infinite values"),
    (lambda d: _seed_file(d / "notrot.npy", _fact_seed() * np.r_[np.ones(9), 5 * np.ones(216)].astype(np.float32)),
     "its 3x3 blocks are not rotations"),
    (lambda d: _seed_file(d / "cube.npy", np.zeros((130, 24, 4), np.float32)),
     "expected SMPL-24 joints (T, 24, 3) or FACT motion vectors"),
    (lambda d: _seed_file(d / "wide.npy", np.zeros((130, 200), np.float32)), "expected FACT motion vectors"),
])
def test_a_bad_seed_file_is_one_line_naming_it(model_file, tmp_path, capsys, make, message):
    seed = make(tmp_path)
    song = _song(tmp_path / "ok.wav", 3.0)
    assert main(["dance", str(song), "-o", str(tmp_path / "out"), "--checkpoint", str(model_file), "--formats",
                 "joints", "--seed-motion", str(seed)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"aichoreo: error: {seed}: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_plausible_seed_file_dances(model_file, tmp_path):
    seed = _seed_file(tmp_path / "seed.npy", _fact_seed())
    song = _song(tmp_path / "ok.wav", 3.0)
    from aichoreo.motion import fact_vector_to_joints

    expected = fact_vector_to_joints(_fact_seed()[:120])
    # The model's dance starts from the seed. (The floor and foot clean-up, on by default, treats the
    # seed frames like the rest of the dance: docs/feet.md.)
    assert main(["dance", str(song), "-o", str(tmp_path / "out"), "--checkpoint", str(model_file), "--formats",
                 "joints", "--seed-motion", str(seed), "--no-foot-lock"]) == 0
    joints = np.load(tmp_path / "out" / "ok" / "dance_joints.npy")
    np.testing.assert_allclose(joints[:120], expected, atol=1e-5)


def test_an_interrupted_swap_puts_the_earlier_folder_back(tmp_path, monkeypatch):
    """The song folder is swapped in by two renames; a Ctrl-C between them restores the earlier dance."""
    import aichoreo.pipeline as dance_module

    folder, new, previous = tmp_path / "song", tmp_path / "staging" / "new", tmp_path / "staging" / "previous"
    folder.mkdir()
    (folder / "dance.json").write_text("earlier")
    new.mkdir(parents=True)
    (new / "dance.json").write_text("new")
    rename = os.rename

    def interrupted(src, dst):
        if Path(src) == new:
            raise KeyboardInterrupt
        rename(src, dst)

    monkeypatch.setattr(dance_module.os, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        dance_module._swap_in(new, folder, previous)
    assert (folder / "dance.json").read_text() == "earlier"
    monkeypatch.setattr(dance_module.os, "rename", rename)
    dance_module._swap_in(new, folder, previous)
    assert (folder / "dance.json").read_text() == "new" and (previous / "dance.json").read_text() == "earlier"


def test_features_come_from_the_cache_that_aichoreo_features_fills(model_file, tmp_path, monkeypatch):
    """A re-run, or a dance after `aichoreo features`, reads the song's features instead of decoding it;
    a cut of the song has entries of its own."""
    import aichoreo.audio as audio

    # One thread count, so that the same features give the same bits (aichoreo.threads).
    monkeypatch.setenv("AICHOREO_THREADS", "1")
    song = _song(tmp_path / "clicks.wav", 5.0)
    cache = tmp_path / "cache"
    assert main(["features", str(song), "-o", str(tmp_path / "f.npy"), "--cache-dir", str(cache)]) == 0
    decode = audio.load_audio

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(audio, "load_audio", no_decoding)
    monkeypatch.setattr("aichoreo.pipeline.load_audio", no_decoding)
    args = ["dance", str(song), "--checkpoint", str(model_file), "--formats", "joints", "--cache-dir", str(cache)]
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    cached = np.load(tmp_path / "a" / "clicks" / "dance_joints.npy")
    monkeypatch.setattr("aichoreo.pipeline.load_audio", decode)
    assert main([*args, "-o", str(tmp_path / "b"), "--no-cache"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "b" / "clicks" / "dance_joints.npy"), cached)
    assert json.loads((tmp_path / "a" / "clicks" / "dance.json").read_text())["bpm_prior"] == \
        json.loads((tmp_path / "b" / "clicks" / "dance.json").read_text())["bpm_prior"]
    n_entries = len(list(cache.glob("*.npy")))
    assert main([*args, "-o", str(tmp_path / "c"), "--seconds", "3"]) == 0  # decodes (not patched): a new entry
    assert len(list(cache.glob("*.npy"))) == n_entries + 1
