"""PKU-MMD phase I: cut the action clips out of the long recordings, write the store format.

Raw layout, as the dataset's archives unpack (directory names may differ; see `find_raw_dirs`):

    PKUMMD/Data/PKU_Skeleton_Renew/0002-L.txt      one recording (video "0002", view L/M/R)
    PKUMMD/Label/Train_Label_PKU_final/0002-L.txt  its actions, one per line
    PKUMMD/Split/cross-subject.txt                 official benchmark splits
    PKUMMD/Split/cross-view.txt

- Skeleton file: one line per frame of 150 whitespace-separated floats, 2 bodies x 25 joints
  x (x, y, z) in metres, Kinect v2 camera space (the NTU RGB+D joint order, layout `ntu25`).
  A frame with one person has the second body's 75 values at zero.
- Label file: one line per action, `label,start,end,confidence` (integers); label 1..51,
  confidence 1 (slight) or 2 (strong recommendation). Intervals are 0-based and half-open:
  the clip is frames[start:end] (end - start frames), as the dataset's evaluation script
  measures interval overlap and as the common preprocessing cuts clips.
- Split file: a line "Training videos:", a comma-separated list of video ids, a line
  "Validataion videos:" (sic), a list of video ids. Training videos are our "train" part,
  validation videos the "test" part.

Each clip becomes x of shape (3, T, 25, 2): xyz, frames, joints, bodies; a body absent from
a frame is zero there. Like NTU RGB+D preprocessing (CTR-GCN lineage), the clip is translated
so that the middle of the spine (joint index 1) of the first body (index 0), in the first
frame where it appears, is the origin; zero (absent) joints stay zero. A clip without any
body is skipped. Clips are zero-padded to `max_frames` (default 300). A clip longer than that
is subsampled at evenly spaced frames (its first and last frame kept) rather than cropped,
since models read a resampled window of it anyway (64 frames for Neuron): its manifest row
then has frames = max_frames < end - start.

Manifest: name (`0002-L_003`: video and the 0-based line of the label file), label (0-based),
frames, video, view, start, end, confidence, and the benchmark columns `xsub`, `xview`.
Malformed inputs (a line without 150 numbers, an interval outside its recording, ...) are
reported with file and line; the run skips them, goes on, lists them at the end and in
`skipped.csv` beside the dataset. A rerun resumes: recordings already written are not read.
"""

import csv
import io
import os
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from neuron.atomic import atomic_path
from neuron.data.classnames import PKU51_CLASSES
from neuron.data.geometry import translate_to_origin
from neuron.data.layouts import NTU25
from neuron.data.parallel import parallel_map
from neuron.data.store import DatasetWriter
from neuron.errors import ExistingOutputError, MissingInputError, UserError

NUM_BODIES = 2
VALUES_PER_FRAME = NUM_BODIES * NTU25.num_joints * 3  # 150
MAX_FRAMES = 300
SPLIT_FILES = {"xsub": "cross-subject.txt", "xview": "cross-view.txt"}
SKIPPED_FILE = "skipped.csv"
MAX_PRINTED = 50  # skipped items listed on stderr; skipped.csv has them all


@dataclass(frozen=True)
class Problem:
    """An input the preparation skipped: which item (clip or recording), where, and why."""

    video: str
    item: str
    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{self.item}: {where}: {self.reason}"


class MalformedFileError(UserError):
    def __init__(self, path, line: int | None, reason: str):
        self.path, self.line, self.reason = Path(path), line, reason
        super().__init__(f"{path}{'' if line is None else f':{line}'}: {reason}")


@dataclass(frozen=True)
class ActionInterval:
    """One line of a label file: frames [start, end) of the recording show action `label` (1..51)."""

    index: int  # 0-based line of the label file
    label: int
    start: int
    end: int
    confidence: int


# ----------------------------------------------------------------------------- raw files

def read_skeleton_file(path) -> np.ndarray:
    """A whole recording as float32 (3, T, 25, 2): xyz, frames, joints, bodies."""
    path = Path(path)
    data = path.read_bytes().rstrip()
    num_lines = data.count(b"\n") + 1 if data else 0
    try:
        frames = pd.read_csv(io.BytesIO(data), sep=r"\s+", header=None,
                             dtype=np.float64, engine="c").to_numpy()
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        frames = None  # the line-by-line scan below says what is wrong, and where
    # Blank lines would be skipped by the parser and shift every later frame index.
    if (frames is None or frames.shape != (num_lines, VALUES_PER_FRAME)
            or not np.isfinite(frames).all()):
        line, reason = _first_bad_skeleton_line(data)
        raise MalformedFileError(path, line, reason)
    frames = frames.astype(np.float32).reshape(num_lines, NUM_BODIES, NTU25.num_joints, 3)
    return frames.transpose(3, 0, 2, 1)


