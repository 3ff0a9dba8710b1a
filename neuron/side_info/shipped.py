"""Where a dataset's side information lives, and reading it.

A registered dataset's descriptions ship in data/side_info/<dataset>/ (tracked in git). A
prepared directory (e.g. your own dataset, data/mine) keeps its own in data/mine/side_info/,
written there by `neuron side-info generate` or `neuron side-info import`, so that training,
evaluation and the notebooks find them with no extra option.
"""

import re
from pathlib import Path

from neuron import paths
from neuron.data.datasets import DATASETS, class_names, dataset_dir, dataset_info

# NTU RGB+D 60's classes are the first 60 of NTU RGB+D 120: one set of records serves both.
_FOLDER = {"ntu60": "ntu120"}
OWN_SIDE_INFO = "side_info"  # a prepared directory's own side information folder


USER_FOLDER = "side_info_user"  # <data dir>/side_info_user: the user's descriptions of registered datasets


def default_descriptions_dir() -> Path:
    """The user's folder of side information when none is named: <data dir>/side_info_user."""
    return paths.DATA_DIR / USER_FOLDER


def side_info_home(dataset) -> tuple[Path, str]:
    """(cache_dir, folder): the records of `dataset` are <cache_dir>/<folder>/NNN_<class>.json."""
    if dataset in DATASETS:
        return paths.SIDE_INFO_DIR, _FOLDER.get(dataset, dataset)
    return dataset_dir(dataset) / OWN_SIDE_INFO, side_info_key(dataset)


def side_info_key(dataset) -> str:
    """The folder name (and the records' `dataset` field) of `dataset`'s side information."""
    if dataset in DATASETS:
        return str(dataset)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset_info(dataset).name).strip("_.-") or "custom"


def side_info_location(dataset, cache_dir=None) -> tuple[Path, str]:
    """(cache_dir, folder) where `dataset`'s records are read: its home, or `cache_dir` when given."""
    return side_info_home(dataset) if cache_dir is None else (Path(cache_dir), side_info_key(dataset))


def side_info_target(dataset, cache_dir=None) -> tuple[Path, str]:
    """(cache_dir, folder) where new records of `dataset` are written: `cache_dir`; else a prepared
    directory's own side_info/ (where training reads); else data/side_info_user, never the
    shipped data/side_info."""
    if cache_dir is None and dataset in DATASETS:
        return default_descriptions_dir(), side_info_key(dataset)
    return side_info_location(dataset, cache_dir)


def shipped_side_info(dataset, cache_dir=None) -> dict[str, dict[str, list[str]]]:
    """{class: {phase: [N_a descriptions]}} for every class of `dataset`, in label order.

    `cache_dir` defaults to the dataset's home (side_info_home); point it at a folder written by
    `neuron side-info generate --cache-dir` to use other descriptions.
    """
    home, folder = side_info_location(dataset, cache_dir)
    if not (home / folder).is_dir():
        raise FileNotFoundError(
            f"no side information for {dataset} in {home / folder}; write it with `neuron side-info generate "
            f"--dataset {dataset} --model ...` or `neuron side-info import --dataset {dataset} --json FILE`"
            + (f" (with --cache-dir {home})" if cache_dir is not None else ""))
    from neuron.side_info.cache import load_side_info
    return load_side_info(home, folder, class_names(dataset))
