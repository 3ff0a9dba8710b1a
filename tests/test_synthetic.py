"""The embedded synthetic dataset: class table, splits, array format, kinematics, determinism."""

import json
import re
import time

import numpy as np
import pytest

from neuron.data import synthetic as syn
from neuron.data import synthetic_motion as motion
from neuron.data.layouts import NTU25
from neuron.data.store import load_dataset, read_meta
from tiny_data import write_tiny_dataset

J = motion.J


@pytest.fixture(scope="module")
def default_set():
    """The default dataset (40 samples per class, seed 0), with the CPU time its generation took."""
    start = time.process_time()
    x, rows = syn.generate()
    return x, rows, time.process_time() - start


# Class table and splits.

def test_class_table_is_compositional():
    assert len(syn.CLASS_NAMES) == len(syn.CLASS_ATTRIBUTES) == 68
    assert len(set(syn.CLASS_NAMES)) == 68
    keys = [(a["steps"], a["manner"]) for a in syn.CLASS_ATTRIBUTES]
    assert len(set(keys)) == 68
    for name, (steps, manner) in zip(syn.CLASS_NAMES, keys):
        assert manner in syn.MANNERS, name
        for part, movement in steps:
            family, _ = syn.PARTS[part]
            assert movement in motion.PATTERNS[family], name
            assert part in name, name
        assert len(steps) == (2 if manner == "then" else 1), name
        assert name.endswith(manner) or manner == "then", name
    counts = {m: sum(k[1] == m for k in keys) for m in syn.MANNERS}
    assert counts == {**{m: 15 for m in syn.MANNERS}, "then": 8}


def test_every_sequence_comes_in_both_orders():
    sequences = {a["steps"] for a in syn.CLASS_ATTRIBUTES if a["manner"] == "then"}
    assert sequences == {steps[::-1] for steps in sequences}
    assert all(steps[0] != steps[1] for steps in sequences)


@pytest.mark.parametrize("split", list(syn.UNSEEN_SPLITS))
def test_unseen_classes_are_new_combinations_of_seen_attributes(split):
    unseen = syn.UNSEEN_SPLITS[split]
    assert len(unseen) == {"63_5": 5, "56_12": 12}.get(split, 5)
    assert len(set(unseen)) == len(unseen) and all(0 <= c < 68 for c in unseen)
    seen = [c for c in range(68) if c not in unseen]
    seen_parts = {p for c in seen for p, _ in syn.CLASS_ATTRIBUTES[c]["steps"]}
    seen_movements = {m for c in seen for _, m in syn.CLASS_ATTRIBUTES[c]["steps"]}
    seen_manners = {syn.CLASS_ATTRIBUTES[c]["manner"] for c in seen}
    for c in unseen:
        a = syn.CLASS_ATTRIBUTES[c]
        for part, movement in a["steps"]:
            assert part in seen_parts and movement in seen_movements, \
                f"split {split}: unseen class {c} ({syn.CLASS_NAMES[c]}) has a part or movement no seen class has"
        assert a["manner"] in seen_manners, f"split {split}: unseen class {c} has a manner no seen class has"


def test_default_split_needs_the_order_of_the_phases():
    """56_12 holds two sequence pairs in both orders among its unseen classes, and sees other
    sequences in both orders, so that phase order is learnt on seen classes and needed on unseen."""
    unseen = set(syn.UNSEEN_SPLITS["56_12"])
    steps = [a["steps"] if a["manner"] == "then" else None for a in syn.CLASS_ATTRIBUTES]
    reversed_pairs = {(c, steps.index(steps[c][::-1])) for c in range(68) if steps[c]}
    assert sum(c in unseen and r in unseen for c, r in reversed_pairs) == 4
    assert sum(c not in unseen and r not in unseen for c, r in reversed_pairs) == 4
    assert not any((c in unseen) != (r in unseen) for c, r in reversed_pairs)


# Array format and manifest.

