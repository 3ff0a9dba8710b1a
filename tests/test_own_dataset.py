"""Zero-shot on your own dataset through the command line: splits, side information, training.

The worked example of the README: UTD-MHAD exported as a custom .npz, prepared as custom, split
by class names like the registered 22_5_1, its descriptions imported from JSON, then pretrained,
trained and evaluated; the numbers equal the registered `utd` path's with the same seed.
"""

import json

import numpy as np
import pytest

from neuron.cli import main
from neuron.data.feeder import SkeletonFeeder
from neuron.data.skeleton_file import read_skeleton_file
from neuron.data.splits import get_split, list_splits
from neuron.data.store import load_dataset
from neuron.side_info import PHASES
from neuron.text import DEFAULT_TEXT_ENCODER

CLASSES = ["wave", "clap", "jump", "sit down", "kick", "bow"]


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Data, results and text caches of this test only."""
    from neuron import paths

    monkeypatch.setattr(paths, "DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(paths, "TEXT_CACHE_DIR", tmp_path / "text")
    return tmp_path


def tiny_custom(tmp_path, n_per_class=8, layout="kinect20", joints=20) -> str:
    """A prepared 6-class custom dataset (its directory): 5 train and 3 test clips per class."""
    rng = np.random.default_rng(0)
    n = n_per_class * len(CLASSES)
    x = np.zeros((n, 3, 20, joints, 1), dtype=np.float32)
    x[:, :, :15] = rng.normal(size=(n, 3, 15, joints, 1)) + 2.0
    labels = np.arange(n) % len(CLASSES)
    split = np.where(np.arange(n) < 5 * len(CLASSES), "train", "test")
    np.savez(tmp_path / "mine.npz", x=x, labels=labels, class_names=np.array(CLASSES), layout=np.array(layout),
             split=split)
    out = tmp_path / "mine"
    main(["prepare", "custom", "--raw", str(tmp_path / "mine.npz"), "--out", str(out)])
    return str(out)


def side_info_json(path, classes, n=3):
    content = {name: {phase: [f"{name}: {phase} description {i}, the arms and legs move" for i in range(n)]
                      for phase in PHASES} for name in classes}
    path.write_text(json.dumps(content))
    return path


def test_splits_add_list_and_use(isolated, capsys):
    data = tiny_custom(isolated)
    main(["splits", data])
    assert "has no zero-shot split yet" in capsys.readouterr().out
    main(["splits", "add", data, "4_2", "--unseen", "Jump", "4"])  # a name (any case) and an index
    main(["splits", "add", data, "other", "--unseen", "bow"])
    main(["splits", "add", data, "4_2", "--unseen", "kick", "jump"])  # the same split again: no change
    main(["splits", data])
    out = capsys.readouterr().out
    assert "['jump', 'kick']" in out and "other" in out
    split = get_split(data, "4_2")
    assert split.unseen == (2, 4) and split.seen == (0, 1, 3, 5) and split.unseen_names == ["jump", "kick"]
    assert get_split(data).name == "4_2"  # the first stored split is the default
    assert get_split(data, 42).name == "4_2"  # papermill's integer
    assert [s.name for s in list_splits(data)] == ["4_2", "other"]


@pytest.mark.parametrize("argv, message", [
    (["s", "--unseen", "swim"], "has no class 'swim'; its classes are 0: wave, 1: clap"),
    (["s", "--unseen", "wave", "0"], "a class is named twice"),
    (["s", "--unseen", *CLASSES[:5]], "needs at least one unseen class and two seen ones"),
    (["5_1", "--unseen", "wave", "clap"], "but its name says 5 and 1"),
    (["a/b", "--unseen", "wave"], "must start with a letter or digit"),
    (["4_2", "--unseen", "wave", "clap"], "already has a split 4_2 with other unseen classes"),
])
def test_splits_add_refuses_in_one_line(isolated, capsys, argv, message):
    data = tiny_custom(isolated)
    main(["splits", "add", data, "4_2", "--unseen", "jump", "kick"])
    before = (isolated / "mine" / "splits.json").read_bytes()
    with pytest.raises(SystemExit) as exit_:
        main(["splits", "add", data, *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("neuron splits add: error: ") and message in err and "\n" not in err
    assert (isolated / "mine" / "splits.json").read_bytes() == before


def test_registered_datasets_take_no_added_split(isolated, capsys):
    with pytest.raises(SystemExit):
        main(["splits", "add", "utd", "mine", "--unseen", "0"])
    assert "registered in neuron/data/splits.py" in capsys.readouterr().err


def test_side_info_import_check_export(isolated, capsys):
    data = tiny_custom(isolated)
    with pytest.raises(SystemExit) as exit_:
        main(["side-info", "check", "--dataset", data])
    assert exit_.value.code == 1
    assert "0 of 6 classes complete" in capsys.readouterr().out
    main(["side-info", "import", "--dataset", data, "--json", str(side_info_json(isolated / "a.json", CLASSES[:4]))])
    with pytest.raises(SystemExit):
        main(["side-info", "check", "--dataset", data])
    out = capsys.readouterr().out
    assert "kick: missing" in out and "bow: missing" in out and "4 of 6 classes complete" in out
    main(["side-info", "import", "--dataset", data,
          "--json", str(side_info_json(isolated / "b.json", ["KICK", "bow"]))])
    main(["side-info", "check", "--dataset", data])
    assert "6 of 6 classes complete" in capsys.readouterr().out
    main(["side-info", "export", "--dataset", data, "--json", str(isolated / "out.json")])
    exported = json.loads((isolated / "out.json").read_text())
    assert list(exported) == CLASSES and exported["kick"]["temporal_end"][2] == "KICK: temporal_end description 2, " \
                                                                                 "the arms and legs move"
    record = json.loads(next((isolated / "mine" / "side_info" / "mine").glob("004_*.json")).read_text())
    assert record["phases"]["spatial_fine"]["provenance"]["source"] == "imported"
    assert record["phases"]["spatial_fine"]["provenance"]["file"] == "b.json"


@pytest.mark.parametrize("content, message", [
    ({"swim": {}}, "has no class 'swim'"),
    ({"wave": {p: ["a"] for p in PHASES[:5]}}, "missing ['temporal_end']"),
    ({"wave": {**{p: ["a"] for p in PHASES}, "spatial_extra": ["a"]}}, "unknown ['spatial_extra']"),
    ({"wave": {**{p: ["a"] for p in PHASES}, "spatial_mid": ["a", " "]}}, "non-empty list of non-empty strings"),
    ({"wave": {p: ["a"] for p in PHASES}, "clap": {p: ["a", "b"] for p in PHASES}}, "found [1, 2]"),
    ({"wave": {p: ["a"] for p in PHASES}, "Wave": {p: ["a"] for p in PHASES}}, "appears twice"),
    ([], "expected a non-empty object"),
])
def test_side_info_import_refuses_bad_json_and_writes_nothing(isolated, capsys, content, message):
    data = tiny_custom(isolated)
    path = isolated / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(SystemExit) as exit_:
        main(["side-info", "import", "--dataset", data, "--json", str(path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("neuron side-info import: error: ") and message in err
    assert not (isolated / "mine" / "side_info").exists()


def test_generation_never_writes_into_the_shipped_side_information(isolated, monkeypatch):
    from neuron.paths import SIDE_INFO_DIR
    from neuron.side_info.shipped import side_info_target

    data = tiny_custom(isolated)
    assert side_info_target(data, None) == (isolated / "mine" / "side_info", "mine")
    cache_dir, folder = side_info_target("utd", None)
    assert folder == "utd" and cache_dir == isolated / "data" / "side_info_user" != SIDE_INFO_DIR
    assert side_info_target("utd", "elsewhere")[0].name == "elsewhere"


def test_planar_layout_rotates_in_the_image_plane_only(isolated):
    data = load_dataset(tiny_custom(isolated, layout="coco17", joints=17))
    feeder = SkeletonFeeder(data, window=8, random_rotation=True)
    _, _, angles = feeder.draw(0)
    assert angles[0] == angles[1] == 0 and angles[2] != 0
    x, _, _ = feeder[0]
    np.testing.assert_array_equal(x[2].numpy(), SkeletonFeeder(data, window=8)[0][0][2].numpy())  # confidence


def test_keypoint_npy_files_are_read_as_coco17(tmp_path):
    rng = np.random.default_rng(2)
    keypoints = rng.uniform(50, 400, size=(9, 17, 2)).astype(np.float32)  # (T, V, xy) in pixels
    np.save(tmp_path / "one.npy", keypoints)
    x, layout = read_skeleton_file(tmp_path / "one.npy", layout="coco17")
    assert layout == "coco17" and x.shape == (3, 9, 17, 1)
    np.testing.assert_array_equal(x[2], 1)  # confidence added
    np.testing.assert_allclose(x[:2, 0, [11, 12], 0].mean(axis=1), 0, atol=1e-4)  # hips' midpoint at the origin
    two = np.stack([np.concatenate([keypoints, np.full((9, 17, 1), 0.7, np.float32)], axis=2)] * 2, axis=1)
    np.save(tmp_path / "two.npy", two)  # (T, M, V, xyc)
    x, _ = read_skeleton_file(tmp_path / "two.npy", layout="coco17")
    assert x.shape == (3, 9, 17, 2) and np.allclose(x[2], 0.7)
    np.save(tmp_path / "bad.npy", keypoints[:, :16])
    with pytest.raises(ValueError, match="bad.npy: array of shape \\(9, 16, 2\\) is not"):
        read_skeleton_file(tmp_path / "bad.npy", layout="coco17")


def test_worked_example_custom_path_equals_the_registered_path(isolated, utd_dir, capsys):
    """UTD-MHAD through the custom path gives the registered path's numbers (tiny run, same seed)."""
    tiny = ["--epochs", "1", "--window", "12", "--device", "cpu"]
    unseen = get_split("utd", "22_5_1").unseen_names
    main(["export", "utd", "--out", str(isolated / "utd_mine.npz")])
    main(["prepare", "custom", "--raw", str(isolated / "utd_mine.npz"), "--out", str(isolated / "mine")])
    main(["splits", "add", str(isolated / "mine"), "22_5_1", "--unseen", *unseen])
    main(["side-info", "export", "--dataset", "utd", "--json", str(isolated / "utd_side.json")])
    main(["side-info", "import", "--dataset", str(isolated / "mine"), "--json", str(isolated / "utd_side.json")])
    results = {}
    for dataset in ("utd", str(isolated / "mine")):
        for fold in ("main", "validation"):
            main(["pretrain", "--dataset", dataset, "--split", "22_5_1", "--fold", fold, *tiny])
            main(["train", "--dataset", dataset, "--split", "22_5_1", "--fold", fold, *tiny,
                  "--text-encoder", DEFAULT_TEXT_ENCODER])  # UTD-MHAD's default is MiniLM, a custom set's not
        main(["evaluate", "--dataset", dataset, "--split", "22_5_1"])
        benchmark = "xsub" if dataset == "utd" else "default"
        name = "utd" if dataset == "utd" else "utd_mine"
        run = isolated / "results" / "runs" / name / benchmark / "22_5_1" / "main" / "neuron"
        results[dataset] = json.loads((run / "results.json").read_text())
    registered, custom = results.values()
    assert custom["classes"] == registered["classes"] and custom["test_samples"] == registered["test_samples"]
    assert custom["paper"] == registered["paper"] and custom["strict"]["zsl"] == registered["strict"]["zsl"]
    assert custom["strict"]["gzsl"] == registered["strict"]["gzsl"]
    assert custom["strict"]["validation_encoder"]["holdout"] == "subjects"  # the export kept the subjects


