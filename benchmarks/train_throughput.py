"""Training throughput of any preset (FACT, its ablations, the baselines): windows per second and
the fraction of peak FLOP/s.

Measures full training steps (``model.training_loss``, backward, Adam update) on random windows of
the preset's shape, after warm-up steps, on the CPU (all its cores) and on CUDA when available. The FLOP
count of a step is measured with ``torch.utils.flop_counter.FlopCounterMode`` on one step
(matrix multiplications and attention; elementwise work is not counted), and the machine's
peak is measured in the same run as the best FLOP/s of a large float32 matmul (CPU) or taken
from the device's bf16/fp32 dense matmul benchmark (GPU), so the fraction needs no spec sheet.

    python benchmarks/train_throughput.py [--presets fact-small fact li2020-small] [--steps 5] [--device cpu]

Random windows are fine for speed except where the work depends on the step: DanceRevolution's
curriculum changes which decoder inputs are its own outputs, not the amount of work.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from aichoreo.models import build_model, count_parameters, get_preset, get_preset_training
from aichoreo.train import TrainConfig


def matmul_peak(device: str, dtype: torch.dtype, n: int = 2048, repeats: int = 10) -> float:
    """Best FLOP/s of an n x n matmul on ``device`` in ``dtype``."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = 0.0
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        (a @ b).sum().item()
        _sync(device)
        best = max(best, 2 * n**3 / (time.perf_counter() - t0))
    return best


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def step_flops(model, batch) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        model.training_loss(batch["motion"], batch["audio"], 0).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def measure(preset: str, device: str, steps: int, warmup: int, batch_size: int | None, amp: bool) -> dict:
    config = get_preset(preset)
    # The preset's training settings, the batch overridable.
    training = TrainConfig(**get_preset_training(preset))
    batch_size = batch_size or training.batch_size
    torch.manual_seed(0)
    model = build_model(config).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=training.lr, betas=training.adam_betas, eps=training.adam_eps)
    # The window geometry the training engine uses for this preset (aichoreo.models.common).
    batch = {"motion": torch.randn(batch_size, config.motion_frames, config.motion_dim, device=device),
             "audio": torch.randn(batch_size, config.audio_frames, config.audio_dim, device=device)}
    flops = step_flops(model, batch)

    def one_step() -> None:
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=amp):
            loss = model.training_loss(batch["motion"], batch["audio"], 0)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(warmup):
        one_step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        one_step()
    _sync(device)
    elapsed = time.perf_counter() - t0
    return {"preset": preset, "device": device, "batch": batch_size, "params": count_parameters(config),
            "step_s": elapsed / steps, "windows_per_s": steps * batch_size / elapsed,
            "flop_per_step": flops, "flop_per_s": flops * steps / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["fact-small", "fact"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=None, help="override the presets' batch size")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU)")
    args = parser.parse_args()

    peak_dtype = torch.bfloat16 if args.bf16 else torch.float32
    peak = matmul_peak(args.device, peak_dtype, n=4096 if args.device.startswith("cuda") else 2048)
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else \
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"device: {args.device} ({where}); torch {torch.__version__}")
    print(f"measured peak: {peak / 1e9:.1f} GFLOP/s ({str(peak_dtype).split('.')[-1]} {4096 if args.device.startswith('cuda') else 2048}^2 matmul)")
    print(f"{'preset':<24}{'params':>13}{'batch':>7}{'s/step':>9}{'windows/s':>11}{'GFLOP/step':>12}"
          f"{'GFLOP/s':>10}{'of peak':>9}")
    for preset in args.presets:
        r = measure(preset, args.device, args.steps, args.warmup, args.batch_size, args.bf16)
        print(f"{r['preset']:<24}{r['params']:>13,d}{r['batch']:>7}{r['step_s']:>9.3f}{r['windows_per_s']:>11.1f}"
              f"{r['flop_per_step'] / 1e9:>12.1f}{r['flop_per_s'] / 1e9:>10.1f}{r['flop_per_s'] / peak:>9.1%}")


if __name__ == "__main__":
    main()
