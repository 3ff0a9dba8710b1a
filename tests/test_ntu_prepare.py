"""NTU preprocessing (CTR-GCN lineage) and `prepare_ntu` end to end on the real samples."""

import csv
import shutil

import numpy as np
import pytest

from neuron.data import ntu
from neuron.data.ntu import (
    MAX_FRAMES,
    UnusableSample,
    benchmark_parts,
    denoise,
    parse_sample_name,
    prepare_ntu,
    preprocess,
    split_bodies,
)
from neuron.data.ntu_raw import read_skeleton
from neuron.data.store import DatasetWriter, load_dataset, read_meta

# name: (subject, camera, setup, NTU60 xsub, NTU60 xview, NTU120 xset), from REFERENCE.md
KNOWN = {
    "S001C001P001R001A011": (1, 1, 1, "train", "test", "test"),
    "S001C003P008R002A058": (8, 3, 1, "train", "train", "test"),
    "S002C001P003R001A003": (3, 1, 2, "test", "test", "train"),
    "S003C001P015R001A034": (15, 1, 3, "train", "test", "test"),
    "S004C002P003R001A017": (3, 2, 4, "test", "train", "train"),
}
FRAMES = {"S001C001P001R001A011": 82, "S001C003P008R002A058": 70, "S002C001P003R001A003": 100,
          "S003C001P015R001A034": 71, "S004C002P003R001A017": 124}


def test_sample_names_and_benchmarks():
    for name, (subject, camera, setup, xsub, xview, xset) in KNOWN.items():
        ids = parse_sample_name(name)
        assert (ids["subject"], ids["camera"], ids["setup"]) == (subject, camera, setup)
        assert ids["action"] == int(name[-3:]) and ids["replication"] == int(name[13:16])
        assert benchmark_parts("ntu60", ids) == {"xsub": xsub, "xview": xview}
        # These subjects are all below 40, where both Xsub lists agree.
        assert benchmark_parts("ntu120", ids) == {"xsub": xsub, "xset": xset}
    assert benchmark_parts("ntu120", parse_sample_name("S018C001P045R001A061"))["xsub"] == "train"
    assert benchmark_parts("ntu120", parse_sample_name("S018C001P044R001A061"))["xsub"] == "test"
    with pytest.raises(ValueError, match="not an NTU RGB"):
        parse_sample_name("S01C001P001R001A011")


# --------------------------------------------------------------------------------------------
# One sample

@pytest.mark.parametrize("name", KNOWN)
def test_preprocess_real_sample(ntu_samples_dir, name):
    skeleton = read_skeleton(ntu_samples_dir / f"{name}.skeleton")
    sample = preprocess(skeleton)
    assert sample.x.shape == (3, FRAMES[name], 25, 2) and sample.x.dtype == np.float32
    assert sample.frames <= MAX_FRAMES
    np.testing.assert_array_equal(sample.x[:, 0, 1, 0], 0)  # actor 1's middle of the spine
    main = sample.actor_ids[0][0]
    raw = skeleton.xyz[skeleton.body_id == main]  # (T, 25, 3): every frame holds actor 1 here
    np.testing.assert_allclose(sample.x[:, :, :, 0].transpose(1, 2, 0), raw - raw[0, 1], atol=1e-6)
    if name.endswith("A058"):  # two people: actor 2 is the other body, moved by the same origin
        assert sample.actor_ids == ((72057594037944734,), (72057594037944738,))
        other = skeleton.xyz[skeleton.body_id == sample.actor_ids[1][0]]
        np.testing.assert_allclose(sample.x[:, :, :, 1].transpose(1, 2, 0), other - raw[0, 1], atol=1e-6)
    else:
        assert sample.actor_ids[1] == () and not sample.x[..., 1].any()


def test_actor_one_has_the_larger_motion(ntu_samples_dir):
    bodies, _ = split_bodies(read_skeleton(ntu_samples_dir / "S001C003P008R002A058.skeleton"))
    ranked, notes = denoise(bodies)
    assert notes == [] and [b.id for b in ranked] == [72057594037944734, 72057594037944738]
    assert ranked[0].motion > ranked[1].motion


# Synthetic multi-body files --------------------------------------------------------------------