def _first_bad_skeleton_line(data: bytes) -> tuple[int | None, str]:
    if not data:
        return None, "empty file (no frames)"
    for number, line in enumerate(data.decode("utf-8", errors="replace").split("\n"), 1):
        fields = line.split()
        if not fields:
            return number, "empty line (every line must be one frame)"
        if len(fields) != VALUES_PER_FRAME:
            return number, (f"{len(fields)} values, expected {VALUES_PER_FRAME} "
                            f"(2 bodies x 25 joints x xyz)")
        for field in fields:
            try:
                value = float(field)
            except ValueError:
                return number, f"non-numeric value {field!r}"
            if not np.isfinite(value):
                return number, f"non-finite value {field!r}"
    return None, "unreadable skeleton data"


def read_label_file(path, video: str) -> tuple[list[ActionInterval], list[Problem]]:
    """The action intervals of a label file, and a Problem for each malformed line."""
    path = Path(path)
    intervals, problems = [], []
    for index, line in enumerate(path.read_text(errors="replace").splitlines()):
        if not line.strip():
            continue
        item = clip_name(video, index)
        fields = [f.strip() for f in line.split(",")]
        try:
            if len(fields) != 4:
                raise ValueError(f"{len(fields)} fields")
            label, start, end, confidence = (int(f) for f in fields)
        except ValueError:
            reason = f"expected 4 integers 'label,start,end,confidence', got {line.strip()!r}"
            problems.append(Problem(video, item, str(path), index + 1, reason))
            continue
        if not 1 <= label <= len(PKU51_CLASSES):
            reason = f"label {label} outside 1..{len(PKU51_CLASSES)}"
        elif not 0 <= start < end:
            reason = f"empty or negative frame interval [{start}, {end})"
        else:
            intervals.append(ActionInterval(index, label, start, end, confidence))
            continue
        problems.append(Problem(video, item, str(path), index + 1, reason))
    return intervals, problems


_SECTION = re.compile(r"^\s*(training|validat\w*)\s+videos\s*:(.*)$", re.IGNORECASE)


def read_split_file(path) -> dict[str, str]:
    """Video id -> "train" (listed under "Training videos:") or "test" ("Validataion videos:")."""
    path = Path(path)
    part_of, part, seen = {}, None, set()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        section = _SECTION.match(line)
        if section:
            part = "train" if section[1].lower() == "training" else "test"
            seen.add(part)
            line = section[2]
        for video in filter(None, (v.strip() for v in re.split(r"[,\s]+", line))):
            if part is None:
                raise MalformedFileError(path, number, f"video id {video!r} before a "
                                         "'Training videos:' or 'Validataion videos:' line")
            if part_of.setdefault(video, part) != part:
                raise MalformedFileError(path, number,
                                         f"video {video} is listed as both training and validation")
    if seen != {"train", "test"}:
        raise MalformedFileError(path, None,
                                 "expected a 'Training videos:' and a 'Validataion videos:' section")
    return part_of


# ----------------------------------------------------------------------------- clips

def clip_name(video: str, index: int) -> str:
    return f"{video}_{index:03d}"


def fit_length(x: np.ndarray, max_frames: int) -> np.ndarray:
    """(3, T, V, M) -> (3, max_frames, V, M): zero-pad a short clip; subsample a longer one at
    evenly spaced frames, keeping its first and last frame."""
    length = x.shape[1]
    if length > max_frames:
        return x[:, np.round(np.linspace(0, length - 1, max_frames)).astype(np.int64)]
    out = np.zeros((x.shape[0], max_frames, *x.shape[2:]), dtype=x.dtype)
    out[:, :length] = x
    return out


@dataclass(frozen=True)
class RecordingTask:
    video: str
    skeleton_file: Path
    label_file: Path
    parts: dict  # benchmark -> "train" / "test"
    max_frames: int


