"""Training/evaluation samples from a prepared dataset: temporal crop, resize, rotation.

Follows the CTR-GCN feeder lineage used by the official code: a clip's valid (non-padded)
frames are cropped and linearly resized to a fixed window, and during training the crop
length and position and a global 3-D rotation are random. Randomness comes from a
generator seeded by (seed, epoch, sample index), so a sample's augmentation does not
depend on DataLoader worker count or iteration order.
"""

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from neuron.data.store import SkeletonSet


def crop_bounds(valid_frames: int, window: int, rng: np.random.Generator | None,
                ratio=(0.5, 1.0)) -> tuple[int, int]:
    """[start, stop) of the frames to keep out of `valid_frames`.

    Without `rng`: every valid frame. With `rng`: a window of floor(ratio * valid) frames,
    ratio uniform in `ratio`, at a uniform position, but never shorter than `window` frames
    while the clip has them (a crop shorter than the output would only be stretched).
    """
    if rng is None:
        return 0, valid_frames
    p = rng.uniform(*ratio)
    length = min(max(int(np.floor(valid_frames * p)), window), valid_frames)
    start = int(rng.integers(0, valid_frames - length + 1))
    return start, start + length


def resize_frames(x: np.ndarray, window: int) -> np.ndarray:
    """Linear interpolation of (C, L, V, M) along time to (C, window, V, M).

    Half-pixel sampling (PyTorch's `interpolate(..., align_corners=False)`): output frame j
    reads source position (j + 0.5) * L / window - 0.5, clamped into [0, L - 1].
    """
    length = x.shape[1]
    pos = np.clip((np.arange(window) + 0.5) * (length / window) - 0.5, 0, length - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, length - 1)
    w = (pos - lo).astype(x.dtype)[None, :, None, None]
    return x[:, lo] * (1 - w) + x[:, hi] * w


def rotation_matrix(angles: np.ndarray) -> np.ndarray:
    """(3, 3) rotation by angles (ax, ay, az) radians about x, then y, then z: Rz @ Ry @ Rx."""
    (cx, cy, cz), (sx, sy, sz) = np.cos(angles), np.sin(angles)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def rotate(x: np.ndarray, rng: np.random.Generator, max_angle: float) -> np.ndarray:
    """Rotate every xyz point of (3, T, V, M) by one random rotation, each axis angle in
    [-max_angle, max_angle]. Zero (absent) persons stay zero."""
    r = rotation_matrix(rng.uniform(-max_angle, max_angle, size=3)).astype(x.dtype)
    return np.einsum("ij,jtvm->itvm", r, x)


class SkeletonFeeder(Dataset):
    """Samples of `classes` from a SkeletonSet, as (x, label, index).

    x: float32 tensor (3, window, V, M); label: position of the sample's class in `classes`
    (seen classes re-indexed to 0..K-1, as for training over seen classes only); index:
    position of the sample in this feeder (see `rows` for its row in the SkeletonSet).

    Evaluation (both flags off) is deterministic: all valid frames resized to `window`.
    `random_crop` and `random_rotation` switch the two training augmentations independently.
    Call `set_epoch` before each epoch for fresh, reproducible augmentations.
    """

    def __init__(self, data: SkeletonSet, classes: Sequence[int] | None = None, *, window: int = 64,
                 random_crop: bool = False, random_rotation: bool = False,
                 crop_ratio: tuple[float, float] = (0.5, 1.0), max_angle: float = 0.3,
                 seed: int = 0):
        classes = list(range(len(data.class_names))) if classes is None else [int(c) for c in classes]
        if len(set(classes)) != len(classes):
            raise ValueError(f"classes {classes} of {data.name} contain repeats")
        unknown = [c for c in classes if not 0 <= c < len(data.class_names)]
        if unknown:
            raise ValueError(f"classes {unknown} outside 0..{len(data.class_names) - 1} of {data.name}")
        if not 0 < crop_ratio[0] <= crop_ratio[1] <= 1:
            raise ValueError(f"crop_ratio must satisfy 0 < low <= high <= 1, got {crop_ratio}")

        self.data = data
        self.classes = classes
        self.rows = np.flatnonzero(np.isin(data.labels, classes))
        position = {c: k for k, c in enumerate(classes)}
        self.labels = np.array([position[c] for c in data.labels[self.rows]], dtype=np.int64)
        self.frames = data.frames[self.rows]
        bad = (self.frames < 1) | (self.frames > data.x.shape[2])
        if bad.any():
            names = data.manifest["name"].iloc[self.rows[bad]].tolist()[:5]
            raise ValueError(f"{data.name}: samples {names} have a frame count outside "
                             f"1..{data.x.shape[2]} (the stored length)")
        self.window = window
        self.random_crop = random_crop
        self.random_rotation = random_rotation
        self.crop_ratio = crop_ratio
        self.max_angle = max_angle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentations of `epoch` (DataLoader workers must be re-created after
        this, i.e. persistent_workers=False, for them to see it)."""
        self.epoch = epoch

    @property
    def class_names(self) -> list[str]:
        return [self.data.class_names[c] for c in self.classes]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int):
        row, frames = self.rows[index], int(self.frames[index])
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        start, stop = crop_bounds(frames, self.window, rng if self.random_crop else None,
                                  self.crop_ratio)
        x = resize_frames(self.data.x[row, :, start:stop], self.window)
        if self.random_rotation:
            x = rotate(x, rng, self.max_angle)
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), int(self.labels[index]), index


def split_train_val(labels, fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified hold-out of the seen training data for model selection.

    Each class with n >= 2 samples puts round(fraction * n) of them, at least 1 and at most
    n - 1, into validation; a class with one sample stays in training. Returns sorted
    positions into `labels`: (train_idx, val_idx), disjoint and together covering all.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie strictly between 0 and 1, got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        if len(members) >= 2:
            n_val = min(max(int(round(fraction * len(members))), 1), len(members) - 1)
            val.append(members[:n_val])
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, dtype=np.int64)
    train_idx = np.setdiff1d(np.arange(len(labels)), val_idx)
    return train_idx, val_idx.astype(np.int64)
