"""Generation speed: generated seconds of dance per wall second, for the faithful loop and fast modes.

Each configuration runs in its own process (so its peak memory is its own) on random music
features and a random seed of the model's shapes: the speed of the loop does not depend on the
weights. Modes: ``K`` frames kept per forward pass (1 = the paper's loop) and ``B`` songs per
batch. Prints one table and the ratio of each mode to the faithful loop measured in the same run.

    python benchmarks/generate_speed.py [--presets fact-small fact] [--device cpu]
    python benchmarks/generate_speed.py --checkpoint default      # the bundled model
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

MODES = [(1, 1), (5, 1), (10, 1), (20, 1), (10, 4)]  # (frames_per_step, batch)


def run_one(preset: str, k: int, batch: int, seconds: float, device: str) -> dict:
    import numpy as np
    import torch

    from aichoreo.generate import generate
    from aichoreo.models import build_model, get_preset, load_model

    if preset.endswith(".pt") or preset == "default":
        model, cfg, _ = load_model(preset, map_location=device)
    else:
        cfg = get_preset(preset)
        torch.manual_seed(0)
        model = build_model(cfg).to(device)
    k = min(k, cfg.n_future)
    n = int(round(seconds * 60))
    rng = np.random.default_rng(0)
    music = rng.standard_normal((batch, n + cfg.audio_len, cfg.audio_dim)).astype(np.float32)
    seed = np.zeros((batch, cfg.motion_len, cfg.motion_dim), np.float32)
    seed[..., 9:] = np.tile(np.eye(3, dtype=np.float32).ravel(), 24)
    generate(model, music[:, : cfg.audio_len + 2 * k], seed, n_frames=2 * k, frames_per_step=k, device=device)  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    generate(model, music, seed, n_frames=n, frames_per_step=k, device=device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"preset": preset, "k": k, "batch": batch, "generated_s": seconds * batch, "wall_s": wall,
            "speed": seconds * batch / wall, "peak_rss_mb": peak_mb,
            "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["fact-small", "fact"])
    parser.add_argument("--checkpoint", default=None, help="measure a model file (or 'default') instead")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds of dance per song (default: 10 for small models, 1 for fact)")
    parser.add_argument("--one", nargs=4, metavar=("PRESET", "K", "BATCH", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        preset, k, batch, seconds = args.one
        print(json.dumps(run_one(preset, int(k), int(batch), float(seconds), args.device)))
        return

    import torch

    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else \
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"device: {args.device} ({where}); torch {torch.__version__}")
    print(f"{'model':<12}{'K':>4}{'B':>4}{'gen s':>8}{'wall s':>9}{'x real time':>13}{'vs K=1,B=1':>12}{'peak RSS MB':>13}")
    for preset in [args.checkpoint] if args.checkpoint else args.presets:
        seconds = args.seconds or (1.0 if preset == "fact" else 10.0)
        base = None
        for k, batch in MODES:
            cmd = [sys.executable, __file__, "--device", args.device, "--one", preset, str(k), str(batch), str(seconds)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            r = json.loads(out)
            base = base or r["speed"]
            print(f"{preset:<12}{r['k']:>4}{r['batch']:>4}{r['generated_s']:>8.1f}{r['wall_s']:>9.2f}"
                  f"{r['speed']:>13.2f}{r['speed'] / base:>12.1f}{r['peak_rss_mb']:>13.0f}")


if __name__ == "__main__":
    main()
