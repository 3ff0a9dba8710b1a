"""The fault suite (issue #15): bad inputs and interruptions as a new user meets them on the command line.

Every bad input must end with one line, `neuron <command>: error: <what> (<fix>)`, exit code 2, no
traceback, and leave what was already made byte-identical (hashes before and after). The
interruption cases check that nothing half-made is left behind or trips a later command.

The README's count: 43 bad inputs (every failing call and parametrized case in the sections 1-6,
the `--resume` without a checkpoint included) and 3 interruptions (the last section).
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from neuron.atomic import atomic_path, write_json
from neuron.cli import main
from neuron.data.custom import write_custom_npz
from neuron.data.store import DatasetWriter, read_meta
from neuron.errors import UserError
from neuron.notebook_params import check_parameters
from tiny_data import write_tiny_dataset

pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py

NTU_SAMPLE = "S001C001P001R001A011.skeleton"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Data, results and text features in tmp_path; errors shown as users see them."""
    from neuron import paths
    monkeypatch.setattr(paths, "DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(paths, "TEXT_CACHE_DIR", tmp_path / "text")
    monkeypatch.delenv("NEURON_DEBUG", raising=False)


def fails(capsys, *argv) -> str:
    """Run the command line with `argv`; check exit code 2 and a last stderr line
    `neuron <command>: error: ...` with no traceback; return that line."""
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"neuron {argv[0]}") and ": error: " in line, line
    return line