def person(frames: int, *, shift=0.0, sway=0.0, wide=False, seed=0) -> np.ndarray:
    """(frames, 25, 3) joints: upright (y spread > x spread) unless wide; sways in x over time."""
    rng = np.random.default_rng(seed)
    base = np.stack([rng.uniform(-0.2, 0.2, 25), np.linspace(-0.8, 0.8, 25), np.full(25, 3.0)], 1)
    if wide:
        base[:, :2] = base[:, 1::-1] * [1.5, 0.2]  # lying across: x spread 2.4, y spread 0.08
    t = np.arange(frames)[:, None, None]
    return base + [shift, 0.0, 0.0] + sway * np.sin(t / 5.0) * [1.0, 0.0, 0.0]


def write_skeleton(path, num_frames: int, bodies: dict[int, tuple[int, np.ndarray]]):
    """bodies: bodyID -> (first frame, (n, 25, 3) positions); written in the real format."""
    lines = [str(num_frames)]
    for f in range(num_frames):
        here = [(i, xyz[f - start]) for i, (start, xyz) in bodies.items() if 0 <= f - start < len(xyz)]
        lines.append(str(len(here)))
        for body_id, joints in here:
            lines += [f"{body_id} 0 1 1 1 1 0 0.1 0.2 2", "25"]
            lines += [" ".join(f"{v:.7g}" for v in (*xyz, 0, 0, 0, 0, 0, 0, 0, 0, 2)) for xyz in joints]
    path.write_text("\r\n".join(lines) + "\r\n", newline="")
    return path


def test_denoising_drops_short_and_spread_bodies(tmp_path):
    path = write_skeleton(tmp_path / "S001C001P001R001A050.skeleton", 60, {
        1: (0, person(60, sway=0.3)),                 # actor 1: most motion
        2: (5, person(11, shift=1.0)),                # seen in 11 frames: noise
        3: (20, person(12, shift=-1.0, seed=1)),      # seen in 12 frames: kept
        4: (0, person(60, shift=2.0, wide=True)),     # spread wider in x than y: noise
        5: (0, person(60, shift=-2.0, sway=0.15)),    # the second person
    })
    sample = preprocess(read_skeleton(path))
    assert any("body 2" in n and "11 <= 11" in n for n in sample.notes)
    assert any("body 4" in n and "spread" in n for n in sample.notes)
    assert len(sample.notes) == 2
    # Body 3 overlaps actor 1, then body 5 takes actor 2 ([0, 59]), so body 3 overlaps both.
    assert sample.actor_ids == ((1,), (5,))
    assert sample.frames == 60


def test_second_body_fills_actor_one_when_disjoint(tmp_path):
    """A person re-detected under a new bodyID after the first vanished joins actor 1's slot."""
    path = write_skeleton(tmp_path / "S001C001P001R001A001.skeleton", 50, {
        10: (0, person(30, sway=0.3)),
        11: (30, person(20, sway=0.1, seed=2)),
    })
    skeleton = read_skeleton(path)
    sample = preprocess(skeleton)
    assert sample.actor_ids == ((10, 11), ())
    assert sample.frames == 50 and not sample.x[..., 1].any()
    np.testing.assert_allclose(sample.x[:, 30:, :, 0].transpose(1, 2, 0),
                               skeleton.xyz[skeleton.body_id == 11] - skeleton.xyz[0, 1], atol=1e-6)


def test_actor_two_interval_starts_at_frame_zero(tmp_path):
    """The lineage's virtual [0, 0] start: once a body fills actor 2 from frame 20, a later
    body in frames 0..14 overlaps actor 2's interval [0, 45] and is dropped."""
    path = write_skeleton(tmp_path / "S001C001P001R001A052.skeleton", 60, {
        1: (0, person(60, sway=0.4)),
        2: (20, person(26, shift=1.0, sway=0.2)),
        3: (0, person(15, shift=-1.0)),
    })
    sample = preprocess(read_skeleton(path))
    assert sample.actor_ids == ((1,), (2,))
    assert not sample.x[:, :20, :, 1].any()


def test_spread_noise_lowers_motion_and_reranks(tmp_path):
    """Half of body 20's frames are spread noise: kept, but ranked by its clean frames only."""
    noisy = person(40)
    noisy[::2] = person(20, shift=0.0, wide=True) * [3.0, 1.0, 1.0]  # wild x in every other frame
    path = write_skeleton(tmp_path / "S001C001P001R001A051.skeleton", 40, {
        20: (0, noisy),
        21: (0, person(40, shift=1.0, sway=0.2, seed=3)),
    })
    bodies, _ = split_bodies(read_skeleton(path))
    assert bodies[0].motion > bodies[1].motion  # before denoising body 20 looks busiest
    ranked, notes = denoise(bodies)
    assert notes == [] and [b.id for b in ranked] == [21, 20]


