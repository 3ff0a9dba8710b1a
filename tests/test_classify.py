"""`neuron predict`: reading one skeleton file, finding or generating descriptions of any class
names, and ranking them with a trained model.

The model is trained in seconds on a tiny dataset of 20-joint (kinect20) single-person clips
written into tmp_path (6 classes, 1 epoch per stage, 12-frame windows), with random 256-d text
features recorded as WordLlama's: the text encoder `predict` must then use. Its accuracy is
meaningless; the tests check the plumbing: which descriptions, which texts and features, which
probabilities. The LLM is tests/chat_server.py, a real HTTP server on loopback.
"""

import json
import os
import re
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from chat_server import ChatServer, Reply
from neuron.cli import main
from neuron.data.classnames import normalise_class_name
from neuron.data.custom import write_custom_npz
from neuron.data.ntu import prepare_ntu
from neuron.data.skeleton_file import LayoutMismatchError, read_skeleton_file
from neuron.data.splits import Split
from neuron.data.store import load_dataset, write_dataset
from neuron.data.utd import prepare_utd
from neuron.inference.predict import predict
from neuron.models.neuron import STREAMS
from neuron.models.zero_shot import load_matching_model
from neuron.runs import Run
from neuron.side_info import PHASES, SOURCE_API
from neuron.side_info.cache import class_path, new_class_record, write_class_record
from neuron.side_info.lookup import MissingDescriptionsError, describe_classes
from neuron.side_info.shipped import shipped_side_info
from neuron.text import dataset_text_features
from neuron.training.config import match_config, pretrain_config
from neuron.training.match import train_matching
from neuron.training.pretrain import pretrain_encoder

TEXT_ENCODER, TEXT_DIM = "wordllama-l2-supercat-256", 256
UTD_FILE = "a3_s1_t1_skeleton.mat"  # right hand wave
UTD_CLASSES = ["right hand wave", "two hand front clap", "jogging in place", "squat (two arms stretch out)"]

pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py


@pytest.fixture(autouse=True)
def isolated_paths(tmp_path, monkeypatch):
    """Text features and the default descriptions folder in tmp_path; no OpenAI settings."""
    from neuron import paths
    monkeypatch.setattr(paths, "TEXT_CACHE_DIR", tmp_path / "text")
    monkeypatch.setattr(paths, "DATA_DIR", tmp_path / "data")
    for variable in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)


# ---------------------------------------------------------------- reading one skeleton file

def test_ntu_skeleton_is_prepared_as_prepare_ntu_does(ntu_samples_dir, tmp_path):
    prepared = load_dataset(prepare_ntu("ntu120", ntu_samples_dir, tmp_path / "ntu", workers=1))
    assert len(prepared.manifest) == 5
    for i, row in prepared.manifest.iterrows():
        x, layout = read_skeleton_file(ntu_samples_dir / f"{row['name']}.skeleton")
        assert layout == "ntu25" and x.shape == (3, row["frames"], 25, 2)
        np.testing.assert_array_equal(x, prepared.x[i, :, :row["frames"]])
    with pytest.raises(LayoutMismatchError, match="S001C001P001R001A011.skeleton: .* ntu25 skeletons, not kinect20"):
        read_skeleton_file(ntu_samples_dir / "S001C001P001R001A011.skeleton", "kinect20")


