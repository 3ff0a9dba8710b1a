"""The embedded synthetic dataset: class table, splits, array format, kinematics, determinism."""

import re
import time

import numpy as np
import pytest

from neuron.data import synthetic as syn
from neuron.data import synthetic_motion as motion
from neuron.data.layouts import NTU25
from neuron.data.store import load_dataset, read_meta

J = motion.J


@pytest.fixture(scope="module")
def default_set():
    """The default dataset (40 samples per class, seed 0), with the CPU time its generation took."""
    start = time.process_time()
    x, rows = syn.generate()
    return x, rows, time.process_time() - start


# Class table and splits.

def test_class_table_is_compositional():
    assert len(syn.CLASS_NAMES) == len(syn.CLASS_ATTRIBUTES) == 60
    assert len(set(syn.CLASS_NAMES)) == 60
    triples = [(a["part"], a["movement"], a["manner"]) for a in syn.CLASS_ATTRIBUTES]
    assert len(set(triples)) == 60
    for name, (part, movement, manner) in zip(syn.CLASS_NAMES, triples):
        family, _ = syn.PARTS[part]
        assert movement in motion.PATTERNS[family], name
        assert manner in syn.MANNERS, name
        assert part in name and name.endswith(manner), name
    counts = {m: sum(t[2] == m for t in triples) for m in syn.MANNERS}
    assert counts == {m: 15 for m in syn.MANNERS}


@pytest.mark.parametrize("split", list(syn.UNSEEN_SPLITS))
def test_unseen_classes_are_new_combinations_of_seen_attributes(split):
    unseen = syn.UNSEEN_SPLITS[split]
    assert len(unseen) == {"55_5": 5, "48_12": 12}.get(split, 5)
    assert len(set(unseen)) == len(unseen) and all(0 <= c < 60 for c in unseen)
    seen = [c for c in range(60) if c not in unseen]
    for c in unseen:
        for key in ("part", "movement", "manner"):
            value = syn.CLASS_ATTRIBUTES[c][key]
            assert any(syn.CLASS_ATTRIBUTES[s][key] == value for s in seen), \
                f"split {split}: unseen class {c} ({syn.CLASS_NAMES[c]}) has a {key} {value!r} no seen class has"


# Array format and manifest.

def test_shapes_manifest_and_benchmark(default_set):
    x, rows, _ = default_set
    assert x.shape == (2400, 3, syn.MAX_FRAMES, 25, 1) and x.dtype == np.float32
    assert len(rows) == 2400
    labels = np.array([r["label"] for r in rows])
    assert np.array_equal(np.bincount(labels, minlength=60), np.full(60, 40))
    names = [r["name"] for r in rows]
    assert len(set(names)) == len(names)
    for r in rows[::97]:
        assert re.fullmatch(r"syn_c(\d\d)_s(\d\d)_(\d{4})", r["name"])
        assert r["name"].startswith(f"syn_c{r['label']:02d}_s{r['subject']:02d}_")
    subjects = np.array([r["subject"] for r in rows])
    assert set(subjects) == set(range(1, syn.NUM_SUBJECTS + 1))
    assert all(r["xsub"] == ("train" if r["subject"] % 2 else "test") for r in rows)


def test_frames_follow_the_manner_and_padding_is_zero(default_set):
    x, rows, _ = default_set
    for i, r in enumerate(rows):
        lo, hi = syn.MANNERS[syn.CLASS_ATTRIBUTES[r["label"]]["manner"]].frames
        assert 40 <= lo <= r["frames"] <= hi <= syn.MAX_FRAMES
        assert not x[i, :, r["frames"]:].any(), f"sample {r['name']}: non-zero after its frames"
        assert np.abs(x[i, :, :r["frames"]]).sum(axis=(0, 2, 3)).min() > 0, f"sample {r['name']}: empty frame"


# Kinematics.