def test_frames_without_actors_are_removed(tmp_path):
    path = write_skeleton(tmp_path / "S001C001P001R001A001.skeleton", 40, {
        1: (0, person(15, sway=0.2)),
        2: (25, person(15, sway=0.1)),  # frames 15..24 hold nobody at all
    })
    sample = preprocess(read_skeleton(path))
    assert sample.frames == 30 and sample.actor_ids == ((1, 2), ())


def test_no_body_left(tmp_path):
    path = write_skeleton(tmp_path / "S001C001P001R001A001.skeleton", 30, {
        1: (0, person(11)), 2: (15, person(10))})
    with pytest.raises(UnusableSample, match="no body survives denoising"):
        preprocess(read_skeleton(path))
    empty = write_skeleton(tmp_path / "S001C001P001R001A002.skeleton", 3, {})
    with pytest.raises(UnusableSample, match="no body in any frame"):
        preprocess(read_skeleton(empty))


def test_single_body_is_never_denoised(tmp_path):
    path = write_skeleton(tmp_path / "S001C001P001R001A001.skeleton", 5, {3: (0, person(5, wide=True))})
    assert preprocess(read_skeleton(path)).frames == 5


# --------------------------------------------------------------------------------------------
# The whole dataset

@pytest.fixture
def raw_dir(ntu_samples_dir, tmp_path):
    """The five samples (symlinked) plus an NTU 120-only copy in a nested folder."""
    raw = tmp_path / "raw"
    (raw / "nturgbd_skeletons_s018_to_s032").mkdir(parents=True)
    for path in ntu_samples_dir.glob("*.skeleton"):
        (raw / path.name).symlink_to(path)
    shutil.copy(ntu_samples_dir / "S002C001P003R001A003.skeleton",
                raw / "nturgbd_skeletons_s018_to_s032" / "S018C002P045R001A061.skeleton")
    return raw


def test_prepare_ntu60(raw_dir, tmp_path):
    missing = tmp_path / "missing.txt"
    missing.write_text("302 of the captured samples have missing skeletons.\n\nS003C001P015R001A034\n")
    out = prepare_ntu("ntu60", raw_dir, tmp_path / "ntu60", workers=1, missing_file=missing,
                      shard_size=2)
    data = load_dataset(out)
    names = ["S001C001P001R001A011", "S001C003P008R002A058", "S002C001P003R001A003",
             "S004C002P003R001A017"]
    assert data.manifest["name"].tolist() == names
    assert data.x.shape == (4, 3, MAX_FRAMES, 25, 2)
    assert data.labels.tolist() == [10, 57, 2, 16]
    assert data.frames.tolist() == [FRAMES[n] for n in names]
    assert data.manifest["actors"].tolist() == [1, 2, 1, 1]
    for i, name in enumerate(names):
        subject, camera, setup, xsub, xview, _ = KNOWN[name]
        row = data.manifest.iloc[i]
        assert (row.subject, row.camera, row.setup) == (subject, camera, setup)
        assert (row.xsub, row.xview) == (xsub, xview)
        expected = preprocess(read_skeleton(raw_dir / f"{name}.skeleton")).x
        np.testing.assert_array_equal(data.x[i, :, :FRAMES[name]], expected)
        assert not data.x[i, :, FRAMES[name]:].any()  # zero padding
    meta = read_meta(out)
    assert meta["benchmarks"] == ["xsub", "xview"] and len(meta["class_names"]) == 60
    assert meta["class_names"][10] == data.class_names[10] and meta["layout"] == "ntu25"
    assert meta["source"]["skipped_missing_skeletons"] == 1 and meta["source"]["skipped_unusable"] == 0
    assert len(meta["shards"]) == 2