def test_utd_mat_is_prepared_as_prepare_utd_does(utd_dir, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    names = [UTD_FILE, "a27_s8_t3_skeleton.mat"]
    for name in names:
        (raw / name).symlink_to(utd_dir / name)
    prepared = load_dataset(prepare_utd(raw, tmp_path / "utd"))
    for i, name in enumerate(names):
        x, layout = read_skeleton_file(raw / name, "kinect20")
        frames = prepared.manifest["frames"][i]
        assert layout == "kinect20" and x.shape == (3, frames, 20, 1)
        np.testing.assert_array_equal(x, prepared.x[i, :, :frames])


def moving_person(frames=30, joints=25, persons=1, seed=0):
    """(3, T, V, M) float32 positions of a body away from the origin, with a little motion."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.3, (3, 1, joints, persons)) + np.array([0.5, 0.2, 3.0])[:, None, None, None]
    return (x + rng.normal(0, 0.01, (3, frames, joints, persons))).astype(np.float32)


def test_npy_shapes_are_read_into_one_order_and_centred(tmp_path):
    x = moving_person(persons=2)
    x[:, 20:, :, 1] = 0  # the second person leaves
    expected = x - x[:, :1, 1:2, :1]  # ntu25's centre joint (1) of person 0 in frame 0 at the origin
    expected[:, 20:, :, 1] = 0
    for name, array in {"ctvm": x, "mtvc": x.transpose(3, 1, 2, 0)}.items():
        np.save(tmp_path / f"{name}.npy", array)
        got, layout = read_skeleton_file(tmp_path / f"{name}.npy", "ntu25")
        assert layout == "ntu25"
        np.testing.assert_allclose(got, expected, atol=1e-6)
    one = x[..., :1]
    for name, array in {"ctv": one[..., 0], "tvc": one[..., 0].transpose(1, 2, 0)}.items():
        np.save(tmp_path / f"{name}.npy", array)
        np.testing.assert_allclose(read_skeleton_file(tmp_path / f"{name}.npy", "ntu25")[0], expected[..., :1],
                                   atol=1e-6)
    np.save(tmp_path / "centred.npy", expected)
    np.testing.assert_array_equal(read_skeleton_file(tmp_path / "centred.npy", "ntu25")[0], expected)


@pytest.mark.parametrize("array, layout, message", [
    (np.zeros((3, 30, 25, 3), np.float32), "ntu25", r"fits both \(3, T, V, M\) and \(M, T, V, 3\)"),
    (np.zeros((3, 30, 25, 1), np.float32), "kinect20", "fits none of .* V = 20 joints of layout kinect20"),
    (np.zeros((30, 25), np.float32), "ntu25", "fits none of"),
    (np.ones((3, 30, 25, 1), np.int64), "ntu25", "must hold a float array"),
    (np.full((3, 30, 25, 1), np.nan, np.float32), "ntu25", "NaN or infinite"),
    (np.zeros((3, 30, 25, 1), np.float32), "ntu25", "no body in any frame"),
    (np.zeros((3, 30, 25, 1), np.float32), None, "name its layout"),
    (np.zeros((3, 30, 25, 1), np.float32), "coco18", "unknown joint layout"),
    (np.zeros((3, 30, 25, 1), np.float32), "coco17", r"is not \(T, V, C\) or \(T, M, V, C\) with V = 17"),
])
def test_bad_npy_arrays_are_refused_naming_the_file(tmp_path, array, layout, message):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(ValueError, match=message) as err:
        read_skeleton_file(path, layout)
    assert "bad.npy" in str(err.value) or "unknown joint layout" in str(err.value)


def test_custom_npz_holds_one_sample_in_its_own_layout(tmp_path):
    x = np.zeros((1, 3, 40, 20, 1), np.float32)
    x[0, :, :30] = moving_person(joints=20)
    write_custom_npz(tmp_path / "one.npz", x, [0], ["wave"], "kinect20", frames=[30])
    got, layout = read_skeleton_file(tmp_path / "one.npz")
    assert layout == "kinect20" and got.shape == (3, 30, 20, 1)
    np.testing.assert_allclose(got, x[0, :, :30] - x[0, :, :1, 2:3], atol=1e-6)  # kinect20's centre: spine (2)
    with pytest.raises(LayoutMismatchError, match="one.npz: this custom .npz file hold kinect20 skeletons, not ntu25"):
        read_skeleton_file(tmp_path / "one.npz", "ntu25")
    write_custom_npz(tmp_path / "two.npz", np.concatenate([x, x]), [0, 0], ["wave"], "kinect20")
    with pytest.raises(ValueError, match="two.npz: holds 2 samples; a file to classify holds exactly one"):
        read_skeleton_file(tmp_path / "two.npz")


def test_unknown_or_absent_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"clip.csv: unknown skeleton format '.csv'"):
        read_skeleton_file(tmp_path / "clip.csv")
    with pytest.raises(FileNotFoundError, match="absent.mat does not exist"):
        read_skeleton_file(tmp_path / "absent.mat")


# ---------------------------------------------------------------- descriptions of any class name

def record(folder, dataset, index, name, n=10, phases=PHASES, word="arm"):
    """A side-information record with valid descriptions of the given phases."""
    entry = new_class_record(dataset, index, name)
    for phase in phases:
        texts = [f"performer {i} moves the {word} slowly and steadily while doing {name} in the phase {phase}"
                 for i in range(n)]  # within every turn's word range
        entry["phases"][phase] = {"descriptions": texts, "prompt": "p", "answer": "a",
                                  "provenance": {"source": SOURCE_API}}
    write_class_record(class_path(folder, dataset, index, name), entry)
    return {phase: entry["phases"][phase]["descriptions"] for phase in phases}


def test_names_match_ignoring_case_spaces_underscores_and_hyphens(tmp_path):
    assert normalise_class_name("  Drink_Water ") == normalise_class_name("drink - water") == "drink water"
    found = describe_classes(["DRINK_WATER", "jump-up", "right  hand wave"], descriptions_dir=tmp_path)
    assert [d.name for d in found] == ["DRINK_WATER", "jump-up", "right  hand wave"]
    assert [d.source for d in found] == ["shipped ntu60", "shipped ntu60", "shipped utd"]
    assert found[0].phases == shipped_side_info("ntu120")["drink water"]
    # The model's dataset is searched first: PKU-MMD has its own "drink water".
    pku = describe_classes(["drink water", "jump up"], descriptions_dir=tmp_path, prefer_dataset="pku")
    assert [d.source for d in pku] == ["shipped pku", "shipped pku"]
    assert pku[0].phases == shipped_side_info("pku")["drink water"]


def test_the_users_folder_comes_first_and_partial_records_do_not_count(tmp_path):
    mine = record(tmp_path, "mine", 0, "Drink Water")
    record(tmp_path, "mine", 1, "juggle three balls", phases=PHASES[:4])  # generation interrupted
    found = describe_classes(["drink water", "jump up"], descriptions_dir=tmp_path)
    assert found[0].phases == mine and found[0].source == str(tmp_path / "mine")
    assert found[1].source == "shipped ntu60"
    with pytest.raises(MissingDescriptionsError, match=r"'juggle three balls'") as err:
        describe_classes(["juggle three balls", "drink watr"], descriptions_dir=tmp_path)
    assert err.value.missing == ["juggle three balls", "drink watr"]
    assert "'drink watr' (close: 'drink water'" in str(err.value) and "--llm-model" in str(err.value)


def test_conflicting_requests_and_records_are_refused(tmp_path):
    with pytest.raises(ValueError, match="'drink water' and 'Drink-Water' are the same class"):
        describe_classes(["drink water", "Drink-Water"], descriptions_dir=tmp_path)
    record(tmp_path, "mine", 0, "juggle three balls", n=5)
    with pytest.raises(ValueError, match=r"different numbers of descriptions per phase.*: "
                                         r"5: 'juggle three balls' .*; 10: 'drink water' \(shipped ntu60\)"):
        describe_classes(["juggle three balls", "drink water"], descriptions_dir=tmp_path)
    (tmp_path / "mine" / "001_stray.json").write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="001_stray.json is not a side-information record"):
        describe_classes(["drink water"], descriptions_dir=tmp_path)


# ---------------------------------------------------------------- a tiny trained model

@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """match.pt of a Neuron head trained for one epoch on 6 kinect20 classes (text: random 256-d)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    classes, per_class, frames = 6, 6, 16
    x = rng.normal(0, 0.05, (classes * per_class, 3, frames, 20, 1)).astype(np.float32)
    rows = []
    for n in range(len(x)):
        c = n // per_class
        x[n, c % 3, :, 2 * c, 0] += np.sin(2 * np.pi * (c + 1) * np.arange(frames) / frames)
        rows.append({"name": f"s{n:02d}", "label": c, "frames": frames, "xsub": "train" if n % 2 else "test"})
    data = write_dataset(root / "data", x, rows, name="tiny", layout="kinect20",
                         class_names=[f"class {k}" for k in range(classes)], benchmarks=["xsub"])
    split = Split.from_unseen(str(data), "4_2", (1, 4), classes)
    small = dict(epochs=1, milestones=(1,), window=12, batch_size=4, val_fraction=0.25, progress=False, device="cpu")
    pretrain_encoder(Run(data, split, root=root / "results"), config=pretrain_config(data, **small))
    g = torch.Generator().manual_seed(0)
    text = {s: torch.randn(3, classes, 2, TEXT_DIM, generator=g) for s in STREAMS}
    run = train_matching(Run(data, split, root=root / "results"), text, head_kwargs=dict(num_spatial=4, num_temporal=4),
                         config=match_config(data, eval_batch_size=16, text_encoder=TEXT_ENCODER, **small))
    return run / "match.pt"


@contextmanager
def cli_error(capsys, match):
    """The command line's error: exit code 2 and `match` found in what it printed to stderr."""
    with pytest.raises(SystemExit) as exit_:
        yield
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert re.search(match, err), err


def run_predict(capsys, *args):
    main(["predict", *map(str, args)])
    return capsys.readouterr().out


def test_predict_ranks_shipped_classes_with_the_training_texts(tiny_model, utd_dir, tmp_path, capsys):
    requested = ["Right_Hand_Wave", "two hand front clap", "jogging-in-place", "squat (two arms stretch out)"]
    ranking = json.loads(run_predict(capsys, "--model", tiny_model, "--skeleton", utd_dir / UTD_FILE,
                                     "--classes", *requested, "--json"))
    assert sorted(r["class"] for r in ranking) == sorted(requested)
    probabilities = [r["probability"] for r in ranking]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) == pytest.approx(1.0)
    assert {r["descriptions"] for r in ranking} == {"shipped utd"}
    # The same as the dataset's training features, restricted to these classes, on the prepared sample.
    features = dataset_text_features("utd", TEXT_ENCODER, cache_dir=tmp_path / "text", progress=False)
    sample = read_skeleton_file(utd_dir / UTD_FILE)[0]
    utd_names = list(shipped_side_info("utd"))
    keep = [utd_names.index(name) for name in UTD_CLASSES]
    expected = predict(sample, {s: f[:, keep] for s, f in features.items()},
                       requested, load_matching_model(tiny_model))
    assert [(r["class"], r["probability"]) for r in ranking] == [(n, pytest.approx(p, abs=1e-6)) for n, p in expected]
    # A second person, which the one-person model cannot take, is left out with a warning.
    two = np.concatenate([sample, moving_person(frames=sample.shape[1], joints=20)], axis=3)
    np.save(tmp_path / "two.npy", two)
    with pytest.warns(UserWarning, match="two.npy: 2 persons, the model takes 1; classifying the first 1"):
        with_second = json.loads(run_predict(capsys, "--model", tiny_model, "--skeleton", tmp_path / "two.npy",
                                             "--classes", *requested, "--json"))
    assert with_second == ranking
    # The table, cut to the top two, of classes named in a file.
    (tmp_path / "names.txt").write_text("# UTD-MHAD classes\n" + "\n\n".join(requested) + "\n")
    table = run_predict(capsys, "--model", tiny_model, "--skeleton", utd_dir / UTD_FILE,
                        "--classes-file", tmp_path / "names.txt", "--top", "2").splitlines()
    assert table[0].split() == ["rank", "class", "probability", "descriptions"] and len(table) == 3
    assert table[1].startswith(f"   1  {ranking[0]['class']}  ") and table[1].endswith("shipped utd")


