"""What the benchmarks that read finished runs share: which runs to read, from the command line
(`--dataset --benchmark --splits --runs --seeds`), and the order they are read and printed in."""

import argparse
import json
from collections.abc import Iterator

from neuron.runs import RESULTS_JSON, Run, seeded_name


def parse_run_arguments(description: str) -> argparse.Namespace:
    return run_argument_parser(description).parse_args()


def run_argument_parser(description: str) -> argparse.ArgumentParser:
    """The arguments that pick the runs, for a benchmark to add its own to."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dataset", default="utd")
    parser.add_argument("--benchmark", default=None)
    parser.add_argument("--splits", nargs="+", default=["22_5_1", "22_5_2", "22_5_3"])
    parser.add_argument("--runs", nargs="+", default=["neuron", "global"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    return parser


def finished_runs(args: argparse.Namespace) -> Iterator[tuple[str, str, str]]:
    """(split, run, the run's folder for its seed: <run> or <run>_s<seed>), split by split."""
    for split in args.splits:
        for run in args.runs:
            for seed in args.seeds:
                yield split, run, seeded_name(run, seed)


def run_results(main: Run, name: str) -> dict:
    """The results.json that `neuron evaluate` wrote for the main fold's run `name`."""
    return json.loads((main.match_dir(name) / RESULTS_JSON).read_text(encoding="utf-8"))
