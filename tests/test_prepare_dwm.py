"""Dance with Melody -> SMPL at 60 fps + music features, in the common format (real data)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from aichoreo.data.dataset import PreparedDataset
from aichoreo.data.prepare import DWM_SPLIT, dwm_split, prepare_dwm


def test_fixed_split_has_every_genre_in_test():
    assert {n.split("_")[1] for n in DWM_SPLIT["test"]} == {"C", "R", "T", "W"}
    assert dwm_split("DANCE_W_1") == "train" and dwm_split("DANCE_T_5") == "test"


@pytest.fixture(scope="module")
def dwm(shared_data):
    src = shared_data / "dance_with_melody"
    if not src.is_dir():
        pytest.skip(f"no dance_with_melody folder in {shared_data}")
    return src


def test_prepare_one_dance(dwm, tmp_path):
    ds = prepare_dwm(dwm, tmp_path / "out", fit_iterations=30, limit=1, progress=False)
    (name,) = ds.names()
    assert name == "DANCE_C_2" and ds.entry(name).split == "train" and ds.entry(name).genre == "cha-cha"
    seq = ds.load(name)
    # 1,890 frames at 25 fps = 75.6 s -> 60 fps frames k / 60 up to the last input frame.
    assert len(seq.motion) == int(np.floor(1889 / 25 * 60)) + 1
    assert seq.motion.shape[1] == 219 and np.isfinite(seq.motion).all()
    # Music from the dataset's offset (6.24 s) to the song's end, at 60 fps: longer than the dance.
    assert seq.music.shape[1] == 35 and len(seq.music) > len(seq.motion)
    assert seq.music[:, 34].sum() > 20  # beats tracked
    assert ds.entry(name).extra["fit_mean_error_m"] < 0.1


def test_prepare_reuses_earlier_fits(dwm, tmp_path):
    from aichoreo.data.dwm import load_dwm
    from aichoreo.reconstruct.fit import fit_smpl
    from aichoreo.reconstruct.layouts import DWM23

    dance = load_dwm(dwm / "DANCE_C_2.npz")
    fit = fit_smpl(dance.joints[:100], DWM23, fps=25.0, iterations=5)
    (tmp_path / "fits").mkdir()
    with open(tmp_path / "fits" / "DANCE_C_2.pkl", "wb") as f:
        # AIST++ pickles are 60 fps by definition: resample the 25 fps fit first.
        pickle.dump(fit.motion.resample(60.0).to_aistpp(scaling=fit.scale), f)
    ds = prepare_dwm(dwm, tmp_path / "out", fits=tmp_path / "fits", limit=1, progress=False)
    entry = ds.entry("DANCE_C_2")
    assert entry.extra["fit_file"].endswith("DANCE_C_2.pkl")
    assert len(ds.load("DANCE_C_2").motion) == int(np.floor(99 / 25 * 60)) + 1  # the 100-frame fit, resampled
    assert isinstance(PreparedDataset(tmp_path / "out").entries[0].n_frames, int)
