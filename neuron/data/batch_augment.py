"""SkeletonFeeder's crop, resize and rotation for a whole batch at once, in torch, on the
batch's device.

The random parameters are drawn on the host by the feeder itself (`SkeletonFeeder.draw`,
keyed by (seed, epoch, sample) as in `__getitem__`): a few scalars per sample. The heavy part,
gathering the cropped frames, interpolating them to `window` frames and rotating every point,
runs here on the batch, so a GPU training loop needs nothing per sample from the DataLoader:

    feeder = SkeletonFeeder(data, classes, random_crop=True, random_rotation=True, raw=True)
    for x, y, index in DataLoader(feeder, batch_size=64, shuffle=True):
        x = augment_batch(x.to(device), draw_batch(feeder, index))  # (N, 3, window, V, M)

or, with every stored clip already on the device (no clip crosses per batch):

    clips = torch.from_numpy(feeder.data.x).to(device)
    for index in DataLoader(range(len(feeder)), batch_size=64, shuffle=True):
        x = augment_batch(clips, draw_batch(feeder, index), rows=feeder.rows[index])

The result equals the feeder's per-sample numpy output to float32 rounding.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from neuron.data.feeder import SkeletonFeeder, interpolation_table, rotation_matrix


@dataclass(frozen=True)
class BatchAugmentation:
    """The augmentation of each of N clips of a batch (host arrays)."""

    start: np.ndarray  # (N,) int64: first frame of each clip's crop
    stop: np.ndarray  # (N,) int64: one past its last frame
    rotation: np.ndarray | None  # (N, 3, 3) float64 rotation matrices; None: no rotation
    window: int  # output frames per clip


def draw_batch(feeder: SkeletonFeeder, indices: Sequence[int] | torch.Tensor) -> BatchAugmentation:
    """The augmentation of samples `indices` of `feeder` at its current epoch, exactly as
    `feeder[i]` would draw it."""
    draws = [feeder.draw(int(i)) for i in indices]
    start = np.array([d[0] for d in draws], dtype=np.int64)
    stop = np.array([d[1] for d in draws], dtype=np.int64)
    rotation = rotation_matrix(np.stack([d[2] for d in draws])) if feeder.random_rotation else None
    return BatchAugmentation(start, stop, rotation, feeder.window)


def augment_batch(x: torch.Tensor, aug: BatchAugmentation, rows=None) -> torch.Tensor:
    """Crop, resize and rotate N stored clips on x's device.

    x: (R, 3, T, V, M) clips zero-padded after their valid frames: the batch itself
    (SkeletonFeeder(raw=True) batches; R = N) or, with `rows` (N,) host ints naming the clip of
    x of each sample, any larger set such as the whole SkeletonSet already on the device.
    Returns (N, 3, window, V, M) in x's dtype: for sample n, frames aug.start[n]:aug.stop[n] of
    its clip linearly resized to aug.window frames (`interpolation_table`) and, with
    aug.rotation, every xyz point rotated.
    """
    if x.ndim != 5 or x.shape[1] != 3 or not x.is_floating_point():
        raise ValueError(f"x must be floating-point clips (N, 3, T, V, M), got {x.dtype} {tuple(x.shape)}")
    n, device = len(aug.start), x.device
    if rows is None and len(x) != n:
        raise ValueError(f"the augmentation is for {n} clips, the batch has {len(x)} "
                         f"(pass rows to pick the clips out of a larger x)")
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    _check_crops(x, aug, rows)
    # Index/weight tables come from the same host function as the numpy path (bit-identical
    # sampling positions); only these (N, window) tables and the rotations cross to the device.
    lo, hi, w = interpolation_table(aug.stop - aug.start, aug.window)  # (N, window)
    lo = torch.from_numpy(aug.start[:, None] + lo).to(device)
    hi = torch.from_numpy(aug.start[:, None] + hi).to(device)
    w = torch.from_numpy(w).to(x.dtype).to(device)[:, :, None, None, None]
    clip = torch.from_numpy(rows).to(device)[:, None]
    frames = x.transpose(1, 2)  # (R, T, 3, V, M): advanced indexing picks (clip, frame) pairs
    y = (frames[clip, lo] * (1 - w) + frames[clip, hi] * w).transpose(1, 2)  # (N, 3, window, V, M)
    if aug.rotation is None:
        return y.contiguous()
    # One (3, 3) @ (3, window * V * M) product per clip. On CUDA it follows torch's matmul
    # precision: float32 by default, TF32 (10-bit mantissa) if the caller allowed it.
    r = torch.from_numpy(aug.rotation).to(x.dtype).to(device)
    return torch.bmm(r, y.reshape(n, 3, -1)).view(y.shape)


def _check_crops(x: torch.Tensor, aug: BatchAugmentation, rows: np.ndarray) -> None:
    n = len(aug.start)
    if rows.shape != (n,) or (n and not 0 <= rows.min() <= rows.max() < len(x)):
        raise ValueError(f"rows must name one of the {len(x)} clips of x for each of the {n} samples, "
                         f"got {rows.shape} rows" + (f" in {rows.min()}..{rows.max()}" if rows.size else ""))
    if n and (aug.start.min() < 0 or (aug.stop <= aug.start).any() or aug.stop.max() > x.shape[2]):
        raise ValueError(f"crops [start, stop) must lie within the clips' {x.shape[2]} frames and be "
                         f"non-empty, got up to frame {aug.stop.max()}: x must hold the stored, "
                         f"uncropped clips (SkeletonFeeder(raw=True))")
