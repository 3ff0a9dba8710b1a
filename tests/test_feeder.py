import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from neuron.data.feeder import SkeletonFeeder, crop_bounds, resize_frames, rotate, rotation_matrix, split_train_val
from neuron.data.layouts import NTU25
from neuron.data.store import SkeletonSet

T, V, M = 120, 25, 2


def make_set(frames=(120, 90, 40, 64, 100, 75), labels=(0, 1, 2, 1, 3, 2), seed=0) -> SkeletonSet:
    """Random skeletons whose valid frames are never all-zero, zero-padded after them;
    the second person is absent (zero) in odd samples."""
    rng = np.random.default_rng(seed)
    x = np.zeros((len(frames), 3, T, V, M), dtype=np.float32)
    for i, f in enumerate(frames):
        x[i, :, :f] = rng.normal(size=(3, f, V, M)) + 5.0  # offset: no value is near 0
        if i % 2:
            x[i, ..., 1] = 0
    manifest = pd.DataFrame({"name": [f"s{i}" for i in range(len(frames))],
                             "label": list(labels), "frames": list(frames)})
    return SkeletonSet(x, manifest, ["a", "b", "c", "d"], NTU25, "toy")


def test_shapes_and_types():
    feeder = SkeletonFeeder(make_set(), random_crop=True, random_rotation=True)
    x, label, index = feeder[2]
    assert x.shape == (3, 64, V, M) and x.dtype == torch.float32
    assert isinstance(label, int) and index == 2
    batch = next(iter(DataLoader(feeder, batch_size=4)))
    assert batch[0].shape == (4, 3, 64, V, M)


def test_window_is_configurable():
    x, _, _ = SkeletonFeeder(make_set(), window=32)[0]
    assert x.shape == (3, 32, V, M)


def test_classes_select_and_reindex():
    data = make_set()
    feeder = SkeletonFeeder(data, classes=[2, 0])
    assert feeder.rows.tolist() == [0, 2, 5]
    assert feeder.labels.tolist() == [1, 0, 0]
    assert [feeder[i][1] for i in range(len(feeder))] == [1, 0, 0]
    assert feeder.class_names == ["c", "a"]
    assert SkeletonFeeder(data).labels.tolist() == list(data.labels)


def test_bad_classes_and_frames_are_reported():
    with pytest.raises(ValueError, match="repeats"):
        SkeletonFeeder(make_set(), classes=[1, 1])
    with pytest.raises(ValueError, match="outside"):
        SkeletonFeeder(make_set(), classes=[7])
    data = make_set()
    data.manifest.loc[3, "frames"] = 0
    with pytest.raises(ValueError, match="s3"):
        SkeletonFeeder(data)


def test_evaluation_is_deterministic_full_clip():
    data = make_set()
    feeder = SkeletonFeeder(data)
    a = torch.stack([feeder[i][0] for i in range(len(feeder))])
    feeder.set_epoch(5)
    b = torch.stack([feeder[i][0] for i in range(len(feeder))])
    assert torch.equal(a, b)
    # A 64-frame clip resized to 64 frames is itself.
    np.testing.assert_array_equal(a[3].numpy(), data.x[3, :, :64])
    # The full clip's first and last output frames blend its first and last valid frames.
    np.testing.assert_allclose(a[0, :, 0].numpy(), 0.5625 * data.x[0, :, 0] + 0.4375 * data.x[0, :, 1],
                               rtol=1e-5)


def test_training_is_random_but_seeded():
    data = make_set()

    def epoch(feeder, e):
        feeder.set_epoch(e)
        return torch.stack([feeder[i][0] for i in range(len(feeder))])

    one = SkeletonFeeder(data, random_crop=True, random_rotation=True, seed=3)
    two = SkeletonFeeder(data, random_crop=True, random_rotation=True, seed=3)
    other_seed = SkeletonFeeder(data, random_crop=True, random_rotation=True, seed=4)
    assert torch.equal(epoch(one, 0), epoch(two, 0))
    assert not torch.equal(epoch(one, 0), epoch(one, 1))
    assert not torch.equal(epoch(one, 0), epoch(other_seed, 0))


def test_augmentation_does_not_depend_on_workers():
    feeder = SkeletonFeeder(make_set(), random_crop=True, random_rotation=True, seed=1)
    feeder.set_epoch(2)
    serial = torch.cat([b[0] for b in DataLoader(feeder, batch_size=2)])
    parallel = torch.cat([b[0] for b in DataLoader(feeder, batch_size=2, num_workers=2)])
    assert torch.equal(serial, parallel)


