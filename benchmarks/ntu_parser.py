"""Throughput of the NTU `.skeleton` reader (neuron.data.ntu_raw) against a plain line-by-line
reader written here, measured in the same run on copies of the real samples.

    python benchmarks/ntu_parser.py [--copies 200] [--workers N] [--repeat 3]

Prints MB/s, files/s and the speed-up over the line-by-line reader (one process) for: the
reader with its numpy token scanner in one process, with its compiled scanner
(neuron/data/_ntu_tokens.c) in one process, and with the scanner it uses by default (the
compiled one where built) in --workers processes. Exits cleanly with a message when the shared
sample data is absent.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

from neuron.data import ntu_raw
from neuron.data.ntu_raw import read_skeleton, read_skeletons
from neuron.paths import shared_data_dir


def read_line_by_line(path):
    """The straightforward reader: split each line, float() every number. Same arrays as
    read_skeleton: (num_frames, frame, body_id, body_fields, joints)."""
    with open(path) as f:
        lines = f.read().splitlines()
    frame_of, ids, fields, joints = [], [], [], []
    i = 1
    num_frames = int(lines[0])
    for frame in range(num_frames):
        bodies = int(lines[i])
        i += 1
        for _ in range(bodies):
            values = lines[i].split()
            ids.append(int(values[0]))
            fields.append([float(v) for v in values[1:]])
            num_joints = int(lines[i + 1])
            joints.append([[float(v) for v in lines[i + 2 + j].split()] for j in range(num_joints)])
            frame_of.append(frame)
            i += 2 + num_joints
    return (num_frames, np.array(frame_of), np.array(ids, np.uint64),
            np.array(fields, np.float32), np.array(joints, np.float32))


def best_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=200, help="files to parse (copies of the samples)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="processes for the parallel run (default: all cores)")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds; the best is reported")
    args = parser.parse_args()

    samples = sorted((shared_data_dir() / "ntu_samples").glob("*.skeleton"))
    if not samples:
        print(f"skipped: no NTU .skeleton samples in {shared_data_dir() / 'ntu_samples'} "
              "(set NEURON_SHARED_DATA to the shared data)")
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.copies):
            source = samples[i % len(samples)]
            paths.append(Path(shutil.copyfile(source, Path(tmp) / f"{i:05d}_{source.name}")))
        megabytes = sum(p.stat().st_size for p in paths) / 1e6

        compiled = ntu_raw._ntu_tokens is not None  # the scanner read_skeleton uses by default
        scanners = {"numpy": ntu_raw._scan_tokens_numpy}
        if compiled:
            scanners["compiled"] = ntu_raw._scan_tokens_compiled
        default = "compiled" if compiled else "numpy"

        def one_process(scan):
            def run():
                with mock.patch.object(ntu_raw, "_scan_tokens", scan):
                    return [read_skeleton(p) for p in paths]
            return run

        # All readers give the same arrays (bit for bit), so the comparison is like for like.
        plain = read_line_by_line(paths[1])
        for scan in scanners.values():
            with mock.patch.object(ntu_raw, "_scan_tokens", scan):
                fast = read_skeleton(paths[1])
            arrays = (fast.num_frames, fast.frame, fast.body_id, fast.body_fields, fast.joints)
            for a, b in zip(arrays, plain):
                np.testing.assert_array_equal(a, b)

        runs = {"line-by-line, 1 process": lambda: [read_line_by_line(p) for p in paths]}
        for name, scan in scanners.items():
            runs[f"{name} scanner, 1 process"] = one_process(scan)
        runs[f"{default} scanner, {args.workers} processes"] = \
            lambda: list(read_skeletons(paths, workers=args.workers))
        for run in runs.values():  # warm the page cache and the worker code paths
            run()
        seconds = {name: best_time(run, args.repeat) for name, run in runs.items()}

    print(f"{args.copies} files, {megabytes:.1f} MB (copies of {len(samples)} real samples), "
          f"best of {args.repeat}, {len(os.sched_getaffinity(0))} cores available")
    if not compiled:
        print("  (the compiled scanner is not built: `pip install -e .` needs a C compiler)")
    baseline = seconds["line-by-line, 1 process"]
    for name, s in seconds.items():
        print(f"  {name:32s} {megabytes / s:8.1f} MB/s {args.copies / s:9.1f} files/s "
              f"{baseline / s:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
