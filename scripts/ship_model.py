"""Copy a model file into the package as a bundled model, with float16 weights and no machine paths.

    python scripts/ship_model.py runs/dwm-small/models/best.pt src/aichoreo/assets/models/default.pt \
        --data "Dance with Melody (aichoreo data prepare dwm), train split" --seed-data data/dwm

``--seed-data`` stores the built-in seed pose in the file (``meta["seed"]``, :mod:`aichoreo.seeds`):
the mean pose of the prepared dataset's train split, heading removed; 72 numbers, a statistic of
the data and no dancer's motion. ``--room-radius M`` sets ``config.room_radius``: how far from the
start generation shows this model its root (:class:`aichoreo.generate.RoomKeeper`), chosen for the
weights on the validation split (3 for the bundled default, docs/results.md).

float16 halves the file (a few MB instead of twice that); ``load_model_file`` loads the weights
back into the float32 model, and generation runs in float32. The meta of the source file is kept,
``weights_dtype`` and ``source`` are added (an existing ``source`` is kept, so re-shipping the
bundled file itself keeps naming the run's file), and the file is written in the current format:
with the data conventions (a format-1 source is read as FACT's, see
:func:`aichoreo.conventions.version1_conventions`) and the optimiser settings in ``meta["training"]``.

A shipped file must not carry paths of the machine it was made on: absolute paths in ``data``
and ``data_description`` are cut to their last component unless ``--data`` /
``--data-description`` replace them, and the script refuses to write a meta still holding one.
Re-shipping a float16 file (the bundled one) keeps every tensor bit-identical; the script checks.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from aichoreo.conventions import check_conventions, version1_conventions
from aichoreo.fileio import atomic_path
from aichoreo.models import load_model_file, model_state
from aichoreo.train import absolute_paths, without_paths


def seed_pose(data: str) -> dict:
    """``meta["seed"]`` from the train split of the prepared dataset ``data``."""
    from aichoreo.data.dataset import PreparedDataset
    from aichoreo.motion import SMPLMotion
    from aichoreo.seeds import mean_pose

    train = PreparedDataset(data).load_split("train")
    pose = mean_pose([SMPLMotion.from_fact_vector(s.motion).rotations for s in train])
    return {"pose_axis_angle": [[round(float(v), 6) for v in row] for row in pose],
            "source": f"mean pose of the train split ({len(train)} dances), heading removed"}


def main(src: str, dst: str, data: str | None = None, data_description: str | None = None,
         seed_data: str | None = None, room_radius: float | None = None) -> None:
    model, config, meta = load_model_file(src, check_conventions=check_conventions)
    if room_radius is not None:
        # A generation setting, not the network's: the same weights under the new config.
        config = model.config = dataclasses.replace(config, room_radius=room_radius)  # checked by the config
    if seed_data is not None:
        meta["seed"] = seed_pose(seed_data)
    source = torch.load(src, map_location="cpu", weights_only=True)["state_dict"]  # before dst may replace src
    conventions = meta.pop("conventions", None) or version1_conventions()
    meta["data"] = data if data is not None else without_paths(str(meta.get("data", "")))
    meta["data_description"] = (data_description if data_description is not None
                                else without_paths(str(meta.get("data_description", ""))))
    meta.setdefault("source", Path(src).name)
    meta["weights_dtype"] = "float16"
    leaks = absolute_paths(meta) + absolute_paths(conventions)
    if leaks:
        raise SystemExit(f"refusing to ship {dst}: its meta holds machine paths {leaks}")
    state = model_state(model, config, conventions=conventions, **meta)
    state["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in state["state_dict"].items()}
    with atomic_path(dst) as tmp:
        torch.save(state, tmp)

    # float16 -> float32 -> float16 is exact, so a float16 source comes back bit for bit.
    written = torch.load(dst, map_location="cpu", weights_only=True)["state_dict"]
    if all(v.dtype == torch.float16 for v in source.values() if v.is_floating_point()):
        same = source.keys() == written.keys() and all(
            a.dtype == b.dtype and torch.equal(a, b) for a, b in zip(source.values(), written.values()))
        if not same:
            raise SystemExit(f"{dst}: the float16 weights changed while re-shipping (a bug: nothing should)")
        change = "weights bit-identical to the source"
    else:
        worst = max((source[k].float() - written[k].float()).abs().max().item() for k in source)
        change = f"largest weight change {worst:.2e}"
    load_model_file(dst, check_conventions=check_conventions)
    print(f"wrote {dst} ({Path(dst).stat().st_size / 2**20:.2f} MiB); {change}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", help="a model file (a run's models/best.pt, or the bundled file to update)")
    parser.add_argument("dst", help="where to write the bundled model")
    parser.add_argument("--data", help="what the model was trained on, in words (replaces meta 'data')")
    parser.add_argument("--data-description", help="replaces meta 'data_description'")
    parser.add_argument("--seed-data", help="a prepared dataset: store the mean pose of its train split as the "
                                            "built-in seed pose")
    parser.add_argument("--room-radius", type=float, help="metres: config.room_radius (0: none)")
    args = parser.parse_args()
    main(args.src, args.dst, args.data, args.data_description, args.seed_data, args.room_radius)
