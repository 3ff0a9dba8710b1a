"""The prepared-dataset format every loader writes and every consumer reads.

A prepared dataset is a directory:

    meta.json              name, joint layout, class names, array shape, benchmarks
    manifest.csv           one row per sample: name, label (0-based), frames, shard, and
                           metadata columns (subject, camera, setup, ...); one column per
                           benchmark (e.g. `xsub`, `xview`) holding "train" or "test"
    skeletons-00000.npz    compressed float32 array `x` of shape (n, 3, T, V, M): xyz,
    skeletons-00001.npz    frames (zero-padded to T), joints, persons; rows in manifest order

Shards are written atomically as they are produced, each carrying its own manifest rows, so
an interrupted preparation resumes from the last complete shard (see `DatasetWriter`).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from neuron.atomic import atomic_path, write_json
from neuron.data.layouts import Layout, get_layout
from neuron.errors import DamagedFileError, ExistingOutputError, MissingInputError, UserError

FORMAT = "neuron-skeletons"
VERSION = 1
SHARD_GLOB = "skeletons-*.npz"
# What an unfinished preparation is made of (dataset, raw data); meta.json's "origin" once finished.
ORIGIN_FILE = ".origin.json"


@dataclass
class SkeletonSet:
    """Samples of one prepared dataset, in memory."""

    x: np.ndarray  # (N, 3, T, V, M) float32, zero-padded after `frames`
    manifest: pd.DataFrame  # N rows: name, label, frames, ...
    class_names: list[str]
    layout: Layout
    name: str

    @property
    def labels(self) -> np.ndarray:
        return self.manifest["label"].to_numpy(dtype=np.int64)

    @property
    def frames(self) -> np.ndarray:
        return self.manifest["frames"].to_numpy(dtype=np.int64)

    def __len__(self) -> int:
        return len(self.manifest)

    def subset(self, rows) -> "SkeletonSet":
        rows = np.asarray(rows)
        return SkeletonSet(self.x[rows], self.manifest.iloc[rows].reset_index(drop=True),
                           self.class_names, self.layout, self.name)


def _shard_name(index: int) -> str:
    return f"skeletons-{index:05d}.npz"


class DatasetWriter:
    """Writes a prepared dataset shard by shard; reopening the same directory resumes.

    >>> w = DatasetWriter(out, name="ntu60", layout="ntu25", class_names=names,
    ...                   benchmarks=["xsub", "xview"])
    >>> todo = [f for f in files if stem(f) not in w.done_names]
    >>> w.add_shard(x, rows)        # x: (n, 3, T, V, M); rows: n dicts with name, label, frames
    >>> w.finish()                   # writes manifest.csv and meta.json

    origin: the raw data (a path or a description of the generator). A directory prepared, or
    being prepared, as another dataset or from other raw data is refused, naming both, unless
    `overwrite`: then its dataset files are removed when the first new shard is written, so a
    rebuild that finds no usable sample leaves the old dataset intact.
    """

    def __init__(self, out_dir, *, name: str, layout: str, class_names, benchmarks=(), source=None,
                 origin=None, overwrite: bool = False):
        self.out_dir = Path(out_dir)
        self._new_dir = not self.out_dir.exists()  # made by this preparation: removed if it stays empty
        get_layout(layout)  # fail early on a bad layout name
        self.origin = {"dataset": name, "raw": str(origin) if origin is not None else None}
        self.meta = {"format": FORMAT, "version": VERSION, "name": name, "layout": layout,
                     "class_names": list(class_names), "benchmarks": list(benchmarks),
                     "source": source or {}, "origin": self.origin}
        existing = self.out_dir.glob(SHARD_GLOB) if self.out_dir.is_dir() else []
        self.shards = sorted(existing)
        self._replaced = []  # files of the dataset an overwrite replaces, removed before the first new shard
        if overwrite:
            self._replaced, self.shards = _dataset_files(self.out_dir), []
        else:
            check_origin(self.out_dir, name, origin)
        self.done_names = set()
        for shard in self.shards:
            self.done_names.update(r["name"] for r in _read_shard_rows(shard))

    def add_shard(self, x: np.ndarray, rows: list[dict]) -> None:
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"shard array must be (n, 3, T, V, M), got {x.shape}")
        if len(rows) != len(x):
            raise ValueError(f"{len(x)} samples but {len(rows)} manifest rows")
        for key in ("name", "label", "frames"):
            missing = [i for i, r in enumerate(rows) if key not in r]
            if missing:
                raise ValueError(f"manifest rows {missing[:5]} lack the field {key!r}")
        self._remove_replaced()
        if not (self.out_dir / ORIGIN_FILE).exists() and not (self.out_dir / "meta.json").exists():
            write_json(self.out_dir / ORIGIN_FILE, self.origin)  # before the first shard: what it is made of
        path = self.out_dir / _shard_name(len(self.shards))
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, x=np.ascontiguousarray(x, dtype=np.float32),
                                rows=np.array(json.dumps(rows)))
        self.shards.append(path)
        self.done_names.update(r["name"] for r in rows)

    def _remove_replaced(self) -> None:
        """Overwrite: the old dataset goes once the new one has a first sample; meta.json first, so
        an interruption here leaves an unfinished preparation (resumable), never a mixed dataset."""
        if not self._replaced:
            return
        for path in sorted(self._replaced, key=lambda p: p.name != "meta.json"):
            path.unlink(missing_ok=True)
        self._replaced = []

    def finish(self) -> Path:
        """Write manifest.csv and meta.json; a UserError when no sample was added (nothing written)."""
        if not self.shards:
            self.discard()
            raw = f" in {self.origin['raw']}" if self.origin["raw"] else ""
            raise UserError(f"no usable {self.origin['dataset']} sample{raw}: every file was skipped, for the "
                            f"reasons listed above (check --raw; nothing was written to {self.out_dir})")
        rows, shapes = [], set()
        for i, shard in enumerate(self.shards):
            with np.load(shard) as z:
                shapes.add(z["x"].shape[1:])
                shard_rows = json.loads(str(z["rows"]))
            rows += [{**r, "shard": i} for r in shard_rows]
        if len(shapes) > 1:
            raise ValueError(f"shards in {self.out_dir} disagree on (3, T, V, M): {sorted(shapes)}")
        manifest = pd.DataFrame(rows)
        with atomic_path(self.out_dir / "manifest.csv") as tmp:
            manifest.to_csv(tmp, index=False)
        (shape,) = shapes or {(3, 0, 0, 0)}
        write_json(self.out_dir / "meta.json", {
            **self.meta, "num_samples": len(manifest), "max_frames": shape[1],
            "num_joints": shape[2], "num_persons": shape[3],
            "shards": [s.name for s in self.shards]})
        (self.out_dir / ORIGIN_FILE).unlink(missing_ok=True)
        return self.out_dir

    def discard(self) -> None:
        """Undo what a preparation without any sample wrote: its list of skipped files (unless it
        belongs to a dataset being overwritten), and the folder it made, if left empty."""
        if self.shards:
            return
        if not (self.out_dir / "meta.json").exists():
            (self.out_dir / "skipped.csv").unlink(missing_ok=True)
        if self._new_dir and self.out_dir.is_dir() and not any(self.out_dir.iterdir()):
            self.out_dir.rmdir()


def check_origin(out_dir, dataset: str, origin=None) -> None:
    """Refuse (ExistingOutputError naming both) an out_dir prepared, or partly prepared, as another
    dataset or from other raw data than `origin`; preparers call it before any slow work."""
    out_dir = Path(out_dir)
    wanted = {"dataset": dataset, "raw": str(origin) if origin is not None else None}
    found = prepared_origin(out_dir)
    if found is None or all(found.get(k) in (None, wanted[k]) for k in wanted):
        return

    def describe(o):
        return f"{o['dataset']}" + (f" from {o['raw']}" if o.get("raw") else "")
    state = "prepared" if (out_dir / "meta.json").exists() else "partly prepared"
    raise ExistingOutputError(f"{out_dir} is {state} as {describe(found)}, not {describe(wanted)} (choose another "
                              f"--out, or pass --overwrite to rebuild it)")


def prepared_origin(path) -> dict | None:
    """{"dataset", "raw"} that the prepared (or partly prepared) directory `path` is made of; None
    when it holds no preparation. "raw" is None for datasets prepared before it was recorded."""
    path = Path(path)
    for name in ("meta.json", ORIGIN_FILE):
        file = path / name
        if file.is_file():
            try:
                found = json.loads(file.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as err:
                raise DamagedFileError(f"{file} is damaged ({err}) (pass --overwrite to rebuild {path})") from None
            if name == ORIGIN_FILE:
                return found
            return found.get("origin") or {"dataset": found.get("name"), "raw": None}
    return None


def _dataset_files(path: Path) -> list[Path]:
    """The files a preparation writes into `path` (what --overwrite replaces; other files stay)."""
    if not path.is_dir():
        return []
    names = ("meta.json", "manifest.csv", "skipped.csv", ORIGIN_FILE)
    return [p for p in path.iterdir() if p.name in names or p.match(SHARD_GLOB)]


def _read_shard(shard: Path) -> np.ndarray:
    """The array `x` of a shard; a missing or damaged shard is a DamagedFileError naming it."""
    try:
        with np.load(shard) as z:
            return z["x"]
    except Exception as err:  # numpy and zipfile raise many types for a truncated or foreign file
        raise DamagedFileError(f"{shard} is missing or damaged ({type(err).__name__}) (prepare the dataset "
                               f"again with `neuron prepare ... --overwrite`)") from err


def _read_shard_rows(shard: Path) -> list[dict]:
    with np.load(shard) as z:
        return json.loads(str(z["rows"]))


def write_dataset(out_dir, x, manifest_rows, *, name, layout, class_names, benchmarks=(),
                  source=None, shard_size=4096, origin=None, overwrite: bool = False) -> Path:
    """Write a whole in-memory dataset (small datasets: UTD-MHAD, synthetic, custom); origin and
    overwrite as DatasetWriter's."""
    writer = DatasetWriter(out_dir, name=name, layout=layout, class_names=class_names,
                           benchmarks=benchmarks, source=source, origin=origin, overwrite=overwrite)
    if writer.shards:
        raise ExistingOutputError(f"{out_dir} already holds a prepared {name} dataset (use it as it is, or pass "
                                  f"--overwrite to rebuild it)")
    for start in range(0, len(x), shard_size):
        writer.add_shard(x[start:start + shard_size], manifest_rows[start:start + shard_size])
    return writer.finish()


