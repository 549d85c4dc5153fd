"""The results table of docs/results.md: models and simple references on a prepared dataset's test split.

    python scripts/dwm_results.py --data data/dwm --model small=runs/dwm-small/models/best.pt \\
        --out results/dwm [--frames-per-step 1 10] [--seconds 20]

Protocol (the FACT authors', reference.md §4.6 and §6.7, on this dataset):

- seeds: the first 2 s (120 frames) of each test dance; music: each test song. Every seed is paired with
  every test song (mint pairs its 40 seeds with random songs of the test music), so a test split of n
  dances gives n x n generated dances of ``seconds`` (20) after the seed;
- real set for FID: every sequence of the dataset (all splits) cut into consecutive clips of the generated
  length (22 s; the dances are 39-113 s long and there are only 38 of them: 38 vectors would leave the
  72 x 72 covariance far from full rank), world coordinates;
- generated: frames [120, 120 + 1200), world coordinates; BeatAlign (FACT definition) on the n paired
  dances against their own music;
- references any model must beat, built for the same n x n pairs: ``ground truth`` (the test dances
  themselves, paired: frames [120, 1320)), ``random clip`` (a random 22 s clip of a training dance),
  ``mean pose`` (the mean training pose, still), ``frozen seed`` (the seed's last frame held).

Also written: the motion energy (mean joint speed, m/s) of every 5 s window of the first
``--energy-dances`` paired dances,
generated over the whole test song, against the ground truth's; a frame strip of one generated dance;
``results.json`` and ``results.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from aichoreo import load_model
from aichoreo.benchmark import energy_windows, folder_name, joints_of, real_clips, reference_sets
from aichoreo.benchmark import score as score_sets
from aichoreo.data.dataset import PreparedDataset
from aichoreo.fileio import atomic_path, save_npy
from aichoreo.generate import generate_dances
from aichoreo.render import render_frames_png

log = logging.getLogger("dwm_results")
FPS = 60
SEED = 120


def plot_energy(energies: dict, dance: str, path: Path) -> None:
    """Mean joint speed per 5 s window over the whole song, each model against the ground truth."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.2), dpi=100)
    ax = fig.add_subplot()
    for label, per in energies.items():
        values = per[dance]
        ax.plot(np.arange(len(values)) * 5 + 2.5, values, marker="o", label=label,
                color="black" if label == "ground truth" else None, linewidth=2.5 if label == "ground truth" else 1.5)
    ax.set_xlabel("song time (s)")
    ax.set_ylabel("mean joint speed (m/s)")
    ax.set_title(f"motion energy per 5 s window, {dance}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--model", action="append", default=[], help="NAME=model.pt (repeatable)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--frames-per-step", type=int, nargs="+", default=[1])
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds generated after the seed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--energy-dances", type=int, default=2, help="test dances generated over the whole song")
    parser.add_argument("--score-only", action="store_true",
                        help="re-score the sets already in --out (no generation; speeds and energies kept)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rng = np.random.default_rng(args.seed)
    n_gen = int(args.seconds * FPS)
    out = args.out
    data = PreparedDataset(args.data)
    test = data.load_split("test")
    train = data.load_split("train")
    if not test:
        raise SystemExit(f"{args.data}: no test split")

    # Real set: every sequence in clips of the generated length.
    clip = SEED + n_gen
    real = real_clips(data, out, clip)

    pairs = [(s, m) for s in test for m in test]  # seed dance, music dance
    paired_names = {f"{s.name}_{s.name}" for s in test}
    sets: dict[str, list[Path]] = {}

    if args.score_only:
        previous = json.loads((out / "results.json").read_text())
        speeds, energies = previous["speed_x_real_time"], previous["energy_5s"]
        for label in previous["rows"]:
            sets[label] = sorted((out / "sets" / folder_name(label)).glob("*.npy"))
    else:
        speeds, energies = make_sets(args, out, data, test, train, pairs, sets, rng, n_gen)
    score(out, test, real, sets, paired_names, speeds, energies, clip, pairs, args.seconds)


def make_sets(args, out, data, test, train, pairs, sets, rng, n_gen):
    """Write the reference and model sets (``out/sets/<label>/<seed>_<music>.npy``); speeds, energies."""

    def write_set(label: str, dances: dict[str, np.ndarray]) -> list[Path]:
        folder = out / "sets" / folder_name(label)
        return [save_npy(folder / f"{name}.npy", j) for name, j in dances.items()]

    for label, dances in reference_sets(test, train, pairs, SEED + n_gen, rng).items():
        sets[label] = write_set(label, dances)

    # Models.
    speeds, energies = {}, {}
    for spec in args.model:
        label, path = spec.split("=", 1)
        model, cfg, meta = load_model(path)  # conventions checked
        for k in args.frames_per_step:
            name = f"{label} (K={k})"
            t0 = time.perf_counter()
            motions = generate_dances(model, [m.music[: SEED + n_gen] for _, m in pairs],
                                      [s.motion[:SEED] for s, _ in pairs], frames=[SEED + n_gen] * len(pairs),
                                      frames_per_step=k, lock_feet=False, batch_size=1, seam_ease=0,
                                      room_radius=0)  # the model's own motion, as the released loop
            dances = {f"{s.name}_{m.name}": mo.joints() for (s, m), mo in zip(pairs, motions)}
            speeds[name] = len(pairs) * n_gen / FPS / (time.perf_counter() - t0)
            sets[name] = write_set(name, dances)
            # Whole-song generation of the paired dances: does it keep dancing?
            energies[name] = {}
            for s in test[: args.energy_dances]:
                length = min(len(s.motion), len(s.music))
                j = generate_dances(model, [s.music[:length]], [s.motion[:SEED]], frames_per_step=k,
                                    lock_feet=False, seam_ease=0, room_radius=0)[0].joints()
                energies[name][s.name] = energy_windows(j)
                if s is test[0]:
                    render_frames_png(j, out / f"frames_{label}_K{k}.png", fps=FPS,
                                      times_s=[2, 6, 12, 20, 30, (length - 1) / FPS], title=f"{name}: {s.name}")
    energies["ground truth"] = {s.name: energy_windows(joints_of(s.motion)) for s in test[: args.energy_dances]}
    return speeds, energies


def score(out, test, real, sets, paired_names, speeds, energies, clip, pairs, seconds) -> None:
    """Score every set under the FACT protocol; write results.json, results.md, energy.png."""
    music_dir = out / "music"
    for s in test:
        save_npy(music_dir / f"{s.name}.npy", s.music)
    rows, protocol = score_sets(sets, real, music_dir, paired_names, clip - SEED)

    result = {"protocol": {**protocol, "real_frames": f"clips of {clip} frames", "n_real": len(real)}, "rows": rows, "speed_x_real_time": speeds, "energy_5s": energies,
              "test": [s.name for s in test], "pairs": len(pairs), "seconds": seconds}
    with atomic_path(out / "results.json") as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    lines = ["| method | FID_k ↓ | FID_g ↓ | FID_g* ↓ | Dist_k | Dist_g | BeatAlign ↑ | PFC ↓ | n |",
             "|---|---|---|---|---|---|---|---|---|"]
    for label, r in rows.items():
        ba = "–" if r["beat_align"] is None else f"{r['beat_align']:.3f}"
        star = "–" if r["fid_g_varying"] is None else f"{r['fid_g_varying']:.2f}"
        lines.append(f"| {label} | {r['fid_k']:.2f} | {r['fid_g']:.3g} | {star} | {r['dist_k']:.2f} | {r['dist_g']:.3g} | "
                     f"{ba} | {r['pfc']:.2f} | {r['n']} |")
    constant = protocol["features_constant_in_real_set"]
    lines += ["", f"FID_g*: FID_g without the geometric features constant over the real set ({constant['geometric']}, "
              "0-based); see docs/results.md."]
    lines += ["", "| model | generated s per wall s |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in speeds.items()]
    lines += ["", "Mean joint speed (m/s) per 5 s window over the whole song:", ""]
    for dance in energies["ground truth"]:
        lines.append(f"{dance}:")
        for label, per in energies.items():
            lines.append(f"- {label}: " + " ".join(f"{e:.2f}" for e in per[dance]))
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    plot_energy(energies, test[0].name, out / "energy.png")
    print("\n".join(lines))
    print(f"outputs in {out}")


if __name__ == "__main__":
    main()