def test_switches_are_independent():
    data = make_set()
    plain = SkeletonFeeder(data)[0][0]
    crop_only = SkeletonFeeder(data, random_crop=True)[0][0]
    rot_only = SkeletonFeeder(data, random_rotation=True)[0][0]
    assert not torch.equal(plain, crop_only) and not torch.equal(plain, rot_only)
    # Rotation alone keeps every point's distance to the origin.
    torch.testing.assert_close(rot_only.norm(dim=0), plain.norm(dim=0))


def test_crop_never_samples_padding():
    data = make_set()
    feeder = SkeletonFeeder(data, random_crop=True, random_rotation=True)
    for epoch in range(20):
        feeder.set_epoch(epoch)
        for i in range(len(feeder)):
            x = feeder[i][0]
            person0_frame_norms = x[..., 0].abs().sum(dim=(0, 2))
            assert (person0_frame_norms > 0).all()


def test_crop_bounds():
    rng = np.random.default_rng(0)
    assert crop_bounds(300, 64, None) == (0, 300)
    lengths = set()
    for _ in range(500):
        start, stop = crop_bounds(300, 64, rng)
        assert 0 <= start < stop <= 300
        assert 150 <= stop - start <= 300
        lengths.add(stop - start)
    assert min(lengths) < 160 and max(lengths) > 290
    for _ in range(50):
        start, stop = crop_bounds(100, 64, rng)
        assert stop - start >= 64  # at least the window while the clip has it
        assert crop_bounds(40, 64, rng) == (0, 40)  # shorter clips are kept whole


def test_resize_matches_torch_linear_interpolation():
    rng = np.random.default_rng(0)
    for length in (1, 7, 64, 200):
        x = rng.normal(size=(3, length, 5, 2)).astype(np.float32)
        ours = resize_frames(x, 64)
        flat = torch.from_numpy(x).permute(0, 2, 3, 1).reshape(1, -1, length)
        ref = F.interpolate(flat, size=64, mode="linear", align_corners=False)
        ref = ref.reshape(3, 5, 2, 64).permute(0, 3, 1, 2).numpy()
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)


def test_rotation_is_a_rotation_and_keeps_bone_lengths():
    rng = np.random.default_rng(0)
    r = rotation_matrix(np.array([0.3, -0.2, 0.1]))
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(r), 1.0)
    x = rng.normal(size=(3, 64, V, M)).astype(np.float32)
    y = rotate(x, rng, 0.3)
    assert not np.allclose(x, y)
    child, parent = np.array(NTU25.bones).T
    np.testing.assert_allclose(np.linalg.norm(y[:, :, child] - y[:, :, parent], axis=0),
                               np.linalg.norm(x[:, :, child] - x[:, :, parent], axis=0), rtol=1e-5)


def test_rotation_angles_stay_within_bound():
    rng = np.random.default_rng(0)
    x = np.zeros((3, 1, 1, 1), dtype=np.float32)
    x[0] = 1.0  # the unit x vector; Rz Ry Rx maps it to x-component cos(ay) * cos(az)
    xs = np.array([rotate(x, rng, 0.3)[0, 0, 0, 0] for _ in range(500)])
    assert xs.min() >= np.cos(0.3) ** 2 - 1e-6
    assert xs.min() < np.cos(0.25) ** 2  # the bound is approached
    np.testing.assert_array_equal(rotate(x, rng, 0.0), x)


def test_split_train_val_stratified_and_disjoint():
    labels = np.repeat(np.arange(5), [30, 11, 2, 1, 50])
    train, val = split_train_val(labels, fraction=0.1, seed=0)
    assert len(np.intersect1d(train, val)) == 0
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(labels)))
    val_counts = np.bincount(labels[val], minlength=5)
    assert val_counts.tolist() == [3, 1, 1, 0, 5]
    assert set(labels[train]) == set(range(5))
    again = split_train_val(labels, fraction=0.1, seed=0)
    assert np.array_equal(again[1], val)
    assert not np.array_equal(split_train_val(labels, fraction=0.1, seed=1)[1], val)
    with pytest.raises(ValueError, match="fraction"):
        split_train_val(labels, fraction=1.0)