def test_predict_refuses_what_the_model_cannot_take(tiny_model, ntu_samples_dir, tmp_path, capsys):
    base = ["predict", "--model", str(tiny_model), "--classes", "drink water", "jump up"]
    with cli_error(capsys, r"S001C001P001R001A011.skeleton: .* ntu25 skeletons, not kinect20; "
                                         r"the model .* takes kinect20 skeletons \(trained on tiny\)"):
        main([*base, "--skeleton", str(ntu_samples_dir / "S001C001P001R001A011.skeleton")])
    np.save(tmp_path / "clip.npy", moving_person(joints=25))
    with cli_error(capsys, "layout ntu25 given, but the model .* takes kinect20"):
        main([*base, "--skeleton", str(tmp_path / "clip.npy"), "--layout", "ntu25"])
    np.save(tmp_path / "clip20.npy", moving_person(joints=20))
    with cli_error(capsys, "the model .* was trained on features of the text encoder "
                                         f"{TEXT_ENCODER}; all-minilm-l6-v2 would"):
        main([*base, "--skeleton", str(tmp_path / "clip20.npy"), "--text-encoder", "all-minilm-l6-v2"])
    with cli_error(capsys, r"(?s)no descriptions of 1 class.*\n  'moonwalk backwards'\n"):
        main([*base, "moonwalk backwards", "--skeleton", str(tmp_path / "clip20.npy"),
              "--descriptions", str(tmp_path / "mine")])
    with cli_error(capsys, "at least two classes"):
        main(["predict", "--model", str(tiny_model), "--classes", "drink water", "--skeleton",
              str(tmp_path / "clip20.npy")])


