"""NTU RGB+D 60 / 120: from the raw `.skeleton` files to a prepared dataset (format: store.py).

Preprocessing follows the CTR-GCN lineage (its `data/ntu/get_raw_skes_data.py`,
`get_raw_denoised_data.py` and `seq_transformation.py`, from SGN/View-Adaptive):

1. Frames without any body are dropped; each bodyID is one body over the frames it is seen in.
2. Denoising, only when a file holds more than one body:
   - length: a body seen in at most 11 frames is noise;
   - spread: a frame of a body is noisy when its joints spread wider in x than 0.8 times their
     spread in y; a body with at least 69.754% noisy frames is noise (never the last body
     left), otherwise its motion is re-measured on its clean frames (kept if smaller);
   - motion: the bodies left are ranked by motion, the sum over x, y, z of the variance of all
     its joint positions. The lineage also defines motion bounds (0.089925, 2) but its
     released pipeline does not apply them, so neither do we: the data matches what its
     models were trained on.
3. Actors: the body with the largest motion is actor 1; each other body, by decreasing
   motion, joins actor 1 when its frame interval does not overlap actor 1's (the actor's
   interval grows), else actor 2 under the same rule, else is dropped. Actor 2's interval
   starts as the lineage's virtual [0, 0].
4. Frames where neither actor has data are removed.
5. Translation: actor 1's middle of the spine (joint index 1) in the first frame where actor 1
   is present becomes the origin; frames where an actor is absent stay zero.
6. Zero-padding to 300 frames; the manifest keeps the real frame count.

Two deliberate differences from the lineage's code, both for correctness: a body's frames are
its real frame indices (the lineage numbers them consecutively from the first, which shifts a
body that disappears and comes back), and step 4 also applies to single-body files.
"""

import csv
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from neuron.atomic import atomic_path
from neuron.data.classnames import NTU60_CLASSES, NTU120_CLASSES
from neuron.data.layouts import NTU25
from neuron.data.ntu_raw import NTUFormatError, RawSkeleton, read_skeleton
from neuron.data.parallel import parallel_map
from neuron.data.store import DatasetWriter, check_origin
from neuron.errors import ExistingOutputError, MissingInputError, UserError

MAX_FRAMES = 300
MAX_ACTORS = 2
NOISE_LENGTH = 11  # a body seen in at most this many frames is noise
NOISE_SPREAD_RATIO = 0.8  # a frame is noisy when x spread > 0.8 * y spread
NOISE_SPREAD_SHARE = 0.69754  # a body with at least this share of noisy frames is noise

NTU60_XSUB_TRAIN = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
NTU120_XSUB_TRAIN = NTU60_XSUB_TRAIN + (
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86,
    89, 91, 92, 93, 94, 95, 97, 98, 100, 103)
NTU60_XVIEW_TRAIN_CAMERAS = (2, 3)

SAMPLE_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
MISSING_LIST_GLOB = "*samples_with_missing_skeletons*.txt"  # as the ROSE Lab names them
SKIPPED_FILE = "skipped.csv"


@dataclass(frozen=True)
class NTUVariant:
    name: str
    max_setup: int
    max_action: int
    class_names: tuple[str, ...]
    benchmarks: tuple[str, ...]


DATASETS = {
    "ntu60": NTUVariant("ntu60", 17, 60, tuple(NTU60_CLASSES), ("xsub", "xview")),
    "ntu120": NTUVariant("ntu120", 32, 120, tuple(NTU120_CLASSES), ("xsub", "xset")),
}


# --------------------------------------------------------------------------------------------
# Sample names and benchmarks

def parse_sample_name(name: str) -> dict[str, int]:
    """'S001C002P003R002A013' -> setup, camera, subject, replication, action (all 1-based)."""
    match = SAMPLE_NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"{name!r} is not an NTU RGB+D sample name (SsssCcccPpppRrrrAaaa)")
    return dict(zip(("setup", "camera", "subject", "replication", "action"), map(int, match.groups())))


