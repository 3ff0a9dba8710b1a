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

import numpy as np

from finished_runs import finished_runs, parse_run_arguments
from neuron.evaluation.metrics import best_gamma
from neuron.evaluation.records import load_records
from neuron.evaluation.report import evaluate
from neuron.runs import RECORDS_DIR, Run

CALIBRATIONS = ("absolute", "rank", "none", "oracle")


def study(dataset: str, split: str, run: str, benchmark: str) -> dict:
    main = Run(dataset, split, benchmark, name=run)
    results = evaluate(main)
    strict = results["strict"]
    test_dir = main.match_dir(run) / RECORDS_DIR
    record = load_records(test_dir, results["epochs"]["main"])[strict["gzsl"]["epoch"] - 1]
    row = {name: strict["calibrations"][name] for name in ("absolute", "rank", "none")
           if name in strict["calibrations"]}
    row["oracle"] = best_gamma(record.fused, record.labels, record.unseen_classes)
    gated = strict.get("gated")
    if gated:
        row["gated"] = gated["gzsl"]
    return {"rows": row, "ausuc": strict["ausuc"], "share": strict["calibrations"].get("rank", {}).get("share"),
            "gated_ausuc": gated and gated["ausuc"]}


def _accuracies(c: dict | None) -> str:
    return "-" if c is None else f"{100 * c['seen']:.1f} / {100 * c['unseen']:.1f} / {100 * c['harmonic']:.1f}"


def _mean(values: list, prefix: str = "") -> str:
    return f"{prefix}{100 * np.mean(values):.1f}" if values else "-"


def main() -> None:
    args = parse_run_arguments(__doc__.split("\n")[0])
    print("| split | run | " + " | ".join(f"{n} S / U / H" for n in CALIBRATIONS)
          + " | AUSUC | rank share | gated S / U / H | gated AUSUC |")
    print("| --- | --- | " + " | ".join("---" for _ in CALIBRATIONS) + " | ---: | ---: | --- | ---: |")
    harmonic = {run: {n: [] for n in (*CALIBRATIONS, "gated")} for run in args.runs}
    ausuc = {run: {n: [] for n in ("ausuc", "gated_ausuc")} for run in args.runs}
    for split, run, name in finished_runs(args):
        found = study(args.dataset, split, name, args.benchmark)
        rows = found["rows"]
        for n, c in rows.items():
            harmonic[run][n].append(c["harmonic"])
        for n in ausuc[run]:
            if found[n] is not None:
                ausuc[run][n].append(found[n])
        share = "-" if found["share"] is None else f"{100 * found['share']:.0f}%"
        gated_ausuc = "-" if found["gated_ausuc"] is None else f"{100 * found['gated_ausuc']:.1f}"
        print(f"| {split} | {name} | " + " | ".join(_accuracies(rows.get(n)) for n in CALIBRATIONS)
              + f" | {100 * found['ausuc']:.1f} | {share} | {_accuracies(rows.get('gated'))} | {gated_ausuc} |")
    for run in args.runs:
        h, a = harmonic[run], ausuc[run]
        print(f"| mean | {run} | " + " | ".join(_mean(h[n], "H ") for n in CALIBRATIONS)
              + f" | {_mean(a['ausuc'])} | | {_mean(h['gated'], 'H ')} | {_mean(a['gated_ausuc'])} |")


if __name__ == "__main__":
    main()
