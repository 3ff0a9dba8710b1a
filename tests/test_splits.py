import re

import pytest

from neuron.data.classnames import UTD27_CLASSES
from neuron.data.datasets import DATASETS
from neuron.data.splits import DEFAULT_SPLITS, Split, get_split, list_splits, resolve_split_name, split_names

REAL = ["ntu60", "ntu120", "pku", "utd"]
NUM_CLASSES = {"ntu60": 60, "ntu120": 120, "pku": 51, "utd": 27}
# Seen/unseen counts of the random splits, which their names do not carry.
RANDOM_COUNTS = {"ntu60": (55, 5), "ntu120": (110, 10), "pku": (46, 5)}


def test_every_dataset_has_its_splits():
    assert split_names("ntu60") == ["55_5", "48_12", "r1", "r2", "r3"]
    assert split_names("ntu120") == ["110_10", "96_24", "r1", "r2", "r3"]
    assert split_names("pku") == ["46_5", "39_12", "r1", "r2", "r3"]
    assert split_names("utd") == ["22_5_1", "22_5_2", "22_5_3", "15_12"]


@pytest.mark.parametrize("split", [s for d in REAL for s in list_splits(d)],
                         ids=lambda s: f"{s.dataset}-{s.name}")
def test_split_partitions_classes_with_the_named_counts(split):
    n = NUM_CLASSES[split.dataset]
    assert split.num_classes == n
    assert set(split.seen).isdisjoint(split.unseen)
    assert sorted(split.seen + split.unseen) == list(range(n))
    assert list(split.unseen) == sorted(split.unseen)
    counted = re.fullmatch(r"(\d+)_(\d+)(_\d+)?", split.name)
    expected = (int(counted[1]), int(counted[2])) if counted else RANDOM_COUNTS[split.dataset]
    assert (len(split.seen), len(split.unseen)) == expected
    assert len(split.seen_names) == len(split.seen)
    assert len(split.unseen_names) == len(split.unseen)


def test_reference_values():
    assert get_split("ntu60", "55_5").unseen == (10, 11, 19, 26, 56)
    assert get_split("ntu60", "48_12").unseen[:3] == (3, 5, 9)
    assert get_split("ntu120", "110_10").unseen == (4, 13, 37, 43, 49, 65, 88, 95, 99, 106)
    assert get_split("ntu120", "96_24").unseen[-3:] == (113, 114, 119)
    assert get_split("pku", "46_5").unseen == (1, 9, 20, 34, 50)
    assert get_split("pku", "39_12").unseen[-2:] == (43, 48)
    assert get_split("ntu60", "r2").unseen == (12, 29, 32, 44, 59)
    assert get_split("ntu120", "r3").unseen == (6, 20, 27, 33, 42, 55, 71, 97, 104, 118)
    assert get_split("pku", "r1").unseen == (3, 14, 29, 31, 49)


def test_names_follow_labels():
    split = get_split("ntu60", "55_5")
    # 0-based label 10 is action A11 "reading", 56 is A57.
    assert split.unseen_names == ["reading", "writing", "put on a hat/cap", "jump up",
                                  "touch other person's pocket"]
    assert get_split("utd", "22_5_1").seen_names[0] == UTD27_CLASSES[0]


def test_utd_unseen_classes_keep_a_seen_counterpart():
    for name in ["22_5_1", "22_5_2", "22_5_3", "15_12"]:
        split = get_split("utd", name)
        pairs = [(8, 9), (0, 1), (21, 22), (23, 24)]  # circle cw/ccw, swipes, jog/walk, sit/stand
        assert all(not (a in split.unseen and b in split.unseen) for a, b in pairs)
    fixed = [set(get_split("utd", f"22_5_{k}").unseen) for k in (1, 2, 3)]
    assert not (fixed[0] & fixed[1] or fixed[0] & fixed[2] or fixed[1] & fixed[2])


def test_resolve_papermill_integers():
    assert resolve_split_name("ntu60", 4812) == "48_12"
    assert resolve_split_name("ntu60", 555) == "55_5"
    assert resolve_split_name("ntu60", "48_12") == "48_12"
    assert resolve_split_name("ntu60", "4812") == "48_12"
    assert resolve_split_name("ntu60", "r3") == "r3"
    assert resolve_split_name("ntu120", 11010) == "110_10"
    assert resolve_split_name("utd", 2252) == "22_5_2"
    assert resolve_split_name("utd", 1512) == "15_12"
    assert get_split("pku", 3912).name == "39_12"


@pytest.mark.parametrize("value", [1234, "12_48", True, 4.5, None])
def test_resolve_rejects_unknown_and_lists_valid(value):
    with pytest.raises(ValueError, match=r"48_12.*r1"):
        resolve_split_name("ntu60", value)


def test_resolve_reports_ambiguity(monkeypatch):
    import neuron.data.splits as splits
    monkeypatch.setitem(splits._UNSEEN, "utd", {"1_26": (0,), "12_6": tuple(range(6))})
    with pytest.raises(ValueError, match="several"):
        resolve_split_name("utd", 126)


def test_bad_dataset_lists_valid_ones():
    with pytest.raises(ValueError, match=r"ntu60.*ntu120.*pku.*utd.*synthetic"):
        get_split("kinetics", "55_5")


def test_bad_split_name_lists_valid_ones():
    with pytest.raises(ValueError, match=r"110_10.*96_24"):
        get_split("ntu120", "55_5")