def test_rest_skeleton_covers_the_bone_tree():
    assert sorted(motion.ORDER) == list(range(25))
    assert np.array_equal(motion.MIRROR[motion.MIRROR], np.arange(25))
    # Every bone of the layout is a (child, parent) edge of the rooted tree, and has a length.
    for a, b in NTU25.bones:
        assert motion.PARENT[a] == b or motion.PARENT[b] == a
    lengths = np.linalg.norm(motion.REST_OFFSETS, axis=1)
    assert (np.delete(lengths, motion.ROOT) > 0.01).all()
    assert np.allclose(lengths, lengths[motion.MIRROR])


def test_bone_lengths_are_constant_and_set_by_the_subject(default_set):
    x, rows, _ = default_set
    child, parent = np.array(NTU25.bones).T
    per_subject = {}
    for i, r in enumerate(rows):
        p = x[i, :, :r["frames"], :, 0]  # (3, T, V)
        length = np.linalg.norm(p[:, :, child] - p[:, :, parent], axis=0)  # (T, bones)
        assert np.ptp(length, axis=0).max() < 2e-5, f"sample {r['name']}: bone lengths change over time"
        per_subject.setdefault(r["subject"], []).append(length[0])
    for subject, lengths in per_subject.items():
        assert np.ptp(np.array(lengths), axis=0).max() < 2e-5, f"subject {subject}: body differs between samples"
    heights = [np.mean(v) for _, v in sorted(per_subject.items())]
    assert np.ptp(heights) > 0.01  # subjects differ in size


def _frame(x_axis, y_axis):
    """Orthonormal frames (..., 3, 3), columns x, y, z, from an x direction and a rough y direction."""
    x = x_axis / np.linalg.norm(x_axis, axis=-1, keepdims=True)
    y = y_axis - x * (x * y_axis).sum(-1, keepdims=True)
    y /= np.linalg.norm(y, axis=-1, keepdims=True)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


# Joint groups, the joint they move relative to, and whose frame measures them: arms and head
# in the shoulder girdle's frame (so a bending torso does not count as arm motion), legs and
# torso in the pelvis frame.
_GROUPS = {
    "right arm": ("right shoulder", ("right elbow", "right wrist", "right hand"), "girdle"),
    "left arm": ("left shoulder", ("left elbow", "left wrist", "left hand"), "girdle"),
    "right leg": ("right hip", ("right knee", "right ankle", "right foot"), "pelvis"),
    "left leg": ("left hip", ("left knee", "left ankle", "left foot"), "pelvis"),
    "torso": ("base of spine", ("middle of spine", "spine shoulder", "left shoulder", "right shoulder"),
              "pelvis"),
    "head": ("spine shoulder", ("neck", "head"), "girdle"),
}


def _local_motion(x, frames):
    """x: (N, 3, T, V, 1), frames: (N,) -> {group: (N,) mean over its joints of the std over the
    valid frames of their position relative to the group's origin, in the group's frame}."""
    p = x[..., 0].transpose(0, 2, 3, 1).astype(np.float64)  # (N, T, V, 3)
    p[np.arange(p.shape[1])[None] >= frames[:, None]] = np.nan  # padding drops out of nan-statistics
    hips = np.nanmean(p[:, :, J["right hip"]] - p[:, :, J["left hip"]], axis=1)
    down = np.nanmean(p[:, :, J["base of spine"]] - (p[:, :, J["right hip"]] + p[:, :, J["left hip"]]) / 2,
                      axis=1)
    pelvis = _frame(hips, down)[:, None]  # (N, 1, 3, 3): not animated, its mean frame averages jitter out
    girdle = _frame(p[:, :, J["right shoulder"]] - p[:, :, J["left shoulder"]],
                    p[:, :, J["spine shoulder"]] - p[:, :, J["middle of spine"]])  # (N, T, 3, 3)
    out = {}
    for group, (origin, joints, frame) in _GROUPS.items():
        rel = p[:, :, [J[j] for j in joints]] - p[:, :, [J[origin]]]  # (N, T, joints, 3)
        local = rel @ (pelvis if frame == "pelvis" else girdle)
        out[group] = np.nanstd(local, axis=1).mean(axis=(1, 2))
    return out


