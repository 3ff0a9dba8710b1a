import json

import numpy as np
import pytest

from neuron.data.layouts import KINECT20, NTU25, get_layout
from neuron.data.store import DatasetWriter, load_dataset, read_manifest, read_meta, select_rows, write_dataset


def _toy(n=10, t=7, v=25, m=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3, t, v, m)).astype(np.float32)
    rows = [dict(name=f"s{i:02d}", label=i % 3, frames=t, subject=i, xsub="train" if i < 6 else "test")
            for i in range(n)]
    return x, rows


def test_round_trip_and_selection(tmp_path):
    x, rows = _toy()
    write_dataset(tmp_path, x, rows, name="toy", layout="ntu25", class_names=["a", "b", "c"],
                  benchmarks=["xsub"], shard_size=4)
    meta = read_meta(tmp_path)
    assert meta["num_samples"] == 10 and meta["shards"] == [f"skeletons-0000{i}.npz" for i in range(3)]
    assert (meta["max_frames"], meta["num_joints"], meta["num_persons"]) == (7, 25, 2)
    rows_sel = select_rows(read_manifest(tmp_path), benchmark="xsub", part="test", classes=[0, 1])
    assert rows_sel.tolist() == [6, 7, 9]
    subset = load_dataset(tmp_path, rows_sel)
    np.testing.assert_array_equal(subset.x, x[rows_sel])
    assert subset.labels.tolist() == [0, 1, 0] and subset.manifest["name"].tolist() == ["s06", "s07", "s09"]
    assert subset.layout is NTU25
    whole = load_dataset(tmp_path)
    np.testing.assert_array_equal(whole.x, x)


def test_writer_resumes_from_complete_shards(tmp_path):
    x, rows = _toy()
    first = DatasetWriter(tmp_path, name="toy", layout="ntu25", class_names=list("abc"), benchmarks=["xsub"])
    first.add_shard(x[:4], rows[:4])
    # A crash here leaves only complete shards (written atomically) and no manifest.
    assert not (tmp_path / "manifest.csv").exists()
    assert not list(tmp_path.glob(".*tmp"))
    again = DatasetWriter(tmp_path, name="toy", layout="ntu25", class_names=list("abc"), benchmarks=["xsub"])
    assert again.done_names == {f"s{i:02d}" for i in range(4)}
    again.add_shard(x[4:], rows[4:])
    again.finish()
    np.testing.assert_array_equal(load_dataset(tmp_path).x, x)


def test_bad_inputs_are_named(tmp_path):
    x, rows = _toy()
    with pytest.raises(ValueError, match="lack the field 'frames'"):
        write_dataset(tmp_path / "a", x, [{k: v for k, v in r.items() if k != "frames"} for r in rows],
                      name="toy", layout="ntu25", class_names=list("abc"))
    with pytest.raises(ValueError, match="unknown joint layout 'ntu18'.*kinect20, ntu25"):
        write_dataset(tmp_path / "b", x, rows, name="toy", layout="ntu18", class_names=list("abc"))
    with pytest.raises(FileNotFoundError, match="no meta.json"):
        read_meta(tmp_path / "nothing")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "meta.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="not a neuron-skeletons dataset"):
        read_meta(tmp_path / "c")
    write_dataset(tmp_path / "d", x, rows, name="toy", layout="ntu25", class_names=list("abc"), benchmarks=["xsub"])
    with pytest.raises(ValueError, match="unknown benchmark 'xview'.*xsub"):
        select_rows(read_manifest(tmp_path / "d"), benchmark="xview", part="train")


@pytest.mark.parametrize("layout", [NTU25, KINECT20])
def test_layouts_are_trees(layout):
    assert get_layout(layout.name) is layout
    assert len(layout.bones) == layout.num_joints - 1  # a tree: one bone per non-root joint
    parents = layout.parents()
    (root,) = np.flatnonzero(parents == np.arange(layout.num_joints))
    for joint in range(layout.num_joints):  # every joint reaches the centre by following parents
        seen = set()
        while parents[joint] != joint:
            assert joint not in seen
            seen.add(joint)
            joint = parents[joint]
        assert joint == root
    adjacency = layout.adjacency()
    assert (adjacency == adjacency.T).all() and adjacency.sum() == 2 * len(layout.bones)
    assert sorted(j for part in layout.parts.values() for j in part) == list(range(layout.num_joints))
