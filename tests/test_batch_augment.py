import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from neuron.data.batch_augment import BatchAugmentation, augment_batch, draw_batch
from neuron.data.feeder import SkeletonFeeder
from neuron.data.layouts import NTU25
from neuron.data.store import SkeletonSet

T, V, M = 96, 25, 2
# Valid frames around the window (64): shorter, equal, one more, longer, the stored length,
# and the extremes of one and two frames.
FRAMES = (40, 64, 65, 90, T, 1, 2, 63, 77, 50)

pytestmark = pytest.mark.usefixtures("single_thread")


def make_set(frames=FRAMES, seed=0) -> SkeletonSet:
    """Random skeletons zero-padded after their valid frames; the second person is absent
    (zero) in odd samples."""
    rng = np.random.default_rng(seed)
    x = np.zeros((len(frames), 3, T, V, M), dtype=np.float32)
    for i, f in enumerate(frames):
        x[i, :, :f] = rng.normal(size=(3, f, V, M)) + 2.0
        if i % 2:
            x[i, ..., 1] = 0
    manifest = pd.DataFrame({"name": [f"s{i}" for i in range(len(frames))],
                             "label": [i % 3 for i in range(len(frames))], "frames": list(frames)})
    return SkeletonSet(x, manifest, ["a", "b", "c"], NTU25, "toy")


def per_sample(feeder: SkeletonFeeder, indices) -> torch.Tensor:
    return torch.stack([feeder[int(i)][0] for i in indices])


def batched(raw: SkeletonFeeder, indices, device="cpu") -> torch.Tensor:
    x = torch.stack([raw[int(i)][0] for i in indices]).to(device)
    return augment_batch(x, draw_batch(raw, indices))


@pytest.mark.parametrize("flags", [dict(random_crop=True, random_rotation=True),
                                   dict(random_crop=True), dict(random_rotation=True)])
@pytest.mark.parametrize("seed", [0, 3])
def test_training_batch_equals_feeder(flags, seed):
    data = make_set()
    feeder = SkeletonFeeder(data, seed=seed, **flags)
    raw = SkeletonFeeder(data, seed=seed, raw=True, **flags)
    indices = np.random.default_rng(seed).permutation(len(feeder))  # any order, as when shuffled
    for epoch in (0, 1, 7):
        feeder.set_epoch(epoch)
        raw.set_epoch(epoch)
        expected = per_sample(feeder, indices)
        got = batched(raw, indices)
        assert got.shape == (len(FRAMES), 3, 64, V, M) and got.dtype == torch.float32
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_other_window_and_ratio_equal_feeder():
    options = dict(window=32, crop_ratio=(0.2, 0.9), max_angle=1.0, random_crop=True,
                   random_rotation=True, seed=11)
    data = make_set()
    feeder, raw = SkeletonFeeder(data, **options), SkeletonFeeder(data, raw=True, **options)
    indices = np.arange(len(feeder))
    torch.testing.assert_close(batched(raw, indices), per_sample(feeder, indices), rtol=0, atol=1e-5)


def test_evaluation_batch_equals_feeder_exactly():
    data = make_set()
    feeder, raw = SkeletonFeeder(data), SkeletonFeeder(data, raw=True)
    indices = np.arange(len(feeder))
    aug = draw_batch(raw, indices)
    assert aug.rotation is None
    np.testing.assert_array_equal(aug.start, 0)
    np.testing.assert_array_equal(aug.stop, FRAMES)
    # Same tables, same float32 operations: on the CPU not even rounding differs.
    assert torch.equal(batched(raw, indices), per_sample(feeder, indices))


def test_shuffled_loader_batches_equal_feeder():
    """The wiring a training loop uses: raw clips from a shuffled DataLoader, augmented per batch."""
    data = make_set()
    flags = dict(random_crop=True, random_rotation=True, seed=5)
    feeder, raw = SkeletonFeeder(data, **flags), SkeletonFeeder(data, raw=True, **flags)
    feeder.set_epoch(2)
    raw.set_epoch(2)
    loader = DataLoader(raw, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0))
    seen = []
    for x, y, index in loader:
        assert x.shape == (len(index), 3, T, V, M)
        torch.testing.assert_close(augment_batch(x, draw_batch(raw, index)), per_sample(feeder, index),
                                   rtol=0, atol=1e-5)
        assert y.tolist() == raw.labels[index].tolist()
        seen += index.tolist()
    assert sorted(seen) == list(range(len(raw)))


