#!/usr/bin/env bash
# Train every system of the docs/results.md benchmark table on one prepared dataset with one
# budget: the three baselines and FACT with its ablations, all at the small (CPU) scale.
#
#   bash scripts/train_benchmark.sh DATA_DIR RUNS_DIR [STEPS]
#
# Each run: the preset's model and optimiser, batch 16, STEPS steps (default 1000), the learning
# rate divided by 10 at 3/4 of them, validation and model files every STEPS/4 steps. A run that
# already finished is skipped; an interrupted one is resumed. Then score them all with
#   aichoreo benchmark-table --data DATA_DIR --checkpoints NAME=RUNS_DIR/NAME/models/last.pt ...
set -euo pipefail
data=${1:?usage: train_benchmark.sh DATA_DIR RUNS_DIR [STEPS]}
runs=${2:?usage: train_benchmark.sh DATA_DIR RUNS_DIR [STEPS]}
steps=${3:-1000}
aichoreo=${AICHOREO:-aichoreo}
presets="li2020-small dancenet-small dancerevolution-small fact-small fact-small-causal fact-small-future1
fact-small-future10 fact-small-nofusion fact-small-latefusion"
for preset in $presets; do
  out="$runs/$preset"
  if [ -f "$out/models/last.pt" ]; then echo "$preset: done already ($out)"; continue; fi
  resume=()
  if [ -f "$out/checkpoints/last.ckpt" ]; then resume=(--resume); fi
  echo "$preset -> $out"
  "$aichoreo" train --config "$preset" --data "$data" --out "$out" --max-steps "$steps" "${resume[@]}" \
    --set lr_milestones=$((steps * 3 / 4)) --set val_every=$((steps / 4)) --set checkpoint_every=$((steps / 4))
done
