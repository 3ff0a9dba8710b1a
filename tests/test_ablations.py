"""Tests for the ablation machinery (neuron.experiments.ablations) and the test-label-free fixed-epoch
protocol: protocol and tables on hand-made records and results, then one end-to-end grid on a
tiny dataset written into tmp_path (seconds on one core)."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from neuron.data.splits import Split
from neuron.evaluation.metrics import Decisions
from neuron.evaluation.protocols import fixed_epoch_protocol
from neuron.evaluation.records import EpochRecord
from neuron.experiments import ablations
from neuron.models.neuron import STREAMS, TABLE6_ROWS
from neuron.runs import Run
from neuron.training.config import match_config
from neuron.training.match import text_sha256
from neuron.training.pretrain import pretrain_or_reuse
from tiny_data import K, write_tiny_dataset

pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py


# ---------------------------------------------------------------- the fixed-epoch protocol

def make_record(epoch, fused_zsl, fused_seen, fused_unseen, margin):
    """Labels 0, 1 (seen) and 2, 3 (unseen), two samples each."""
    labels = np.array([0, 1, 2, 2, 3, 3])
    fused = Decisions(np.array(fused_seen), np.array(fused_unseen), np.array(margin, dtype=float))
    return EpochRecord(epoch, labels, np.array([0, 1]), np.array([0, 1, 2, 3]), np.array([2, 3]),
                       {"spatial": fused, "temporal": fused}, fused, np.array(fused_zsl))


def test_fixed_epoch_protocol_reads_the_last_epoch_uncalibrated():
    # Epoch 1 is better on the test set, but the protocol must not look: it takes epoch 2.
    best = make_record(1, [2, 2, 2, 2, 3, 3], [0, 1, 0, 0, 0, 0], [2, 2, 2, 2, 3, 3], [1, 1, -1, -1, -1, -1])
    last = make_record(2, [2, 2, 2, 3, 2, 3], [0, 0, 0, 0, 0, 0], [2, 2, 2, 3, 2, 3], [1, 1, 1, -1, -1, -1])
    result = fixed_epoch_protocol([best, last])
    assert result["zsl"] == {"top1": 0.5, "epoch": 2}  # unseen samples: 2 right (2->2, 3->3) of 4
    # gamma 0: a sample takes its best seen class where the margin is > 0, else its best unseen
    # one: predictions 0 0 | 0 3 2 3 for labels 0 1 | 2 2 3 3 -> S = 1/2, U = 1/4.
    g = result["gzsl"]
    assert (g["seen"], g["unseen"], g["epoch"], g["gamma"]) == (0.5, 0.25, 2, 0.0)
    assert g["harmonic"] == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    assert fixed_epoch_protocol([best, last], epoch=1)["zsl"]["top1"] == 1.0


def test_fixed_epoch_protocol_rejects_missing_epochs():
    record = make_record(3, [2] * 6, [0] * 6, [2] * 6, [0.0] * 6)
    with pytest.raises(ValueError, match="no test record of epoch 2"):
        fixed_epoch_protocol([record], epoch=2)
    with pytest.raises(ValueError, match="no test records"):
        fixed_epoch_protocol([])


# ---------------------------------------------------------------- grids and run names

def test_grid_parameters():
    assert ablations.table6_rows(["full", "neither"]) == ["neither", "full"]  # table order
    assert ablations.table6_rows("all") == list(TABLE6_ROWS)
    with pytest.raises(ValueError, match="unknown Table 6 rows"):
        ablations.table6_rows(["no_such_row"])
    assert ablations.prototype_counts([80, 20, 20]) == [20, 80]
    assert ablations.prototype_counts("all") == list(ablations.FULL_PROTOTYPE_COUNTS)
    for bad in ([0], [2.5], [True]):
        with pytest.raises(ValueError, match="positive integers"):
            ablations.prototype_counts(bad)
    # papermill's -p passes a list as a string; one value as itself
    assert ablations.prototype_counts("[50, 20]") == ablations.prototype_counts("20,50") == [20, 50]
    assert ablations.prototype_counts(100) == [100]
    assert ablations.table6_rows("['full', 'neither']") == ["neither", "full"]
    assert ablations.random_splits("synthetic", "r2") == ["r2"]
    assert ablations.random_splits("synthetic", "all") == ["r1", "r2", "r3"]
    assert ablations.random_splits("ntu60", ["r2"]) == ["r2"]
    assert ablations.random_splits("utd", "all") == []
    assert ablations.random_splits("pku", 2) == ["r1", "r2"] and ablations.random_splits("utd", 2) == []
    with pytest.raises(ValueError, match=">= 0"):
        ablations.random_splits("pku", -1)
    with pytest.raises(ValueError, match="no random splits"):
        ablations.random_splits("utd", ["r1"])


def test_canonical_options_and_run_names():
    config = match_config("synthetic", epochs=2)
    name = lambda kwargs, cfg=config, enc="e" * 64: ablations.ablation_run_name(  # noqa: E731
        kwargs, cfg, encoder_sha256=enc, text_sha256="t" * 64)
    assert ablations.canonical_head_kwargs(TABLE6_ROWS["full"]) == {}
    assert ablations.canonical_head_kwargs({"num_spatial": 80, "num_temporal": 20}) == {"num_temporal": 20}
    assert ablations.canonical_head_kwargs({"keep_fractions": [0.75, 0.5, 0.25]}) == {}
    with pytest.raises(ValueError, match="unknown NeuronHead options"):
        ablations.canonical_head_kwargs({"num_prototypes": 3})
    # The full model and N_s = 80 are one run; anything that changes the result is another.
    assert name(TABLE6_ROWS["full"]) == name({"num_spatial": 80}) == name({})
    assert name({}).startswith("ablation-default-")
    assert name({"num_spatial": 20}).startswith("ablation-num_spatial20-")
    assert name(TABLE6_ROWS["neither"]).startswith("ablation-no_spatial_compression-no_spatial_granularity-")
    assert name({}) != name({}, cfg=match_config("synthetic", epochs=3))
    assert name({}) != name({}, enc="f" * 64)
    assert name({}) == name({}, cfg=match_config("synthetic", epochs=2, device="cpu", progress=False))


def test_text_digest_follows_the_values():
    text = {s: np.zeros((3, 4, 2, 5), np.float32) for s in STREAMS}
    same = {s: t.copy() for s, t in text.items()}
    other = {s: t.copy() for s, t in text.items()}
    other["temporal"][0, 0, 0, 0] = 1
    assert text_sha256(text) == text_sha256(same) != text_sha256(other)
    assert text_sha256({s: torch.from_numpy(t) for s, t in text.items()}) == text_sha256(text)  # tensors too


# ---------------------------------------------------------------- tables

def fake_result(zsl, h, run="r"):
    protocol = {"zsl": {"top1": zsl}, "gzsl": {"seen": 0.5, "unseen": 0.25, "harmonic": h}}
    return {"run": run, "paper": protocol, "last": protocol}


def test_random_split_frame_mean_and_sample_std():
    frame = ablations.random_split_frame({"r1": fake_result(0.5, 0.2), "r2": fake_result(0.7, 0.4),
                                          "r3": fake_result(0.6, 0.3)})
    assert list(frame.index) == ["r1", "r2", "r3", "mean", "std"] and frame.index.name == "split"
    assert frame.loc["mean", "ZSL paper"] == pytest.approx(60.0)
    assert frame.loc["std", "ZSL paper"] == pytest.approx(10.0)  # ddof 1
    assert frame.loc["std", "H last"] == pytest.approx(10.0)
    assert frame.loc["r2", "S paper"] == pytest.approx(50.0)
    assert ablations.random_split_frame({}).empty
    assert ablations.table6_frame({}).empty and ablations.prototype_frame({}).empty  # an empty grid


def test_table_frames_and_files(tmp_path):
    table6 = ablations.table6_frame({"neither": fake_result(0.4, 0.3, "a"), "full": fake_result(0.5, 0.35, "b")})
    assert table6.loc["full", "ZSL in paper"] == 86.9 and table6.loc["neither", "run"] == "a"
    sweep = ablations.prototype_frame({("spatial", 20): fake_result(0.1, 0.1), ("temporal", 20): fake_result(0.2, 0.1)})
    assert sweep.loc[("temporal", 20), "ZSL last"] == pytest.approx(20.0)
    md, js = ablations.write_table(table6, tmp_path / "out" / "x_table6", title="Table 6", notes=["a note"],
                                   meta={"epochs": 2})
    text = md.read_text()
    assert text.startswith("# Table 6\n\na note\n\n| row | ZSL paper |")
    assert "| neither | 40.0 | 50.0 | 25.0 | 30.0 |" in text
    stored = json.loads(js.read_text())
    assert stored["meta"] == {"epochs": 2} and stored["columns"][0] == "row"
    assert stored["rows"][1]["row"] == "full" and stored["rows"][1]["H paper"] == pytest.approx(35.0)


def test_prototype_figure_has_a_panel_per_sweep():
    sweep = ablations.prototype_frame({(s, n): fake_result(n / 100, 0.1) for s in ("spatial", "temporal")
                                       for n in (20, 80)})
    fig = ablations.plot_prototype_sweep(sweep, chance=50.0)
    assert [ax.get_xlabel() for ax in fig.axes] == ["spatial prototypes $N_s$", "temporal prototypes $N_t$"]
    assert [ax.get_title() for ax in fig.axes] == ["$N_t$ = 80", "$N_s$ = 80"]
    zsl_paper = fig.axes[0].get_lines()[0]
    assert list(zsl_paper.get_xdata()) == [20, 80] and list(zsl_paper.get_ydata()) == pytest.approx([20.0, 80.0])


def test_markdown_table_leaves_missing_values_empty():
    frame = pd.DataFrame({"a": [1.0, np.nan]}, index=pd.Index(["x", "y"], name="k"))
    assert ablations.markdown_table(frame).splitlines()[-1] == "| y |  |"


# ---------------------------------------------------------------- end to end on a tiny dataset

SMALL = dict(window=12, batch_size=4, val_fraction=0.25, progress=False, device="cpu")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """6 classes of 20-joint skeletons; class c oscillates joint 2c; split 4_2 holds out 1 and 4."""
    root = tmp_path_factory.mktemp("tiny")
    data = write_tiny_dataset(root / "data")
    g = torch.Generator().manual_seed(0)
    text = {s: torch.randn(3, K, 2, 16, generator=g).numpy() for s in STREAMS}
    split = Split.from_unseen(str(data), "4_2", (1, 4), K)
    pretrain = dict(SMALL, epochs=1)  # PretrainConfig overrides
    config = match_config(data, **SMALL, epochs=2, milestones=(1,), eval_batch_size=16, text_encoder="test-encoder")
    run = Run(data, split, root=root / "results")
    return {"data": data, "split": split, "text": text, "pretrain": pretrain, "config": config, "run": run,
            "root": root}


def test_grids_train_each_distinct_variant_once(tiny):
    run, text, config = tiny["run"], tiny["text"], tiny["config"]
    pretrain_or_reuse(run, **tiny["pretrain"])
    table6 = ablations.run_table6(run, text, ["full", "neither"], config=config, progress=False)
    sweep = ablations.run_prototype_sweep(run, text, [4, 80], [80], config=config, progress=False)
    assert list(table6) == ["neither", "full"]
    assert sweep[("spatial", 80)]["run"] == sweep[("temporal", 80)]["run"] == table6["full"]["run"]
    runs_dir = tiny["root"] / "results" / "runs" / "tiny" / "xsub" / "4_2" / "main"
    assert sorted(p.name for p in runs_dir.iterdir()) == sorted(
        ["encoder", table6["full"]["run"], table6["neither"]["run"], sweep[("spatial", 4)]["run"]])
    full = table6["full"]
    assert full["last"]["zsl"]["epoch"] == 2 and full["head_kwargs"] == {}
    assert 1 <= full["paper"]["zsl"]["epoch"] <= 2 and full["paper"]["gamma_grid"] == "test-set margin quantiles"
    # A second call reuses the finished runs: identical results, records untouched.
    record = runs_dir / full["run"] / "records" / "epoch_002.npz"
    stamp = record.stat().st_mtime_ns
    again = ablations.run_table6(run, text, ["full"], config=config, progress=False)
    assert again["full"] == full and record.stat().st_mtime_ns == stamp
    frame = ablations.table6_frame(table6)
    assert list(frame.index) == ["neither", "full"] and frame.notna().all().all()


def test_random_splits_need_registered_splits(tiny):
    # The tiny dataset registers no split, so it has no random split to run.
    assert ablations.random_splits(tiny["data"], "all") == []
    assert ablations.run_random_splits(tiny["run"], "all", tiny["text"], config=tiny["config"],
                                       pretrain=tiny["pretrain"], progress=False) == {}


def test_random_split_encoders_must_match_the_requested_pretraining(tiny, monkeypatch):
    # Stand the tiny dataset's split in for a random split (the tiny dataset registers none).
    monkeypatch.setattr(ablations, "random_splits", lambda dataset, value: [tiny["split"]])
    run, text, config = tiny["run"].with_(root=tiny["root"] / "r5"), tiny["text"], tiny["config"]
    results = ablations.run_random_splits(run, "all", text, config=config, pretrain=tiny["pretrain"], progress=False)
    assert list(results) == [tiny["split"]] and results[tiny["split"]]["run"].startswith("ablation-default-")
    frame = ablations.random_split_frame({"4_2": results[tiny["split"]]})
    assert frame.loc["4_2", "ZSL last"] == pytest.approx(100 * results[tiny["split"]]["last"]["zsl"]["top1"])
    # An encoder pretrained for 1 epoch does not pass for a 2-epoch one.
    with pytest.raises(ValueError, match="another configuration"):
        ablations.run_random_splits(run, "all", text, config=config, pretrain=dict(tiny["pretrain"], epochs=2),
                                    progress=False)