def test_prepare_ntu120_finds_the_missing_list(raw_dir, tmp_path):
    (raw_dir / "NTU_RGBD120_samples_with_missing_skeletons.txt").write_text("S001C001P001R001A011\n")
    out = prepare_ntu("ntu120", raw_dir, tmp_path / "ntu120", workers=2, shard_size=3)
    data = load_dataset(out)
    assert data.manifest["name"].tolist() == [
        "S001C003P008R002A058", "S002C001P003R001A003", "S003C001P015R001A034",
        "S004C002P003R001A017", "S018C002P045R001A061"]
    row = data.manifest.iloc[-1]
    assert (row.label, row.setup, row.subject, row.xsub, row.xset) == (60, 18, 45, "train", "train")
    assert data.manifest["xset"].tolist() == ["test", "train", "test", "train", "train"]
    assert len(data.class_names) == 120 and read_meta(out)["benchmarks"] == ["xsub", "xset"]
    assert read_meta(out)["source"]["skipped_missing_skeletons"] == 1


def test_resume_reads_only_what_is_left(raw_dir, tmp_path, monkeypatch):
    reference = load_dataset(prepare_ntu("ntu60", raw_dir, tmp_path / "whole", workers=1, shard_size=2))

    original = DatasetWriter.add_shard

    def add_then_crash(self, x, rows):
        original(self, x, rows)
        raise KeyboardInterrupt("simulated interruption after the first shard")

    monkeypatch.setattr(DatasetWriter, "add_shard", add_then_crash)
    with pytest.raises(KeyboardInterrupt):
        prepare_ntu("ntu60", raw_dir, tmp_path / "resumed", workers=1, shard_size=2)
    monkeypatch.setattr(DatasetWriter, "add_shard", original)

    parsed = []

    def spy(path):
        parsed.append(path.stem)
        return read_skeleton(path)

    monkeypatch.setattr(ntu, "read_skeleton", spy)
    resumed = load_dataset(prepare_ntu("ntu60", raw_dir, tmp_path / "resumed", workers=1, shard_size=2))
    done_first = reference.manifest["name"].tolist()[:2]
    assert parsed == [n for n in reference.manifest["name"] if n not in done_first]
    assert resumed.manifest.equals(reference.manifest)
    np.testing.assert_array_equal(resumed.x, reference.x)


def test_bad_files_are_reported_and_skipped(raw_dir, tmp_path, capsys):
    source = (raw_dir / "S001C001P001R001A011.skeleton").read_text().split("\n")
    truncated = "\n".join(source[:400])
    non_numeric = "\n".join(source[:9] + [source[9].replace("0.", "O.", 1)] + source[10:])
    joints_24 = "\n".join(source[:3] + ["24"] + source[4:])
    for name, text in [("S005C001P001R001A001", truncated), ("S005C001P001R001A002", non_numeric),
                       ("S005C001P001R001A003", joints_24)]:
        (raw_dir / f"{name}.skeleton").write_text(text, newline="")
    (raw_dir / "S005C001P001R001A004.skeleton").write_text("0\r\n")  # no skeleton at all
    (raw_dir / "notes.skeleton").write_text("1\r\n")

    out = prepare_ntu("ntu60", raw_dir, tmp_path / "ntu60", workers=1)
    assert len(load_dataset(out)) == 5
    with open(out / "skipped.csv", newline="") as f:
        skipped = {row["name"]: row["reason"] for row in csv.DictReader(f)}
    assert sorted(skipped) == ["S005C001P001R001A001", "S005C001P001R001A002", "S005C001P001R001A003",
                               "S005C001P001R001A004", "notes"]
    assert "A001.skeleton, line 401: file ends inside frame 15 of 82" in skipped["S005C001P001R001A001"]
    assert "A002.skeleton, line 10: not a number: 'O." in skipped["S005C001P001R001A002"]
    assert "line 4: expected 25 joints, found 24" in skipped["S005C001P001R001A003"]
    assert "no body in any frame" in skipped["S005C001P001R001A004"]
    assert "not an NTU RGB+D sample name" in skipped["notes"]
    err = capsys.readouterr().err
    assert "line 401" in err and "line 10" in err and "line 4:" in err
    assert read_meta(out)["source"]["skipped_unusable"] == 5


def test_resume_refuses_another_dataset(raw_dir, tmp_path):
    out = prepare_ntu("ntu120", raw_dir, tmp_path / "out", workers=1)
    with pytest.raises(ValueError, match="out is prepared as ntu120 from .*, not ntu60 from"):
        prepare_ntu("ntu60", raw_dir, out, workers=1)


def test_unknown_dataset_and_missing_dir(tmp_path):
    with pytest.raises(ValueError, match="unknown NTU dataset"):
        prepare_ntu("ntu90", tmp_path, tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        prepare_ntu("ntu60", tmp_path / "nowhere", tmp_path / "out")
