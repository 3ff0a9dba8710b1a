"""What the benchmarks that read finished runs share: which runs to read, from the command line
(`--dataset --benchmark --splits --runs --seeds`), and the order they are read and printed in."""

import argparse
from collections.abc import Iterator

from neuron.runs import seeded_name


def parse_run_arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dataset", default="utd")
    parser.add_argument("--benchmark", default=None)
    parser.add_argument("--splits", nargs="+", default=["22_5_1", "22_5_2", "22_5_3"])
    parser.add_argument("--runs", nargs="+", default=["neuron", "global"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    return parser.parse_args()


def finished_runs(args: argparse.Namespace) -> Iterator[tuple[str, str, str]]:
    """(split, run, the run's folder for its seed: <run> or <run>_s<seed>), split by split."""
    for split in args.splits:
        for run in args.runs:
            for seed in args.seeds:
                yield split, run, seeded_name(run, seed)
