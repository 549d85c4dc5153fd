"""AIST++ -> common dataset format, and training straight from an AIST++-layout folder."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from aichoreo.cli import main
from aichoreo.data.aistpp import AISTPP
from aichoreo.data.dataset import PreparedDataset
from aichoreo.data.fixtures import write_aistpp_fixture
from aichoreo.data.prepare import prepare_aistpp
from aichoreo.errors import InputError
from aichoreo.models import load_model_file


@pytest.fixture(scope="module")
def aist(tmp_path_factory):
    root = tmp_path_factory.mktemp("aist")
    write_aistpp_fixture(root / "annotations", music_dir=root / "music", n_frames=300)
    return root


def test_prepare_aistpp_writes_the_common_format(aist, tmp_path):
    ds = prepare_aistpp(aist / "annotations", aist / "music", tmp_path / "prepared", progress=False)
    src = AISTPP(aist / "annotations", aist / "music")
    # Ignored sequences are dropped; every split of the fixture is present.
    assert set(ds.names()) == {n for s in ("train", "val", "test") for n in src.sequence_names(s)}
    assert not set(ds.names()) & src.ignored
    for name in ds.names():
        seq = ds.load(name)
        expected = src.motion(name).to_fact_vector()
        np.testing.assert_allclose(seq.motion, expected, atol=1e-6)
        assert seq.music.shape[1] == 35 and len(seq.music) >= len(seq.motion)
        assert seq.music[:, 34].sum() > 0  # beats were tracked
        assert ds.entry(name).music == name.split("_")[4]
    # The genre comes from the sequence name: a model with styles learns AIST++'s genres (issue 17).
    from aichoreo.data.aistpp import GENRES
    from aichoreo.models import get_preset
    from aichoreo.train import with_data_styles

    assert all(ds.entry(n).genre == GENRES[n.split("_")[0][1:]] for n in ds.names())
    styles = with_data_styles(get_preset("fact-small-style"), ds).styles
    assert styles == tuple(sorted({GENRES[n.split("_")[0][1:]] for n in ds.names("train")})) and len(styles) >= 2
    # A second call reuses the prepared folder.
    again = prepare_aistpp(aist / "annotations", aist / "music", tmp_path / "prepared", progress=False)
    assert again.names() == ds.names()
    # ...but not for other music features (it did: the stream spec got the reference features)
    from aichoreo.audio import STREAM_SPEC

    stream = prepare_aistpp(aist / "annotations", aist / "music", tmp_path / "prepared", progress=False,
                            music_spec=STREAM_SPEC)
    assert stream.music_spec == STREAM_SPEC.to_dict()
    assert PreparedDataset(tmp_path / "prepared").music_spec == STREAM_SPEC.to_dict()
    # a run that fails leaves no index over what may be a mix of old and new sequences
    broken = tmp_path / "broken_music"
    shutil.copytree(aist / "music", broken)
    for song in broken.iterdir():
        song.write_bytes(b"RIFF")
    with pytest.raises(InputError):
        prepare_aistpp(aist / "annotations", broken, tmp_path / "prepared", progress=False, overwrite=True)
    assert not (tmp_path / "prepared" / "index.json").exists()


def test_the_cache_of_an_aistpp_folder_changes_with_its_files(tmp_path):
    """`train --data ANNOTATIONS --music MUSIC` prepares into the cache under a name of the two paths;
    a song replaced afterwards (a damaged copy fixed) was read from the first preparation."""
    import os

    from aichoreo.data.prepare import aistpp_cache_name

    (tmp_path / "ann").mkdir()
    (tmp_path / "music").mkdir()
    song = tmp_path / "music" / "mBR0.wav"
    song.write_bytes(b"damaged")
    first = aistpp_cache_name(tmp_path / "ann", tmp_path / "music")
    assert aistpp_cache_name(tmp_path / "ann", tmp_path / "music") == first  # stable
    song.write_bytes(b"the song, whole")
    os.utime(song, ns=(1, 2))
    assert aistpp_cache_name(tmp_path / "ann", tmp_path / "music") != first


def test_train_from_an_aistpp_folder(aist, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AICHOREO_CACHE", str(tmp_path / "cache"))
    code = main(["train", "--config", "tiny", "--data", str(aist / "annotations"), "--music", str(aist / "music"),
                 "--out", str(tmp_path / "run"), "--max-steps", "2", "--accelerator", "cpu", "--devices", "1",
                 "--set", "batch_size=2", "--set", "num_workers=0", "--set", "checkpoint_every=1"])
    assert code == 0, capsys.readouterr().err
    _, cfg, meta = load_model_file(tmp_path / "run" / "models" / "last.pt")
    # The model file names the prepared folder, not its path on this machine (config.json has the path).
    assert meta["step"] == 2 and meta["data"].startswith("aistpp-") and str(tmp_path) not in str(meta)
    assert PreparedDataset(tmp_path / "cache" / "datasets" / meta["data"]).names("train")


def test_data_prepare_aistpp_command(aist, tmp_path, capsys):
    out = tmp_path / "prepared"
    assert main(["data", "prepare", "aistpp", "--src", str(aist / "annotations"), "--music", str(aist / "music"),
                 "-o", str(out)]) == 0
    assert str(out / "index.json") in capsys.readouterr().out
    assert PreparedDataset(out).names("test")
    # Not an AIST++ folder: one line naming it.
    (tmp_path / "nothing").mkdir()
    assert main(["data", "prepare", "aistpp", "--src", str(tmp_path / "nothing"), "--music", str(aist / "music"),
                 "-o", str(tmp_path / "x")]) == 1
    assert "not an AIST++ annotation folder" in capsys.readouterr().err
