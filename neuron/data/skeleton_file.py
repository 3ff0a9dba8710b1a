"""One skeleton sequence read from a file and prepared as the datasets are: what `neuron predict` classifies.

The format follows the file's extension:

    .skeleton  NTU RGB+D 60/120 raw text (Kinect v2, layout ntu25): parsed, denoised, actors
               placed and centred exactly as `neuron prepare ntu60/ntu120` does (neuron.data.ntu),
               without its 300-frame cap, which only sizes the stored arrays -> (3, T, 25, 2)
    .mat       UTD-MHAD skeleton (`d_skel`, Kinect v1, layout kinect20), centred as `neuron
               prepare utd` does (neuron.data.utd) -> (3, T, 20, 1)
    .npz       a custom-dataset file (neuron.data.custom: x, labels, class_names, layout, ...)
               holding exactly one sample (its label and class names are not used); its
               layout is the file's; frames after the sample's `frames` are dropped -> (3, T, V, M)
    .npy       one float array of xyz coordinates in the layout the caller names, in one of
               these shapes (V = the layout's joint count, M persons, T frames):
                   (3, T, V, M)  the prepared datasets' order
                   (3, T, V)     one person
                   (M, T, V, 3)  persons first, xyz last
                   (T, V, 3)     one person, frames first (the usual pose-estimator output)
               A (3, T, V, 3) array fits two of them and is refused as ambiguous.
               For coco17 (2-D keypoints of a pose estimator such as MMPose or RTMPose):
                   (T, V, C)     one person; C = 2 (x, y) or 3 (x, y, confidence)
                   (T, M, V, C)  M persons per frame
               a missing confidence becomes 1 where a joint is.

Arrays of .npz and .npy files are translated like the prepared datasets: the layout's centre
joint of the first person, in the first frame where that person appears, becomes the origin
(neuron.data.geometry.translate_to_origin). Data prepared that way is left unchanged; raw
camera coordinates become what a model trained on the prepared datasets expects. All-zero
joints stay zero (absent persons, padding frames).
"""

import sys
from pathlib import Path

import numpy as np

from neuron.data.custom import load_custom_npz
from neuron.data.geometry import translate_to_origin, with_confidence
from neuron.data.layouts import KINECT20, LAYOUTS, NTU25, get_layout
from neuron.data.ntu import UnusableSample, preprocess
from neuron.data.ntu_raw import read_skeleton
from neuron.data.utd import read_utd_file
from neuron.errors import MissingInputError, UserError

FORMATS = (".skeleton", ".mat", ".npz", ".npy")


class LayoutMismatchError(UserError):
    """A file whose skeletons are in another joint layout than the one asked for."""


