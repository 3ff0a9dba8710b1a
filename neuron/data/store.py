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

FORMAT = "neuron-skeletons"
VERSION = 1
SHARD_GLOB = "skeletons-*.npz"


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
    """

    def __init__(self, out_dir, *, name: str, layout: str, class_names, benchmarks=(), source=None):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        get_layout(layout)  # fail early on a bad layout name
        self.meta = {"format": FORMAT, "version": VERSION, "name": name, "layout": layout,
                     "class_names": list(class_names), "benchmarks": list(benchmarks),
                     "source": source or {}}
        self.shards = sorted(self.out_dir.glob(SHARD_GLOB))
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
        path = self.out_dir / _shard_name(len(self.shards))
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, x=np.ascontiguousarray(x, dtype=np.float32),
                                rows=np.array(json.dumps(rows)))
        self.shards.append(path)
        self.done_names.update(r["name"] for r in rows)

    def finish(self) -> Path:
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
        return self.out_dir


def _read_shard_rows(shard: Path) -> list[dict]:
    with np.load(shard) as z:
        return json.loads(str(z["rows"]))


def write_dataset(out_dir, x, manifest_rows, *, name, layout, class_names, benchmarks=(),
                  source=None, shard_size=4096) -> Path:
    """Write a whole in-memory dataset (small datasets: UTD-MHAD, synthetic, custom)."""
    writer = DatasetWriter(out_dir, name=name, layout=layout, class_names=class_names,
                           benchmarks=benchmarks, source=source)
    if writer.shards:
        raise FileExistsError(f"{out_dir} already holds a prepared dataset; remove it first")
    for start in range(0, len(x), shard_size):
        writer.add_shard(x[start:start + shard_size], manifest_rows[start:start + shard_size])
    return writer.finish()


def read_meta(path) -> dict:
    path = Path(path)
    meta_file = path / "meta.json"
    if not meta_file.exists():
        raise FileNotFoundError(
            f"{path} is not a prepared dataset (no meta.json); prepare it with `neuron prepare ...`")
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{meta_file}: not a {FORMAT} dataset (format={meta.get('format')!r})")
    return meta


def read_manifest(path) -> pd.DataFrame:
    return pd.read_csv(Path(path) / "manifest.csv", keep_default_na=False)


def select_rows(manifest: pd.DataFrame, *, benchmark=None, part=None, classes=None) -> np.ndarray:
    """Row indices of the samples in `part` ("train"/"test") of `benchmark`, with labels in `classes`."""
    keep = np.ones(len(manifest), dtype=bool)
    if benchmark is not None:
        if benchmark not in manifest.columns:
            raise ValueError(f"unknown benchmark {benchmark!r}; this dataset has: "
                             f"{[c for c in manifest.columns if set(manifest[c]) <= {'train', 'test'}]}")
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
        with np.load(path / meta["shards"][shard]) as z:
            x[here] = z["x"][shard_start[here]]
    return SkeletonSet(x, sub.reset_index(drop=True), meta["class_names"],
                       get_layout(meta["layout"]), meta["name"])
