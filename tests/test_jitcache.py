"""numba's compiled-function cache under commands that start at once (aichoreo.jitcache).

Before the lock, three ``aichoreo features`` started together on a fresh cache wrote index and
data files of different overloads over each other; from then on every run in that environment
died with a segmentation fault in librosa's beat tracker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import soundfile as sf

from aichoreo.data.fixtures import click_track


def _features(song, out, env):
    return subprocess.Popen([sys.executable, "-m", "aichoreo", "features", str(song), "-o", str(out), "--no-cache"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_commands_started_together_on_a_fresh_cache_then_again(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["AICHOREO_CACHE"] = str(tmp_path / "cache")  # fresh: nothing compiled yet
    songs = []
    for i, bpm in enumerate((96.0, 120.0, 140.0)):
        songs.append(tmp_path / f"song{i}.wav")
        sf.write(songs[-1], click_track(3.0, bpm, 22050), 22050)
    procs = [_features(song, tmp_path / f"{song.stem}.npy", env) for song in songs]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    for song, (rc, err) in zip(songs, results):
        assert rc == 0, f"{song.name}: exit {rc}: {err[-500:]}"
    # The cache went to aichoreo's folder (not into the environment) and is complete...
    cached = list((tmp_path / "cache" / "numba").rglob("*.nbi"))
    assert any("beat" in p.name for p in cached), cached
    # librosa declares its beat tracker's local score uncached (compiled again by every process,
    # 2-3 s); it is cached here like the rest.
    assert any("__beat_local_score" in p.name for p in cached), cached
    # ... and every later run reads it without crashing and computes the same numbers.
    again = _features(songs[0], tmp_path / "again.npy", env)
    rc = again.wait(timeout=600)
    assert rc == 0, again.stderr.read()[-500:]
    np.testing.assert_array_equal(np.load(tmp_path / "again.npy"), np.load(tmp_path / "song0.npy"))


def test_an_unwritable_cache_folder_falls_back_to_a_private_one(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(blocker / "numba"))
    code = "import aichoreo, os; print(os.environ['NUMBA_CACHE_DIR'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "not writable" in out.stderr
    private = out.stdout.strip()
    assert private != str(blocker / "numba") and os.path.isdir(private)
    shutil.rmtree(private)


def test_librosa_cached_leaves_other_code_as_declared():
    import numba

    from aichoreo.jitcache import librosa_cached

    def twice(x, out):
        out[0] = 2 * x[0]

    original = numba.guvectorize
    with librosa_cached():
        # no signatures: compiled on the first call, so that nothing is written to numba's cache here
        ours = numba.guvectorize("(n)->(n)", cache=False)(twice)
        twice.__module__ = "librosa.pretend"
        theirs = numba.guvectorize("(n)->(n)", cache=False)(twice)
    assert numba.guvectorize is original
    # numba's own record of it: a NullCache is no cache
    assert type(ours.gufunc_builder.nb_func.cache).__name__ == "NullCache"  # outside librosa: as declared
    assert type(theirs.gufunc_builder.nb_func.cache).__name__ != "NullCache"
    out = np.zeros(1)
    ours(np.array([1.5]), out)  # compiles; not cached
    assert out[0] == 3.0
