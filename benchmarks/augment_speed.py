"""Throughput of the training augmentation (random crop, resize to the window, rotation):
SkeletonFeeder's per-sample numpy path against the batched torch path of
neuron.data.batch_augment, measured in the same run on NTU-shaped random clips.

    python benchmarks/augment_speed.py [--clips 512] [--batch-sizes 64 256] [--window 64]
                                       [--devices cpu cuda] [--repeat 3] [--threads N]

Each path draws one shuffled epoch from a DataLoader in the main process (num_workers=0) and
ends with the batch (N, 3, window, V, M) on the device:
  per-sample  SkeletonFeeder(random_crop, random_rotation)[i] for each clip, collated, copied over;
  batched     SkeletonFeeder(raw=True) clips collated and copied over, then
              augment_batch(x, draw_batch(feeder, index)) on the device;
  resident    every stored clip put on the device once; the loader yields indices only, and
              augment_batch(clips, draw_batch(feeder, index), rows=feeder.rows[index]).
Prints samples/s of each (best of --repeat epochs), the speed-ups over per-sample, and where
the batched path's time goes per batch: loading (collating raw clips + copy to the device),
drawing the random parameters (host), augmenting (device). Devices default to the CPU, and
CUDA when available.
"""

import argparse
import time

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from neuron.data.batch_augment import augment_batch, draw_batch
from neuron.data.feeder import SkeletonFeeder
from neuron.data.layouts import NTU25
from neuron.data.store import SkeletonSet

STORED_FRAMES, PERSONS = 300, 2  # NTU RGB+D clips as prepared: zero-padded to 300 frames


def ntu_shaped_clips(count: int, seed: int = 0) -> SkeletonSet:
    """`count` random clips (3, 300, 25, 2), 32..300 valid frames each, the second person
    absent (zero) in every other clip, as in NTU's mostly single-person actions."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(32, STORED_FRAMES + 1, size=count)
    x = np.zeros((count, 3, STORED_FRAMES, NTU25.num_joints, PERSONS), dtype=np.float32)
    for i, f in enumerate(frames):
        persons = 1 if i % 2 else PERSONS
        x[i, :, :f, :, :persons] = rng.standard_normal((3, f, NTU25.num_joints, persons), dtype=np.float32)
    manifest = pd.DataFrame({"name": [f"clip{i}" for i in range(count)], "label": np.zeros(count, int),
                             "frames": frames})
    return SkeletonSet(x, manifest, ["action"], NTU25, "ntu-shaped")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def loader(feeder: SkeletonFeeder, batch_size: int) -> DataLoader:
    return DataLoader(feeder, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=0,
                      generator=torch.Generator().manual_seed(0))


def per_sample_epoch(feeder: SkeletonFeeder, batch_size: int, device: torch.device) -> tuple[float, int]:
    """Seconds and samples of one epoch of the numpy feeder, batches moved to `device`."""
    start, samples = time.perf_counter(), 0
    for x, _, _ in loader(feeder, batch_size):
        x = x.to(device)
        samples += len(x)
    synchronize(device)
    return time.perf_counter() - start, samples


def batched_epoch(raw: SkeletonFeeder, batch_size: int, device: torch.device) -> tuple[np.ndarray, int]:
    """Seconds spent loading, drawing and augmenting over one epoch of raw clips, and samples."""
    stages, samples = np.zeros(3), 0
    batches = iter(loader(raw, batch_size))
    while True:
        t0 = time.perf_counter()
        batch = next(batches, None)
        if batch is None:
            break
        x = batch[0].to(device)
        synchronize(device)
        t1 = time.perf_counter()
        aug = draw_batch(raw, batch[2])
        t2 = time.perf_counter()
        y = augment_batch(x, aug)
        synchronize(device)
        stages += (t1 - t0, t2 - t1, time.perf_counter() - t2)
        samples += len(y)
    return stages, samples


def resident_epoch(raw: SkeletonFeeder, clips: torch.Tensor, batch_size: int) -> tuple[float, int]:
    """Seconds and samples of one epoch augmenting straight from `clips`, every stored clip
    on the device."""
    start, samples = time.perf_counter(), 0
    for index in DataLoader(range(len(raw)), batch_size=batch_size, shuffle=True, drop_last=True,
                            generator=torch.Generator().manual_seed(0)):
        y = augment_batch(clips, draw_batch(raw, index), rows=raw.rows[index])
        samples += len(y)
    synchronize(clips.device)
    return time.perf_counter() - start, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=512)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--devices", nargs="+", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    parser.add_argument("--repeat", type=int, default=3, help="epochs per measurement; the fastest counts")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if max(args.batch_sizes) > args.clips:
        parser.error(f"--clips {args.clips} must hold at least one batch of {max(args.batch_sizes)}")

    data = ntu_shaped_clips(args.clips)
    options = dict(window=args.window, random_crop=True, random_rotation=True, seed=0)
    feeder, raw = SkeletonFeeder(data, **options), SkeletonFeeder(data, raw=True, **options)
    print(f"{args.clips} clips {data.x.shape[1:]} -> window {args.window}, random crop + rotation; "
          f"DataLoader num_workers=0; torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"{'device':6} {'batch':>5} {'per-sample':>11} {'batched':>11} {'resident':>11}   speed-ups   "
          f"batched ms/batch: load / draw / augment")
    for name in args.devices:
        device = torch.device(name)
        clips = torch.from_numpy(data.x).to(device)
        for batch_size in args.batch_sizes:
            batched_epoch(raw, batch_size, device)  # warm-up: allocator, CUDA context and kernels
            numpy_s, samples = min(per_sample_epoch(feeder, batch_size, device) for _ in range(args.repeat))
            runs = [batched_epoch(raw, batch_size, device) for _ in range(args.repeat)]
            stages, _ = min(runs, key=lambda run: run[0].sum())
            resident_s, _ = min(resident_epoch(raw, clips, batch_size) for _ in range(args.repeat))
            rates = samples / np.array([numpy_s, stages.sum(), resident_s])
            per_batch = stages / (samples // batch_size) * 1e3
            print(f"{name:6} {batch_size:5d} {rates[0]:9.0f}/s {rates[1]:9.0f}/s {rates[2]:9.0f}/s   "
                  f"{rates[1] / rates[0]:4.1f}x {rates[2] / rates[0]:4.1f}x   "
                  f"{per_batch[0]:.1f} / {per_batch[1]:.1f} / {per_batch[2]:.1f}")

if __name__ == "__main__":
    main()
