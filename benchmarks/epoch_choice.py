"""How much the strict protocol's ZSL epoch choice costs, measured on finished runs (reads their
stored records and results.json; trains nothing).

    python benchmarks/epoch_choice.py --dataset utd --splits 22_5_1 22_5_2 22_5_3 --runs neuron global \
        [--seeds 1 2 3]

For each run, the strict fused ZSL accuracy on the test set at
  chosen   the epoch with the best pseudo-ZSL accuracy on the validation fold (the strict protocol)
  last     the last epoch of the fixed schedule (no choice at all)
  best     the best epoch on the test set itself (the paper's choice; an upper bound)
with the chosen epoch. The last rows are means over the splits and seeds of each run.
"""

import numpy as np

from finished_runs import finished_runs, parse_run_arguments, run_results
from neuron.evaluation.records import load_records
from neuron.runs import RECORDS_DIR, Run


def study(dataset: str, split: str, run: str, benchmark: str | None) -> dict:
    main = Run(dataset, split, benchmark, name=run)
    results = run_results(main, run)
    records = load_records(main.match_dir(run) / RECORDS_DIR, results["epochs"]["main"])
    zsl = [float(np.mean(r.fused_zsl_pred[r.is_unseen] == r.labels[r.is_unseen])) for r in records]
    chosen = results["strict"]["zsl"]["epoch"]
    return {"chosen": zsl[chosen - 1], "last": zsl[-1], "best": max(zsl), "epoch": chosen, "epochs": len(zsl)}


def main() -> None:
    args = parse_run_arguments(__doc__.split("\n")[0])
    names = ("chosen", "last", "best")
    print("| split | run | chosen epoch | ZSL chosen | ZSL last | ZSL best on test |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    means = {run: {n: [] for n in names} for run in args.runs}
    for split, run, name in finished_runs(args):
        found = study(args.dataset, split, name, args.benchmark)
        for n in names:
            means[run][n].append(found[n])
        print(f"| {split} | {name} | {found['epoch']} of {found['epochs']} | "
              + " | ".join(f"{100 * found[n]:.1f}" for n in names) + " |")
    for run in args.runs:
        print(f"| mean | {run} | | " + " | ".join(f"{100 * np.mean(means[run][n]):.1f}" for n in names) + " |")


if __name__ == "__main__":
    main()