def test_shapes_manifest_and_benchmark(default_set):
    x, rows, _ = default_set
    assert x.shape == (2720, 3, syn.MAX_FRAMES, 25, 1) and x.dtype == np.float32
    assert len(rows) == 2720
    labels = np.array([r["label"] for r in rows])
    assert np.array_equal(np.bincount(labels, minlength=68), np.full(68, 40))
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
        class_mean = np.array([motion_of[group][labels == c].mean() for c in range(68)])
        acting = np.array([any(group in acting_groups.get(part, (part,)) for part, _ in a["steps"])
                           for a in syn.CLASS_ATTRIBUTES])
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
    by_triple = {(*a["steps"][0], a["manner"]): speed[labels == c].mean()
                 for c, a in enumerate(syn.CLASS_ATTRIBUTES) if a["manner"] != "then"}
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


def test_a_sequence_moves_its_parts_in_its_order(default_set):
    """The first step's part (relative to its own origin) moves earlier in "A then B" than in
    "B then A": the time centroid of its displacement from the first frame, over the class."""
    x, rows, _ = default_set
    labels = np.array([r["label"] for r in rows])
    origin = {"right arm": "right shoulder", "left arm": "left shoulder", "both arms": "spine shoulder",
              "right leg": "right hip", "left leg": "left hip", "torso": "base of spine"}
    tip = {"right arm": "right wrist", "left arm": "left wrist", "both arms": "right wrist",
           "right leg": "right ankle", "left leg": "left ankle", "torso": "head"}

    def centroid(c, part):  # mean over the class of each sample's displacement-weighted mean frame
        p = x[labels == c, :, :, :, 0].astype(np.float64)
        rel = p[..., J[tip[part]]] - p[..., J[origin[part]]]  # (n, 3, T)
        frames = np.array([r["frames"] for r in rows])[labels == c]
        d = np.linalg.norm(rel - rel[..., :1], axis=1) * (np.arange(rel.shape[-1]) < frames[:, None])
        return ((d * np.arange(d.shape[1])).sum(1) / d.sum(1)).mean()

    sequences = [(c, a["steps"]) for c, a in enumerate(syn.CLASS_ATTRIBUTES) if a["manner"] == "then"]
    for c, steps in sequences:
        reverse = next(r for r, other in sequences if other == steps[::-1])
        first_part = steps[0][0]
        assert centroid(c, first_part) < centroid(reverse, first_part) - 5, \
            f"{syn.CLASS_NAMES[c]}: its first part does not move clearly earlier than in {syn.CLASS_NAMES[reverse]}"


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


def test_an_outdated_copy_is_generated_again(tmp_path):
    """`overwrite="outdated"` (how the project finds its default data) regenerates a copy made
    by another version of the generator, with that copy's own seed and size, and keeps a current one."""
    out = syn.prepare_synthetic(tmp_path / "synthetic", samples_per_class=2, seed=3)
    meta_file = out / "meta.json"
    meta = read_meta(out)
    meta["class_names"] = meta["class_names"][:60]
    meta["source"]["classes"] = meta["source"]["classes"][:60]  # as written before the sequences
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="other parameters"):
        syn.prepare_synthetic(out, samples_per_class=2, seed=3)
    assert syn.prepare_synthetic(out, overwrite="outdated") == out
    again = read_meta(out)
    assert again["source"]["seed"] == 3 and again["source"]["samples_per_class"] == 2
    assert again["class_names"] == syn.CLASS_NAMES
    mtime = meta_file.stat().st_mtime_ns
    syn.prepare_synthetic(out, overwrite="outdated")
    assert meta_file.stat().st_mtime_ns == mtime
    # Another dataset in the folder is no outdated copy: refused, left as it is.
    other = write_tiny_dataset(tmp_path / "other")
    with pytest.raises(ValueError, match="prepared as tiny, not synthetic"):
        syn.prepare_synthetic(other, overwrite="outdated")
    assert read_meta(other)["name"] != "synthetic"