def test_the_acting_part_moves_more_than_when_it_rests(default_set):
    """Each class's moving part (in its own frame) moves more, on average over the class, than that
    part does on average in any class where it rests."""
    x, rows, _ = default_set
    labels = np.array([r["label"] for r in rows])
    motion_of = _local_motion(x, np.array([r["frames"] for r in rows]))
    acting_groups = {"both arms": ("right arm", "left arm")}
    for group in _GROUPS:
        class_mean = np.array([motion_of[group][labels == c].mean() for c in range(60)])
        acting = np.array([group in acting_groups.get(a["part"], (a["part"],)) for a in syn.CLASS_ATTRIBUTES])
        quietest = np.flatnonzero(acting)[class_mean[acting].argmin()]
        busiest = np.flatnonzero(~acting)[class_mean[~acting].argmax()]
        assert class_mean[quietest] > class_mean[busiest], \
            f"{group}: '{syn.CLASS_NAMES[quietest]}' moves it less than '{syn.CLASS_NAMES[busiest]}'"


def test_manners_differ_in_tempo_and_amplitude(default_set):
    """Mean frame-to-frame speed of the moving part's joints (in the camera frame) over a class
    of one (part, movement): quickly > slowly, and slightly < the others."""
    x, rows, _ = default_set
    speed = np.array([np.linalg.norm(np.diff(x[i, :, :r["frames"], :, 0], axis=1), axis=0).mean()
                      for i, r in enumerate(rows)])
    labels = np.array([r["label"] for r in rows])
    by_triple = {tuple(a.values()): speed[labels == c].mean() for c, a in enumerate(syn.CLASS_ATTRIBUTES)}
    pairs = 0
    for (part, movement, manner), v in by_triple.items():
        for other in syn.MANNERS:
            w = by_triple.get((part, movement, other))
            if w is None or other == manner:
                continue
            pairs += 1
            if (manner, other) == ("quickly", "slowly"):
                assert v > w, f"{movement} {part}: quickly is not faster than slowly"
            if manner == "slightly" and other != "once":
                assert v < w, f"{movement} {part}: slightly moves more than {other}"
    assert pairs > 10


# Determinism and sizes.

def test_deterministic_and_independent_of_samples_per_class(default_set):
    x, rows, _ = default_set
    small, small_rows = syn.generate(samples_per_class=2, seed=0)
    again, _ = syn.generate(samples_per_class=2, seed=0)
    assert np.array_equal(small, again)
    # Sample i of class c does not depend on how many samples the classes have.
    first = np.flatnonzero(np.arange(len(rows)) % 40 < 2)
    assert np.array_equal(small, x[first])
    assert small_rows == [rows[i] for i in first]
    other_seed, _ = syn.generate(samples_per_class=2, seed=1)
    assert not np.array_equal(small, other_seed)


def test_generation_is_fast(default_set):
    *_, cpu_seconds = default_set
    assert cpu_seconds < 20, f"generating the default set took {cpu_seconds:.1f} s of CPU"


def test_rejects_bad_sizes():
    with pytest.raises(ValueError, match="samples_per_class"):
        syn.generate(samples_per_class=0)


# Prepared on disk.

def test_prepare_writes_a_loadable_dataset_and_keeps_it(tmp_path):
    out = syn.prepare_synthetic(tmp_path / "synthetic", samples_per_class=2, seed=3)
    data = load_dataset(out)
    x, rows = syn.generate(samples_per_class=2, seed=3)
    assert data.name == "synthetic" and data.layout.name == "ntu25"
    assert data.class_names == syn.CLASS_NAMES
    assert np.array_equal(data.x, x)
    assert data.manifest[["name", "label", "frames", "subject", "xsub"]].to_dict("records") == rows
    meta = read_meta(out)
    assert meta["benchmarks"] == ["xsub"]
    assert meta["source"]["seed"] == 3 and meta["source"]["samples_per_class"] == 2
    # Same parameters: kept as is; other parameters: refused.
    shard = out / meta["shards"][0]
    mtime = shard.stat().st_mtime_ns
    assert syn.prepare_synthetic(out, samples_per_class=2, seed=3) == out
    assert shard.stat().st_mtime_ns == mtime
    with pytest.raises(ValueError, match="other parameters"):
        syn.prepare_synthetic(out, samples_per_class=2, seed=4)