def test_a_notebook_runs_on_a_custom_directory(tmp_path):
    """papermill with `-p dataset DIR -p split NAME`, as `neuron run --dataset DIR` passes them."""
    from neuron.experiments.pipeline import run_notebooks
    from neuron.paths import FIGURES_DIR

    rng = np.random.default_rng(3)
    x = np.zeros((60, 3, 16, 20, 1), dtype=np.float32)
    x[:, :, :12] = rng.normal(size=(60, 3, 12, 20, 1)) + 2.0  # 7 training clips a class: pretraining's
    np.savez(tmp_path / "nb_custom_set.npz", x=x, labels=np.arange(60) % 6, class_names=np.array(CLASSES),
             layout=np.array("kinect20"), split=np.where(np.arange(60) < 42, "train", "test"))  # batch of 16
    data = str(tmp_path / "data")
    main(["prepare", "custom", "--raw", str(tmp_path / "nb_custom_set.npz"), "--out", data])
    main(["splits", "add", data, "mine", "--unseen", "jump", "bow"])
    main(["side-info", "import", "--dataset", data, "--json", str(side_info_json(tmp_path / "side.json", CLASSES))])
    try:
        [executed] = run_notebooks(dataset=data, only=["03"], out_dir=tmp_path / "executed", extra={
            "split": "mine", "epochs": "1", "pretrain_epochs": "1", "window": "12", "batch_size": "4",
            "device": "cpu", "results_dir": str(tmp_path / "results")})
    finally:
        for figure in FIGURES_DIR.glob("*_nb_custom_set.*"):
            figure.unlink()
    outputs = json.dumps(json.loads(executed.read_text())["cells"])
    assert "nb_custom_set" in outputs and "strict" in outputs
    assert (tmp_path / "results" / "runs" / "nb_custom_set" / "default" / "mine" / "main" / "neuron"
            / "results.json").is_file()