def test_clips_picked_by_rows_equal_feeder():
    """The whole stored set as x, the batch's clips named by rows: no batch of raw clips is built."""
    data = make_set()
    flags = dict(classes=[1, 2], random_crop=True, random_rotation=True, seed=9)
    feeder, raw = SkeletonFeeder(data, **flags), SkeletonFeeder(data, raw=True, **flags)
    assert not np.array_equal(raw.rows, np.arange(len(raw)))  # rows differ from feeder positions
    index = torch.tensor([3, 0, 5, 1])
    got = augment_batch(torch.from_numpy(data.x), draw_batch(raw, index), rows=raw.rows[index])
    torch.testing.assert_close(got, per_sample(feeder, index), rtol=0, atol=1e-5)


def test_absent_persons_and_padding_stay_out():
    data = make_set()
    raw = SkeletonFeeder(data, random_crop=True, random_rotation=True, raw=True)
    indices = np.arange(len(raw))
    for epoch in range(5):
        raw.set_epoch(epoch)
        out = batched(raw, indices)
        assert (out[1::2, ..., 1] == 0).all()  # zero second person stays exactly zero
        # Crops never reach the zero padding: every frame of the first person is present.
        assert (out[..., 0].abs().sum(dim=(1, 3)) > 0).all()


def test_draw_batch_follows_the_feeder():
    raw = SkeletonFeeder(make_set(), random_crop=True, random_rotation=True, raw=True, seed=1)
    indices = torch.tensor([7, 2, 2, 0])
    aug = draw_batch(raw, indices)
    assert aug.rotation.shape == (4, 3, 3) and aug.window == 64
    for k, i in enumerate(indices.tolist()):
        start, stop, angles = raw.draw(i)
        assert (aug.start[k], aug.stop[k]) == (start, stop)
        np.testing.assert_allclose(aug.rotation[k] @ aug.rotation[k].T, np.eye(3), atol=1e-12)
    raw.set_epoch(1)
    assert not np.array_equal(draw_batch(raw, indices).rotation, aug.rotation)


def test_raw_feeder_returns_the_stored_clip():
    data = make_set()
    x, label, index = SkeletonFeeder(data, classes=[1, 2], raw=True)[1]
    np.testing.assert_array_equal(x.numpy(), data.x[2])  # rows of classes 1, 2: 1, 2, 4, 5, ...
    assert (label, index) == (1, 1)


def test_bad_batches_are_reported():
    data = make_set()
    raw = SkeletonFeeder(data, raw=True)
    aug = draw_batch(raw, [0, 2])  # crops up to frame 65
    with pytest.raises(ValueError, match="raw=True"):
        augment_batch(torch.zeros(2, 3, 64, V, M), aug)  # already resized clips
    with pytest.raises(ValueError, match="2 clips, the batch has 3"):
        augment_batch(torch.zeros(3, 3, T, V, M), aug)
    with pytest.raises(ValueError, match=r"\(N, 3, T, V, M\)"):
        augment_batch(torch.zeros(2, 2, T, V, M), aug)
    with pytest.raises(ValueError, match="rows must name one of the 10 clips"):
        augment_batch(torch.from_numpy(data.x), aug, rows=[0, 10])
    with pytest.raises(ValueError, match="rows must name"):
        augment_batch(torch.from_numpy(data.x), aug, rows=[0])
    empty_crop = BatchAugmentation(np.array([5]), np.array([5]), None, 64)
    with pytest.raises(ValueError, match="non-empty"):
        augment_batch(torch.zeros(1, 3, T, V, M), empty_crop)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_equals_feeder():
    data = make_set()
    flags = dict(random_crop=True, random_rotation=True, seed=4)
    feeder, raw = SkeletonFeeder(data, **flags), SkeletonFeeder(data, raw=True, **flags)
    indices = np.arange(len(feeder))
    got = batched(raw, indices, device="cuda")
    assert got.device.type == "cuda"
    torch.testing.assert_close(got.cpu(), per_sample(feeder, indices), rtol=0, atol=1e-5)
