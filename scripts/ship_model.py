"""Copy a trained model file into the package as a bundled model, with float16 weights.

    python scripts/ship_model.py runs/dwm-small/models/best.pt src/aichoreo/assets/models/default.pt

float16 halves the file (a few MB instead of twice that); ``load_model_file`` loads the weights
back into the float32 model, and generation runs in float32. The meta of the source file is kept
and ``weights_dtype`` and ``source`` are added.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from aichoreo.fileio import atomic_path
from aichoreo.models import load_model_file, model_state


def main(src: str, dst: str) -> None:
    model, config, meta = load_model_file(src)
    state = model_state(model, config, **meta, weights_dtype="float16", source=Path(src).name)
    state["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in state["state_dict"].items()}
    with atomic_path(dst) as tmp:
        torch.save(state, tmp)
    reloaded, _, _ = load_model_file(dst)
    worst = max((a.float() - b.float()).abs().max().item()
                for a, b in zip(model.state_dict().values(), reloaded.state_dict().values()))
    print(f"wrote {dst} ({Path(dst).stat().st_size / 2**20:.2f} MiB); largest weight change {worst:.2e}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
