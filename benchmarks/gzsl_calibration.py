"""How well each GZSL calibration of the strict protocol carries from the validation model to
the main one, measured on finished runs (reads their stored records and results.json; trains nothing).

    python benchmarks/gzsl_calibration.py --dataset utd --splits 22_5_1 22_5_2 22_5_3 --runs neuron global \
        [--seeds 1 2 3]      # runs <run> (seed 1) and <run>_s<seed>, as `neuron train --seed` names them

For each run, at the strict protocol's GZSL epoch (chosen on validation), the test seen /
unseen accuracy and H of the fused prediction under
  absolute   the validation model's best gamma, used as a number
  rank       that gamma carried by the share of held-out seen clips it flips (metrics.transfer_gamma)
  none       gamma 0
  oracle     the best gamma on the test set itself (an upper bound no protocol may use)
and the AUSUC, which needs no gamma; then GZSL gated by the encoder's classifier (strict
"gated": threshold chosen on validation, applied as a number; the best threshold on the test
set, an oracle again; its own AUSUC) where the runs recorded it. "both >=" is the highest
accuracy that seen and unseen test clips reach together under any one gamma / threshold at that
epoch (metrics.balanced_gamma; an oracle): the ceiling of a target such as "S and U both at least
40%" for that rule. "encoder seen acc." is the accuracy of the main encoder's classifier on the
main fold's held-out seen clips (performed by the training subjects; the validation fold's seen
clips are held out the same way) against the test set's seen clips (other subjects). The last rows are means over the
splits and seeds of each run.
"""

import numpy as np

from finished_runs import finished_runs, parse_run_arguments, run_results
from neuron.evaluation.metrics import balanced_gamma, best_gamma
from neuron.evaluation.records import load_record, load_records, record_path
from neuron.runs import HELDOUT_RECORDS, RECORDS_DIR, Run

CALIBRATIONS = ("absolute", "rank", "none", "oracle")


def study(dataset: str, split: str, run: str, benchmark: str) -> dict:
    main = Run(dataset, split, benchmark, name=run)
    results = run_results(main, run)
    strict = results["strict"]
    test_dir = main.match_dir(run) / RECORDS_DIR
    records = load_records(test_dir, results["epochs"]["main"])
    record = records[strict["gzsl"]["epoch"] - 1]
    row = {name: strict["calibrations"][name] for name in ("absolute", "rank", "none")
           if name in strict["calibrations"]}
    row["oracle"] = best_gamma(record.fused, record.labels, record.unseen_classes)
    balanced = {"stacking": _both(balanced_gamma(record.fused, record.labels, record.unseen_classes))}
    gated = strict.get("gated")
    if gated:
        gated_record = records[gated["gzsl"]["epoch"] - 1]
        row["gated"] = gated["gzsl"]
        row["gated oracle"] = best_gamma(gated_record.gated, gated_record.labels, gated_record.unseen_classes)
        balanced["gated"] = _both(balanced_gamma(gated_record.gated, gated_record.labels,
                                                 gated_record.unseen_classes))
    return {"rows": row, "ausuc": strict["ausuc"], "share": strict["calibrations"].get("rank", {}).get("share"),
            "gated_ausuc": gated and gated["ausuc"], "balanced": balanced,
            "encoder": gated and {  # the frozen encoder's outputs are the same in every epoch's record
                "held-out": _encoder_seen_accuracy(load_record(record_path(test_dir / HELDOUT_RECORDS, len(records)))),
                "test": _encoder_seen_accuracy(records[-1])}}


def _encoder_seen_accuracy(record) -> float:
    """The encoder classifier's accuracy on the seen clips of a record."""
    seen = ~record.is_unseen
    return float(np.mean(record.encoder_pred[seen] == record.labels[seen]))


def _both(accuracies: dict) -> float:
    return min(accuracies["seen"], accuracies["unseen"])


def _accuracies(c: dict | None) -> str:
    return "-" if c is None else f"{100 * c['seen']:.1f} / {100 * c['unseen']:.1f} / {100 * c['harmonic']:.1f}"


def _mean(values: list, prefix: str = "") -> str:
    return f"{prefix}{100 * np.mean(values):.1f}" if values else "-"


def main() -> None:
    args = parse_run_arguments(__doc__.split("\n")[0])
    print("| split | run | " + " | ".join(f"{n} S / U / H" for n in CALIBRATIONS)
          + " | AUSUC | rank share | gated S / U / H | gated oracle S / U / H | gated AUSUC"
          + " | both >= (stacking / gated) | encoder seen acc. (held-out / test) |")
    print("| --- | --- | " + " | ".join("---" for _ in CALIBRATIONS)
          + " | ---: | ---: | --- | --- | ---: | ---: | ---: |")
    harmonic = {run: {n: [] for n in (*CALIBRATIONS, "gated", "gated oracle")} for run in args.runs}
    ausuc = {run: {n: [] for n in ("ausuc", "gated_ausuc")} for run in args.runs}
    both = {run: {n: [] for n in ("stacking", "gated")} for run in args.runs}
    encoder = {run: {n: [] for n in ("held-out", "test")} for run in args.runs}
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
        for n, value in found["balanced"].items():
            both[run][n].append(value)
        if found["encoder"]:
            for n in encoder[run]:
                encoder[run][n].append(found["encoder"][n])
        accuracy = "-" if not found["encoder"] else " / ".join(f"{100 * found['encoder'][n]:.1f}" for n in encoder[run])
        balanced = " / ".join(f"{100 * found['balanced'][n]:.1f}" if n in found["balanced"] else "-"
                              for n in ("stacking", "gated"))
        print(f"| {split} | {name} | " + " | ".join(_accuracies(rows.get(n)) for n in CALIBRATIONS)
              + f" | {100 * found['ausuc']:.1f} | {share} | {_accuracies(rows.get('gated'))}"
              + f" | {_accuracies(rows.get('gated oracle'))} | {gated_ausuc} | {balanced} | {accuracy} |")
    for run in args.runs:
        h, a, b, e = harmonic[run], ausuc[run], both[run], encoder[run]
        print(f"| mean | {run} | " + " | ".join(_mean(h[n], "H ") for n in CALIBRATIONS)
              + f" | {_mean(a['ausuc'])} | | {_mean(h['gated'], 'H ')} | {_mean(h['gated oracle'], 'H ')}"
              + f" | {_mean(a['gated_ausuc'])} | {_mean(b['stacking'])} / {_mean(b['gated'])}"
              + f" | {_mean(e['held-out'])} / {_mean(e['test'])} |")


if __name__ == "__main__":
    main()
