"""The custom .npz dataset format: round trip and every validation error."""

import numpy as np
import pytest

from neuron.data.custom import CustomFormatError, load_custom_npz, prepare_custom, write_custom_npz
from neuron.data.store import load_dataset, read_meta

CLASSES = ["wave", "clap", "jump"]


def sample_arrays(n=6, frames=(5, 8, 3, 8, 1, 6), t=8, v=20, m=2, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 3, t, v, m), dtype=np.float32)
    for i, f in enumerate(frames):
        x[i, :, :f, :, 0] = rng.uniform(0.1, 1.0, size=(3, f, v))
    return {"x": x, "labels": np.arange(n) % 3, "class_names": np.array(CLASSES),
            "layout": np.array("kinect20")}


def save(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_round_trip_with_all_fields(tmp_path):
    arrays = sample_arrays()
    names = [f"clip{i}" for i in range(6)]
    split = ["train", "test", "train", "train", "test", "test"]
    path = write_custom_npz(tmp_path / "mine.npz", arrays["x"], arrays["labels"], CLASSES, "kinect20",
                            names=names, frames=[5, 8, 3, 8, 1, 6], split=split, subjects=[1, 2, 1, 3, 2, 4])
    out = prepare_custom(path, tmp_path / "prepared", center=False)
    data = load_dataset(out)
    np.testing.assert_array_equal(data.x, arrays["x"])
    assert data.name == "mine" and data.layout.name == "kinect20" and data.class_names == CLASSES
    assert list(data.manifest["name"]) == names
    assert list(data.labels) == [0, 1, 2, 0, 1, 2]
    assert list(data.frames) == [5, 8, 3, 8, 1, 6]
    assert list(data.manifest["default"]) == split
    assert list(data.manifest["subject"]) == [1, 2, 1, 3, 2, 4]
    assert read_meta(out)["benchmarks"] == ["default"]


def test_defaults_names_inferred_frames_no_benchmark(tmp_path):
    arrays = sample_arrays()
    arrays["x"] = arrays["x"].astype(np.float64)  # any float precision is accepted
    arrays["x"][2, :, 5] = 0  # a frame of zeros inside the sample does not end it
    arrays["x"][2, 1, 6, 3, 1] = 0.5  # nor does a missing first person
    path = save(tmp_path / "plain.npz", **arrays)
    data = load_dataset(prepare_custom(path, tmp_path / "prepared", name="plain set"))
    assert data.name == "plain set" and data.x.dtype == np.float32
    assert list(data.manifest["name"]) == [f"sample_{i:06d}" for i in range(6)]
    assert list(data.frames) == [5, 8, 7, 8, 1, 6]
    assert "default" not in data.manifest.columns
    assert read_meta(tmp_path / "prepared")["benchmarks"] == []


def bad(**changes):
    arrays = sample_arrays()
    arrays.update(changes)
    return {k: v for k, v in arrays.items() if v is not None}


VALIDATION_CASES = {
    "missing key": (bad(labels=None), None, "missing required keys \\['labels'\\]"),
    "unknown key": (bad(label=np.zeros(6, int)), None, "unknown keys \\['label'\\]"),
    "layout name": (bad(layout=np.array("coco18")), "layout", "must be one string among"),
    "layout list": (bad(layout=np.array(["kinect20"])), "layout", "must be one string"),
    "x ints": (bad(x=np.ones((6, 3, 8, 20, 2), dtype=np.int32)), "x", "must be a float array"),
    "x rank": (bad(x=np.ones((6, 3, 8, 20), dtype=np.float32)), "x", "must be \\(N, 3, T, V, M\\)"),
    "x channels": (bad(x=np.ones((6, 2, 8, 20, 2), dtype=np.float32)), "x", "got shape \\(6, 2, 8, 20, 2\\)"),
    "x joints vs layout": (bad(layout=np.array("ntu25")), "x", "V = 20 joints but layout 'ntu25' has 25"),
    "x nan": (bad(x=np.where(np.arange(6)[:, None, None, None, None] == 4, np.nan,
                             sample_arrays()["x"]).astype(np.float32)), "x",
              "NaN or infinite values in samples \\[4\\]"),
    "x empty sample": (bad(x=sample_arrays(frames=(5, 8, 0, 8, 1, 6))["x"]), "x", "samples \\[2\\] are all zeros"),
    "labels float": (bad(labels=np.zeros(6)), "labels", "must be an integer array"),
    "labels length": (bad(labels=np.zeros(5, int)), "labels", "must have shape \\(6,\\)"),
    "labels range": (bad(labels=np.array([0, 1, 2, 3, -1, 0])), "labels",
                     "samples \\[3, 4\\] have labels \\[3, -1\\] outside 0..2"),
    "class names ints": (bad(class_names=np.arange(3)), "class_names", "1-D array of strings"),
    "class names repeated": (bad(class_names=np.array(["a", "b", "a"])), "class_names", "repeated names \\['a'\\]"),
    "class names empty string": (bad(class_names=np.array(["a", " ", "c"])), "class_names", "no empty name"),
    "names length": (bad(names=np.array(["a", "b"])), "names", "has 2 entries for 6 samples"),
    "names repeated": (bad(names=np.array(list("abcdea"))), "names", "repeated: \\['a'\\]"),
    "frames range": (bad(frames=np.array([5, 8, 3, 9, 1, 6])), "frames",
                     "samples \\[3\\] have frame counts outside 1..8"),
    "frames too short": (bad(frames=np.array([5, 8, 2, 8, 1, 6])), "frames",
                         "samples \\[2\\] have non-zero values after"),
    "frames float": (bad(frames=np.ones(6)), "frames", "must be an integer array"),
    "subjects strings": (bad(subjects=np.array(list("abcdef"))), "subjects", "must be an integer array"),
    "subjects length": (bad(subjects=np.arange(5)), "subjects", "must have shape \\(6,\\)"),
    "split values": (bad(split=np.array(["train", "val", "test", "train", "test", "dev"])), "split",
                     "found \\['dev', 'val'\\]"),
}


@pytest.mark.parametrize("case", VALIDATION_CASES)
def test_validation_errors_name_file_and_field(tmp_path, case):
    arrays, field, message = VALIDATION_CASES[case]
    path = save(tmp_path / "data.npz", **arrays)
    where = f"data.npz: field '{field}': " if field else "data.npz: "
    with pytest.raises(CustomFormatError, match=where + ".*" + message):
        load_custom_npz(path)


def test_write_refuses_invalid_arrays_and_writes_nothing(tmp_path):
    arrays = sample_arrays()
    with pytest.raises(CustomFormatError, match="out.npz: field 'labels': .* outside 0..1"):
        write_custom_npz(tmp_path / "out.npz", arrays["x"], arrays["labels"], CLASSES[:2], "kinect20")
    assert not (tmp_path / "out.npz").exists()


def test_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.npz does not exist"):
        load_custom_npz(tmp_path / "nothing.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(CustomFormatError, match="text.npz: not an .npz archive"):
        load_custom_npz(tmp_path / "text.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(CustomFormatError, match="single.npy: a single .npy array"):
        load_custom_npz(tmp_path / "single.npy")
    arrays = sample_arrays()
    arrays["class_names"] = np.array(CLASSES, dtype=object)
    path = save(tmp_path / "objects.npz", **arrays)
    with pytest.raises(CustomFormatError, match="objects.npz: field 'class_names': unreadable without pickle"):
        load_custom_npz(path)


def test_prepare_centers_each_clip_on_the_layout_centre_by_default(tmp_path):
    arrays = sample_arrays()
    path = save(tmp_path / "raw.npz", **arrays)
    data = load_dataset(prepare_custom(path, tmp_path / "centred"))
    spine = 2  # kinect20's centre joint
    for i, frames in enumerate((5, 8, 3, 8, 1, 6)):
        np.testing.assert_array_equal(data.x[i, :, 0, spine, 0], 0)  # the centre of the first frame
        expected = arrays["x"][i, :, :frames] - arrays["x"][i, :, :1, spine:spine + 1, :1]
        np.testing.assert_allclose(data.x[i, :, :frames, :, 0], expected[..., 0], rtol=0, atol=1e-6)
        assert not data.x[i, :, frames:].any() and not data.x[i, ..., 1].any()  # padding, absent person
    assert read_meta(tmp_path / "centred")["source"]["centered"] is True
    kept = load_dataset(prepare_custom(path, tmp_path / "kept", center=False))
    np.testing.assert_array_equal(kept.x, arrays["x"])


def test_coco17_keypoints_with_and_without_confidence(tmp_path):
    rng = np.random.default_rng(1)
    xy = np.zeros((4, 2, 6, 17, 1), dtype=np.float32)
    xy[:, :, :5] = rng.uniform(100, 500, size=(4, 2, 5, 17, 1))  # pixels
    path = save(tmp_path / "pose.npz", x=xy, labels=np.array([0, 1, 0, 1]), class_names=np.array(["a", "b"]),
                layout=np.array("coco17"))
    data = load_dataset(prepare_custom(path, tmp_path / "pose"))
    assert data.layout.name == "coco17" and data.x.shape == (4, 3, 6, 17, 1)
    hips = xy[:, :, 0, [11, 12], 0].mean(axis=2)  # (N, 2): the centre of each clip's first frame
    np.testing.assert_allclose(data.x[:, :2, :5, :, 0], xy[:, :, :5, :, 0] - hips[:, :, None, None], atol=1e-4)
    np.testing.assert_array_equal(data.x[:, 2, :5], 1)  # confidence added, and not translated
    assert not data.x[:, :, 5].any()  # the padding frame stays empty
    with_confidence = np.concatenate([xy, np.full_like(xy[:, :1], 0.5)], axis=1)
    path = save(tmp_path / "pose3.npz", x=with_confidence, labels=np.array([0, 1, 0, 1]),
                class_names=np.array(["a", "b"]), layout=np.array("coco17"))
    data = load_dataset(prepare_custom(path, tmp_path / "pose3"))
    np.testing.assert_array_equal(data.x[:, 2, :5], 0.5)
