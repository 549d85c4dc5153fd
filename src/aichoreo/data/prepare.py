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

from aichoreo.audio import DEFAULT_SPEC, STREAM_SPEC, FeatureCache, MusicFeatureSpec, features_for_files
from aichoreo.data.aistpp import AISTPP, parse_sequence_name
from aichoreo.data.dataset import (
    FORMAT_VERSION,
    INDEX_FILE,
    PreparedDataset,
    SequenceEntry,
    is_prepared_dataset,
    write_index,
    write_sequence,
)
from aichoreo.errors import InputError
from aichoreo.motion import SMPLMotion
from aichoreo.skeleton import FPS

log = logging.getLogger(__name__)

#: The music features a dataset can be prepared with: the reference's whole-song features, or those a
#: live run computes as the audio arrives (aichoreo.featurestream; the fact-small-stream preset).
MUSIC_FEATURES: dict[str, MusicFeatureSpec] = {"reference": DEFAULT_SPEC, "stream": STREAM_SPEC}


def aistpp_cache_name(root: str | os.PathLike, music_dir: str | os.PathLike) -> str:
    """A folder name for the prepared copy of an AIST++ download: stable for the same paths and
    files, another for a file replaced or added (its size or time changes; keyed by the paths
    alone, a song replaced after a damaged copy went on being read from the first preparation)."""
    files = [f"{p.relative_to(base)}:{st.st_size}:{st.st_mtime_ns}"
             for base in (Path(root), Path(music_dir)) for p in sorted(Path(base).rglob("*"))
             if p.is_file() and (st := p.stat())]
    key = "|".join([str(Path(root).resolve()), str(Path(music_dir).resolve()), f"v{FORMAT_VERSION}", *files])
    return "aistpp-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _reusable(out: Path, wanted: dict[str, str], overwrite: bool,
              music_spec: MusicFeatureSpec) -> PreparedDataset | None:
    """The dataset already in ``out`` when it holds exactly ``wanted`` (name -> split) with music
    features of ``music_spec``, else None; then its index is removed before any sequence is
    written again, so that a run that fails half-way (or is stopped) leaves no index over a mix of
    old and new files, which training read and a later run reused."""
    if not overwrite and is_prepared_dataset(out):
        existing = PreparedDataset(out)
        if ({e.name: e.split for e in existing.entries} == wanted
                and existing.music_spec == music_spec.to_dict()):  # --music-features stream reused reference
            log.info("reusing the prepared dataset in %s", out)
            return existing
    (out / INDEX_FILE).unlink(missing_ok=True)
    return None


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
                   progress: bool = True, overwrite: bool = False,
                   music_spec: MusicFeatureSpec = DEFAULT_SPEC) -> PreparedDataset:
    """Write ``out`` in the common format from an AIST++ annotation folder and its music folder.

    An ``out`` already prepared from the same sequences is reused unless ``overwrite``.
    ``cache_dir`` caches music features (default: ``out/.feature_cache``). ``music_spec``: the
    music features (:data:`MUSIC_FEATURES`).
    """
    ds = AISTPP(root, music_dir)
    splits = _splits(ds)
    wanted = {name: split for split, names in splits.items() for name in names}
    if not wanted:
        raise InputError(ds.root, "no sequence of the train, val or test split has a motion file")
    out = Path(out)
    existing = _reusable(out, wanted, overwrite, music_spec)
    if existing is not None:
        return existing

    one_sequence_per_song = {parse_sequence_name(n).music_id: n for n in sorted(wanted)}
    music_ids = sorted(one_sequence_per_song)
    music_paths = [ds.music_path(one_sequence_per_song[m]) for m in music_ids]
    cache = FeatureCache(cache_dir or out / ".feature_cache")
    features = dict(zip(music_ids, features_for_files(music_paths, spec=music_spec, cache=cache, workers=workers,
                                                      progress=progress)))

    from tqdm.auto import tqdm

    entries = []
    for name in tqdm(sorted(wanted), desc="motions", unit="seq", disable=not progress):
        seq = parse_sequence_name(name)
        motion = ds.motion(name)
        write_sequence(out, name, motion.to_fact_vector(), features[seq.music_id])
        entries.append(SequenceEntry(name=name, split=wanted[name], n_frames=len(motion), genre=seq.genre,
                                     music=seq.music_id, source="aistpp"))
    write_index(out, entries, fps=FPS, music_spec=music_spec.to_dict(),
                description=f"AIST++ from {Path(root).resolve()} (music {Path(music_dir).resolve()})")
    log.info("prepared %d AIST++ sequences in %s (%s)", len(entries), out,
             ", ".join(f"{s}: {len(n)}" for s, n in splits.items()))
    return PreparedDataset(out)



# --------------------------------------------------------------------------------------------
# Dance with Melody (Tang, Jia, Mao, ACM MM 2018)
# --------------------------------------------------------------------------------------------

