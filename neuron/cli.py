"""Command line: `python -m neuron <command> ...` (or the `neuron` console script).

Each command's work lives in the package; this module only parses arguments and imports the
module that does the work when the command runs, so `--help` stays fast.
"""

import argparse
import sys
from pathlib import Path

from neuron.paths import DATA_DIR, shared_data_dir

PREPARABLE = ("ntu60", "ntu120", "pku", "utd", "synthetic", "custom")


def _cmd_prepare(args) -> None:
    out = Path(args.out) if args.out else DATA_DIR / args.dataset
    if args.dataset in ("ntu60", "ntu120", "pku", "custom") and not args.raw:
        sys.exit(f"prepare {args.dataset}: --raw is required (the raw data "
                 f"{'.npz file' if args.dataset == 'custom' else 'directory'})")
    if args.dataset in ("ntu60", "ntu120"):
        from neuron.data.ntu import prepare_ntu
        prepare_ntu(args.dataset, args.raw, out, workers=args.workers, missing_file=args.missing)
    elif args.dataset == "pku":
        from neuron.data.pku import prepare_pku
        prepare_pku(args.raw, out, workers=args.workers)
    elif args.dataset == "utd":
        from neuron.data.utd import prepare_utd
        prepare_utd(args.raw or shared_data_dir() / "utd_mhad", out)
    elif args.dataset == "synthetic":
        from neuron.data.synthetic import prepare_synthetic
        prepare_synthetic(out, samples_per_class=args.samples_per_class, seed=args.seed)
    else:
        from neuron.data.custom import prepare_custom
        prepare_custom(args.raw, out)
    print(f"prepared {args.dataset} in {out}")


def _cmd_info(args) -> None:
    from neuron.data.datasets import dataset_dir
    from neuron.data.store import read_manifest, read_meta

    path = dataset_dir(args.dataset)
    meta, manifest = read_meta(path), read_manifest(path)
    print(f"{meta['name']} in {path}: {meta['num_samples']} samples, {len(meta['class_names'])} classes, "
          f"layout {meta['layout']}, x shaped (N, 3, {meta['max_frames']}, {meta['num_joints']}, "
          f"{meta['num_persons']})")
    print(f"frames per sample: min {manifest['frames'].min()}, median {int(manifest['frames'].median())}, "
          f"max {manifest['frames'].max()}")
    for bench in meta["benchmarks"]:
        counts = manifest[bench].value_counts()
        print(f"benchmark {bench}: " + ", ".join(f"{part} {counts.get(part, 0)}" for part in ("train", "test")))


def _cmd_splits(args) -> None:
    from neuron.data.splits import list_splits

    for split in list_splits(args.dataset):
        print(f"{split.dataset:10s} {split.name:8s} {len(split.seen):3d} seen / {len(split.unseen):2d} unseen: "
              f"{list(split.unseen)}")


def _cmd_run(args) -> None:
    from neuron.pipeline import run_notebooks

    run_notebooks(dataset=args.dataset, only=args.only, out_dir=args.out, extra=dict(args.param or []))


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neuron", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("prepare", help="convert a raw dataset into the prepared format",
                       description="Parse, denoise and store a dataset as compressed arrays plus a "
                                   "manifest (see neuron/data/store.py). Interrupted runs resume.")
    p.add_argument("dataset", choices=PREPARABLE)
    p.add_argument("--raw", help="raw data: NTU .skeleton directory, PKU-MMD root, UTD-MHAD .mat "
                                 "directory (default: ../shared/data/utd_mhad), or a custom .npz file")
    p.add_argument("--out", help="output directory (default: data/<dataset>)")
    p.add_argument("--workers", type=int, default=None, help="parallel parser processes (default: all cores)")
    p.add_argument("--missing", help="NTU list of samples with missing skeletons (default: looked up in --raw)")
    p.add_argument("--samples-per-class", type=int, default=40, help="synthetic: samples per class")
    p.add_argument("--seed", type=int, default=0, help="synthetic: generator seed")
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("info", help="summarise a prepared dataset",
                       description="Print sample, class, frame and benchmark counts of a prepared dataset.")
    p.add_argument("dataset", help="dataset name (ntu60, ntu120, pku, utd, synthetic) or a prepared directory")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("splits", help="list the zero-shot splits",
                       description="List every registered seen/unseen split, optionally of one dataset.")
    p.add_argument("dataset", nargs="?", help="only this dataset's splits")
    p.set_defaults(func=_cmd_splits)

    p = sub.add_parser("run", help="the main job: execute the numbered notebooks headlessly",
                       description="Execute notebooks/NN_*.ipynb in order with papermill, writing executed "
                                   "copies, figures/ and results/.")
    p.add_argument("--dataset", default="synthetic", help="dataset every notebook runs on (default: synthetic)")
    p.add_argument("--only", nargs="*", help="run only notebooks whose file name starts with these prefixes")
    p.add_argument("--out", default=None, help="folder for executed notebooks (default: results/notebooks/<dataset>)")
    p.add_argument("-p", "--param", action="append", type=_key_value, metavar="NAME=VALUE",
                   help="extra notebook parameter, passed to every notebook that declares it")
    p.set_defaults(func=_cmd_run)
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)

