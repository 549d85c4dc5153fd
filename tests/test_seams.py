"""Seamless chunks with the bundled model on real songs it never heard (issue 14, part 4).

The bundled fact-small predicts chunks that do not join (its root jumps 10-24x farther across a
seam than inside a chunk); generation eases each chunk in from the frames before it
(:class:`aichoreo.generate.SeamEaser`, on by default), which is what this test checks.

With K = 20 frames kept per forward pass, the step across each seam between two predicted chunks
must be like the steps inside a chunk: the largest root step and the largest mean-joint step at a
seam within 1.5x of the largest inside a chunk. Songs: two of the test split of docs/results.md
(a rumba and a waltz), 30 s each from the dance's first frame, danced from the built-in seed.
"""

from __future__ import annotations

import numpy as np
import pytest

import aichoreo
from aichoreo.audio import SAMPLE_RATE, load_audio, music_features
from aichoreo.generate import generate_dances
from aichoreo.seeds import builtin_seed

SONGS = ("DANCE_R_8", "DANCE_W_34")  # test split: never trained on
K = 20


@pytest.fixture(scope="module")
def model():
    return aichoreo.load_model("default")


def _largest_steps(joints: np.ndarray, k: int, seed: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """(largest at a seam, largest inside a chunk) for the root and for the mean joint step."""
    root = np.linalg.norm(np.diff(joints[seed:, 0], axis=0), axis=-1)
    mean = np.linalg.norm(np.diff(joints[seed:], axis=0), axis=-1).mean(axis=1)
    at_seam = np.zeros(len(root), dtype=bool)
    at_seam[k - 1:: k] = True
    return (np.array([root[at_seam].max(), mean[at_seam].max()]),
            np.array([root[~at_seam].max(), mean[~at_seam].max()]))


@pytest.mark.parametrize("name", SONGS)
@pytest.mark.parametrize("lock_feet", [False, True])
def test_chunks_join_without_a_hitch(shared_data, model, name, lock_feet):
    folder = shared_data / "dance_with_melody"
    if not (folder / f"{name}.mp3").is_file():
        pytest.skip(f"{name}.mp3 not found under {folder}")
    net, cfg, meta = model
    offset = float(np.load(folder / f"{name}.npz")["music_offset_s"])
    y = load_audio(folder / f"{name}.mp3", SAMPLE_RATE)
    y = y[int(offset * SAMPLE_RATE): int((offset + 30.0) * SAMPLE_RATE)]
    feats, bpm = music_features(y, return_tempo=True)
    seed = builtin_seed("neutral", meta, n_frames=cfg.motion_len, bpm=bpm, random_seed=0)
    (motion,) = generate_dances(net, [feats], [seed], frames_per_step=K, lock_feet=lock_feet)
    seam, inside = _largest_steps(motion.joints(), K)
    assert np.all(seam <= 1.5 * inside), (f"{name}: largest step at a seam (root, mean joint) {seam.round(4)} m, "
                                          f"inside a chunk {inside.round(4)} m")