def benchmark_parts(dataset: str, ids: dict[str, int]) -> dict[str, str]:
    """'train' or 'test' of a sample (ids from parse_sample_name) in each benchmark of `dataset`."""
    part = {True: "train", False: "test"}
    if dataset == "ntu60":
        return {"xsub": part[ids["subject"] in NTU60_XSUB_TRAIN],
                "xview": part[ids["camera"] in NTU60_XVIEW_TRAIN_CAMERAS]}
    if dataset == "ntu120":
        return {"xsub": part[ids["subject"] in NTU120_XSUB_TRAIN],
                "xset": part[ids["setup"] % 2 == 0]}
    raise ValueError(f"unknown NTU dataset {dataset!r}; expected one of {sorted(DATASETS)}")


# --------------------------------------------------------------------------------------------
# Preprocessing of one sample

class UnusableSample(ValueError):
    """A well-formed file from which preprocessing cannot make a sample (e.g. no body left)."""


@dataclass(frozen=True, eq=False)
class Body:
    """One tracked body (one bodyID) over the frames where it is seen."""

    id: int
    frames: np.ndarray  # (n,) int64, increasing: indices among the frames that hold any body
    xyz: np.ndarray  # (n, 25, 3) float32
    motion: float  # sum over x, y, z of the variance of all joint positions


@dataclass(frozen=True, eq=False)
class Sample:
    x: np.ndarray  # (3, T, 25, 2) float32, T <= MAX_FRAMES: xyz, frames, joints, actors
    actor_ids: tuple[tuple[int, ...], ...]  # bodyIDs placed in each actor slot
    notes: tuple[str, ...]  # what denoising dropped, and why

    @property
    def frames(self) -> int:
        return self.x.shape[1]


def split_bodies(skeleton: RawSkeleton) -> tuple[list[Body], int]:
    """The bodies of a file in order of first appearance, and the number of frames with a body.

    Frames without any body are dropped (step 1): body frame indices count only the rest.
    """
    kept_frames, frame = np.unique(skeleton.frame, return_inverse=True)
    ids, first_seen = np.unique(skeleton.body_id, return_index=True)
    bodies = []
    for body_id in ids[np.argsort(first_seen, kind="stable")]:
        records = np.flatnonzero(skeleton.body_id == body_id)
        xyz = skeleton.xyz[records]
        bodies.append(Body(int(body_id), frame[records], xyz, _motion(xyz)))
    return bodies, len(kept_frames)


def _motion(xyz: np.ndarray) -> float:
    return float(np.var(xyz.reshape(-1, 3).astype(np.float64), axis=0).sum())


def denoise(bodies: list[Body]) -> tuple[list[Body], list[str]]:
    """Step 2: the bodies kept, ranked by decreasing motion, and a note per body dropped."""
    if len(bodies) <= 1:
        return bodies, []
    notes = [f"body {b.id}: dropped, seen in {len(b.frames)} <= {NOISE_LENGTH} frames"
             for b in bodies if len(b.frames) <= NOISE_LENGTH]
    kept = [b for b in bodies if len(b.frames) > NOISE_LENGTH]
    if len(kept) > 1:
        kept, spread_notes = _denoise_by_spread(kept)
        notes += spread_notes
    return sorted(kept, key=lambda b: b.motion, reverse=True), notes


def _denoise_by_spread(bodies: list[Body]) -> tuple[list[Body], list[str]]:
    kept, notes = dict(enumerate(bodies)), []  # position -> body, in order of appearance
    for i, body in enumerate(bodies):
        if len(kept) == 1:
            break
        extent = (body.xyz.max(axis=1) - body.xyz.min(axis=1)).astype(np.float64)  # (n, 3)
        noisy = int(np.count_nonzero(extent[:, 0] > NOISE_SPREAD_RATIO * extent[:, 1]))
        if noisy == 0:
            continue
        share = noisy / len(body.frames)
        if share >= NOISE_SPREAD_SHARE:
            del kept[i]
            notes.append(f"body {body.id}: dropped, {share:.0%} of its frames spread wider in x "
                         f"than {NOISE_SPREAD_RATIO} times y")
        else:
            clean = extent[:, 0] <= NOISE_SPREAD_RATIO * extent[:, 1]
            kept[i] = replace(body, motion=min(body.motion, _motion(body.xyz[clean])))
    return list(kept.values()), notes


