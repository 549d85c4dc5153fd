"""Presets, ``--set key=value`` overrides, and the few defaults that come from the environment.

Only this module and :mod:`aichoreo.cli` read the environment:

- ``AICHOREO_DATA``: the real-data folder (default ``../shared/data`` beside a source checkout,
  where it exists);
- ``AICHOREO_CACHE``: the cache folder (default ``~/.cache/aichoreo``).
"""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path
from typing import Any

from aichoreo.errors import InputError

_REPO_ROOT = Path(__file__).resolve().parents[2]


def default_cache_dir() -> Path:
    """``$AICHOREO_CACHE`` or ``~/.cache/aichoreo``."""
    env = os.environ.get("AICHOREO_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "aichoreo"


def default_data_dir() -> Path | None:
    """``$AICHOREO_DATA``, else ``../shared/data`` beside a source checkout, else None."""
    env = os.environ.get("AICHOREO_DATA")
    if env:
        return Path(env)
    candidate = _REPO_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


# --------------------------------------------------------------------------------------------
# --set key=value: text to a field's type
# --------------------------------------------------------------------------------------------


def _coerce(text: str, annotation: Any, key: str) -> Any:
    """Convert ``text`` to the field type ``annotation`` (str, int, float, bool, tuples, Literal)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        if text not in args:
            raise InputError(None, f"--set {key}={text}: expected one of {', '.join(map(str, args))}")
        return text
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(text, inner[0], key)
    if origin is tuple:
        parts = [p for p in text.strip("()[] ").split(",") if p.strip()]
        elem = args[0] if args else str
        return tuple(_coerce(p.strip(), elem, key) for p in parts)
    try:
        if annotation is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if annotation is int:
            return int(text)
        if annotation is float:
            return float(text)
    except ValueError:
        raise InputError(None, f"--set {key}={text}: not a valid {annotation.__name__}") from None
    return text


def _split(item: str) -> tuple[str, str]:
    if "=" not in item:
        raise InputError(None, f"--set {item}: expected key=value")
    key, value = item.split("=", 1)
    return key.strip(), value.strip()


# --------------------------------------------------------------------------------------------
# Experiments: a preset's model config + its training config, with overrides
# --------------------------------------------------------------------------------------------


def resolve_experiment(preset: str, overrides: list[str] | None = None):
    """``(model_config, train_config)`` of preset ``preset`` with ``key=value`` overrides.

    The preset gives the architecture and the optimiser and schedule it was tuned with
    (:func:`aichoreo.models.get_preset_training`); the engine settings take
    :class:`aichoreo.train.TrainConfig`'s defaults. A bare key names a field of the model config
    (``d_model=256``) or, failing that, of the training config (``lr=3e-4``,
    ``checkpoint_every=500``); ``model.`` and ``train.`` prefixes make the target explicit.
    """
    from aichoreo.models import get_preset, get_preset_training
    from aichoreo.train import TrainConfig

    model_cfg, train_cfg = get_preset(preset), TrainConfig(**get_preset_training(preset))
    model_fields = {f.name for f in dataclasses.fields(model_cfg)}
    train_fields = {f.name for f in dataclasses.fields(train_cfg)}
    # Collect every change first and validate once: some fields only make sense together
    # (attention=causal needs target_len=motion_len).
    changes: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    for item in overrides or []:
        key, value = _split(item)
        target, _, rest = key.partition(".")
        if target in changes and rest:
            name = rest
        elif key in model_fields:
            target, name = "model", key
        elif key in train_fields:
            target, name = "train", key
        else:
            raise InputError(None, f"--set {key}: unknown key; model keys: {', '.join(sorted(model_fields))}; "
                                   f"training keys: {', '.join(sorted(train_fields))}")
        cfg = model_cfg if target == "model" else train_cfg
        if name not in {f.name for f in dataclasses.fields(cfg)}:
            raise InputError(None, f"--set {key}: {target} config has no field {name!r}")
        changes[target][name] = _coerce(value, typing.get_type_hints(type(cfg))[name], key)
    try:
        model_cfg = dataclasses.replace(model_cfg, **changes["model"])
        train_cfg = dataclasses.replace(train_cfg, **changes["train"])
    except (ValueError, TypeError) as exc:
        raise InputError(None, f"--set: {exc}") from None
    return model_cfg, train_cfg
