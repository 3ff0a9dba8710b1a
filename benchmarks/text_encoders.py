"""Which text encoder the UTD-MHAD runs should use, chosen on the validation folds, with the test
numbers of both next to the choice (reads finished runs' results.json; trains nothing).

    python benchmarks/text_encoders.py --seeds 1 2 3 \
        [--runs neuron global] [--encoders wordllama-l2-supercat-256:_wordllama all-minilm-l6-v2:]

Each encoder is `name:suffix`: its runs are `<run><suffix>` (seed 1) and `<run><suffix>_s<seed>`,
the same encoders and seeds, trained with `neuron train --text-encoder name --run-name ...`
(benchmarks/utd_runs.sh). Per split and seed: the validation fold's pseudo-ZSL accuracy and
pseudo-GZSL H at the epochs the strict protocol chose (what the choice may look at), then the
test set's strict ZSL, strict H (calibrated stacking), gated H and the paper protocol's ZSL.
The last rows are means over splits and seeds (± sample standard deviation). "choice" applies the
rule fixed before the 3-seed MiniLM runs were read: the encoder with the highest mean validation
pseudo-ZSL of the first run (Neuron), unless it beats the first encoder listed (WordLlama, the
project's default elsewhere, ~100x faster on a CPU) by less than one point. It chose all-MiniLM-L6-v2,
so UTD-MHAD's runs `<model>[_s<seed>]` use it (its matching default) and the WordLlama runs are
`<model>_wordllama[_s<seed>]`.
"""

import numpy as np

from finished_runs import run_argument_parser, run_results
from neuron.runs import Run, seeded_name

COLUMNS = {"validation ZSL": lambda r: r["strict"]["zsl"]["validation_top1"],
           "validation H": lambda r: r["strict"]["gzsl"]["validation"]["harmonic"],
           "strict ZSL": lambda r: r["strict"]["zsl"]["top1"],
           "strict H": lambda r: r["strict"]["gzsl"]["harmonic"],
           "gated H": lambda r: r["strict"]["gated"]["gzsl"]["harmonic"],
           "paper ZSL": lambda r: r["paper"]["zsl"]["top1"]}


def main() -> None:
    parser = run_argument_parser(__doc__.split("\n")[0])
    parser.add_argument("--encoders", nargs="+", default=["wordllama-l2-supercat-256:_wordllama", "all-minilm-l6-v2:"])
    args = parser.parse_args()
    encoders = dict(e.split(":", 1) for e in args.encoders)
    print("| split | seed | run | text encoder | " + " | ".join(COLUMNS) + " |")
    print("| --- | ---: | --- | --- | " + " | ".join("---:" for _ in COLUMNS) + " |")
    values = {(run, e): {c: [] for c in COLUMNS} for run in args.runs for e in encoders}
    for split in args.splits:
        for seed in args.seeds:
            for run in args.runs:
                for encoder, suffix in encoders.items():
                    name = seeded_name(run + suffix, seed)
                    results = run_results(Run(args.dataset, split, args.benchmark, name=name), name)
                    row = {c: get(results) for c, get in COLUMNS.items()}
                    for c, v in row.items():
                        values[run, encoder][c].append(v)
                    print(f"| {split} | {seed} | {run} | {encoder} | "
                          + " | ".join(f"{100 * v:.1f}" for v in row.values()) + " |")
    for (run, encoder), by_column in values.items():
        spread = (f"{100 * np.mean(v):.1f} ± {100 * np.std(v, ddof=1):.1f}" for v in by_column.values())
        print(f"| mean | | {run} | {encoder} | " + " | ".join(spread) + " |")
    scores = {e: np.mean(values[args.runs[0], e]["validation ZSL"]) for e in encoders}
    default, best = next(iter(scores)), max(scores, key=scores.get)
    choice = best if scores[best] - scores[default] >= 0.01 else default
    print(f"\nchoice (mean validation pseudo-ZSL of {args.runs[0]}, ahead of {default} by at least a point): {choice} "
          + "(" + ", ".join(f"{e} {100 * s:.1f}" for e, s in scores.items()) + ")")


if __name__ == "__main__":
    main()