def place_actors(bodies: list[Body], num_frames: int) -> tuple[np.ndarray, tuple[tuple[int, ...], ...]]:
    """Step 3: (num_frames, 2, 25, 3) positions of the two actors (zero where absent), and
    the bodyIDs placed in each actor slot. `bodies` is ranked by decreasing motion."""
    x = np.zeros((num_frames, MAX_ACTORS, NTU25.num_joints, 3), np.float32)
    intervals = [None, [0, 0]]  # actor 2 starts with the lineage's virtual interval [0, 0]
    placed = ([], [])
    for body in bodies:
        start, end = int(body.frames[0]), int(body.frames[-1])
        for actor, interval in enumerate(intervals):
            # Intervals sharing a single frame count as disjoint, as in the lineage.
            if interval is None or min(interval[1], end) - max(interval[0], start) <= 0:
                x[body.frames, actor] = body.xyz
                intervals[actor] = [start, end] if interval is None else \
                    [min(start, interval[0]), max(end, interval[1])]
                placed[actor].append(body.id)
                break
    return x, tuple(tuple(ids) for ids in placed)


def preprocess(skeleton: RawSkeleton, max_frames: int = MAX_FRAMES) -> Sample:
    """Steps 1-5 on one parsed file; raises UnusableSample when nothing usable is left."""
    bodies, num_frames = split_bodies(skeleton)
    if not bodies:
        raise UnusableSample("no body in any frame")
    bodies, notes = denoise(bodies)
    if not bodies:
        raise UnusableSample(f"no body survives denoising: {'; '.join(notes)}")
    x, actor_ids = place_actors(bodies, num_frames)
    present = np.any(x != 0, axis=(2, 3))  # (T, 2): actor has data in this frame
    x, present = x[present.any(axis=1)], present[present.any(axis=1)]
    if not present[:, 0].any():
        raise UnusableSample("actor 1 has only zero joint positions")
    origin = x[np.argmax(present[:, 0]), 0, NTU25.center].copy()
    x[present] -= origin
    if len(x) > max_frames:
        raise UnusableSample(f"{len(x)} frames after denoising, more than {max_frames}")
    return Sample(np.ascontiguousarray(x.transpose(3, 0, 2, 1)), actor_ids, tuple(notes))