#: The fixed split of the 38 dances, by dance: every genre in test (the one tango dance too, so
#: train has no tango), one cha-cha, one rumba and two waltzes for validation, the rest for training.
DWM_SPLIT: dict[str, tuple[str, ...]] = {
    "test": ("DANCE_C_7", "DANCE_R_8", "DANCE_T_5", "DANCE_W_32", "DANCE_W_33", "DANCE_W_34"),
    "val": ("DANCE_C_6", "DANCE_R_7", "DANCE_W_29", "DANCE_W_31"),
}


def dwm_split(name: str) -> str:
    for split, names in DWM_SPLIT.items():
        if name in names:
            return split
    return "train"


def prepare_dwm(src: str | os.PathLike, out: str | os.PathLike, *, fit_iterations: int = 400,
                fits: str | os.PathLike | None = None, progress: bool = True, overwrite: bool = False,
                limit: int | None = None, music_spec: MusicFeatureSpec = DEFAULT_SPEC,
                motion_from: str | os.PathLike | None = None) -> PreparedDataset:
    """Fit every Dance-with-Melody dance to SMPL, resample to 60 fps, pair it with its music.

    Per dance: markers with the floor normalised (:func:`aichoreo.data.dwm.normalise_floor`), SMPL
    fitted with the DWM-23 correspondence (:func:`aichoreo.reconstruct.fit.fit_smpl`) at 25 fps and
    put on the floor, the motion at SMPL size resampled to 60 fps (slerp); the music from
    ``music_offset_s`` (the dataset's alignment: motion frame 0 sounds there) to the song's end,
    features with an estimated tempo prior. ``fits`` is a folder of earlier fits to reuse,
    ``<ID>.pkl`` AIST++ motion pickles at 60 fps (as ``aichoreo fit`` and ``scripts/fit_dwm_report.py`` write;
    ``transl = smpl_trans / smpl_scaling`` at SMPL size); dances without one are fitted.
    ``limit`` prepares only the first dances (for tests). ``music_spec``: the music features
    (:data:`MUSIC_FEATURES`). ``motion_from``: a folder prepared earlier from the same dances whose
    motion is taken as it is (no fitting), to prepare them again with other music features.
    """
    from tqdm.auto import tqdm

    from aichoreo.audio import load_audio, music_features, SAMPLE_RATE
    from aichoreo.data.dwm import list_dwm, load_dwm, normalise_floor
    from aichoreo.reconstruct.fit import fit_smpl, place_on_floor
    from aichoreo.reconstruct.layouts import DWM23

    files = list_dwm(src)[:limit]
    out = Path(out)
    wanted = {p.stem: dwm_split(p.stem) for p in files}
    existing = _reusable(out, wanted, overwrite, music_spec)
    if existing is not None:
        return existing
    source = None if motion_from is None else PreparedDataset(motion_from)
    entries = []
    for path in tqdm(files, desc="fitting dances", unit="dance", disable=not progress):
        dance = load_dwm(path)
        if dance.music_path is None:
            raise InputError(path.with_suffix(".mp3"), "the dance's music is missing")
        earlier = None if fits is None else Path(fits) / f"{dance.name}.pkl"
        if source is not None:
            if dance.name not in source.names():
                raise InputError(source.root, f"holds no dance {dance.name}: prepare it from the same dances")
            motion = SMPLMotion.from_fact_vector(source.load(dance.name).motion, fps=source.fps)
            fit_error = source.entry(dance.name).extra.get("fit_mean_error_m")
            fit_scale = source.entry(dance.name).extra.get("fit_scale")
            earlier = source.entry(dance.name).extra.get("fit_file")
        elif earlier is not None and earlier.is_file():
            from aichoreo.data.aistpp import load_motion_smpl

            motion, fit_error, fit_scale = load_motion_smpl(earlier), None, None
        else:
            markers = normalise_floor(dance.joints, fps=dance.fps)
            fit = place_on_floor(fit_smpl(markers, DWM23, fps=dance.fps, iterations=fit_iterations))
            motion, fit_error, fit_scale = fit.motion, round(fit.mean_error, 5), round(float(fit.scale), 5)
        if motion.fps != FPS:
            motion = motion.resample(FPS)
        y = load_audio(dance.music_path, SAMPLE_RATE)
        first = int(round(dance.music_offset_s * SAMPLE_RATE))
        if first >= len(y):
            raise InputError(dance.music_path, f"is shorter than the dance's music offset {dance.music_offset_s} s")
        music = music_features(y[first:], path=dance.music_path, spec=music_spec)
        write_sequence(out, dance.name, motion.to_fact_vector(), music)
        entries.append(SequenceEntry(
            name=dance.name, split=wanted[dance.name], n_frames=len(motion), genre=dance.genre, music=dance.name,
            source="dance_with_melody",
            extra={"fit_mean_error_m": fit_error, "fit_scale": fit_scale, "music_offset_s": dance.music_offset_s,
                   "fit_file": None if fit_error is not None or earlier is None else str(earlier)}))
    write_index(out, entries, fps=FPS, music_spec=music_spec.to_dict(),
                description=f"Dance with Melody (Tang, Jia, Mao, ACM MM 2018) from {Path(src).resolve()}, "
                            "fitted to SMPL-24 by aichoreo; research data without a license: do not redistribute")
    return PreparedDataset(out)