def test_predict_needs_a_text_encoder_for_models_that_do_not_record_it(tiny_model, tmp_path, monkeypatch, capsys):
    from neuron.inference import predict as classify

    def without_encoder(path, device):
        net, meta = load_matching_model(path, device)
        return net, {**meta, "text_encoder": None}

    monkeypatch.setattr(classify, "load_matching_model", without_encoder)
    np.save(tmp_path / "clip20.npy", moving_person(joints=20))
    base = ["--model", tiny_model, "--skeleton", tmp_path / "clip20.npy", "--classes", "drink water", "jump up"]
    with cli_error(capsys, "does not record the text encoder .* name it with --text-encoder"):
        run_predict(capsys, *base)
    assert len(json.loads(run_predict(capsys, *base, "--text-encoder", TEXT_ENCODER, "--json"))) == 2


def fake_llm(failing: set):
    """A chat model answering every turn with valid descriptions naming the action and the turn;
    HTTP 400 (not retried) on the turns after the second of the actions in `failing` (a set
    the caller may change between requests)."""

    def respond(body):
        action = body["messages"][1]["content"].split('"')[1]  # the first turn names the action
        turn = sum(m["role"] == "user" for m in body["messages"])
        if action in failing and turn > 2:
            return Reply(status=400)
        texts = [f"performer {i} swings the right arm and the left leg for {action}, turn {turn}" for i in range(10)]
        return Reply(content=json.dumps({"descriptions": texts}))

    return respond


