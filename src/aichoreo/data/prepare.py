"""Preparation of AIST++ into the common dataset format (:mod:`aichoreo.data.dataset`).

Splits follow the AIST++ cross-modal benchmark (reference.md §1): train minus the ignore list
(952 sequences in the full release), val and test as listed. The val list ships only with the
annotations; a download without ``splits/crossmodal_val.txt`` is prepared without a val split.
Music features are computed once per song (the id's tempo as the beat prior, as mint does) and
cached by file content, so re-preparing is quick.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from aichoreo.audio import DEFAULT_SPEC, FeatureCache, features_for_files
from aichoreo.data.aistpp import AISTPP, parse_sequence_name
from aichoreo.data.dataset import (
    FORMAT_VERSION,
    PreparedDataset,
    SequenceEntry,
    is_prepared_dataset,
    write_index,
    write_sequence,
)
from aichoreo.errors import InputError
from aichoreo.skeleton import FPS

log = logging.getLogger(__name__)


def aistpp_cache_name(root: str | os.PathLike, music_dir: str | os.PathLike) -> str:
    """A folder name for the prepared copy of an AIST++ download (stable for the same paths)."""
    key = f"{Path(root).resolve()}|{Path(music_dir).resolve()}|v{FORMAT_VERSION}"
    return "aistpp-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _splits(ds: AISTPP) -> dict[str, list[str]]:
    splits: dict[str, list[str]] = {}
    for split in ("train", "val", "test"):
        if split == "val" and not (ds.root / "splits" / "crossmodal_val.txt").is_file():
            log.warning("%s has no splits/crossmodal_val.txt: preparing without a val split", ds.root)
            continue
        splits[split] = ds.sequence_names(split, on_missing="skip")
    return splits


def prepare_aistpp(root: str | os.PathLike, music_dir: str | os.PathLike, out: str | os.PathLike, *,
                   cache_dir: str | os.PathLike | None = None, workers: int = 2,
                   progress: bool = True, overwrite: bool = False) -> PreparedDataset:
    """Write ``out`` in the common format from an AIST++ annotation folder and its music folder.

    An ``out`` already prepared from the same sequences is reused unless ``overwrite``.
    ``cache_dir`` caches music features (default: ``out/.feature_cache``).
    """
    ds = AISTPP(root, music_dir)
    splits = _splits(ds)
    wanted = {name: split for split, names in splits.items() for name in names}
    if not wanted:
        raise InputError(ds.root, "no sequence of the train, val or test split has a motion file")
    out = Path(out)
    if is_prepared_dataset(out) and not overwrite:
        existing = PreparedDataset(out)
        if {e.name: e.split for e in existing.entries} == wanted:
            log.info("reusing the prepared dataset in %s", out)
            return existing

    one_sequence_per_song = {parse_sequence_name(n).music_id: n for n in sorted(wanted)}
    music_ids = sorted(one_sequence_per_song)
    music_paths = [ds.music_path(one_sequence_per_song[m]) for m in music_ids]
    cache = FeatureCache(cache_dir or out / ".feature_cache")
    features = dict(zip(music_ids, features_for_files(music_paths, cache=cache, workers=workers, progress=progress)))

    from tqdm.auto import tqdm

    entries = []
    for name in tqdm(sorted(wanted), desc="motions", unit="seq", disable=not progress):
        seq = parse_sequence_name(name)
        motion = ds.motion(name)
        write_sequence(out, name, motion.to_fact_vector(), features[seq.music_id])
        entries.append(SequenceEntry(name=name, split=wanted[name], n_frames=len(motion), genre=seq.genre,
                                     music=seq.music_id, source="aistpp"))
    write_index(out, entries, fps=FPS, music_spec=DEFAULT_SPEC.to_dict(),
                description=f"AIST++ from {Path(root).resolve()} (music {Path(music_dir).resolve()})")
    log.info("prepared %d AIST++ sequences in %s (%s)", len(entries), out,
             ", ".join(f"{s}: {len(n)}" for s, n in splits.items()))
    return PreparedDataset(out)

