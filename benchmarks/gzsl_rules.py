"""Every label-free variant of the strict protocol's GZSL decision, measured on finished runs
(reads their stored records and results.json; trains nothing).

    python benchmarks/gzsl_rules.py --seeds 1 2 3 > benchmarks/results/gzsl_rules_utd.md

A variant is one choice on each of four axes, all made without test labels:
  rule       stacking: the fused scores' margin against gamma (the strict headline);
             gated: the encoder classifier's confidence against a threshold (strict "gated")
  objective  what the threshold maximises on the validation fold: H, or min(S, U)
             (`metrics.balanced_gamma`, the target "S and U both at least X")
  transfer   absolute: the validation value as a number; rank: the share of held-out seen clips
             it flips, applied to the main model's own (`metrics.transfer_gamma`)
  epoch      validation: the epoch whose validation records score best on the objective (the
             first on ties); last: the last epoch of the fixed schedule
The strict protocol's rows are (stacking | gated, H, absolute, validation). For each model and
variant: test seen / unseen accuracy per split (mean over the seeds), the mean H, and on how
many splits both reach 40%. All variants are shown: picking the best of them on these test
numbers would be a choice made with test labels.
"""

import itertools

import numpy as np

from finished_runs import finished_runs, parse_run_arguments, run_results
from neuron.evaluation.metrics import balanced_gamma, best_gamma, gzsl_accuracies, transfer_gamma
from neuron.evaluation.records import load_records
from neuron.runs import HELDOUT_RECORDS, RECORDS_DIR, Run

AXES = {"rule": ("stacking", "gated"), "objective": ("H", "min(S, U)"), "transfer": ("absolute", "rank"),
        "epoch": ("validation", "last")}
TARGET = 0.4


def _decisions(record, rule: str):
    return record.fused if rule == "stacking" else record.gated


def _calibrate(record, rule: str, objective: str) -> tuple[float, float]:
    """(threshold, objective value) of one validation record."""
    search = best_gamma if objective == "H" else balanced_gamma
    found = search(_decisions(record, rule), record.labels, record.unseen_classes)
    return found["gamma"], found["harmonic"] if objective == "H" else min(found["seen"], found["unseen"])


def variant_accuracies(records: dict, rule: str, objective: str, transfer: str, epoch: str) -> dict:
    """Test seen / unseen accuracy and H of one run under one variant."""
    validation, test, heldout = records["validation"], records["test"], records["heldout"]
    if epoch == "validation":
        calibrated = [_calibrate(r, rule, objective) for r in validation]
        e = int(np.argmax([value for _, value in calibrated]))
        gamma = calibrated[e][0]
    else:
        e = len(validation) - 1
        gamma, _ = _calibrate(validation[e], rule, objective)
    if transfer == "rank":
        reference = _decisions(validation[e], rule).margin[~validation[e].is_unseen]
        gamma = transfer_gamma(gamma, reference, _decisions(heldout[e], rule).margin)["gamma"]
    record = test[e]
    return gzsl_accuracies(_decisions(record, rule).predict(gamma) == record.labels, record.labels,
                           record.unseen_classes)


def load_run(dataset: str, split: str, name: str, benchmark: str) -> dict:
    main = Run(dataset, split, benchmark, name=name)
    epochs = run_results(main, name)["epochs"]
    folder = main.match_dir(name) / RECORDS_DIR
    return {"test": load_records(folder, epochs["main"]), "heldout": load_records(folder / HELDOUT_RECORDS,
                                                                                   epochs["main"]),
            "validation": load_records(main.with_(fold="validation").match_dir(name) / RECORDS_DIR,
                                       epochs["validation"])}


def main() -> None:
    args = parse_run_arguments(__doc__.split("\n")[0])
    variants = list(itertools.product(*AXES.values()))
    # found[run][variant][split] = [accuracies of each seed]
    found = {run: {v: {s: [] for s in args.splits} for v in variants} for run in args.runs}
    for split, run, name in finished_runs(args):
        records = load_run(args.dataset, split, name, args.benchmark)
        gated = all(r.encoder_pred is not None for part in records.values() for r in part)
        for variant in variants:
            if variant[0] == "gated" and not gated:
                continue
            found[run][variant][split].append(variant_accuracies(records, *variant))
    print("| model | " + " | ".join(AXES) + " | " + " | ".join(f"{s} S / U" for s in args.splits)
          + f" | mean H | splits with S, U >= {100 * TARGET:.0f} |")
    print("| --- | " + " | ".join("---" for _ in AXES) + " | " + " | ".join("---" for _ in args.splits)
          + " | ---: | ---: |")
    for run in args.runs:
        for variant in variants:
            per_split = found[run][variant]
            if not all(per_split.values()):
                continue
            means = {s: {k: np.mean([a[k] for a in per_split[s]]) for k in ("seen", "unseen", "harmonic")}
                     for s in args.splits}
            reached = sum(m["seen"] >= TARGET and m["unseen"] >= TARGET for m in means.values())
            print(f"| {run} | " + " | ".join(variant) + " | "
                  + " | ".join(f"{100 * m['seen']:.1f} / {100 * m['unseen']:.1f}" for m in means.values())
                  + f" | {100 * np.mean([m['harmonic'] for m in means.values()]):.1f} | {reached} of {len(means)} |")


if __name__ == "__main__":
    main()