def prepare_recording(task: RecordingTask) -> tuple[np.ndarray, list[dict], list[Problem]]:
    """The clips of one recording: x (n, 3, max_frames, 25, 2), n manifest rows, skipped items."""
    empty_shape = (0, 3, task.max_frames, NTU25.num_joints, NUM_BODIES)
    intervals, problems = read_label_file(task.label_file, task.video)
    try:
        recording = read_skeleton_file(task.skeleton_file)
    except MalformedFileError as err:
        problems.append(Problem(task.video, task.video, str(err.path), err.line, err.reason))
        return np.zeros(empty_shape, np.float32), [], problems
    num_frames = recording.shape[1]
    clips, rows = [], []
    for interval in intervals:
        name = clip_name(task.video, interval.index)
        where = (task.video, name, str(task.label_file), interval.index + 1)
        if interval.end > num_frames:
            reason = (f"interval [{interval.start}, {interval.end}) ends after the recording's "
                      f"{num_frames} frames ({task.skeleton_file.name})")
            problems.append(Problem(*where, reason))
            continue
        try:
            clip = translate_to_origin(recording[:, interval.start:interval.end], NTU25.center)
        except ValueError:
            problems.append(Problem(*where, f"no body in frames [{interval.start}, {interval.end})"))
            continue
        clips.append(fit_length(clip, task.max_frames))
        rows.append({"name": name, "label": interval.label - 1,
                     "frames": min(clip.shape[1], task.max_frames),
                     "video": task.video, "view": task.video.rsplit("-", 1)[-1],
                     "start": interval.start, "end": interval.end,
                     "confidence": interval.confidence, **task.parts})
    return (np.stack(clips) if clips else np.zeros(empty_shape, np.float32)), rows, problems


# ----------------------------------------------------------------------------- discovery

