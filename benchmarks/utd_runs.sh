#!/usr/bin/env bash
# Every run behind reports/utd.json, and the UTD tables of the README and of benchmarks/results,
# with the exact settings they were made with: UTD-MHAD xsub, splits 22_5_1..3, one pair of
# encoders per split (main and validation fold, seed 1, pretrained on one CPU thread), the
# Neuron head and the global baseline trained on stored encoder features (--cache-features)
# with matching seeds 1-3 on those same encoders.
#
#   bash benchmarks/utd_runs.sh     # several CPU hours on 2 cores (an encoder 5-10 min, a Neuron run ~5)
#
# UTD-MHAD is prepared on first use from ../shared/data/utd_mhad (or `neuron prepare utd --raw DIR`).
#
# Rerunning it continues where it stopped: every stage runs with --resume, and a finished
# matching run only checks that its checkpoint was made with these settings and this encoder
# file (it stops with an error naming what differs). The results go to $NEURON_RESULTS_DIR (default results/).
set -euo pipefail
cd "$(dirname "$0")/.."
NEURON=${NEURON:-$PWD/.venv/bin/neuron}
PYTHON=${PYTHON:-$PWD/.venv/bin/python}
RUNS=$(realpath -m "${NEURON_RESULTS_DIR:-results}")/runs/utd/xsub
SPLITS=(22_5_1 22_5_2 22_5_3)
SEEDS=(1 2 3)

for split in "${SPLITS[@]}"; do
  for fold in main validation; do
    # A finished encoder is left alone: writing it again (newer metadata, same weights) would
    # change the file hash that the matching runs' checkpoints were made with. One thread:
    # pretraining is not bit-identical across thread counts.
    [ -f "$RUNS/$split/$fold/encoder/encoder.pt" ] ||
      OMP_NUM_THREADS=1 "$NEURON" pretrain --dataset utd --split "$split" --fold "$fold" --resume
    for seed in "${SEEDS[@]}"; do
      for model in neuron global; do
        "$NEURON" train --dataset utd --split "$split" --fold "$fold" --model "$model" --seed "$seed" \
          --encoder "$RUNS/$split/$fold/encoder/encoder.pt" --cache-features --resume
      done
    done
  done
  for model in neuron global; do
    "$NEURON" evaluate --dataset utd --split "$split" --run-name "$model" --seeds "${SEEDS[@]}" > /dev/null
  done
done
"$NEURON" report utd
cd benchmarks
"$PYTHON" gzsl_calibration.py --seeds "${SEEDS[@]}" > results/gzsl_calibration_utd.md
"$PYTHON" epoch_choice.py --seeds "${SEEDS[@]}" > results/epoch_choice_utd.md
