"""Your own skeleton data: one .npz file, checked and converted to the store format.

The file holds these arrays (write it with `write_custom_npz`, or with `np.savez`):

    key          dtype    shape            meaning
    x            float    (N, 3, T, V, M)  xyz coordinates of V joints of M persons in T frames;
                                           zero after a sample's last frame and where a person
                                           is absent (float16/32/64, stored as float32); for
                                           coco17: x, y, confidence ((N, 2, T, V, M) without
                                           confidence is accepted: 1 is added where a joint is)
    labels       int      (N,)             class of each sample, 0-based: 0 <= label < K
    class_names  str      (K,)             distinct, non-empty class names, in label order
                                           (the text the zero-shot model matches against)
    layout       str      ()               joint order: "ntu25" (V = 25, Kinect v2 as in NTU
                                           RGB+D / PKU-MMD), "kinect20" (V = 20, Kinect v1 as
                                           in UTD-MHAD) or "coco17" (V = 17, 2-D keypoints of a
                                           pose estimator); joint names in neuron/data/layouts.py
    names        str      (N,)  optional   distinct sample names (default sample_000000, ...)
    frames       int      (N,)  optional   valid frames of each sample, 1..T, all zero after
                                           (default: one past its last frame with a non-zero value)
    split        str      (N,)  optional   "train" or "test" per sample: the benchmark `default`
    subjects     int      (N,)  optional   who performed each sample; where no subject is in
                                           both parts of `split`, the strict protocol's
                                           validation fold holds out whole subjects, as the
                                           test part does (neuron/data/folds.py)

Strings are numpy unicode arrays (np.array(["wave", "clap"])), not Python objects: the file
is read with allow_pickle=False. Other keys are refused, so that a misspelt optional key is
not ignored silently. `prepare_custom` translates every sample so that the layout's centre
joint (coco17: the midpoint of the hips) of its first frame is the origin, as the prepared NTU
RGB+D, PKU-MMD and UTD-MHAD data are (`neuron.data.geometry.translate_to_origin`) and as every
model here expects; `center=False` (`neuron prepare custom --no-center`) keeps the coordinates.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuron.atomic import atomic_path
from neuron.data.classnames import normalise_class_name
from neuron.data.datasets import dataset_dir, dataset_info
from neuron.data.geometry import translate_to_origin, with_confidence
from neuron.data.layouts import LAYOUTS, get_layout
from neuron.data.store import load_dataset, write_dataset
from neuron.errors import MissingInputError, UserError

REQUIRED = ("x", "labels", "class_names", "layout")
OPTIONAL = ("names", "frames", "split", "subjects")
SPLIT_PARTS = ("train", "test")


class CustomFormatError(UserError):
    def __init__(self, source, field: str | None, problem: str):
        self.source, self.field = source, field
        super().__init__(f"{source}: " + (f"field {field!r}: " if field else "") + problem)


@dataclass
class CustomData:
    """The validated content of a custom .npz file."""

    x: np.ndarray  # (N, 3, T, V, M) float32
    labels: np.ndarray  # (N,) int64, 0-based
    class_names: list[str]
    layout: str
    names: list[str]
    frames: np.ndarray  # (N,) int64, 1..T
    split: list[str] | None  # "train" / "test" per sample
    subjects: np.ndarray | None = None  # (N,) int64: who performed each sample


def validate_custom(fields: dict, source) -> CustomData:
    """Check the arrays of a custom dataset (`fields`: key -> array); errors name `source`."""

    def fail(field, problem):
        raise CustomFormatError(source, field, problem)

    unknown = sorted(set(fields) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        fail(None, f"unknown keys {unknown}; allowed: {', '.join(REQUIRED + OPTIONAL)}")
    missing = [k for k in REQUIRED if k not in fields]
    if missing:
        fail(None, f"missing required keys {missing}")

    layout = np.asarray(fields["layout"])
    if layout.dtype.kind != "U" or layout.ndim != 0 or str(layout) not in LAYOUTS:
        fail("layout", f"must be one string among {sorted(LAYOUTS)}, got {layout!r}")
    layout = get_layout(str(layout))

    x = np.asarray(fields["x"])
    if not np.issubdtype(x.dtype, np.floating):
        fail("x", f"must be a float array, got dtype {x.dtype}")
    if layout.planar and x.ndim == 5 and x.shape[1] == 2:
        x = with_confidence(x, axis=1)  # (N, 2, T, V, M) -> (N, 3, T, V, M)
    if x.ndim != 5 or x.shape[1] != 3 or min(x.shape) == 0:
        fail("x", f"must be (N, 3, T, V, M) with no empty axis, got shape {x.shape}"
                  + (" (or (N, 2, T, V, M): x, y without confidence)" if layout.planar else ""))
    if x.shape[3] != layout.num_joints:
        fail("x", f"has V = {x.shape[3]} joints but layout {layout.name!r} has {layout.num_joints}")
    with np.errstate(over="ignore"):  # checked as stored: 1e300 is finite in float64, inf in float32
        stored = x.astype(np.float32)
    if not np.isfinite(stored).all():
        bad = np.flatnonzero(~np.isfinite(stored).reshape(len(x), -1).all(axis=1))
        fail("x", f"NaN or infinite values in samples {bad[:10].tolist()} (as float32, the stored type, whose "
                  f"largest value is 3.4e38)")
    num_samples, num_frames = x.shape[0], x.shape[2]

    def strings(field, length=None):
        value = np.asarray(fields[field])
        if value.dtype.kind != "U" or value.ndim != 1:
            fail(field, f"must be a 1-D array of strings, got dtype {value.dtype} and shape {value.shape}")
        if length is not None and len(value) != length:
            fail(field, f"has {len(value)} entries for {length} samples")
        return [str(v) for v in value]

    def integers(field):
        value = np.asarray(fields[field])
        if value.dtype.kind not in "iu":
            fail(field, f"must be an integer array, got dtype {value.dtype}")
        if value.shape != (num_samples,):
            fail(field, f"must have shape ({num_samples},) like x, got {value.shape}")
        return value.astype(np.int64)

    class_names = strings("class_names")
    if not class_names or not all(n.strip() for n in class_names):
        fail("class_names", "must hold at least one class and no empty name")
    # As `neuron predict` looks names up: ignoring case, spaces, "_" and "-".
    normalised = [normalise_class_name(n) for n in class_names]
    if len(set(normalised)) != len(normalised):
        same = [" = ".join(map(repr, dict.fromkeys(n for n in class_names if normalise_class_name(n) == key)))
                for key in _repeated(normalised)]
        fail("class_names", f"repeated names [{', '.join(same)}] (names are compared ignoring case, spaces, "
                            f"'_' and '-', as `neuron predict` looks them up)")

    labels = integers("labels")
    outside = np.flatnonzero((labels < 0) | (labels >= len(class_names)))
    if len(outside):
        fail("labels", f"samples {outside[:10].tolist()} have labels {labels[outside[:10]].tolist()} "
                       f"outside 0..{len(class_names) - 1} (one per class name)")

    if "names" in fields:
        names = strings("names", num_samples)
        if not all(n.strip() for n in names) or len(set(names)) != len(names):
            fail("names", f"must be distinct and non-empty; repeated: {_repeated(names)}")
    else:
        names = [f"sample_{i:06d}" for i in range(num_samples)]

    in_use = np.any(x != 0, axis=(1, 3, 4))  # (N, T): frame has a non-zero value
    if "frames" in fields:
        frames = integers("frames")
        outside = np.flatnonzero((frames < 1) | (frames > num_frames))
        if len(outside):
            fail("frames", f"samples {outside[:10].tolist()} have frame counts outside 1..{num_frames}")
        after = np.flatnonzero((in_use & (np.arange(num_frames) >= frames[:, None])).any(axis=1))
        if len(after):
            fail("frames", f"samples {after[:10].tolist()} have non-zero values after their last frame")
    else:
        empty = np.flatnonzero(~in_use.any(axis=1))
        if len(empty):
            fail("x", f"samples {empty[:10].tolist()} are all zeros")
        frames = num_frames - np.argmax(in_use[:, ::-1], axis=1).astype(np.int64)

    split = None
    if "split" in fields:
        split = strings("split", num_samples)
        wrong = sorted(set(split) - set(SPLIT_PARTS))
        if wrong:
            fail("split", f"values must be 'train' or 'test', found {wrong[:10]}")
    subjects = integers("subjects") if "subjects" in fields else None

    return CustomData(stored, labels, class_names, layout.name, names, frames, split, subjects)


def center_samples(data: CustomData, source) -> np.ndarray:
    """x with every sample translated to its layout's centre joint(s), as the prepared datasets
    are (neuron.data.geometry.translate_to_origin); confidences stay as they are."""
    layout = get_layout(data.layout)
    x = np.empty_like(data.x)
    for i, sample in enumerate(data.x):
        try:
            x[i] = translate_to_origin(sample, layout.center, layout.coordinates)
        except ValueError as err:  # a sample with no joint in any frame
            raise CustomFormatError(source, "x", f"sample {i} ({data.names[i]}): {err}") from None
    return x


def _repeated(values) -> list:
    seen, repeated = set(), []
    for v in values:
        if v in seen and v not in repeated:
            repeated.append(v)
        seen.add(v)
    return repeated[:10]


def load_custom_npz(path) -> CustomData:
    """Read and validate a custom .npz file."""
    path = Path(path)
    if not path.is_file():
        problem = "is a directory" if path.is_dir() else "does not exist"
        raise MissingInputError(f"custom dataset file {path} {problem} (give the .npz file; its format is in "
                                "neuron/data/custom.py)")
    with open(path, "rb") as f:
        start = f.read(6)
    # An .npz is a zip archive; numpy would call anything but a zip or .npy file "pickled data".
    if start[:4] != b"PK\x03\x04" and start != b"\x93NUMPY":
        raise CustomFormatError(path, None, "not an .npz archive (write it with np.savez or "
                                            "neuron.data.custom.write_custom_npz)")
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as err:  # numpy raises several types for a damaged or foreign file
        raise CustomFormatError(path, None, f"not a readable .npz file ({err})") from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise CustomFormatError(path, None, "a single .npy array, expected an .npz archive of named arrays")
    fields = {}
    with archive:
        for key in archive.files:
            try:
                fields[key] = archive[key]
            except ValueError as err:  # object arrays need pickle, which we do not load
                raise CustomFormatError(path, key, f"unreadable without pickle ({err}); store strings "
                                                   "as np.array([...]) of str, not objects") from err
    return validate_custom(fields, path)


def write_custom_npz(path, x, labels, class_names, layout: str, *, names=None, frames=None,
                     split=None, subjects=None) -> Path:
    """Validate the arrays and write them as a custom dataset file (compressed .npz)."""
    path = Path(path)
    given = {"x": x, "labels": labels, "class_names": class_names, "layout": layout,
             "names": names, "frames": frames, "split": split, "subjects": subjects}
    fields = {k: np.asarray(v) for k, v in given.items() if v is not None}
    data = validate_custom(fields, path)
    arrays = {"x": data.x, "labels": data.labels, "class_names": np.array(data.class_names),
              "layout": np.array(data.layout), "names": np.array(data.names), "frames": data.frames}
    if data.split is not None:
        arrays["split"] = np.array(data.split)
    if data.subjects is not None:
        arrays["subjects"] = data.subjects
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def prepare_custom(npz_path, out_dir, *, name: str | None = None, overwrite: bool = False,
                   center: bool = True) -> Path:
    """Prepare a custom .npz dataset into `out_dir` (store format); returns out_dir.

    name: the dataset's name in meta.json (default: the file name without .npz). overwrite:
    rebuild an out_dir prepared as another dataset or from another file (refused otherwise).
    center: translate each sample to its layout's centre (center_samples); False keeps x as given.
    """
    npz_path = Path(npz_path)
    data = load_custom_npz(npz_path)
    x = center_samples(data, npz_path) if center else data.x
    rows = [{"name": n, "label": int(label), "frames": int(f)}
            for n, label, f in zip(data.names, data.labels, data.frames)]
    if data.split is not None:
        for row, part in zip(rows, data.split):
            row["default"] = part
    if data.subjects is not None:
        for row, subject in zip(rows, data.subjects):
            row["subject"] = int(subject)
    return write_dataset(out_dir, x, rows, name=name or npz_path.stem, layout=data.layout,
                         class_names=data.class_names,
                         benchmarks=["default"] if data.split is not None else [],
                         source={"file": str(npz_path), "centered": center}, origin=npz_path.resolve(),
                         overwrite=overwrite)


def export_custom(dataset, npz_path, *, benchmark: str | None = None) -> Path:
    """Write a prepared dataset (a name or a directory) as a custom .npz file: every sample, its
    name, frames, subject (where the dataset records them) and the train/test part of `benchmark`
    (default: the dataset's first) as `split`. Preparing the file again (`prepare_custom`) gives
    the same arrays."""
    info = dataset_info(dataset)
    benchmark = benchmark or info.default_benchmark
    if benchmark is not None and benchmark not in info.benchmarks:
        raise UserError(f"{dataset} has no benchmark {benchmark!r}; its benchmarks: {', '.join(info.benchmarks)}")
    data = load_dataset(dataset_dir(dataset))
    split = list(data.manifest[benchmark]) if benchmark else None
    subjects = data.manifest["subject"].to_numpy() if "subject" in data.manifest.columns else None
    return write_custom_npz(npz_path, data.x, data.labels, data.class_names, data.layout.name,
                            names=list(data.manifest["name"]), frames=data.frames, split=split, subjects=subjects)