def find_raw_dirs(raw_dir, skeleton_dir=None, label_dir=None, split_dir=None) -> tuple[Path, Path, Path]:
    """(skeleton_dir, label_dir, split_dir): the given ones, the others found under raw_dir.

    Found: the directory holding cross-subject.txt and cross-view.txt; the directory of .txt
    files whose name contains "skeleton" (e.g. PKU_Skeleton_Renew), and the one whose name
    contains "label" (e.g. Train_Label_PKU_final).
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise MissingInputError(f"PKU-MMD raw directory {raw_dir} does not exist")
    dirs = [Path(d) for d, _, _ in os.walk(raw_dir)]

    def pick(given, what, matches, example):
        if given is not None:
            if not Path(given).is_dir():
                raise MissingInputError(f"PKU-MMD {what} directory {given} does not exist")
            return Path(given)
        found = sorted(d for d in dirs if matches(d))
        if len(found) == 1:
            return found[0]
        if not found:
            raise MissingInputError(f"no PKU-MMD {what} directory under {raw_dir} (expected e.g. {example}); "
                                    f"pass {what}_dir=... to name it")
        raise UserError(f"several PKU-MMD {what} directories under {raw_dir}: "
                        f"{', '.join(map(str, found))}; pass {what}_dir=... to choose one")

    def txt_dir_named(word):
        return lambda d: word in d.name.lower() and any(d.glob("*.txt"))

    def has_split_files(d):
        return all((d / f).is_file() for f in SPLIT_FILES.values())

    found = (pick(skeleton_dir, "skeleton", txt_dir_named("skeleton"), "Data/PKU_Skeleton_Renew/0002-L.txt"),
             pick(label_dir, "label", txt_dir_named("label"), "Label/Train_Label_PKU_final/0002-L.txt"),
             pick(split_dir, "split", has_split_files, "Split/cross-subject.txt and Split/cross-view.txt"))
    missing = [f for f in SPLIT_FILES.values() if not (found[2] / f).is_file()]
    if missing:
        raise MissingInputError(f"PKU-MMD split directory {found[2]} lacks {', '.join(missing)}")
    return found


# ----------------------------------------------------------------------------- preparation

def prepare_pku(raw_dir, out_dir, *, skeleton_dir=None, label_dir=None, split_dir=None,
                workers=None, max_frames: int = MAX_FRAMES, overwrite: bool = False) -> Path:
    """Prepare PKU-MMD phase I from its raw files into `out_dir` (resumable); returns out_dir.

    skeleton_dir, label_dir, split_dir: where the raw parts are, when `find_raw_dirs` cannot
    tell from raw_dir. workers: processes reading recordings (default: the cores this
    process may use; 1 = in this process); the output is identical for any number. max_frames: the
    stored clip length T (longer clips are subsampled, see the module docstring). overwrite:
    rebuild an out_dir prepared as another dataset or from other raw data (refused otherwise).
    """
    skeleton_dir, label_dir, split_dir = find_raw_dirs(raw_dir, skeleton_dir, label_dir, split_dir)
    splits = {bench: read_split_file(split_dir / f) for bench, f in SPLIT_FILES.items()}
    skeletons = {p.stem: p for p in skeleton_dir.glob("*.txt")}
    labels = {p.stem: p for p in label_dir.glob("*.txt") if p.name not in SPLIT_FILES.values()}
    if not skeletons:
        raise MissingInputError(f"no skeleton files (*.txt) in {skeleton_dir}")

    problems, tasks = [], []
    listed = set().union(*(part_of.keys() for part_of in splits.values()))
    for video in sorted(skeletons.keys() | labels.keys() | listed):
        unlisted = [SPLIT_FILES[b] for b, part_of in splits.items() if video not in part_of]
        if video not in skeletons:
            reason = f"no skeleton file {video}.txt in {skeleton_dir}"
            problems.append(Problem(video, video, str(labels.get(video, split_dir)), None, reason))
        elif video not in labels:
            reason = f"no label file {video}.txt in {label_dir}"
            problems.append(Problem(video, video, str(skeletons[video]), None, reason))
        elif unlisted:
            reason = f"not listed in {', '.join(unlisted)}"
            problems.append(Problem(video, video, str(skeletons[video]), None, reason))
        else:
            tasks.append(RecordingTask(video, skeletons[video], labels[video],
                                       {b: part_of[video] for b, part_of in splits.items()}, max_frames))

    writer = DatasetWriter(out_dir, name="pku", layout=NTU25.name, class_names=PKU51_CLASSES,
                           benchmarks=list(SPLIT_FILES),
                           source={"dataset": "PKU-MMD phase I", "skeleton_dir": str(skeleton_dir),
                                   "label_dir": str(label_dir), "split_dir": str(split_dir),
                                   "max_frames": max_frames},
                           origin=Path(raw_dir).resolve(), overwrite=overwrite)
    _check_resumable(writer, max_frames)
    done = {name.rsplit("_", 1)[0] for name in writer.done_names}
    todo = [t for t in tasks if t.video not in done]

    log = SkipLog(writer.out_dir / SKIPPED_FILE, keep_videos=done)
    log.add(problems)
    with tqdm(total=len(todo), desc="PKU-MMD recordings", unit="rec") as bar:
        for x, rows, found in parallel_map(prepare_recording, todo, workers=workers, ahead=2):
            log.add(found)  # before the shard: a recording written is never missing from the log
            if rows:
                writer.add_shard(x, rows)
            bar.update()
    out = writer.finish()
    skipped = log.finish()
    if skipped:
        print(f"PKU-MMD: {len(skipped)} items skipped (listed in {log.path}):", file=sys.stderr)
        for problem in skipped[:MAX_PRINTED]:
            print(f"  {problem}", file=sys.stderr)
        if len(skipped) > MAX_PRINTED:
            print(f"  ... and {len(skipped) - MAX_PRINTED} more", file=sys.stderr)
    return out


def _check_resumable(writer: DatasetWriter, max_frames: int) -> None:
    if writer.shards:
        with np.load(writer.shards[0]) as z:
            frames = z["x"].shape[2]
        if frames != max_frames:
            raise ExistingOutputError(f"{writer.out_dir} holds a partial dataset with {frames} frames per clip; "
                                      f"resume with max_frames={frames} or remove it")


class SkipLog:
    """skipped.csv beside the dataset: every skipped item, written as found and kept across
    resumed runs (an interrupted run loses none)."""

    FIELDS = list(Problem.__dataclass_fields__)

    def __init__(self, path: Path, keep_videos: set[str]):
        self.path = path
        earlier = self._read() if path.exists() else []
        # Recordings that this run reads again report their problems again.
        self._write([p for p in earlier if p.video in keep_videos])

    def add(self, problems: list[Problem]) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.FIELDS).writerows(asdict(p) for p in problems)

    def finish(self) -> list[Problem]:
        """All skipped items, sorted, without the repeats of a recording read twice."""
        problems = sorted(set(self._read()), key=lambda p: (p.video, p.item, p.line or 0, p.reason))
        self._write(problems)
        return problems

    def _read(self) -> list[Problem]:
        with open(self.path, newline="") as f:
            return [Problem(**{**r, "line": int(r["line"]) if r["line"] else None})
                    for r in csv.DictReader(f)]

    def _write(self, problems: list[Problem]) -> None:
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            out = csv.DictWriter(f, fieldnames=self.FIELDS)
            out.writeheader()
            out.writerows(asdict(p) for p in problems)
