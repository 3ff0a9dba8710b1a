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

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from neuron import paths
from neuron.atomic import atomic_path
from neuron.data.datasets import dataset_dir, dataset_info
from neuron.data.folds import Fold, make_fold
from neuron.data.splits import Split, get_split
from neuron.data.store import SkeletonSet, load_dataset, read_manifest, read_meta
from neuron.errors import DamagedFileError, MissingInputError, UserError

# The files of a run directory.
ENCODER_FILE = "encoder.pt"  # a pretrained encoder (neuron.models.zero_shot.load_encoder)
MATCH_FILE = "match.pt"  # a matching model (neuron.models.zero_shot.load_matching_model)
RECORDS_DIR = "records"  # per-epoch decisions on the evaluation samples (neuron.evaluation.records)
# Records of the held-out seen samples (records/heldout/): the strict protocol carries its GZSL
# calibration from the validation model to the main one by their margins.
HELDOUT_RECORDS = "heldout"
RESULTS_JSON = "results.json"  # neuron.evaluation.report
RESULTS_MD = "results.md"


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


@dataclass(frozen=True)
class Run:
    """A run's address: fold `fold` of `split` on `benchmark` of `dataset`, in the folder `name` of
    `root`. Every stage takes one (pretraining, matching, evaluation, the experiments, the notebooks).

    dataset: a name ("ntu60", "utd", ...) or a prepared directory (UTD-MHAD and the synthetic set are
    prepared on first use, in data_dir); split: a name or a Split (None: the dataset's default);
    benchmark: None for the dataset's first; name: a matching run's folder (None: as the model, seed
    and recipe name it, `seeded_name`; encoders are always named so: `encoder_dir`); root: the results
    folder (None: neuron.paths.RESULTS_DIR).
    """

    dataset: str | Path
    split: str | Split | None = None
    benchmark: str | None = None
    fold: str = "main"
    name: str | None = None
    root: str | Path | None = None
    data_dir: str | Path | None = None

    def data(self, val_fraction: float, pseudo_unseen_fraction: float | None = None) -> RunData:
        """The fold's samples with `val_fraction` of each seen class held out: the dataset, split,
        benchmark and fold resolved (a stage asks once and passes the result on; not cached, so a
        dataset prepared again or another data folder is always read as it is now)."""
        return _resolve(self, val_fraction, pseudo_unseen_fraction)

    def with_(self, **changes) -> "Run":
        """This run with some fields changed (another fold, name, split, ...)."""
        return replace(self, **changes)

    def folder(self) -> Path:
        """<root>/runs/<dataset>/<benchmark>/<split>/<fold>: where the fold's runs live."""
        info = dataset_info(self.dataset)
        root = Path(paths.RESULTS_DIR if self.root is None else self.root)
        return (root / "runs" / info.name / (self.benchmark or info.default_benchmark or "")
                / resolve_split(self.dataset, self.split).name / self.fold)

    def match_dir(self, default_name: str) -> Path:
        """A matching run's folder: `name`, or `default_name` when the run has none."""
        name = self.name or default_name
        check_run_name(name)
        return self.folder() / name

    def encoder_dir(self, seed: int = 1, recipe: str = "project") -> Path:
        """The fold's encoder of seed `seed` and `recipe` (encoder/ for seed 1 and the project recipe)."""
        return self.folder() / seeded_name("encoder", seed, recipe)


def _resolve(run: Run, val_fraction: float, pseudo_unseen_fraction: float | None) -> RunData:
    path = dataset_dir(run.dataset, data_dir=run.data_dir)
    info = dataset_info(run.dataset)
    split = resolve_split(run.dataset, run.split)
    if split.num_classes != info.num_classes:
        raise ValueError(f"split {split.name} has {split.num_classes} classes, dataset {info.name} {info.num_classes}")
    benchmark = run.benchmark or info.default_benchmark
    if benchmark is None:
        raise UserError(f"{path} defines no benchmark (train/test assignment), which a zero-shot run needs "
                        "(add a `split` array of 'train'/'test' per sample to the custom .npz and prepare it "
                        "again with --overwrite)")
    meta = read_meta(path)
    fold_ = make_fold(run.fold, split, read_manifest(path), benchmark, val_fraction=val_fraction,
                      pseudo_unseen_fraction=pseudo_unseen_fraction)
    return RunData(info.name, path, split, benchmark, fold_, meta["layout"], meta["num_persons"])


def seeded_name(name: str, seed: int | None, recipe: str = "project") -> str:
    """A run's folder name: `name` for seed 1 and the project recipe (the defaults), `<name>_official`
    for the official recipe, then `_s<seed>` for another seed."""
    name = name if recipe == "project" else f"{name}_{recipe}"
    return name if seed in (None, 1) else f"{name}_s{seed}"


def check_run_name(run_name: str) -> None:
    if not run_name or "/" in run_name or run_name in ("encoder", ".", ".."):
        raise UserError(f"run name {run_name!r} must be a plain directory name other than 'encoder' "
                        "(change --run-name)")


def save_torch_file(obj, path) -> None:
    """torch.save `obj` to `path` atomically. Through a file object: given a path, torch names the
    archive inside after the file, here a random temporary name, and the same `obj` would give
    other bytes each time (and another encoder_sha256 in a matching run's identity)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        torch.save(obj, file)


def save_model_file(path, payload: dict) -> None:
    """torch.save a model file (encoder.pt, match.pt) atomically."""
    save_torch_file(payload, path)


def load_model_file(path, file_format: str, what: str, command: str) -> dict:
    """The payload of a model file written by save_model_file, checked for its format marker;
    errors name the file and the command that writes one."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"no {what} at {path} (make one first: `{command}`)")
    payload = read_torch_file(path, f"make it again: `{command}`")
    if not isinstance(payload, dict) or payload.get("format") != file_format:
        raise DamagedFileError(f"{path} is not a {what} file ({file_format}) (make one with `{command}`)")
    return payload


def read_torch_file(path: Path, fix: str):
    """torch.load on the CPU; a missing file is a MissingInputError, a damaged one (truncated,
    overwritten, not a torch file) a DamagedFileError, each naming it and `fix`."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"no file {path} ({fix})")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file: UnpicklingError, RuntimeError, EOFError
        what = "empty" if path.stat().st_size == 0 else "truncated, overwritten or not a torch file"
        raise DamagedFileError(f"{path} is damaged and cannot be read ({what}) ({fix})") from err
