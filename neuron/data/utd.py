"""UTD-MHAD skeletons: read the dataset's .mat files, write the store format.

Raw files: `a{action}_s{subject}_t{trial}_skeleton.mat` (actions 1..27, subjects 1..8,
trials 1..4; 861 files, a few trials missing), whose variable `d_skel` is (20 joints, 3, T)
float64 with T = 41..125: one person, Kinect v1, joints in the dataset's documented order
(layout `kinect20`: head, shoulder center, spine, hip center, left arm, right arm, left leg,
right leg).

Coordinates: Kinect v1 camera space in metres. y points up (the head is the highest joint,
largest y, in the first frame and on the per-joint median of every one of the 861 files);
z is the distance from the sensor (median 2.8 m; the subject faces the sensor); x
grows towards the subject's right, i.e. the sensor's left (the right shoulder has the larger
x in every file). tests/test_utd.py checks these facts on the real data.

Each sample becomes x of shape (3, T_max, 20, 1), translated so that the spine (the layout's
centre joint) of the first frame is the origin, zero-padded to T_max = 128 frames (at least
the longest recording: no file is cropped). Manifest: name (`a1_s1_t1`), label (action - 1),
frames, subject, trial, and the benchmark column `xsub` (odd subjects train, even test, the
usual protocol).
"""

import re
from pathlib import Path

import numpy as np
import scipy.io
from tqdm import tqdm

from neuron.data.classnames import UTD27_CLASSES
from neuron.data.geometry import translate_to_origin
from neuron.data.layouts import KINECT20
from neuron.data.store import write_dataset
from neuron.errors import MissingInputError, UserError

MAX_FRAMES = 128
FILE_PATTERN = re.compile(r"a(\d+)_s(\d+)_t(\d+)_skeleton\.mat")


def read_utd_file(path) -> np.ndarray:
    """One recording as float32 (3, T, 20): xyz, frames, joints."""
    path = Path(path)
    try:
        mat = scipy.io.loadmat(path)
    except Exception as err:  # scipy raises several types for a damaged or foreign file
        raise UserError(f"{path}: not a readable MATLAB file ({err}) (replace it with the dataset's file, "
                        "or move it out of the folder)") from err
    if "d_skel" not in mat:
        variables = sorted(k for k in mat if not k.startswith("__"))
        raise UserError(f"{path}: no variable 'd_skel' (found: {', '.join(variables) or 'none'}) (replace it "
                        "with the dataset's file, or move it out of the folder)")
    skel = np.asarray(mat["d_skel"])
    if skel.ndim != 3 or skel.shape[:2] != (KINECT20.num_joints, 3) or skel.shape[2] == 0:
        raise UserError(f"{path}: d_skel has shape {skel.shape}, expected (20 joints, 3, T frames)")
    if not np.issubdtype(skel.dtype, np.number) or not np.isfinite(skel).all():
        raise UserError(f"{path}: d_skel holds non-numeric or non-finite values")
    return skel.astype(np.float32).transpose(1, 2, 0).copy()


def parse_utd_name(path) -> tuple[int, int, int]:
    """(action, subject, trial), 1-based, from a file name like a1_s1_t1_skeleton.mat."""
    match = FILE_PATTERN.fullmatch(Path(path).name)
    if not match:
        raise UserError(f"{path}: name does not match a{{action}}_s{{subject}}_t{{trial}}_skeleton.mat "
                        "(rename it, or move it out of the folder)")
    action, subject, trial = map(int, match.groups())
    if not 1 <= action <= len(UTD27_CLASSES):
        raise UserError(f"{path}: action {action} outside 1..{len(UTD27_CLASSES)}")
    return action, subject, trial


def prepare_utd(raw_dir, out_dir, *, overwrite: bool = False) -> Path:
    """Prepare UTD-MHAD from the directory of *_skeleton.mat files into `out_dir`; returns it.
    overwrite: rebuild an out_dir prepared as another dataset or from other raw data."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        problem = "is a file, not a directory" if raw_dir.exists() else "does not exist"
        raise MissingInputError(f"raw UTD-MHAD directory {raw_dir} {problem} (give --raw the folder of the "
                                "*_skeleton.mat files)")
    files = sorted(raw_dir.glob("*_skeleton.mat"), key=parse_utd_name)
    if not files:
        raise MissingInputError(f"no UTD-MHAD skeleton files (a*_s*_t*_skeleton.mat) in {raw_dir}")
    samples, rows = [], []
    for path in tqdm(files, desc="UTD-MHAD", unit="file"):
        action, subject, trial = parse_utd_name(path)
        skeleton = read_utd_file(path)[..., None]  # (3, T, 20, 1)
        samples.append(translate_to_origin(skeleton, KINECT20.center))
        rows.append({"name": f"a{action}_s{subject}_t{trial}", "label": action - 1,
                     "frames": skeleton.shape[1], "subject": subject, "trial": trial,
                     "xsub": "train" if subject % 2 else "test"})
    max_frames = max(MAX_FRAMES, *(s.shape[1] for s in samples))
    x = np.zeros((len(samples), 3, max_frames, KINECT20.num_joints, 1), dtype=np.float32)
    for i, sample in enumerate(samples):
        x[i, :, :sample.shape[1]] = sample
    return write_dataset(out_dir, x, rows, name="utd", layout=KINECT20.name,
                         class_names=UTD27_CLASSES, benchmarks=["xsub"],
                         source={"dataset": "UTD-MHAD skeletons", "raw_dir": str(raw_dir)},
                         origin=raw_dir.resolve(), overwrite=overwrite)