def digest(folder) -> dict[str, str]:
    """sha256 of every file under `folder` (hidden ones too), by relative path."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def custom_npz(path, class_names=("wave", "clap"), x=None) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (4, 3, 6, 20, 1)) if x is None else x
    return write_custom_npz(path, x, np.array([0, 1, 0, 1]), list(class_names), "kinect20")


@pytest.fixture
def ntu60(ntu_samples_dir, tmp_path, capsys):
    """The five NTU samples prepared as ntu60, and the hashes of the prepared folder."""
    out = tmp_path / "ntu"
    main(["prepare", "ntu60", "--raw", str(ntu_samples_dir), "--out", str(out), "--workers", "1"])
    capsys.readouterr()
    return out, digest(out)


# ------------------------------------------------------------------------ 1. silent corruption

def test_preparing_another_dataset_into_a_prepared_folder_is_refused(ntu60, ntu_samples_dir, capsys):
    out, before = ntu60
    line = fails(capsys, "prepare", "ntu120", "--raw", ntu_samples_dir, "--out", out)
    assert f"{out} is prepared as ntu60 from {ntu_samples_dir}, not ntu120 from {ntu_samples_dir}" in line
    assert "--overwrite" in line
    assert digest(out) == before
    main(["info", str(out)])
    assert "benchmark xview" in capsys.readouterr().out


def test_preparing_from_other_raw_data_is_refused(ntu60, ntu_samples_dir, tmp_path, capsys):
    out, before = ntu60
    other = tmp_path / "other_raw"
    other.mkdir()
    (other / NTU_SAMPLE).symlink_to(ntu_samples_dir / NTU_SAMPLE)
    line = fails(capsys, "prepare", "ntu60", "--raw", other, "--out", out, "--workers", "1")
    assert f"prepared as ntu60 from {ntu_samples_dir}, not ntu60 from {other}" in line
    assert digest(out) == before


def test_overwrite_rebuilds_the_folder_cleanly(ntu60, ntu_samples_dir, capsys):
    out, _ = ntu60
    main(["prepare", "ntu120", "--raw", str(ntu_samples_dir), "--out", str(out), "--workers", "1", "--overwrite"])
    meta = read_meta(out)
    assert meta["name"] == "ntu120" and meta["benchmarks"] == ["xsub", "xset"]
    assert sorted(digest(out)) == ["manifest.csv", "meta.json", "skeletons-00000.npz", "skipped.csv"]
    main(["info", str(out)])
    assert "benchmark xset" in capsys.readouterr().out


# ------------------------------------------------------------------------ 2. silent wrong value

def test_a_value_beyond_float32_is_refused(tmp_path, capsys):
    x = np.random.default_rng(0).normal(0, 1, (4, 3, 6, 20, 1))
    x[2, 0, 0, 0, 0] = 1e300  # finite in float64, inf once stored as float32
    np.savez(tmp_path / "big.npz", x=x, labels=np.array([0, 1, 0, 1]), class_names=np.array(["wave", "clap"]),
             layout=np.array("kinect20"))
    line = fails(capsys, "prepare", "custom", "--raw", tmp_path / "big.npz", "--out", tmp_path / "mine")
    assert "big.npz: field 'x': NaN or infinite values in samples [2] (as float32" in line
    assert not (tmp_path / "mine").exists()


# ------------------------------------------------------------------------ 3. failure reported as success

def test_a_raw_folder_of_garbage_fails_and_leaves_no_folder(tmp_path, capsys):
    raw = tmp_path / "garbage"
    raw.mkdir()
    rng = np.random.default_rng(0)
    for action in (1, 2, 3):
        (raw / f"S001C001P001R001A00{action}.skeleton").write_bytes(rng.bytes(3000))
    line = fails(capsys, "prepare", "ntu60", "--raw", raw, "--out", tmp_path / "out", "--workers", "1")
    assert f"no usable ntu60 sample in {raw.resolve()}: every file was skipped" in line
    assert not (tmp_path / "out").exists()
    assert "is neither a known dataset" in fails(capsys, "info", tmp_path / "out")


def test_a_failed_overwrite_keeps_the_old_dataset(ntu60, tmp_path, capsys):
    out, before = ntu60
    raw = tmp_path / "garbage"
    raw.mkdir()
    (raw / NTU_SAMPLE).write_text("not a skeleton\n")
    line = fails(capsys, "prepare", "ntu60", "--raw", raw, "--out", out, "--workers", "1", "--overwrite")
    assert "no usable ntu60 sample" in line
    assert digest(out) == before


@pytest.mark.parametrize("damage", ["empty manifest", "meta not json", "column missing"])
def test_info_on_a_damaged_dataset_names_the_file(tmp_path, capsys, damage):
    out = write_tiny_dataset(tmp_path / "tiny")
    if damage == "empty manifest":
        (out / "manifest.csv").write_text("")
    elif damage == "meta not json":
        (out / "meta.json").write_text("{ half")
    else:
        meta = json.loads((out / "meta.json").read_text())
        (out / "meta.json").write_text(json.dumps({**meta, "benchmarks": ["xsub", "xset"]}))
    before = digest(out)
    line = fails(capsys, "info", out)
    assert ("manifest.csv" if damage != "meta not json" else "meta.json") in line
    assert "neuron prepare ... --overwrite" in line
    assert digest(out) == before


# ------------------------------------------------------------------------ 4. damaged model files and checkpoints

@pytest.mark.parametrize("damage", ["random bytes", "truncated", "empty"])
def test_a_damaged_model_file_is_named_with_the_fix(ntu_samples_dir, tmp_path, capsys, damage):
    model = tmp_path / "match.pt"
    if damage == "random bytes":
        model.write_bytes(np.random.default_rng(0).bytes(4096))
    else:
        torch.save({"format": "neuron-match", "state_dict": {"w": torch.zeros(1000)}}, model)
        model.write_bytes(model.read_bytes()[:300] if damage == "truncated" else b"")
    before = digest(tmp_path)
    line = fails(capsys, "predict", "--model", model, "--skeleton", ntu_samples_dir / NTU_SAMPLE,
                 "--classes", "drink water", "jump up")
    assert f"{model} is damaged and cannot be read" in line and "make it again: `neuron train ...`" in line
    assert digest(tmp_path) == before


@pytest.fixture(scope="module")
def synthetic_data(tmp_path_factory):
    from neuron.data.synthetic import prepare_synthetic
    return prepare_synthetic(tmp_path_factory.mktemp("synthetic") / "synthetic", samples_per_class=16)


@pytest.fixture
def synthetic(synthetic_data, tmp_path):
    """A small synthetic dataset as data/synthetic (every seen class has training samples), and the
    options of a one-epoch run on it."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "synthetic").symlink_to(synthetic_data)
    return ["--dataset", "synthetic", "--split", "63_5", "--epochs", "1", "--batch-size", "8", "--window", "8",
            "--device", "cpu"]


