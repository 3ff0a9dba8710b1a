"""Training/evaluation samples from a prepared dataset: temporal crop, resize, rotation.

Follows the CTR-GCN feeder lineage used by the official code: a clip's valid (non-padded)
frames are cropped and linearly resized to a fixed window, and during training the crop
length and position and a global 3-D rotation are random. Randomness comes from a
generator seeded by (seed, epoch, sample index), so a sample's augmentation does not
depend on DataLoader worker count or iteration order.

`SkeletonFeeder.draw` is the one place those random parameters are drawn: `__getitem__`
applies them to one clip in numpy, and neuron.data.batch_augment applies them to a whole
batch of raw clips (`raw=True`) in torch on the batch's device.
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


def interpolation_table(lengths, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How linear resizing reads `lengths` source frames (an int, or an (N,) array) to make
    `window`: output frame j = (1 - w[j]) * source[lo[j]] + w[j] * source[hi[j]].

    Half-pixel sampling (PyTorch's `interpolate(..., align_corners=False)`): output frame j
    reads source position (j + 0.5) * L / window - 0.5, clamped into [0, L - 1].
    Returns lo, hi: int64 and w: float64, each (window,) for an int, (N, window) for an array.
    """
    length = np.asarray(lengths)[..., None]
    pos = np.clip((np.arange(window) + 0.5) * (length / window) - 0.5, 0, length - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, length - 1)
    return lo, hi, pos - lo


def resize_frames(x: np.ndarray, window: int) -> np.ndarray:
    """Linear interpolation of (C, L, V, M) along time to (C, window, V, M) (see
    `interpolation_table`)."""
    lo, hi, w = interpolation_table(x.shape[1], window)
    w = w.astype(x.dtype)[None, :, None, None]
    return x[:, lo] * (1 - w) + x[:, hi] * w


def rotation_angles(rng: np.random.Generator, max_angle: float) -> np.ndarray:
    """(3,) random angles (ax, ay, az), each uniform in [-max_angle, max_angle] radians."""
    return rng.uniform(-max_angle, max_angle, size=3)


def rotation_matrix(angles: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations by angles (..., 3) = (ax, ay, az) radians about x, then y, then z:
    Rz @ Ry @ Rx (float64)."""
    c, s = np.cos(angles), np.sin(angles)
    one, zero = np.ones_like(c[..., 0]), np.zeros_like(c[..., 0])

    def matrix(rows):
        return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)

    (cx, cy, cz), (sx, sy, sz) = np.moveaxis(c, -1, 0), np.moveaxis(s, -1, 0)
    rx = matrix([[one, zero, zero], [zero, cx, -sx], [zero, sx, cx]])
    ry = matrix([[cy, zero, sy], [zero, one, zero], [-sy, zero, cy]])
    rz = matrix([[cz, -sz, zero], [sz, cz, zero], [zero, zero, one]])
    return rz @ ry @ rx


def apply_rotation(x: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rotate every xyz point of (3, T, V, M) by `rotation_matrix(angles)`, computed in x's
    dtype. Zero (absent) persons stay zero."""
    return np.einsum("ij,jtvm->itvm", rotation_matrix(angles).astype(x.dtype), x)


def rotate(x: np.ndarray, rng: np.random.Generator, max_angle: float) -> np.ndarray:
    """Rotate (3, T, V, M) by one random rotation, each axis angle in [-max_angle, max_angle]."""
    return apply_rotation(x, rotation_angles(rng, max_angle))


class SkeletonFeeder(Dataset):
    """Samples of `classes` from a SkeletonSet, as (x, label, index).

    x: float32 tensor (3, window, V, M); label: position of the sample's class in `classes`
    (seen classes re-indexed to 0..K-1, as for training over seen classes only); index:
    position of the sample in this feeder (see `rows` for its row in the SkeletonSet).

    Evaluation (both flags off) is deterministic: all valid frames resized to `window`.
    `random_crop` and `random_rotation` switch the two training augmentations independently.
    Call `set_epoch` before each epoch for fresh, reproducible augmentations.

    `raw=True` leaves the work to the batch: x is then the stored clip (3, T, V, M), zero-padded
    after its valid frames, and `neuron.data.batch_augment.augment_batch` crops, resizes and
    rotates a batch of them on its device, exactly as this feeder would (see `draw`).
    """

    def __init__(self, data: SkeletonSet, classes: Sequence[int] | None = None, *, window: int = 64,
                 random_crop: bool = False, random_rotation: bool = False,
                 crop_ratio: tuple[float, float] = (0.5, 1.0), max_angle: float = 0.3,
                 seed: int = 0, raw: bool = False):
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
        self.raw = raw
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

    def draw(self, index: int) -> tuple[int, int, np.ndarray | None]:
        """The augmentation of sample `index` at the current epoch: its crop [start, stop) of
        the valid frames and its rotation angles (3,) (None without random rotation)."""
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        start, stop = crop_bounds(int(self.frames[index]), self.window,
                                  rng if self.random_crop else None, self.crop_ratio)
        angles = rotation_angles(rng, self.max_angle) if self.random_rotation else None
        if angles is not None and self.data.layout.planar:
            angles[:2] = 0  # in the image plane only: channel 2 is a confidence, not a depth
        return start, stop, angles

    def __getitem__(self, index: int):
        clip = self.data.x[self.rows[index]]
        if self.raw:
            return torch.from_numpy(clip), int(self.labels[index]), index
        start, stop, angles = self.draw(index)
        x = resize_frames(clip[:, start:stop], self.window)
        if angles is not None:
            x = apply_rotation(x, angles)
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
