"""Models: the registry of architectures, their presets, and the model file.

A *model file* is a plain dict saved with ``torch.save`` and read with ``weights_only=True``::

    {"format": "aichoreo-model", "format_version": 2, "model": "fact" (a MODEL_REGISTRY name),
     "config": {...config.to_dict(): the architecture...}, "state_dict": {name: tensor},
     "conventions": {...fps, joint set, music-feature spec, motion layout...},
     "meta": {...plain values: step, preset, training settings, data provenance...}}

The model is rebuilt from ``config`` alone, so a file needs no code beyond this package. The
``conventions`` dict is the data the model was trained on, as :mod:`aichoreo.conventions`
builds and checks it; this package stores and returns it without reading it (it imports nothing
from aichoreo except :mod:`aichoreo.errors` and :mod:`aichoreo.fileio`). Loading checks that the
weights fit the config and are finite.

Format version 1 (files written before conventions were recorded) has no ``conventions`` entry
and holds the optimiser settings in ``config``; both versions are read: the optimiser keys go to
``meta["training"]``, and a checker reads the missing conventions as those every version-1 file
was made with (:func:`aichoreo.conventions.check_conventions`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from aichoreo.errors import InputError
from aichoreo.fileio import atomic_path
from aichoreo.models.common import LEGACY_TRAINING_KEYS, DanceModel, ModelConfig, Preset
from aichoreo.models.dancenet import PRESETS as DANCENET_PRESETS, DanceNet, DanceNetConfig
from aichoreo.models.dancerevolution import (
    PRESETS as DANCEREVOLUTION_PRESETS,
    DanceRevolution,
    DanceRevolutionConfig,
)
from aichoreo.models.fact import FACT, PRESETS as FACT_PRESETS, FACTConfig, fact_loss, split_window
from aichoreo.models.li2020 import PRESETS as LI2020_PRESETS, Li2020, Li2020Config

__all__ = [
    "DanceModel", "DanceNet", "DanceNetConfig", "DanceRevolution", "DanceRevolutionConfig", "Li2020",
    "Li2020Config", "ModelConfig", "Preset", "FACT", "FACTConfig", "MODEL_REGISTRY", "ModelSpec",
    "available_presets", "build_model", "count_parameters", "fact_loss", "get_preset", "get_preset_training",
    "load_model_file", "model_name", "model_state", "save_model_file", "split_window", "BUNDLED_MODELS",
    "bundled_model_path", "load_model", "state_mismatch", "MAX_WEIGHT",
]

log = logging.getLogger(__name__)

MODEL_FILE_FORMAT = "aichoreo-model"
MODEL_FILE_VERSION = 2  # 2: "conventions" recorded, optimiser settings out of "config"


@dataclass(frozen=True)
class ModelSpec:
    """One architecture: its config dataclass and its ``nn.Module`` (built as ``model_cls(config)``)."""

    config_cls: type
    model_cls: type[nn.Module]


MODEL_REGISTRY: dict[str, ModelSpec] = {
    "fact": ModelSpec(FACTConfig, FACT),
    "li2020": ModelSpec(Li2020Config, Li2020),
    "dancenet": ModelSpec(DanceNetConfig, DanceNet),
    "dancerevolution": ModelSpec(DanceRevolutionConfig, DanceRevolution),
}

# Preset name -> (model config, training settings); names are unique across architectures.
_PRESETS: dict[str, Preset] = {**FACT_PRESETS, **LI2020_PRESETS, **DANCENET_PRESETS, **DANCEREVOLUTION_PRESETS}


def available_presets() -> list[str]:
    """Preset names: the released ``fact`` and its variants first, then the baselines."""
    return list(_PRESETS)


def _preset(name: str) -> Preset:
    if name not in _PRESETS:
        raise InputError(None, f"unknown model preset {name!r}; available: {', '.join(_PRESETS)}")
    return _PRESETS[name]


def get_preset(name: str, **overrides: Any) -> Any:
    """The model config named ``name``, with ``overrides`` replacing fields (validated again)."""
    config = _preset(name).model
    return dataclasses.replace(config, **overrides) if overrides else config


def get_preset_training(name: str) -> dict[str, Any]:
    """The training settings preset ``name`` was tuned with: a new dict of
    :class:`aichoreo.train.TrainConfig` fields (batch size, Adam, schedule, steps)."""
    return dict(_preset(name).training)


def model_name(config: Any) -> str:
    """Registry name of the architecture ``config`` belongs to."""
    for name, spec in MODEL_REGISTRY.items():
        if type(config) is spec.config_cls:
            return name
    raise TypeError(f"no registered model takes a {type(config).__name__}")


def build_model(config: Any) -> nn.Module:
    """A freshly initialised model for ``config`` (any registered config dataclass)."""
    return MODEL_REGISTRY[model_name(config)].model_cls(config)


def count_parameters(config: Any) -> int:
    """Parameter count of the model ``config`` describes, without allocating it (meta device)."""
    with torch.device("meta"):
        return sum(p.numel() for p in build_model(config).parameters())


# --------------------------------------------------------------------------------------------
# Model file
# --------------------------------------------------------------------------------------------


def _unwrap(model: nn.Module) -> nn.Module:
    # torch.compile and (Distributed)DataParallel wrap the module; the file stores the plain one
    # so its keys carry no "_orig_mod." / "module." prefixes.
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        else:
            return model


def _check_plain(value: Any, key: str) -> None:
    """Meta values must load under ``weights_only=True``: plain Python values and tensors."""
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{key}[{i}]")
        return
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                raise TypeError(f"meta {key}: dict keys must be str, got {type(k).__name__}")
            _check_plain(item, f"{key}.{k}")
        return
    raise TypeError(f"meta {key}: {type(value).__name__} is not a plain value (use str, numbers, "
                    "lists, dicts or tensors)")


def model_state(model: nn.Module, config: Any, *, conventions: dict[str, Any], **meta: Any) -> dict[str, Any]:
    """The model-file dict of ``model`` (weights copied to CPU), ``config``, the data
    ``conventions`` it was trained with (:func:`aichoreo.conventions.conventions_of`) and plain ``meta``."""
    name = model_name(config)
    model = _unwrap(model)
    if not isinstance(model, MODEL_REGISTRY[name].model_cls):
        raise TypeError(f"{type(model).__name__} is not a {MODEL_REGISTRY[name].model_cls.__name__}")
    if getattr(model, "config", config) != config:
        raise ValueError("the model was built from another config than the one given")
    if not isinstance(conventions, dict) or not conventions:
        raise TypeError("conventions must be a non-empty dict (aichoreo.conventions.conventions_of)")
    _check_plain(conventions, "conventions")
    for key, value in meta.items():
        _check_plain(value, key)
    state_dict = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    return {"format": MODEL_FILE_FORMAT, "format_version": MODEL_FILE_VERSION, "model": name,
            "config": config.to_dict(), "conventions": dict(conventions), "state_dict": state_dict,
            "meta": dict(meta)}


def save_model_file(path: str | os.PathLike, model: nn.Module, config: Any, *, conventions: dict[str, Any],
                    **meta: Any) -> Path:
    """Write :func:`model_state` to ``path`` atomically (a temporary file renamed into place)."""
    path = Path(path)
    state = model_state(model, config, conventions=conventions, **meta)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    log.info("saved %s model (%d tensors) to %s", state["model"], len(state["state_dict"]), path)
    return path


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(path, "no such model file" if not path.exists() else "a folder, not a model file")
    # Every member's checksum: torch.load reads a changed byte as a changed weight (a flipped byte
    # in a copy danced without complaint). A file that is no zip is left to torch.load to refuse.
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        damaged = None
    if damaged is not None:
        raise InputError(path, f"damaged model file: its part {damaged.split('/', 1)[-1]} fails its checksum")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses arbitrary objects: a pickle of classes is not a model file of ours.
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        what = f"a {found.group(1)} object" if found else "objects other than tensors and plain values"
        raise InputError(path, f"not an aichoreo model file (it holds {what}; "
                               "refused by weights_only loading)") from None
    except Exception as exc:  # torch raises RuntimeError, EOFError, zipfile errors... for broken files
        raise InputError(path, f"corrupt or not a torch file ({type(exc).__name__}: "
                               f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no detail'})") from None
    if not isinstance(obj, dict) or obj.get("format") != MODEL_FILE_FORMAT:
        raise InputError(path, f"not an aichoreo model file (no 'format': '{MODEL_FILE_FORMAT}' entry)")
    version = obj.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version > MODEL_FILE_VERSION:
        raise InputError(path, f"model file format version {version!r} is newer than this aichoreo "
                               f"reads ({MODEL_FILE_VERSION}); upgrade aichoreo")
    return obj


def _first_names(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "")


def state_mismatch(expected: dict[str, torch.Tensor], found: dict[str, Any]) -> str | None:
    """One line describing how ``found`` differs from ``expected`` (names and shapes), or None."""
    problems = []
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing:
        problems.append(f"missing {len(missing)} tensors ({_first_names(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensors ({_first_names(unexpected)})")
    for k, ref in expected.items():
        if k in found:
            got = found[k]
            if not isinstance(got, torch.Tensor):
                problems.append(f"{k} is a {type(got).__name__}, not a tensor")
            elif tuple(got.shape) != tuple(ref.shape):
                problems.append(f"{k} has shape {tuple(got.shape)}, the config needs {tuple(ref.shape)}")
    if not problems:
        return None
    return "state_dict does not fit the config: " + "; ".join(problems[:4]) + ("; ..." if len(problems) > 4 else "")


#: ``check(conventions, path)``: raises :class:`~aichoreo.errors.InputError` when a file's
#: conventions (None for a format-1 file) do not match the caller's; see :mod:`aichoreo.conventions`.
ConventionsCheck = Callable[[dict[str, Any] | None, Path], None]


# Largest weight magnitude a model file may hold: trained weights stay within a few units (the
# bundled models: 1.2); 1e30 loaded fine and made every rotation NaN.
MAX_WEIGHT = 1e6


def _non_finite(state_dict: dict[str, torch.Tensor]) -> list[str]:
    """Names of the floating tensors holding NaN or inf (one pass per tensor, in file order)."""
    return [k for k, v in state_dict.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def load_model_file(path: str | os.PathLike, map_location: str | torch.device = "cpu", *,
                    check_conventions: ConventionsCheck | None = None) -> tuple[nn.Module, Any, dict[str, Any]]:
    """Read a model file: ``(model, config, meta)``, the model in eval mode on ``map_location``.

    ``meta`` is the file's meta plus ``"conventions"`` (when the file records them) and, for a
    format-1 file, ``"training"``: the optimiser settings its config held. ``check_conventions``
    (e.g. :func:`aichoreo.conventions.check_conventions`) is called with the file's conventions,
    or None for a format-1 file, before any weight is read.

    Raises :class:`~aichoreo.errors.InputError` naming the file for a missing, corrupt or foreign
    file, an unknown architecture, a bad config, conventions the checker refuses, weights that do
    not fit the config, or non-finite weights (NaN or inf: a diverged run).
    """
    path = Path(path)
    obj = _read(path)
    name = obj.get("model")
    if name not in MODEL_REGISTRY:
        raise InputError(path, f"unknown model {name!r}; this aichoreo knows {', '.join(MODEL_REGISTRY)}")
    spec = MODEL_REGISTRY[name]
    meta = obj.get("meta") or {}
    if not isinstance(meta, dict):
        raise InputError(path, f"damaged model file: its 'meta' entry is a {type(meta).__name__}, not a dict")
    meta = dict(meta)
    config_dict = obj.get("config")
    if obj["format_version"] == 1:
        conventions = None
        if isinstance(config_dict, dict):
            training = {k: config_dict[k] for k in LEGACY_TRAINING_KEYS if k in config_dict}
            if training:
                meta.setdefault("training", training)
    else:
        conventions = obj.get("conventions")
        if not isinstance(conventions, dict):
            raise InputError(path, f"model file format {obj['format_version']} without its 'conventions' entry "
                                   "(fps, joints, music features): the file is damaged")
        meta["conventions"] = conventions
    if check_conventions is not None:
        check_conventions(conventions, path)
    try:
        config = spec.config_cls.from_dict(config_dict)
    except (TypeError, ValueError) as exc:
        raise InputError(path, f"bad {name} config: {exc}") from None
    state_dict = obj.get("state_dict")
    if not isinstance(state_dict, dict):
        raise InputError(path, "no state_dict in the model file")
    with torch.device("meta"):
        model = spec.model_cls(config)  # shapes only; weights come from the file
    problem = state_mismatch(model.state_dict(), state_dict)
    if problem:
        raise InputError(path, problem)
    bad = _non_finite(state_dict)
    if bad:
        raise InputError(path, f"holds non-finite weights (NaN/inf) in {len(bad)} tensors ({_first_names(bad)}); "
                               "it was saved from a diverged run: use an earlier checkpoint or retrain")
    huge = [k for k, v in state_dict.items() if v.is_floating_point() and v.numel() and v.abs().max() > MAX_WEIGHT]
    if huge:  # finite, but no training makes them: the dance's rotations became NaN (an SVD traceback)
        raise InputError(path, f"holds weights beyond {MAX_WEIGHT:g} in {len(huge)} tensors ({_first_names(huge)}); "
                               "a damaged or diverging model: use an earlier checkpoint or retrain")
    # The file's tensors become the parameters (cast to the model's dtypes: a file may store
    # float16), instead of ``to_empty`` and a copy: ``to_empty`` goes through torch's Python
    # reference ops, whose first use imports sympy (0.4 s of every command, measured).
    shapes = model.state_dict()
    model.load_state_dict({k: v.to(device=map_location, dtype=shapes[k].dtype) for k, v in state_dict.items()},
                          strict=True, assign=True)
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):  # a buffer the file does not hold
        raise InputError(path, "the model has tensors that its file does not hold")
    log.info("loaded %s model from %s (%s)", name, path, ", ".join(f"{k}={v}" for k, v in meta.items()
                                                                   if isinstance(v, (int, float, str))))
    return model.eval(), config, meta


# --------------------------------------------------------------------------------------------
# Models that ship with the package
# --------------------------------------------------------------------------------------------

#: Name -> file inside ``aichoreo/assets/models`` (see its MODEL_CARD.md).
BUNDLED_MODELS: dict[str, str] = {"default": "default.pt", "styles": "styles.pt", "stream": "stream.pt"}


def bundled_model_path(name: str) -> Path:
    """The file of a model shipped with the package (``"default"``; ``"styles"``: ``fact-small-style``; ``"stream"``:
    ``fact-small-stream``, for ``aichoreo live``)."""
    from importlib.resources import files

    if name not in BUNDLED_MODELS:
        raise InputError(None, f"no bundled model named {name!r}; bundled: {', '.join(BUNDLED_MODELS)}")
    path = Path(str(files("aichoreo") / "assets" / "models" / BUNDLED_MODELS[name]))
    if not path.is_file():
        raise InputError(path, f"the bundled {name!r} model is missing from this installation")
    return path


def load_model(name_or_path: str | os.PathLike = "default", map_location: str | torch.device = "cpu", *,
               check_conventions: ConventionsCheck | None = None) -> tuple[nn.Module, Any, dict[str, Any]]:
    """``(model, config, meta)`` of a bundled model by name, or of a model file by path
    (:func:`load_model_file`). :func:`aichoreo.load_model` is this with the conventions checked."""
    if isinstance(name_or_path, str) and name_or_path in BUNDLED_MODELS:
        name_or_path = bundled_model_path(name_or_path)
    return load_model_file(name_or_path, map_location, check_conventions=check_conventions)
