"""How well each GZSL calibration of the strict protocol carries from the validation model to
the main one, measured on finished runs (reads their stored records; trains nothing).

    python benchmarks/gzsl_calibration.py --dataset utd --splits 22_5_1 22_5_2 22_5_3 --runs neuron global \
        [--seeds 1 2 3]      # runs <run> (seed 1) and <run>_s<seed>, as `neuron train --seed` names them

For each run, at the strict protocol's GZSL epoch (chosen on validation), the test seen /
unseen accuracy and H of the fused prediction under
  absolute   the validation model's best gamma, used as a number
  rank       that gamma carried by the share of held-out seen clips it flips (metrics.transfer_gamma)
  none       gamma 0
  oracle     the best gamma on the test set itself (an upper bound no protocol may use)
and the AUSUC, which needs no gamma; then GZSL gated by the encoder's classifier (strict
"gated": threshold chosen on validation, applied as a number; its own AUSUC) where the runs
recorded it. The last rows are means over the splits and seeds of each run.
"""

import argparse

import numpy as np

from neuron.evaluation.metrics import best_gamma
from neuron.evaluation.records import load_records
from neuron.evaluation.report import evaluate
from neuron.runs import RECORDS_DIR, Run, seeded_name


def study(dataset: str, split: str, run: str, benchmark: str) -> dict:
    main = Run(dataset, split, benchmark, name=run)
    results = evaluate(main)
    strict = results["strict"]
    test_dir = main.match_dir(run) / RECORDS_DIR
    record = load_records(test_dir, results["epochs"]["main"])[strict["gzsl"]["epoch"] - 1]
    row = {name: strict["calibrations"][name] for name in ("absolute", "rank", "none")
           if name in strict["calibrations"]}
    row["oracle"] = best_gamma(record.fused, record.labels, record.unseen_classes)
    if "gated" in strict:
        row["gated"] = strict["gated"]["gzsl"]
    return {"rows": row, "ausuc": strict["ausuc"], "share": strict["calibrations"].get("rank", {}).get("share"),
            "gated_ausuc": strict["gated"]["ausuc"] if "gated" in strict else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="utd")
    parser.add_argument("--benchmark", default=None)
    parser.add_argument("--splits", nargs="+", default=["22_5_1", "22_5_2", "22_5_3"])
    parser.add_argument("--runs", nargs="+", default=["neuron", "global"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    args = parser.parse_args()
    names = ("absolute", "rank", "none", "oracle", "gated")
    print("| split | run | " + " | ".join(f"{n} S / U / H" for n in names[:4]) + " | AUSUC | rank share | "
          "gated S / U / H | gated AUSUC |")
    print("| --- | --- | " + " | ".join("---" for _ in names[:4]) + " | ---: | ---: | --- | ---: |")
    means = {run: {n: [] for n in (*names, "ausuc", "gated_ausuc")} for run in args.runs}
    for split in args.splits:
        for run, seed in ((run, seed) for run in args.runs for seed in args.seeds):
            found = study(args.dataset, split, seeded_name(run, seed), args.benchmark)
            cells = []
            for n in names:
                c = found["rows"].get(n)
                cells.append("-" if c is None else f"{100 * c['seen']:.1f} / {100 * c['unseen']:.1f} / "
                                                   f"{100 * c['harmonic']:.1f}")
                if c is not None:
                    means[run][n].append(c["harmonic"])
            means[run]["ausuc"].append(found["ausuc"])
            if found["gated_ausuc"] is not None:
                means[run]["gated_ausuc"].append(found["gated_ausuc"])
            share = "-" if found["share"] is None else f"{100 * found['share']:.0f}%"
            gated_ausuc = "-" if found["gated_ausuc"] is None else f"{100 * found['gated_ausuc']:.1f}"
            print(f"| {split} | {seeded_name(run, seed)} | " + " | ".join(cells[:4])
                  + f" | {100 * found['ausuc']:.1f} | {share} | {cells[4]} | {gated_ausuc} |")
    for run in args.runs:
        m = {n: f"H {100 * np.mean(means[run][n]):.1f}" if means[run][n] else "-" for n in names}
        gated_ausuc = f"{100 * np.mean(means[run]['gated_ausuc']):.1f}" if means[run]["gated_ausuc"] else "-"
        print(f"| mean | {run} | " + " | ".join(m[n] for n in names[:4])
              + f" | {100 * np.mean(means[run]['ausuc']):.1f} | | {m['gated']} | {gated_ausuc} |")


if __name__ == "__main__":
    main()
