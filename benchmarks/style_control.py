"""Style control on unheard songs: does a dance asked for a style look like the real dancers' style?

    python benchmarks/style_control.py --model styles --data data/dwm [--split test] \\
        [--strengths 1 2 3] [-o OUT]

Needs a prepared Dance with Melody dataset (``aichoreo data prepare dwm``) and a model with styles
(the bundled ``styles`` model, or one trained with ``--config fact-small-style``).

1. A style classifier (:class:`aichoreo.metrics.StyleClassifier`: 5 s clips, kinetic and geometric
   features, logistic regression) is fitted on the **real** dances of the train split, after their
   first 2 s.
2. Its accuracy on the real dances of ``--split`` (styles the model knows; the clips of each style
   pooled) is the reference: how well style can be told at all.
3. Every song of the split is danced whole from the built-in seed (``aichoreo quality``, the
   pipeline ``aichoreo dance`` uses) unconditioned (``--style auto``) and in each style the model
   knows at each guidance strength. Per strength: the fraction of clips of the generated dances
   classified as the style asked for, per style and averaged over styles (balanced), ÷ the real
   dances' balanced accuracy (issue 17: >= 0.8); FID_k, FID_g* and Dist_k (diversity) of 20 s
   clips against the dataset, the mean over styles ÷ the unconditioned dances' FID_k (issue 17:
   <= 1.2); and the whole-song quality ratios (energy, jitter, skate, BeatAlign).

Prints a table and writes ``style_control.json``, ``style_control.md`` and ``style_control.png``
(accuracy and FID_k against the strength) into ``-o`` (default: a new temporary folder).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SEED_FRAMES = 120
QUALITY_KEYS = ("median_energy_ratio", "worst_jitter_ratio", "median_skate_ratio", "median_beat_align_ratio",
                "worst_fade", "spread_ratio")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="styles", help="model file or bundled model with styles")
    parser.add_argument("--data", type=Path, required=True, help="prepared Dance with Melody")
    parser.add_argument("--split", default="test")
    parser.add_argument("--strengths", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    parser.add_argument("-o", "--output", type=Path, default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    logging.basicConfig(level=logging.WARNING)
    from aichoreo.data.dataset import PreparedDataset
    from aichoreo.evaluate import joints_of
    from aichoreo.metrics import StyleClassifier
    from aichoreo.pipeline import load_dance_model
    from aichoreo.quality_report import QualityOptions, quality_report

    out = args.output or Path(tempfile.mkdtemp(prefix="style_control_"))
    out.mkdir(parents=True, exist_ok=True)
    model, meta = load_dance_model(args.model)
    styles = list(getattr(model.config, "styles", ()))
    if not styles:
        print(f"{args.model}: this model has no styles", file=sys.stderr)
        return 2
    data = PreparedDataset(args.data)
    train = data.load_split("train")
    t0 = time.perf_counter()
    classifier = StyleClassifier.fit([joints_of(s.motion) for s in train], [s.entry.genre for s in train],
                                     start=SEED_FRAMES)
    known = [s for s in styles if s in classifier.styles]
    real = {s.name: (s.entry.genre, joints_of(s.motion)) for s in data.load_split(args.split)}
    real_acc = {style: classifier.accuracy([j for g, j in real.values() if g == style], style, start=SEED_FRAMES)
                for style in known if any(g == style for g, _ in real.values())}
    real_balanced = float(np.mean(list(real_acc.values())))
    print(f"classifier fitted on {len(train)} real train dances in {time.perf_counter() - t0:.0f} s; "
          f"classes {', '.join(classifier.styles)}")
    print(f"real {args.split} dances: " + ", ".join(f"{k} {v:.2f}" for k, v in real_acc.items())
          + f"; balanced {real_balanced:.2f}")
    scored = list(real_acc)  # the styles both the model and the split's real dances have

    def run(style: str, strength: float) -> dict:
        folder = out / ("auto" if style == "auto" else f"g{strength:g}_{style}")
        t = time.perf_counter()
        report = quality_report(model, data.root, folder, QualityOptions(split=args.split, style=style,
                                                                            style_strength=strength),
                                model_meta=meta, label=f"{style} x{strength:g}", progress=False)
        dances = [np.load(folder / "dances" / f"{name}.npy") for name in report["songs"]]
        predicted = [p for j in dances for p in classifier.predict(j, start=SEED_FRAMES)]
        share = {c: float(np.mean([p == c for p in predicted])) for c in classifier.styles}
        s = report["summary"]
        row = {"style": style, "strength": strength, "classified": share, "fid_k": s["fid_k"],
               "fid_g_star": s["fid_g_star"], "dist_k": s["dist_k"], "dist_k_real": s["dist_k_real"],
               **{k: s[k] for k in QUALITY_KEYS}, "wall_s": time.perf_counter() - t}
        print(f"  {style:8s} x{strength:<4g} classified as " + ", ".join(f"{c} {v:.2f}" for c, v in share.items())
              + f"; FID_k {s['fid_k']:.1f}, Dist_k {s['dist_k']:.2f}, energy {s['median_energy_ratio']:.2f}, "
              f"jitter {s['worst_jitter_ratio']:.2f}, skate {s['median_skate_ratio']:.2f} "
              f"({row['wall_s']:.0f} s)", flush=True)
        return row

    rows = [run("auto", 1.0)]
    auto = rows[0]
    table = []
    for g in args.strengths:
        per = [run(style, g) for style in styles]
        rows.extend(per)
        acc = {r["style"]: r["classified"].get(r["style"], float("nan")) for r in per if r["style"] in scored}
        balanced = float(np.mean(list(acc.values())))
        fid_k = float(np.mean([r["fid_k"] for r in per]))
        table.append({"strength": g, "accuracy": acc, "balanced_accuracy": balanced,
                      "accuracy_vs_real": balanced / real_balanced, "fid_k": fid_k,
                      "fid_k_vs_auto": fid_k / auto["fid_k"],
                      "worst_fid_k_vs_auto": max(r["fid_k"] for r in per) / auto["fid_k"],
                      "fid_g_star": float(np.mean([r["fid_g_star"] for r in per])),
                      "dist_k": float(np.mean([r["dist_k"] for r in per])),
                      **{k: float(np.median([r[k] for r in per])) for k in QUALITY_KEYS},
                      "passes": balanced / real_balanced >= 0.8 and fid_k / auto["fid_k"] <= 1.2})
    # The unconditioned dances: how often each requested style appears without being asked for.
    auto_acc = {style: auto["classified"].get(style, float("nan")) for style in scored}
    lines = [f"Style control: {args.model} on the {args.split} split of {data.root} ({len(real)} songs).", "",
             f"Classifier (real train dances, 5 s clips): on the real {args.split} dances "
             + ", ".join(f"{k} {v:.2f}" for k, v in real_acc.items()) + f", balanced {real_balanced:.2f}.", "",
             "| strength | " + " | ".join(f"acc. {s}" for s in scored)
             + " | balanced ÷ real | FID_k (÷ auto) | FID_g* | Dist_k | energy | jitter | skate | BeatAlign |",
             "|---|" + "---|" * (len(scored) + 8),
             "| auto (none asked) | " + " | ".join(f"{auto_acc[s]:.2f}" for s in scored)
             + f" | {float(np.mean(list(auto_acc.values()))) / real_balanced:.2f} | {auto['fid_k']:.1f} (1.00) | "
             f"{auto['fid_g_star']:.1f} | {auto['dist_k']:.2f} | {auto['median_energy_ratio']:.2f} | "
             f"{auto['worst_jitter_ratio']:.2f} | {auto['median_skate_ratio']:.2f} | "
             f"{auto['median_beat_align_ratio']:.2f} |"]
    for t in table:
        lines.append(f"| {t['strength']:g} | " + " | ".join(f"{t['accuracy'][s]:.2f}" for s in scored)
                     + f" | **{t['accuracy_vs_real']:.2f}** | {t['fid_k']:.1f} (**{t['fid_k_vs_auto']:.2f}**) | "
                     f"{t['fid_g_star']:.1f} | {t['dist_k']:.2f} | {t['median_energy_ratio']:.2f} | "
                     f"{t['worst_jitter_ratio']:.2f} | {t['median_skate_ratio']:.2f} | "
                     f"{t['median_beat_align_ratio']:.2f} |")
    lines += ["", f"Real dances' Dist_k: {auto['dist_k_real']:.2f}. Accuracy: the share of 5 s clips classified as "
              "the style asked for; quality ratios: median over styles of the report's value (generated ÷ real)."]
    text = "\n".join(lines)
    print()
    print(text)
    (out / "style_control.md").write_text(text + "\n")
    (out / "style_control.json").write_text(json.dumps(
        {"model": str(args.model), "split": args.split, "classifier_styles": list(classifier.styles),
         "real_accuracy": real_acc, "real_balanced_accuracy": real_balanced, "auto": auto, "runs": rows,
         "strengths": table}, indent=2))
    _plot(out / "style_control.png", table, auto, real_balanced, scored)
    print(f"\noutputs in {out}")
    return 0


def _plot(path: Path, table: list[dict], auto: dict, real_balanced: float, scored: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = [t["strength"] for t in table]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for s in scored:
        a.plot(g, [t["accuracy"][s] for t in table], "o-", label=s)
    a.plot(g, [t["balanced_accuracy"] for t in table], "k^-", label="balanced")
    a.axhline(0.8 * real_balanced, color="grey", ls="--", label="0.8 x real")
    a.set(xlabel="style strength (guidance)", ylabel="clips classified as the style asked for", ylim=(0, 1.05))
    a.legend()
    b.plot(g, [t["fid_k"] for t in table], "o-", label="FID_k, mean over styles")
    b.axhline(auto["fid_k"], color="k", label="auto (no style)")
    b.axhline(1.2 * auto["fid_k"], color="grey", ls="--", label="1.2 x auto")
    b.set(xlabel="style strength (guidance)", ylabel="FID_k (lower is better)")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