def pad_frames(x: np.ndarray, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """(3, T, V, M) -> (3, max_frames, V, M), zero after frame T."""
    out = np.zeros((x.shape[0], max_frames, *x.shape[2:]), x.dtype)
    out[:, :x.shape[1]] = x
    return out


# --------------------------------------------------------------------------------------------
# The whole dataset

def prepare_ntu(dataset: str, raw_dir, out_dir, *, workers: int | None = None, missing_file=None,
                shard_size: int = 1000, overwrite: bool = False) -> Path:
    """Prepare NTU RGB+D 60 ("ntu60") or 120 ("ntu120") from a directory of `.skeleton` files.

    raw_dir: the unpacked skeleton archives (searched recursively; an NTU 120 directory also
    serves NTU 60, which takes setups S001-S017, actions A001-A060). out_dir: the prepared
    dataset; a rerun resumes after the last complete shard. workers: parsing processes
    (default: all cores; 1 = in this process). missing_file: the ROSE Lab's list of samples
    with missing skeletons (one name per line); None looks for it in raw_dir. Listed samples
    are skipped silently; malformed or unusable files are reported and skipped, and every
    skipped file is listed at the end and in `skipped.csv` in out_dir. overwrite: rebuild an
    out_dir prepared as another dataset or from other raw data (refused otherwise). Returns out_dir.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown NTU dataset {dataset!r}; expected one of {sorted(DATASETS)}")
    variant = DATASETS[dataset]
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        problem = "is a file, not a directory" if raw_dir.exists() else "does not exist"
        raise MissingInputError(f"raw NTU directory {raw_dir} {problem} (give --raw the folder of the "
                                f"unpacked .skeleton files)")
    if not overwrite:
        check_origin(out_dir, dataset, raw_dir.resolve())
    files, skipped = find_sample_files(raw_dir, variant)
    if not files:
        raise MissingInputError(f"no {dataset} .skeleton files in {raw_dir} (give --raw the folder of the "
                                f"unpacked .skeleton files, named like S001C001P001R001A001.skeleton)")
    missing_lists = [Path(missing_file)] if missing_file is not None else \
        sorted(raw_dir.rglob(MISSING_LIST_GLOB))
    if not missing_lists:
        print(f"{dataset}: no list of samples with missing skeletons ({MISSING_LIST_GLOB}) in "
              f"{raw_dir}; such samples will be reported as skipped", file=sys.stderr)
    missing = set().union(*(read_missing_list(f) for f in missing_lists))

    writer = DatasetWriter(out_dir, name=dataset, layout=NTU25.name, class_names=variant.class_names,
                           benchmarks=variant.benchmarks, origin=raw_dir.resolve(), overwrite=overwrite)
    foreign = writer.done_names - {f.stem for f in files}
    if foreign:
        raise ExistingOutputError(f"{out_dir} already holds samples that are not {dataset} samples of {raw_dir} "
                                  f"(e.g. {sorted(foreign)[0]}) (choose another --out, or pass --overwrite to "
                                  f"rebuild it)")
    todo = [f for f in files if f.stem not in writer.done_names and f.stem not in missing]
    batch, rows = [], []
    with tqdm(total=len(files), initial=len(files) - len(todo), desc=f"prepare {dataset}",
              unit="file") as bar:
        for path, result in zip(todo, parallel_map(prepare_file, todo, workers=workers)):
            bar.update()
            if isinstance(result, str):
                skipped.append((path, result))
                tqdm.write(f"skipped {result}", file=sys.stderr)
                continue
            batch.append(pad_frames(result.x))
            rows.append(_manifest_row(dataset, path.stem, result))
            if len(rows) == shard_size:
                writer.add_shard(np.stack(batch), rows)
                batch, rows = [], []
    if rows:
        writer.add_shard(np.stack(batch), rows)

    num_missing = sum(f.stem in missing for f in files)
    writer.meta["source"] = {
        "raw_dir": str(raw_dir), "missing_skeleton_lists": [str(f) for f in missing_lists],
        "skipped_missing_skeletons": num_missing, "skipped_unusable": len(skipped),
        "skipped_list": SKIPPED_FILE, "preprocessing": "CTR-GCN lineage denoising (neuron.data.ntu)"}
    out = writer.finish()  # a UserError when every file was skipped
    _write_skipped(writer.out_dir / SKIPPED_FILE, skipped)
    print(f"{dataset}: {len(writer.done_names)} samples in {out}; skipped {num_missing} listed as "
          f"missing skeletons and {len(skipped)} unusable files", file=sys.stderr)
    for _path, reason in skipped:
        print(f"  skipped {reason}", file=sys.stderr)
    return out


def prepare_file(path: Path):
    """Parse and preprocess one file (run in a worker): a Sample, or the reason it is skipped."""
    try:
        return preprocess(read_skeleton(path))
    except NTUFormatError as error:
        return str(error)
    except UnusableSample as error:
        return f"{path}: {error}"


def find_sample_files(raw_dir: Path, variant: NTUVariant) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The variant's `.skeleton` files under raw_dir, sorted by name, and the files that look
    like samples but are not one (with the reason)."""
    files, strays, seen = [], [], {}
    for path in sorted(raw_dir.rglob("*.skeleton"), key=lambda p: (p.stem, str(p))):
        if path.stem in seen:
            raise UserError(f"sample {path.stem} appears twice: {seen[path.stem]} and {path} (keep one)")
        seen[path.stem] = path
        try:
            ids = parse_sample_name(path.stem)
        except ValueError as error:
            strays.append((path, f"{path}: {error}"))
            continue
        if ids["setup"] <= variant.max_setup and ids["action"] <= variant.max_action:
            files.append(path)
    return files, strays


def read_missing_list(path) -> set[str]:
    """Sample names listed in a missing-skeleton file (one per line; other lines ignored)."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").split()
    names = {line for line in lines if SAMPLE_NAME.fullmatch(line)}
    if not names:
        raise UserError(f"{path} lists no NTU sample names (expected lines like S001C002P005R002A008; "
                        "check --missing)")
    return names


def _manifest_row(dataset: str, name: str, sample: Sample) -> dict:
    ids = parse_sample_name(name)
    return {"name": name, "label": ids["action"] - 1, "frames": sample.frames,
            **{k: ids[k] for k in ("setup", "camera", "subject", "replication")},
            "actors": sum(bool(a) for a in sample.actor_ids), **benchmark_parts(dataset, ids)}


def _write_skipped(path: Path, skipped: list[tuple[Path, str]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["name", "reason"])
        out.writerows((p.stem, reason) for p, reason in sorted(skipped))
