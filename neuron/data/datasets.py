"""The datasets the project knows: class names, layout, benchmarks, and where they are prepared.

A dataset is named ("ntu60", "ntu120", "pku", "utd", "synthetic") or given as the path of a
prepared directory (e.g. a custom dataset written by `neuron prepare custom`).
"""

from dataclasses import dataclass
from pathlib import Path

from neuron import paths
from neuron.data.classnames import NTU60_CLASSES, NTU120_CLASSES, PKU51_CLASSES, UTD27_CLASSES
from neuron.data.store import read_meta
from neuron.errors import MissingInputError


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    num_classes: int
    layout: str  # a neuron.data.layouts name
    benchmarks: tuple[str, ...]  # manifest columns holding "train"/"test"
    default_benchmark: str | None  # None for a custom dataset without benchmarks
    class_names: tuple[str, ...]
    prepare_hint: str  # the command that prepares it into data/<name>


_REAL = {
    "ntu60": DatasetInfo("ntu60", 60, "ntu25", ("xsub", "xview"), "xsub", NTU60_CLASSES,
                         "neuron prepare ntu60 --raw <folder of NTU RGB+D .skeleton files>"),
    "ntu120": DatasetInfo("ntu120", 120, "ntu25", ("xsub", "xset"), "xsub", NTU120_CLASSES,
                          "neuron prepare ntu120 --raw <folder of NTU RGB+D 120 .skeleton files>"),
    "pku": DatasetInfo("pku", 51, "ntu25", ("xsub", "xview"), "xsub", PKU51_CLASSES,
                       "neuron prepare pku --raw <PKU-MMD phase I root>"),
    "utd": DatasetInfo("utd", 27, "kinect20", ("xsub",), "xsub", UTD27_CLASSES,
                       "neuron prepare utd --raw <folder of UTD-MHAD *_skeleton.mat files>"),
}

DATASETS = (*_REAL, "synthetic")


def _synthetic_info() -> DatasetInfo:
    # Imported here so that the real datasets do not depend on the generator module.
    from neuron.data.synthetic import BENCHMARKS, CLASS_NAMES, LAYOUT
    return DatasetInfo("synthetic", len(CLASS_NAMES), LAYOUT, tuple(BENCHMARKS), BENCHMARKS[0],
                       tuple(CLASS_NAMES), "neuron prepare synthetic")


def _custom_info(path: Path) -> DatasetInfo:
    meta = read_meta(path)
    benchmarks = tuple(meta["benchmarks"])
    return DatasetInfo(meta["name"], len(meta["class_names"]), meta["layout"], benchmarks,
                       benchmarks[0] if benchmarks else None, tuple(meta["class_names"]),
                       f"neuron prepare custom --raw <.npz file> --out {path}")


def dataset_info(name) -> DatasetInfo:
    """Facts about dataset `name`, or about the prepared dataset directory `name`."""
    if name in _REAL:
        return _REAL[name]
    if name == "synthetic":
        return _synthetic_info()
    return _custom_info(_custom_dir(name))


def order_twins(name) -> dict[int, int]:
    """Classes that differ from another class only in the order of their phases: label -> the
    twin's label (the synthetic sequences; no other dataset declares any)."""
    if name != "synthetic":
        return {}
    from neuron.data.synthetic import ORDER_TWINS
    return dict(ORDER_TWINS)


def class_names(name) -> list[str]:
    """Class names of `name` in label order (label i -> class_names(name)[i])."""
    return list(dataset_info(name).class_names)


def _custom_dir(name) -> Path:
    path = Path(name)
    if not (path / "meta.json").is_file():
        raise MissingInputError(f"{name!r} is neither a known dataset ({', '.join(DATASETS)}) nor a "
                                f"prepared dataset directory (no {path / 'meta.json'})")
    return path


def dataset_dir(name, data_dir=None, prepare: bool = True) -> Path:
    """The prepared directory of dataset `name` (data_dir/<name>, data_dir defaulting to
    neuron.paths.DATA_DIR), or `name` itself when it is a prepared directory.

    With `prepare`, the synthetic dataset is generated and UTD-MHAD converted from the shared
    sample data when absent; other datasets need their raw data and `neuron prepare`.
    """
    if name not in DATASETS:
        return _custom_dir(name)
    path = Path(paths.DATA_DIR if data_dir is None else data_dir) / name
    if prepare and name == "synthetic":
        # Generated, so never stale: a copy from another generator version is made again.
        from neuron.data.synthetic import prepare_synthetic
        return prepare_synthetic(path, overwrite="outdated")
    if (path / "meta.json").is_file():
        return path
    hint = f"{dataset_info(name).prepare_hint} --out {path}"
    if prepare and name == "utd":
        raw = paths.shared_data_dir() / "utd_mhad"
        if any(raw.glob("*_skeleton.mat")):
            from neuron.data.utd import prepare_utd
            prepare_utd(raw, path)
            return path
        raise MissingInputError(f"UTD-MHAD is not prepared in {path} and no raw files are in {raw}; "
                                f"download the skeleton part and run `{hint}`")
    raise MissingInputError(f"{name} is not prepared in {path} (no meta.json); run `{hint}`")