def test_checkpoints_resume_refuse_and_name_damage(synthetic, tmp_path, capsys):
    run = tmp_path / "results" / "runs" / "synthetic" / "xsub" / "63_5" / "main" / "encoder"
    # --resume without a checkpoint says that it starts afresh.
    main(["pretrain", *synthetic, "--resume"])
    assert f"neuron pretrain: no checkpoint in {run}: starting afresh" in capsys.readouterr().err
    before = digest(run)
    # A checkpoint without --resume is never overwritten.
    line = fails(capsys, "pretrain", *synthetic)
    assert f"{run / 'checkpoint.pt'} exists (pass --resume" in line
    assert digest(run) == before
    # A damaged checkpoint: which file, and what to do.
    checkpoint = run / "checkpoint.pt"
    for damaged in (checkpoint.read_bytes()[:1000], b""):
        checkpoint.write_bytes(damaged)
        before = digest(run)
        line = fails(capsys, "pretrain", *synthetic, "--resume")
        assert f"{checkpoint} is damaged and cannot be read" in line and "delete it and rerun" in line
        assert digest(run) == before


def test_a_damaged_shard_is_named_with_the_fix(synthetic_data, tmp_path, capsys):
    import shutil
    data = shutil.copytree(synthetic_data, tmp_path / "data" / "synthetic")
    shard = data / "skeletons-00000.npz"
    shard.write_bytes(shard.read_bytes()[:1000])
    before = digest(data)
    line = fails(capsys, "pretrain", "--dataset", "synthetic", "--split", "63_5", "--epochs", "1", "--device", "cpu")
    assert f"{shard} is missing or damaged" in line and "neuron prepare ... --overwrite" in line
    assert digest(data) == before


# ------------------------------------------------------------------------ 5. one line instead of a traceback

@pytest.mark.parametrize("argv, message", [
    (["pretrain", "--dataset", "synthetic", "--device", "bogus", "--epochs", "1"], "unknown device 'bogus'"),
    (["pretrain", "--dataset", "nosuchset"], "'nosuchset' is neither a known dataset"),
    (["train", "--dataset", "nosuchset"], "'nosuchset' is neither a known dataset"),
    (["pretrain", "--dataset", "synthetic", "--split", "99_99"], "'99_99' is not a split of synthetic"),
    (["train", "--dataset", "synthetic", "--table6-row", "half"], "unknown --table6-row 'half'"),
    (["train", "--dataset", "synthetic", "--run-name", "encoder"], "run name 'encoder' must be a plain"),
    (["prepare", "ntu60"], "--raw is required"),
], ids=["device", "pretrain dataset", "train dataset", "split", "table6 row", "run name", "raw missing"])
def test_bad_options_give_one_line(argv, message, synthetic, tmp_path, capsys):
    assert message in fails(capsys, *argv)
    assert not (tmp_path / "results").exists()  # nothing made


