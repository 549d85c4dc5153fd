"""``aichoreo dance`` computes the first song's features in a forked process while torch is imported
(:class:`aichoreo.pipeline.FeaturePrefetch`): the same features, the same warnings, the same errors.

Each check runs in a fresh interpreter, as the command does: pytest has imported torch, and the
prefetch only forks where torch is not yet imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from aichoreo.data.fixtures import click_track

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the prefetch forks on Linux only")


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)


def test_prefetched_features_equal_those_computed_here(tmp_path):
    song = tmp_path / "clicks.wav"
    sf.write(song, click_track(6.0, 128.0, 22050), 22050)
    run = _python(f"""
        import json, sys
        import numpy as np
        from aichoreo.pipeline import DanceOptions, FeaturePrefetch, song_inputs
        from aichoreo.audio import DEFAULT_SPEC
        import aichoreo.cli  # noqa: F401
        assert "torch" not in sys.modules, "importing the command line or the pipeline imported torch"
        options = DanceOptions(start=0.5, seconds=4.0)
        with FeaturePrefetch.start({str(song)!r}, options, None) as prefetch:
            assert prefetch is not None
            early = prefetch.pending()  # the child is still importing librosa
            got = prefetch.result(DEFAULT_SPEC)
            late = prefetch.pending()
        want = song_inputs({str(song)!r}, options, 120)
        print(json.dumps({{"same": bool(np.array_equal(got.features, want.features)), "shape": got.features.shape,
                          "bpm": [got.bpm, want.bpm], "alive": prefetch.process.is_alive(),
                          "pending": [early, late]}}))
    """)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["same"] and out["shape"] == [240, 35] and out["bpm"][0] == out["bpm"][1] and not out["alive"]
    assert out["pending"] == [True, False]


def test_a_failed_or_mismatched_prefetch_gives_way(tmp_path):
    """A file the child cannot read, and a model of other features, leave the features to the caller."""
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wav")
    song = tmp_path / "clicks.wav"
    sf.write(song, click_track(4.0, 120.0, 22050), 22050)
    run = _python(f"""
        from aichoreo.pipeline import DanceOptions, FeaturePrefetch
        from aichoreo.audio import DEFAULT_SPEC, STREAM_SPEC
        with FeaturePrefetch.start({str(bad)!r}, DanceOptions(), None) as prefetch:
            print(prefetch.result(DEFAULT_SPEC))
        with FeaturePrefetch.start({str(song)!r}, DanceOptions(), None) as prefetch:
            print(prefetch.result(STREAM_SPEC), prefetch.process.is_alive())
    """)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["None", "None", "False"]


def test_a_prefetch_stopped_at_any_moment_says_nothing(tmp_path):
    """The command may stop the child while it decodes, computes, writes the cache or sends (a bad
    song found by another check, Ctrl-C): no traceback, no cache entry left half-written."""
    song = tmp_path / "clicks.wav"
    sf.write(song, click_track(20.0, 120.0, 22050), 22050)
    run = _python(f"""
        import json, time
        from pathlib import Path
        from aichoreo.audio import FeatureCache
        from aichoreo.pipeline import DanceOptions, FeaturePrefetch
        cache = FeatureCache({str(tmp_path / "cache")!r})
        for delay in (0.0, 0.05, 0.3, 0.8, 1.5, 2.5, 4.0):
            with FeaturePrefetch.start({str(song)!r}, DanceOptions(), cache) as prefetch:
                time.sleep(delay)
            assert not prefetch.process.is_alive()
        print(json.dumps(sorted(p.suffix for p in Path({str(tmp_path / "cache")!r}).iterdir())))
    """)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert set(json.loads(run.stdout)) <= {".npy"}  # whole entries only, if any


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_a_killed_command_leaves_no_child_behind(tmp_path):
    """Killed while the features of a 10-minute song are computed (about 15 s of work), the
    command's child is interrupted at once."""
    song = tmp_path / "clicks.wav"
    sf.write(song, click_track(600.0, 120.0, 22050), 22050)
    script = textwrap.dedent(f"""
        import time
        from aichoreo.pipeline import DanceOptions, FeaturePrefetch
        with FeaturePrefetch.start({str(song)!r}, DanceOptions(), None) as prefetch:
            print(prefetch.process.pid, flush=True)
            time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.kill()  # SIGKILL: no clean-up of its own
    parent.wait()
    deadline = time.monotonic() + 8  # ample: interrupted, the child ends within a second
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child), "the features child outlived the killed command"


def test_a_child_whose_reader_is_gone_ends_instead_of_writing_to_itself(tmp_path):
    """Where the parent's end of the pipe is closed (the parent killed and the interrupt that should
    have followed lost), the child's features, more than a pipe holds, are not written into its own
    copy of that end for ever: the child ends."""
    song = tmp_path / "clicks.wav"
    sf.write(song, click_track(30.0, 120.0, 22050), 22050)  # 1800 x 35 float32: 250 kB > a 64 kB pipe
    run = _python(f"""
        import multiprocessing, os
        from pathlib import Path
        from aichoreo.pipeline import DanceOptions, _prefetch_features
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_prefetch_features,
                                args=(send, Path({str(song)!r}), DanceOptions(), None, os.getpid(), receive))
        child.start()
        send.close()
        receive.close()  # nobody will read
        child.join(120)
        print(child.is_alive())
        if child.is_alive():
            child.kill()
    """)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False"], "the child blocked writing to a pipe nobody reads"


def test_the_command_says_a_silent_songs_warning_once_and_a_bad_songs_error_in_one_line(model_file, tmp_path):
    silent = tmp_path / "silence.wav"
    sf.write(silent, np.zeros(22050 * 4, np.float32), 22050)
    command = [sys.executable, "-m", "aichoreo", "dance", "-o", str(tmp_path / "out"), "--checkpoint",
               str(model_file), "--formats", "joints"]
    run = subprocess.run([*command, str(silent)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("its music features describe no music") == 1, run.stderr
    assert (tmp_path / "out" / "silence" / "dance_joints.npy").is_file()

    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wav")
    run = subprocess.run([*command, str(bad)], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.wav" in lines[0] and "Traceback" not in run.stderr, run.stderr


def test_the_command_with_a_video_loads_its_kernels_while_the_features_are_computed(model_file, tmp_path):
    """With the mp4 asked for, the video's compiled kernels are loaded while the command waits for the
    prefetched features; the dance and the video come out as with any other order. (Whether the child
    is still computing when the model is loaded is a race the command does not depend on: the probe
    says it is, so that the check is the same on any machine.)"""
    song = tmp_path / "clicks.wav"
    sf.write(song, click_track(5.0, 120.0, 22050), 22050)
    probe = textwrap.dedent(f"""
        import sys
        import aichoreo.pipeline as pipeline
        from aichoreo.cli import run
        pipeline.FeaturePrefetch.pending = lambda self: True
        result = pipeline.FeaturePrefetch.result
        def result_after_kernels(self, spec):
            print("numba before the features:", "numba" in sys.modules, file=sys.stderr)
            return result(self, spec)
        pipeline.FeaturePrefetch.result = result_after_kernels
        sys.argv = ["aichoreo", "dance", {str(song)!r}, "-o", {str(tmp_path / "out")!r}, "--checkpoint",
                    {str(model_file)!r}, "--formats", "mp4,joints"]
        run()
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "numba before the features: True" in done.stderr
    folder = tmp_path / "out" / "clicks"
    assert (folder / "dance.mp4").stat().st_size > 10_000 and np.load(folder / "dance_joints.npy").shape[1:] == (24, 3)
