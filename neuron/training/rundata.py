"""From (dataset, split, benchmark, fold) to the data a run needs and the directory it writes.

Run directories (`results_dir` defaults to neuron.paths.RESULTS_DIR):

    <results_dir>/runs/<dataset>/<benchmark>/<split>/<fold>/encoder/   encoder.pt, checkpoint.pt, metrics.csv
    <results_dir>/runs/<dataset>/<benchmark>/<split>/<fold>/<run>/     match.pt, checkpoint.pt, metrics.csv,
                                                                       records/epoch_NNN.npz,
                                                                       records/heldout/epoch_NNN.npz,
                                                                       results.json, results.md (main fold)

<fold> is "main" or "validation" (see `folds`); <run> names a matching run, by default the
head's name ("neuron", "global"). The official recipe and another seed than 1 get folders of
their own: encoder_official/, <run>_official/, encoder_s<seed>/, <run>_official_s<seed>/, ...
(`seeded_name`).
"""

from dataclasses import dataclass
from pathlib import Path

from neuron import paths
from neuron.data.datasets import dataset_dir, dataset_info
from neuron.data.splits import Split, get_split
from neuron.data.store import SkeletonSet, load_dataset, read_manifest, read_meta
from neuron.errors import UserError
from neuron.training.folds import Fold, make_fold


@dataclass
class RunData:
    """A fold of a split on a prepared dataset."""

    name: str  # the dataset's name (meta.json)
    path: Path  # its prepared directory
    split: Split
    benchmark: str
    fold: Fold
    layout: str
    num_persons: int

    def load(self, rows) -> SkeletonSet:
        """The samples at manifest `rows` (only their shards are read)."""
        return load_dataset(self.path, rows)


def resolve_split(dataset, split) -> Split:
    """A Split object: `split` itself, or the registered split of that name of `dataset`."""
    if isinstance(split, Split):
        return split
    return get_split(dataset, split)


def run_data(dataset, split, *, fold: str, benchmark: str | None = None, val_fraction: float,
             pseudo_unseen_fraction: float | None = None, data_dir=None) -> RunData:
    """Resolve `dataset` (a name or a prepared directory; UTD-MHAD and the synthetic dataset
    are prepared on first use), `split` (a name or a Split) and `benchmark` (default: the
    dataset's first) into the samples of fold `fold`."""
    path = dataset_dir(dataset, data_dir=data_dir)
    info = dataset_info(dataset)
    split = resolve_split(dataset, split)
    if split.num_classes != info.num_classes:
        raise ValueError(f"split {split.name} has {split.num_classes} classes, dataset {info.name} {info.num_classes}")
    benchmark = benchmark or info.default_benchmark
    if benchmark is None:
        raise UserError(f"{path} defines no benchmark (train/test assignment), which a zero-shot run needs "
                        "(add a `split` array of 'train'/'test' per sample to the custom .npz and prepare it "
                        "again with --overwrite)")
    meta = read_meta(path)
    fold_ = make_fold(fold, split, read_manifest(path), benchmark, val_fraction=val_fraction,
                      pseudo_unseen_fraction=pseudo_unseen_fraction)
    return RunData(info.name, path, split, benchmark, fold_, meta["layout"], meta["num_persons"])


def run_root(dataset: str, benchmark: str, split: str, fold: str, results_dir=None) -> Path:
    """<results_dir>/runs/<dataset>/<benchmark>/<split>/<fold>."""
    base = Path(paths.RESULTS_DIR if results_dir is None else results_dir)
    return base / "runs" / dataset / benchmark / split / fold


def encoder_dir(data: RunData, results_dir=None, seed: int = 1, recipe: str = "project") -> Path:
    """The encoder of seed `seed` and `recipe`: encoder/ for seed 1 and the project recipe (the defaults)."""
    return (run_root(data.name, data.benchmark, data.split.name, data.fold.name, results_dir)
            / seeded_name("encoder", seed, recipe))


def seeded_name(name: str, seed: int | None, recipe: str = "project") -> str:
    """A run's folder name: `name` for seed 1 and the project recipe (the defaults), `<name>_official`
    for the official recipe, then `_s<seed>` for another seed."""
    name = name if recipe == "project" else f"{name}_{recipe}"
    return name if seed in (None, 1) else f"{name}_s{seed}"


def match_dir(data: RunData, run_name: str, results_dir=None) -> Path:
    check_run_name(run_name)
    return run_root(data.name, data.benchmark, data.split.name, data.fold.name, results_dir) / run_name


def check_run_name(run_name: str) -> None:
    if not run_name or "/" in run_name or run_name in ("encoder", ".", ".."):
        raise UserError(f"run name {run_name!r} must be a plain directory name other than 'encoder' "
                        "(change --run-name)")
