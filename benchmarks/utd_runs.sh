#!/usr/bin/env bash
# Every run behind reports/utd.json, and the UTD tables of the README and of benchmarks/results,
# with the exact settings they were made with: UTD-MHAD xsub, splits 22_5_1..3, seeds 1-3; for
# each seed and split a pair of encoders (main and validation fold, pretrained on one CPU
# thread), then the Neuron head and the global baseline with the same seed on those encoders,
# trained on stored encoder features (UTD-MHAD's default, cache_features), with its text encoder
# (all-MiniLM-L6-v2) and, for benchmarks/text_encoders.py, which chose it on the validation folds,
# with WordLlama (runs <model>_wordllama[_s<seed>]).
#
#   bash benchmarks/utd_runs.sh     # ~9 CPU hours on one thread (an encoder 4-11 min, a Neuron run 3-5)
#
# UTD-MHAD is prepared on first use from ../shared/data/utd_mhad (or `neuron prepare utd --raw DIR`).
#
# Rerunning it continues where it stopped: every stage runs with --resume, and a finished run
# only checks that its checkpoint was made with these settings (a matching run: and with this
# encoder file); it stops with an error naming what differs. The results go to $NEURON_RESULTS_DIR (default results/).
set -euo pipefail
cd "$(dirname "$0")/.."
NEURON=${NEURON:-$PWD/.venv/bin/neuron}
PYTHON=${PYTHON:-$PWD/.venv/bin/python}
RUNS=$(realpath -m "${NEURON_RESULTS_DIR:-results}")/runs/utd/xsub
SPLITS=(22_5_1 22_5_2 22_5_3)
SEEDS=(1 2 3)

for split in "${SPLITS[@]}"; do
  for seed in "${SEEDS[@]}"; do
    for fold in main validation; do
      # one thread: pretraining is not bit-identical across thread counts
      OMP_NUM_THREADS=1 "$NEURON" pretrain --dataset utd --split "$split" --fold "$fold" --seed "$seed" --resume
      for model in neuron global; do
        "$NEURON" train --dataset utd --split "$split" --fold "$fold" --model "$model" --seed "$seed" --resume
        "$NEURON" train --dataset utd --split "$split" --fold "$fold" --model "$model" --seed "$seed" \
          --resume --text-encoder wordllama-l2-supercat-256 \
          --run-name "${model}_wordllama$([ "$seed" = 1 ] || echo "_s$seed")"
      done
    done
  done
  for model in neuron global neuron_wordllama global_wordllama; do
    "$NEURON" evaluate --dataset utd --split "$split" --run-name "$model" --seeds "${SEEDS[@]}" > /dev/null
  done
done
"$NEURON" report utd
cd benchmarks
"$PYTHON" gzsl_calibration.py --seeds "${SEEDS[@]}" > results/gzsl_calibration_utd.md
"$PYTHON" epoch_choice.py --seeds "${SEEDS[@]}" > results/epoch_choice_utd.md
"$PYTHON" gzsl_rules.py --seeds "${SEEDS[@]}" > results/gzsl_rules_utd.md
"$PYTHON" text_encoders.py --seeds "${SEEDS[@]}" > results/text_encoders_utd.md
OMP_NUM_THREADS=1 "$PYTHON" gate_scores.py --seeds "${SEEDS[@]}" > results/gate_scores_utd.md  # encodes: one thread