def test_stored_splits_of_other_classes_are_refused(isolated, capsys):
    data = tiny_custom(isolated)
    main(["splits", "add", data, "4_2", "--unseen", "jump", "kick"])
    splits = isolated / "mine" / "splits.json"
    splits.write_text(splits.read_text().replace('"kick"', '"swim"'))  # as if prepared again with other classes
    with pytest.raises(SystemExit):
        main(["splits", data])
    assert "names unseen classes ['jump', 'swim'] that are not the dataset's classes" in capsys.readouterr().err


def test_side_info_generate_writes_a_directorys_own_records(isolated, monkeypatch, capsys):
    """`side-info generate --dataset DIR` against a chat server: the records land in DIR/side_info,
    where training finds them, and `side-info check` passes."""
    from chat_server import ChatServer, Reply

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    data = tiny_custom(isolated)

    def respond(body):
        texts = [f"performer {i} lifts the right arm high and lowers the left hand slowly to the hip again"
                 for i in range(3)]
        return Reply(content=json.dumps({"descriptions": texts}))

    with ChatServer(respond) as server:
        main(["side-info", "generate", "--dataset", data, "--model", "m", "--base-url", server.base_url,
              "--n-descriptions", "3", "--similar", str(_no_similar(isolated))])
    assert len(list((isolated / "mine" / "side_info" / "mine").glob("*.json"))) == len(CLASSES)
    main(["side-info", "check", "--dataset", data])
    assert "6 of 6 classes complete" in capsys.readouterr().out


def _no_similar(folder):
    """A similar-class file naming none (the canned answer must not name another class)."""
    path = folder / "similar.json"
    path.write_text(json.dumps({name: [] for name in CLASSES}))
    return path


def test_importing_for_a_registered_dataset_leaves_the_shipped_records_alone(isolated):
    from neuron.paths import SIDE_INFO_DIR

    before = sorted((p.name, p.stat().st_mtime_ns) for p in (SIDE_INFO_DIR / "utd").glob("*.json"))
    main(["side-info", "import", "--dataset", "utd", "--json",
          str(side_info_json(isolated / "u.json", ["tennis serve"]))])
    assert len(list((isolated / "data" / "side_info_user" / "utd").glob("*.json"))) == 1
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (SIDE_INFO_DIR / "utd").glob("*.json")) == before