def read_skeleton_file(path, layout: str | None = None) -> tuple[np.ndarray, str]:
    """(x float32 (3, T, V, M), layout name) of the one sequence in `path` (formats: module docstring).

    layout: the joint layout of a .npy array (required there); for the other formats, which
    carry their layout, the layout the caller expects (LayoutMismatchError when it differs).
    Errors name the file and what is wrong with it.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: unknown skeleton format {path.suffix!r}; expected one of {', '.join(FORMATS)} "
                         "(see neuron/data/skeleton_file.py)")
    if not path.is_file():
        raise MissingInputError(f"skeleton file {path} does not exist (check --skeleton)")
    if layout is not None:
        get_layout(layout)  # an unknown name fails here, before the file is read
    if suffix == ".npy":
        if layout is None:
            raise ValueError(f"{path}: a .npy array does not say its joint order; name its layout "
                             f"({', '.join(LAYOUTS)})")
        return _prepared(_read_npy(path, layout), layout, path), layout
    if suffix == ".skeleton":
        found = NTU25.name
        _check_layout(path, "NTU RGB+D .skeleton files", found, layout)
        try:
            # No frame cap: the store's fixed 300 frames limit prepared datasets, not one clip.
            x = preprocess(read_skeleton(path), max_frames=sys.maxsize).x  # NTUFormatError names file and line
        except UnusableSample as err:
            raise ValueError(f"{path}: {err}") from None
        return x, found
    if suffix == ".mat":
        found = KINECT20.name
        _check_layout(path, "UTD-MHAD .mat files", found, layout)
        return _prepared(read_utd_file(path)[..., None], found, path), found
    data = load_custom_npz(path)
    _check_layout(path, "this custom .npz file", data.layout, layout)
    if len(data.x) != 1:
        raise ValueError(f"{path}: holds {len(data.x)} samples; a file to classify holds exactly one")
    return _prepared(data.x[0, :, :data.frames[0]], data.layout, path), data.layout


def _check_layout(path: Path, what: str, found: str, expected: str | None) -> None:
    if expected is not None and found != expected:
        raise LayoutMismatchError(f"{path}: {what} hold {found} skeletons, not {expected}")


def _read_npy(path: Path, layout: str) -> np.ndarray:
    """The array of a .npy file as (3, T, V, M)."""
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":  # numpy would call any other file "pickled data"
            raise UserError(f"{path}: not a .npy array file (save the array with np.save)")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:  # not a .npy file, or an object array (needs pickle)
        raise ValueError(f"{path}: not a readable .npy array of numbers ({err})") from None
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{path}: must hold a float array, got {getattr(array, 'dtype', type(array).__name__)}")
    if get_layout(layout).planar:
        return _read_keypoints(path, array, layout)
    joints = get_layout(layout).num_joints
    fits = {
        "(3, T, V, M)": array.ndim == 4 and array.shape[0] == 3 and array.shape[2] == joints,
        "(M, T, V, 3)": array.ndim == 4 and array.shape[3] == 3 and array.shape[2] == joints,
        "(3, T, V)": array.ndim == 3 and array.shape[0] == 3 and array.shape[2] == joints,
        "(T, V, 3)": array.ndim == 3 and array.shape[2] == 3 and array.shape[1] == joints,
    }
    matches = [shape for shape, fit in fits.items() if fit]
    if len(matches) != 1:
        problem = f"fits both {' and '.join(matches)}" if matches else "fits none of"
        raise ValueError(f"{path}: array of shape {array.shape} {problem} the accepted shapes "
                         f"{', '.join(fits)} with V = {joints} joints of layout {layout}")
    if min(array.shape) == 0:
        raise ValueError(f"{path}: array of shape {array.shape} has an empty axis")
    if matches[0] == "(M, T, V, 3)":
        array = array.transpose(3, 1, 2, 0)
    elif matches[0] == "(3, T, V)":
        array = array[..., None]
    elif matches[0] == "(T, V, 3)":
        array = array.transpose(2, 0, 1)[..., None]
    return np.ascontiguousarray(array, dtype=np.float32)


def _read_keypoints(path: Path, array: np.ndarray, layout: str) -> np.ndarray:
    """A pose estimator's keypoints, (T, V, C) or (T, M, V, C) with C = 2 (x, y) or 3 (x, y,
    confidence), as (3, T, V, M); a missing confidence is 1 where a joint is."""
    joints = get_layout(layout).num_joints
    if array.ndim not in (3, 4) or array.shape[-2] != joints or array.shape[-1] not in (2, 3) or min(array.shape) == 0:
        raise ValueError(f"{path}: array of shape {array.shape} is not (T, V, C) or (T, M, V, C) with V = {joints} "
                         f"joints of layout {layout} and C = 2 (x, y) or 3 (x, y, confidence)")
    if array.ndim == 3:
        array = array[:, None]
    x = np.ascontiguousarray(array.transpose(3, 0, 2, 1), dtype=np.float32)  # (C, T, V, M)
    return with_confidence(x, axis=0) if x.shape[0] == 2 else x


def _prepared(x: np.ndarray, layout: str, path: Path) -> np.ndarray:
    """x (3, T, V, M) translated to the origin like the prepared datasets."""
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: the skeleton holds NaN or infinite coordinates")
    try:
        return translate_to_origin(x, get_layout(layout).center, get_layout(layout).coordinates)
    except ValueError as err:  # no person in any frame
        raise ValueError(f"{path}: {err}") from None