def read_meta(path) -> dict:
    path = Path(path)
    meta_file = path / "meta.json"
    if not meta_file.exists():
        raise MissingInputError(
            f"{path} is not a prepared dataset (no meta.json); prepare it with `neuron prepare ...`")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise DamagedFileError(f"{meta_file} is damaged ({err}) (prepare the dataset again with "
                               f"`neuron prepare ... --overwrite`)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DamagedFileError(f"{meta_file}: not a {FORMAT} dataset (format="
                               f"{meta.get('format') if isinstance(meta, dict) else None!r}; prepare it with "
                               f"`neuron prepare ...`)")
    return meta


def read_manifest(path) -> pd.DataFrame:
    file = Path(path) / "manifest.csv"
    try:
        return pd.read_csv(file, keep_default_na=False)
    except FileNotFoundError:
        raise MissingInputError(f"{file} is missing (prepare the dataset again with `neuron prepare ... "
                                "--overwrite`)") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DamagedFileError(f"{file} is damaged ({err}) (prepare the dataset again with "
                               "`neuron prepare ... --overwrite`)") from None


def select_rows(manifest: pd.DataFrame, *, benchmark=None, part=None, classes=None) -> np.ndarray:
    """Row indices of the samples in `part` ("train"/"test") of `benchmark`, with labels in `classes`."""
    keep = np.ones(len(manifest), dtype=bool)
    if benchmark is not None:
        if benchmark not in manifest.columns:
            benchmarks = [c for c in manifest.columns if set(manifest[c]) <= {"train", "test"}]
            raise UserError(f"unknown benchmark {benchmark!r} (this dataset has: {', '.join(benchmarks) or 'none'})")
        if part is not None:
            keep &= (manifest[benchmark] == part).to_numpy()
    elif part is not None:
        raise ValueError("a part (train/test) needs a benchmark")
    if classes is not None:
        keep &= manifest["label"].isin(list(classes)).to_numpy()
    return np.flatnonzero(keep)


def load_dataset(path, rows=None) -> SkeletonSet:
    """Load a prepared dataset, or only the manifest rows `rows` (reading only their shards)."""
    path = Path(path)
    meta = read_meta(path)
    manifest = read_manifest(path)
    rows = np.arange(len(manifest)) if rows is None else np.asarray(rows, dtype=np.int64)
    sub = manifest.iloc[rows]
    shard_of_row = sub["shard"].to_numpy()
    # Position of each manifest row inside its shard (rows are stored in manifest order).
    shard_start = manifest.groupby("shard").cumcount().to_numpy()[rows]
    shape = (3, meta["max_frames"], meta["num_joints"], meta["num_persons"])
    x = np.empty((len(rows), *shape), dtype=np.float32)
    for shard in np.unique(shard_of_row):
        here = np.flatnonzero(shard_of_row == shard)
        x[here] = _read_shard(path / meta["shards"][shard])[shard_start[here]]
    return SkeletonSet(x, sub.reset_index(drop=True), meta["class_names"],
                       get_layout(meta["layout"]), meta["name"])
