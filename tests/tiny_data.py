"""A tiny prepared dataset for end-to-end tests: 6 classes of 20-joint skeletons (kinect20),
8 samples each; class c oscillates joint 2c along axis c % 3; even samples are the `xsub`
training part."""

import numpy as np

from neuron.data.store import write_dataset

K, PER_CLASS, T, V = 6, 8, 20, 20


def write_tiny_dataset(path):
    rng = np.random.default_rng(0)
    x = np.zeros((K * PER_CLASS, 3, T, V, 1), np.float32)
    rows = []
    for c in range(K):
        for i in range(PER_CLASS):
            n, frames = len(rows), int(rng.integers(14, T + 1))
            x[n, :, :frames, :, 0] = rng.normal(0, 0.05, (3, frames, V))
            x[n, c % 3, :frames, 2 * c, 0] += np.sin(2 * np.pi * (c + 1) * np.arange(frames) / frames)
            rows.append({"name": f"s{n:02d}", "label": c, "frames": frames, "subject": i % 4 + 1,
                         "xsub": "train" if i % 2 == 0 else "test"})
    return write_dataset(path, x, rows, name="tiny", layout="kinect20",
                         class_names=[f"class {k}" for k in range(K)], benchmarks=["xsub"])
