#!/usr/bin/env bash
# Train every system of the docs/results.md benchmark table on one prepared dataset with one
# budget: the three baselines and FACT with its ablations, all at the small (CPU) scale.
#
#   [JOBS=2] bash scripts/train_benchmark.sh DATA_DIR RUNS_DIR [STEPS]
#
# Each run: the preset's model and optimiser, batch 16, STEPS steps (default 700, as in docs/results.md), the learning
# rate divided by 10 at 3/4 of them, validation and model files every STEPS/4 steps, the log in
# RUNS_DIR/PRESET/train.log. JOBS runs train side by side (default 1), each with cores/JOBS
# threads: on a small CPU two one-thread runs get more done than one two-thread run. The presets
# are listed costliest first (benchmarks/train_throughput.py), so the lanes finish together.
# A run that already finished is skipped; an interrupted one is resumed. Then score them all with
#   aichoreo benchmark-table --data DATA_DIR --checkpoints NAME=RUNS_DIR/NAME/models/last.pt ...
set -euo pipefail
data=${1:?usage: train_benchmark.sh DATA_DIR RUNS_DIR [STEPS]}
runs=${2:?usage: train_benchmark.sh DATA_DIR RUNS_DIR [STEPS]}
steps=${3:-700}
jobs=${JOBS:-1}
aichoreo=${AICHOREO:-aichoreo}
cores=$(nproc)
threads=$(( cores / jobs > 0 ? cores / jobs : 1 ))
presets="dancerevolution-small fact-small-causal fact-small-latefusion fact-small fact-small-future1
fact-small-future10 li2020-small fact-small-nofusion dancenet-small"

train_one() {
  local preset=$1 out="$runs/$1" resume=()
  if [ -f "$out/models/last.pt" ]; then echo "$preset: done already ($out)"; return 0; fi
  if [ -f "$out/checkpoints/last.ckpt" ]; then resume=(--resume); fi
  mkdir -p "$out"
  echo "$preset -> $out (log: $out/train.log)"
  if OMP_NUM_THREADS=$threads "$aichoreo" train --config "$preset" --data "$data" --out "$out" \
      --accelerator cpu --max-steps "$steps" "${resume[@]}" --set num_workers=0 \
      --set lr_milestones=$((steps * 3 / 4)) --set val_every=$((steps / 4)) \
      --set checkpoint_every=$((steps / 4)) >>"$out/train.log" 2>&1; then
    echo "$preset: finished"
  else
    echo "$preset: FAILED, see $out/train.log" >&2
    return 1
  fi
}
export -f train_one
export runs data steps threads aichoreo
# xargs exits non-zero when any run failed; the others still run to the end.
printf '%s\n' $presets | xargs -P "$jobs" -I{} bash -c 'train_one "$@"' _ {}