def test_new_class_names_are_generated_once_then_cached(tiny_model, tmp_path, capsys):
    folder = tmp_path / "descriptions"
    np.save(tmp_path / "clip.npy", moving_person(frames=24, joints=20))
    base = ["--model", tiny_model, "--skeleton", tmp_path / "clip.npy", "--descriptions", folder, "--json"]
    requested = ["drink water", "juggle three balls", "moonwalk backwards"]
    failing = {"moonwalk backwards"}
    with ChatServer(fake_llm(failing)) as server:
        with cli_error(capsys, "moonwalk backwards: spatial_fine: HTTP 400"):
            run_predict(capsys, *base, "--classes", *requested, "--llm-model", "test-model",
                        "--base-url", server.base_url)
        assert len(server.requests) == 6 + 3  # one class complete; the other failed at its third turn
        # The rerun resumes the interrupted class at its third turn; shipped classes are never asked for.
        failing.clear()
        ranking = json.loads(run_predict(capsys, *base, "--classes", *requested, "--llm-model", "test-model",
                                         "--base-url", server.base_url))
        assert len(server.requests) == 6 + 3 + 4
        # Another spelling: everything comes from the cache, with the same ranking and no request.
        again = json.loads(run_predict(capsys, *base, "--classes", "Drink-Water", "Juggle_Three_Balls",
                                       "moonwalk backwards", "--llm-model", "test-model",
                                       "--base-url", server.base_url))
        assert len(server.requests) == 6 + 3 + 4
    sources = {r["class"]: r["descriptions"] for r in ranking}
    assert sources == {"drink water": "shipped ntu60",
                       "juggle three balls": f"{folder / 'adhoc'}",  # complete since the first call
                       "moonwalk backwards": f"generated by test-model in {folder / 'adhoc'}"}
    assert sorted(os.listdir(folder / "adhoc")) == ["000_juggle_three_balls.json", "001_moonwalk_backwards.json"]
    saved = json.loads((folder / "adhoc" / "001_moonwalk_backwards.json").read_text())
    assert saved["phases"][PHASES[-1]]["descriptions"][0] == \
        "performer 0 swings the right arm and the left leg for moonwalk backwards, turn 6"
    assert sum(p["probability"] for p in ranking) == pytest.approx(1.0)
    assert [r["probability"] for r in again] == [r["probability"] for r in ranking]
    assert {r["descriptions"] for r in again} == {"shipped ntu60", f"{folder / 'adhoc'}"}
