"""Shared fixtures: the path of the real data in ``../shared/data`` (or ``$AICHOREO_DATA``), a
cache folder of each test's own, one generation thread (below), and a tiny model file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Generation's thread count is chosen by timing (aichoreo.threads), and a random test network's float
# sums can differ in the last bits between counts: tests that compare two runs bit for bit need one
# count. Fixed for every test and the commands they start; tests/test_threads.py tunes explicitly.
os.environ["AICHOREO_THREADS"] = "1"


def shared_data_dir() -> Path | None:
    env = os.environ.get("AICHOREO_DATA")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(autouse=True)
def own_cache(tmp_path_factory, monkeypatch) -> Path:
    """``$AICHOREO_CACHE`` of this test alone: commands that cache music features (``features``,
    ``dance``) neither read entries of other tests or runs nor leave any in the user's cache.
    numba's compiled code stays shared: ``import aichoreo`` has set ``NUMBA_CACHE_DIR`` already,
    and processes the tests start inherit it."""
    folder = tmp_path_factory.mktemp("aichoreo_cache")
    monkeypatch.setenv("AICHOREO_CACHE", str(folder))
    return folder


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder; tests that need it skip where it is absent (a user's clone)."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("real data not found: set AICHOREO_DATA or place it at ../shared/data")
    return path


@pytest.fixture(scope="session")
def conformance(shared_data: Path) -> Path:
    path = shared_data / "conformance"
    if not path.is_dir():
        pytest.skip(f"conformance vectors not found under {shared_data}")
    return path


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    """A model file of the ``tiny`` FACT preset (random weights, torch seed 0) with this aichoreo's
    conventions: what ``aichoreo dance --checkpoint`` takes, in a second."""
    import torch

    from aichoreo.conventions import current_conventions
    from aichoreo.models import build_model, get_preset, save_model_file

    torch.manual_seed(0)
    cfg = get_preset("tiny")
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_model_file(path, build_model(cfg), cfg, conventions=current_conventions(), preset="tiny")
    return path