@pytest.mark.parametrize("unseen, seen, message", [
    ((1, 1, 2), None, "repeated"),
    ((0, 60), None, "outside"),
    ((0, 1, 2, 3, 4), tuple(range(6, 60)), "complement"),
    ((0, 1, 2, 3), None, "name says"),
])
def test_construction_validates(unseen, seen, message):
    if seen is None:
        seen = tuple(c for c in range(60) if c not in unseen)
    with pytest.raises(ValueError, match=message):
        Split("ntu60", "55_5", unseen, seen, 60)


def test_synthetic_splits():
    synthetic = pytest.importorskip("neuron.data.synthetic")
    splits = list_splits("synthetic")
    assert [s.name for s in splits] == list(synthetic.UNSEEN_SPLITS)
    for split in splits:
        assert split.num_classes == len(synthetic.CLASS_NAMES)
        assert sorted(split.seen + split.unseen) == list(range(split.num_classes))
        if split.name.startswith("r"):  # random splits hold out 5 classes, as NTU60's 55/5
            assert (len(split.seen), len(split.unseen)) == (63, 5)
    assert resolve_split_name("synthetic", 5612) == "56_12"


# The dataset registry (neuron/data/datasets.py), which the splits' class names come from.

def test_registry_class_names_match_split_sizes():
    from neuron.data.datasets import dataset_info

    for dataset in REAL:
        info = dataset_info(dataset)
        assert info.num_classes == NUM_CLASSES[dataset] == len(info.class_names)
        assert info.default_benchmark in info.benchmarks
        assert f"neuron prepare {dataset}" in info.prepare_hint
    assert dataset_info("ntu60").class_names == dataset_info("ntu120").class_names[:60]


def test_missing_real_dataset_says_how_to_prepare(tmp_path):
    from neuron.data.datasets import dataset_dir

    with pytest.raises(FileNotFoundError, match=r"neuron prepare ntu120 --raw .* --out .*ntu120"):
        dataset_dir("ntu120", data_dir=tmp_path)


def test_missing_utd_without_raw_files_says_how_to_prepare(tmp_path, monkeypatch):
    from neuron import paths
    from neuron.data.datasets import dataset_dir

    monkeypatch.setattr(paths, "shared_data_dir", lambda: tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="neuron prepare utd"):
        dataset_dir("utd", data_dir=tmp_path)


def write_tiny_dataset(path, name="mine", class_names=("wave", "clap", "bow"), benchmarks=("xsub",)):
    import numpy as np

    from neuron.data.store import write_dataset

    rows = [{"name": f"s{i}", "label": i % len(class_names), "frames": 4,
             **{b: "train" if i % 2 else "test" for b in benchmarks}} for i in range(6)]
    return write_dataset(path, np.ones((6, 3, 4, 25, 1), np.float32), rows, name=name,
                         layout="ntu25", class_names=list(class_names), benchmarks=list(benchmarks))


def test_prepared_directory_is_accepted_as_a_dataset(tmp_path):
    from neuron.data.datasets import class_names, dataset_dir, dataset_info

    path = write_tiny_dataset(tmp_path / "custom")
    assert dataset_dir(str(path)) == path
    info = dataset_info(path)
    assert (info.name, info.num_classes, info.layout, info.default_benchmark) == ("mine", 3, "ntu25", "xsub")
    assert class_names(path) == ["wave", "clap", "bow"]
    with pytest.raises(FileNotFoundError, match=r"neither a known dataset \(ntu60.*synthetic\)"):
        dataset_dir(str(tmp_path / "nothing"))


def test_prepared_dataset_is_found(tmp_path):
    from neuron.data.datasets import dataset_dir

    write_tiny_dataset(tmp_path / "ntu60", name="ntu60")
    assert dataset_dir("ntu60", data_dir=tmp_path) == tmp_path / "ntu60"


def test_synthetic_and_utd_are_prepared_on_demand(tmp_path, monkeypatch):
    synthetic = pytest.importorskip("neuron.data.synthetic")
    utd = pytest.importorskip("neuron.data.utd")
    from neuron import paths
    from neuron.data.datasets import dataset_dir

    calls = []

    def fake_prepare(*args, **kwargs):
        calls.append((args, kwargs))
        return args[-1] if (args[-1] / "meta.json").exists() else write_tiny_dataset(args[-1])

    monkeypatch.setattr(synthetic, "prepare_synthetic", fake_prepare)
    monkeypatch.setattr(utd, "prepare_utd", fake_prepare)
    raw = tmp_path / "shared" / "utd_mhad"
    raw.mkdir(parents=True)
    (raw / "a1_s1_t1_skeleton.mat").touch()
    monkeypatch.setattr(paths, "shared_data_dir", lambda: tmp_path / "shared")

    data = tmp_path / "data"
    assert dataset_dir("synthetic", data_dir=data) == data / "synthetic"
    assert dataset_dir("utd", data_dir=data) == data / "utd"
    # The synthetic set is always handed to its generator, which keeps a current copy and
    # regenerates an outdated one (tests/test_synthetic.py); UTD is converted once.
    synthetic_call = ((data / "synthetic",), {"overwrite": "outdated"})
    assert calls == [synthetic_call, ((raw, data / "utd"), {})]
    dataset_dir("synthetic", data_dir=data)
    dataset_dir("utd", data_dir=data)
    assert calls[2:] == [synthetic_call]
    with pytest.raises(FileNotFoundError, match="neuron prepare synthetic"):
        dataset_dir("synthetic", data_dir=tmp_path / "empty", prepare=False)


def test_every_dataset_has_a_valid_default_split():
    assert set(DEFAULT_SPLITS) == set(DATASETS)
    for dataset, name in DEFAULT_SPLITS.items():
        assert get_split(dataset).name == name == get_split(dataset, name).name
