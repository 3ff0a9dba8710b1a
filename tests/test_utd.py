"""UTD-MHAD loader on the real skeleton files (skipped where ../shared/data is absent)."""

import numpy as np
import pytest
import scipy.io

from neuron.data.classnames import UTD27_CLASSES
from neuron.data.layouts import KINECT20
from neuron.data.store import load_dataset, read_meta
from neuron.data.utd import parse_utd_name, prepare_utd, read_utd_file

HEAD, SPINE, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 2, 4, 8


@pytest.fixture(scope="module")
def prepared(utd_dir, tmp_path_factory):
    return prepare_utd(utd_dir, tmp_path_factory.mktemp("utd") / "prepared")


@pytest.fixture(scope="module")
def raw_skeletons(utd_dir):
    return {path.name: read_utd_file(path) for path in sorted(utd_dir.glob("*_skeleton.mat"))}


def test_reader_shape_and_values(utd_dir):
    path = utd_dir / "a1_s1_t1_skeleton.mat"
    skel = read_utd_file(path)
    raw = scipy.io.loadmat(path)["d_skel"]
    assert skel.dtype == np.float32 and skel.shape == (3, raw.shape[2], 20)
    np.testing.assert_array_equal(skel[:, 5, 7], raw[7, :, 5].astype(np.float32))


def test_coordinate_convention_and_joint_order(raw_skeletons):
    """y is up (the head is the highest joint), the right shoulder is at larger x, z is depth."""
    assert len(raw_skeletons) == 861
    for name, skel in raw_skeletons.items():
        y = skel[1]  # (T, 20)
        assert np.argmax(y[0]) == HEAD, f"{name}: head is not the highest joint in frame 0"
        assert np.argmax(np.median(y, axis=0)) == HEAD, f"{name}: head is not the highest joint"
        assert np.median(y[:, SPINE]) < np.median(y[:, 1]), f"{name}: spine above shoulder centre"
        assert np.median(skel[0, :, RIGHT_SHOULDER] - skel[0, :, LEFT_SHOULDER]) > 0, name
        assert np.median(skel[2]) > 1.5, f"{name}: z is not the distance from the sensor"


def test_prepared_dataset(prepared, raw_skeletons):
    data = load_dataset(prepared)
    m = data.manifest
    assert len(data) == 861 and data.x.shape == (861, 3, 128, 20, 1)
    assert data.layout is KINECT20 and data.class_names == list(UTD27_CLASSES)
    assert read_meta(prepared)["benchmarks"] == ["xsub"]
    assert sorted(set(m["label"])) == list(range(27))
    assert sorted(set(m["subject"])) == list(range(1, 9))
    assert set(m["trial"]) == {1, 2, 3, 4}
    assert m["frames"].min() == 41 and m["frames"].max() == 125
    assert (m["xsub"] == np.where(m["subject"] % 2 == 1, "train", "test")).all()
    assert m["name"].is_unique
    for row, x in zip(m.itertuples(), data.x):
        action, subject, trial = parse_utd_name(f"{row.name}_skeleton.mat")
        assert (row.label, row.subject, row.trial) == (action - 1, subject, trial)
        raw = raw_skeletons[f"{row.name}_skeleton.mat"]
        assert raw.shape[1] == row.frames
        np.testing.assert_allclose(x[:, :row.frames, :, 0], raw - raw[:, :1, SPINE:SPINE + 1], atol=1e-6)
        assert not x[:, row.frames:].any()


def test_malformed_files_name_the_file(tmp_path):
    good = np.zeros((20, 3, 50)) + 1.0
    cases = {
        "a1_s1_t1_skeleton.mat": ({"skeleton": good}, "no variable 'd_skel' \\(found: skeleton\\)"),
        "a1_s1_t2_skeleton.mat": ({"d_skel": np.ones((25, 3, 50))}, r"d_skel has shape \(25, 3, 50\)"),
        "a1_s1_t3_skeleton.mat": ({"d_skel": np.ones((20, 50))}, r"d_skel has shape \(20, 50\)"),
        "a1_s1_t4_skeleton.mat": ({"d_skel": np.full((20, 3, 50), np.nan)}, "d_skel holds non-numeric or non-finite"),
    }
    for name, (content, message) in cases.items():
        scipy.io.savemat(tmp_path / name, content)
        with pytest.raises(ValueError, match=f"{name}: {message}"):
            read_utd_file(tmp_path / name)
    (tmp_path / "a2_s1_t1_skeleton.mat").write_text("not a mat file")
    with pytest.raises(ValueError, match="a2_s1_t1_skeleton.mat: not a readable MATLAB file"):
        read_utd_file(tmp_path / "a2_s1_t1_skeleton.mat")
    with pytest.raises(ValueError, match="a1_s1_t1_skeleton.mat: no variable"):
        prepare_utd(tmp_path, tmp_path / "out")
    with pytest.raises(ValueError, match="a28_s1_t1_skeleton.mat: action 28 outside 1..27"):
        parse_utd_name("a28_s1_t1_skeleton.mat")
    with pytest.raises(ValueError, match="x_s1_skeleton.mat: name does not match"):
        parse_utd_name("x_s1_skeleton.mat")
    assert not (tmp_path / "out").exists()  # the failed preparation left no folder behind
    with pytest.raises(FileNotFoundError, match="raw UTD-MHAD directory .*out does not exist"):
        prepare_utd(tmp_path / "out", tmp_path / "out2")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no UTD-MHAD skeleton files"):
        prepare_utd(tmp_path / "empty", tmp_path / "out2")