@pytest.mark.parametrize("argv, message", [
    (["prepare", "ntu60", "--raw", ".", "--workers", "-2"], "argument --workers: must be at least 1, got -2"),
    (["pretrain", "--dataset", "utd", "--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
    (["train", "--dataset", "utd", "--workers", "many"], "argument --workers: expected an integer, got 'many'"),
], ids=["prepare workers", "epochs", "train workers"])
def test_bad_numbers_are_usage_errors(argv, message, capsys):
    assert message in fails(capsys, *argv)


def test_bad_raw_paths_name_what_they_are(tmp_path, capsys):
    (tmp_path / "text.npz").write_text("x,y,z\n1,2,3\n")
    line = fails(capsys, "prepare", "custom", "--raw", tmp_path / "text.npz", "--out", tmp_path / "a")
    assert "text.npz: not an .npz archive" in line and "pickled" not in line
    line = fails(capsys, "prepare", "custom", "--raw", tmp_path, "--out", tmp_path / "b")
    assert f"custom dataset file {tmp_path} is a directory" in line
    line = fails(capsys, "prepare", "ntu60", "--raw", tmp_path / "text.npz", "--out", tmp_path / "c")
    assert "is a file, not a directory" in line
    line = fails(capsys, "prepare", "ntu60", "--raw", tmp_path / "absent", "--out", tmp_path / "d")
    assert "absent does not exist" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.npz"]


def test_a_text_file_named_npy_is_not_called_pickled(tmp_path):
    from neuron.data.skeleton_file import read_skeleton_file

    (tmp_path / "clip.npy").write_text("1 2 3\n")
    with pytest.raises(UserError, match="clip.npy: not a .npy array file \\(save the array with np.save\\)"):
        read_skeleton_file(tmp_path / "clip.npy", "kinect20")


def test_debug_shows_the_traceback(capsys, monkeypatch):
    with pytest.raises(UserError, match="--raw is required"):
        main(["--debug", "prepare", "ntu60"])
    monkeypatch.setenv("NEURON_DEBUG", "1")
    with pytest.raises(UserError, match="--raw is required"):
        main(["prepare", "ntu60"])


def test_neuron_run_names_the_value_as_typed_before_running_anything(tmp_path, capsys, monkeypatch):
    import papermill
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: pytest.fail("a notebook ran"))
    line = fails(capsys, "run", "--out", tmp_path / "nb", "-p", "split=99_99")
    assert "parameter split = '99_99': '99_99' is not a split of synthetic" in line
    line = fails(capsys, "run", "--out", tmp_path / "nb", "-p", "epoch=3")
    assert "no notebook declares the parameters ['epoch']" in line
    assert not (tmp_path / "nb").exists()


def test_neuron_run_reports_a_failed_notebook_in_one_line(tmp_path, capsys, monkeypatch):
    import papermill
    from papermill.exceptions import PapermillExecutionError

    def failing(notebook, target, **kwargs):
        raise PapermillExecutionError(3, 2, "split = get_split(dataset, split)", "UserError",
                                      "parameter split = 9999 (papermill's reading of ...): no such split",
                                      ["Traceback ...", "many lines"])
    monkeypatch.setattr(papermill, "execute_notebook", failing)
    line = fails(capsys, "run", "--out", tmp_path / "nb", "--only", "00")
    assert line.startswith("neuron run: error: 00_data.ipynb, cell 2: parameter split = 9999")
    assert "traceback in" in line


def test_notebook_parameters_name_the_split_as_typed():
    with pytest.raises(UserError, match=r"parameter split = 9999 \(papermill's reading of 9_999, 99_99 or 999_9\)"):
        check_parameters(dataset="synthetic", split=9999)
    check_parameters(dataset="synthetic", split=5612, benchmark="xsub", epochs=None, device="cpu", lr=0.1)
    for bad, message in [(dict(epochs=0), "epochs = 0: must be an integer >= 1"),
                         (dict(benchmark="xview"), "not a benchmark of synthetic"),
                         (dict(device="gpu"), "unknown device 'gpu'"),
                         (dict(table6_rows=["half"]), "unknown Table 6 rows")]:
        with pytest.raises(UserError, match=message):
            check_parameters(dataset="synthetic", **bad)


def test_every_notebook_parameter_is_checked_and_the_defaults_pass():
    """check_parameters knows every parameter the numbered notebooks declare, and accepts their defaults."""
    import papermill

    from neuron.experiments.pipeline import _literal, numbered_notebooks
    for notebook in numbered_notebooks():
        declared = papermill.inspect_notebook(str(notebook))
        check_parameters(**{name: _literal(p["default"]) for name, p in declared.items()})


# ------------------------------------------------------------------------ 6. smaller

def test_class_names_that_predict_treats_as_one_are_refused(tmp_path, capsys):
    np.savez(tmp_path / "mine.npz", x=np.random.default_rng(0).normal(0, 1, (4, 3, 6, 20, 1)),
             labels=np.array([0, 1, 0, 1]), class_names=np.array(["wave", "Wave "]), layout=np.array("kinect20"))
    line = fails(capsys, "prepare", "custom", "--raw", tmp_path / "mine.npz", "--out", tmp_path / "out")
    assert "repeated names ['wave' = 'Wave ']" in line
    assert not (tmp_path / "out").exists()


def test_a_custom_file_prepared_twice_is_refused_then_overwritten(tmp_path, capsys):
    out = tmp_path / "mine"
    main(["prepare", "custom", "--raw", str(custom_npz(tmp_path / "mine.npz")), "--out", str(out)])
    before = digest(out)
    assert "already holds a prepared mine dataset" in fails(capsys, "prepare", "custom", "--raw",
                                                            tmp_path / "mine.npz", "--out", out)
    line = fails(capsys, "prepare", "custom", "--raw", custom_npz(tmp_path / "other.npz"), "--out", out)
    assert f"prepared as mine from {tmp_path / 'mine.npz'}, not other from {tmp_path / 'other.npz'}" in line
    assert digest(out) == before
    main(["prepare", "custom", "--raw", str(tmp_path / "other.npz"), "--out", str(out), "--overwrite"])
    assert read_meta(out)["name"] == "other"


# ------------------------------------------------------------------------ interruptions

def test_stale_temporary_files_of_atomic_writes_are_removed(tmp_path):
    """A process killed inside atomic_path leaves `.<name>.<host>-<pid>.<random>.tmp`; the next write of
    that file removes it (its process is gone), but not a temporary of a live process."""
    import socket
    host = socket.gethostname().replace(".", "_")
    dead, live = tmp_path / f".meta.json.{host}-999999999.abc.tmp", tmp_path / f".meta.json.{host}-{os.getpid()}.x.tmp"
    legacy = tmp_path / ".meta.json.k2j4h5g6.tmp"  # the name older versions used, two hours old
    for path in (dead, live, legacy):
        path.write_bytes(b"")
    os.utime(legacy, (0, 0))
    write_json(tmp_path / "meta.json", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "meta.json"]


def test_an_interrupted_atomic_write_leaves_the_old_file(tmp_path):
    write_json(tmp_path / "meta.json", {"a": 1})
    before = digest(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "meta.json") as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert digest(tmp_path) == before


def test_a_partly_prepared_folder_is_resumed_only_by_the_same_preparation(tmp_path, capsys):
    """An interrupted preparation (shards, no meta.json) is not taken over by another dataset."""
    npz = custom_npz(tmp_path / "mine.npz")
    out = tmp_path / "out"
    writer = DatasetWriter(out, name="pku", layout="ntu25", class_names=["a"], origin=tmp_path / "pku_raw")
    writer.add_shard(np.zeros((1, 3, 4, 25, 2), np.float32), [{"name": "x", "label": 0, "frames": 4}])
    before = digest(out)
    line = fails(capsys, "prepare", "custom", "--raw", npz, "--out", out)
    assert f"{out} is partly prepared as pku from {tmp_path / 'pku_raw'}, not mine from {npz}" in line
    assert digest(out) == before
    assert f"no {out / 'meta.json'}" in fails(capsys, "info", out)

