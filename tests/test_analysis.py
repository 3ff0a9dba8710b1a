"""Tests for neuron.experiments.analysis: cluster metrics and t-SNE on hand-made points, per-class accuracy
on hand-made records, pooled features of an untrained model, and the reuse-or-train helper on
a tiny dataset written into tmp_path (seconds on one core)."""

import numpy as np
import pandas as pd
import pytest
import torch

from neuron.data.feeder import SkeletonFeeder
from neuron.data.splits import Split
from neuron.data.store import load_dataset, read_manifest
from neuron.evaluation.metrics import Decisions
from neuron.evaluation.records import EpochRecord, save_record
from neuron.experiments import analysis
from neuron.models.neuron import STREAMS, NeuronHead
from neuron.models.shift_gcn import FEATURE_CHANNELS, ShiftGCN
from neuron.models.zero_shot import ZeroShotModel, load_matching_model
from neuron.runs import MATCH_FILE, Run
from neuron.training.config import match_config
from neuron.training.match import train_or_reuse
from tiny_data import K, write_tiny_dataset

pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py


def blobs(separation: float, per_class: int = 30, classes: int = 3, dim: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    centres = separation * np.eye(classes, dim)
    return centres[labels] + rng.normal(0, 1, (len(labels), dim)), labels


# ---------------------------------------------------------------- cluster metrics and t-SNE

def test_cluster_metrics_separate_tight_from_mixed_classes():
    tight, labels = blobs(separation=50.0)
    good = analysis.cluster_metrics(tight, labels, seed=0)
    assert good["ari"] == pytest.approx(1.0) and good["fmi"] == pytest.approx(1.0)
    assert good["silhouette"] > 0.8 and good["calinski_harabasz"] > 1000
    mixed, _ = blobs(separation=0.0)
    bad = analysis.cluster_metrics(mixed, labels, seed=0)
    assert abs(bad["ari"]) < 0.1 and bad["silhouette"] < 0.05 and bad["calinski_harabasz"] < 5
    # Labels, not cluster ids, define silhouette and CH: renaming the classes changes nothing.
    assert analysis.cluster_metrics(tight, 10 - labels, seed=0) == pytest.approx(good)


def test_cluster_metrics_reject_bad_input():
    x, labels = blobs(separation=1.0, per_class=2)
    with pytest.raises(ValueError, match="one label per row"):
        analysis.cluster_metrics(x, labels[:-1])
    with pytest.raises(ValueError, match="2 <= classes < samples"):
        analysis.cluster_metrics(x, np.zeros(len(x), int))


def test_cluster_table_rows_and_columns():
    tight, labels = blobs(separation=50.0)
    mixed, _ = blobs(separation=0.0)
    table = analysis.cluster_table({"encoder": mixed, "spatial 1": tight}, labels)
    assert list(table.index) == ["encoder", "spatial 1"] and list(table.columns) == list(analysis.CLUSTER_METRICS)
    assert table.loc["spatial 1", "ari"] > table.loc["encoder", "ari"]


def test_tsne_is_seeded_and_handles_small_sets():
    x, _ = blobs(separation=20.0, per_class=4)  # 12 points: perplexity capped below 12 / 3
    a, b = analysis.tsne_embedding(x, seed=3), analysis.tsne_embedding(x, seed=3)
    assert a.shape == (12, 2)
    np.testing.assert_array_equal(a, b)


def test_feature_sets_names():
    f = np.zeros((2, 4))
    sets = analysis.feature_sets({"encoder": [f], "spatial": [f, f, f], "temporal": [f, f, f]})
    assert list(sets) == ["encoder", "spatial 1", "spatial 2", "spatial 3", "temporal 1", "temporal 2", "temporal 3"]


# ---------------------------------------------------------------- per-class accuracy

def test_per_class_accuracy_hand_case():
    predictions = np.array([2, 2, 3, 3, 3, 5])
    labels = np.array([2, 2, 2, 3, 3, 5])
    acc = analysis.per_class_accuracy(predictions, labels, [2, 3, 5])
    assert acc.to_dict() == {2: pytest.approx(2 / 3), 3: 1.0, 5: 1.0}
    with pytest.raises(ValueError, match=r"classes \[7\] have no samples"):
        analysis.per_class_accuracy(predictions, labels, [2, 7])


def test_zsl_per_class_reads_the_fused_unseen_predictions_of_an_epoch(tmp_path):
    labels = np.array([0, 1, 2, 2, 3, 3])  # 0, 1 seen; 2, 3 unseen
    dec = Decisions(np.zeros(6, int), np.full(6, 2), np.zeros(6))
    for epoch, zsl in ((1, [0, 0, 2, 2, 3, 3]), (2, [0, 0, 2, 3, 3, 2])):
        save_record(tmp_path / "records", EpochRecord(epoch, labels, np.array([0, 1]), np.arange(4),
                                                      np.array([2, 3]), {"spatial": dec}, dec, np.array(zsl)))
    assert analysis.zsl_per_class(tmp_path, epochs=2).to_dict() == {2: 0.5, 3: 0.5}
    assert analysis.zsl_per_class(tmp_path, epochs=1).to_dict() == {2: 1.0, 3: 1.0}


def test_per_class_comparison_sorts_by_difference():
    ours = pd.Series({2: 0.5, 3: 0.9, 5: 0.2})
    base = pd.Series({2: 0.6, 3: 0.4, 5: 0.2})
    names = {2: "two", 3: "three", 5: "five"}
    table = analysis.per_class_comparison(ours, base, names)
    assert list(table["class"]) == ["three", "five", "two"]
    assert table["difference"].tolist() == pytest.approx([50.0, 0.0, -10.0])
    assert list(table.columns) == ["class", "neuron", "global", "difference"]
    with pytest.raises(ValueError, match="different classes"):
        analysis.per_class_comparison(ours, base.iloc[:2], names)


# ---------------------------------------------------------------- features of a model

def tiny_text(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {s: torch.randn(3, K, 2, 16, generator=g).numpy() for s in STREAMS}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    data = write_tiny_dataset(root / "data")
    return {"root": root, "data": data, "split": Split.from_unseen(str(data), "4_2", (1, 4), K)}


def test_unseen_test_samples(tiny):
    samples = analysis.unseen_test_samples(Run(tiny["data"], tiny["split"]), val_fraction=0.25)
    manifest = read_manifest(tiny["data"])
    expected = manifest[manifest["label"].isin([1, 4]) & (manifest["xsub"] == "test")]
    assert samples.manifest["name"].tolist() == expected["name"].tolist()
    capped = analysis.unseen_test_samples(Run(tiny["data"], tiny["split"]), val_fraction=0.25, max_per_class=2, seed=5)
    assert sorted(capped.labels.tolist()) == [1, 1, 4, 4]
    again = analysis.unseen_test_samples(Run(tiny["data"], tiny["split"]), val_fraction=0.25, max_per_class=2, seed=5)
    assert capped.manifest["name"].tolist() == again.manifest["name"].tolist()
    assert set(capped.manifest["name"]) <= set(expected["name"])


def test_pooled_features_are_the_heads_per_sample_features(tiny):
    torch.manual_seed(0)
    net = ZeroShotModel(ShiftGCN(4, layout="kinect20", num_persons=1),
                        NeuronHead(feature_dim=FEATURE_CHANNELS, text_dim=16, num_spatial=8, num_temporal=8)).eval()
    samples = load_dataset(tiny["data"], np.arange(10))
    text = tiny_text()
    features = analysis.pooled_features(net, samples, text, window=12, batch_size=4)
    assert list(features) == ["encoder", "spatial", "temporal"]
    assert [f.shape for f in features["spatial"]] == [(10, FEATURE_CHANNELS)] * 3
    # Batching does not change a sample's features (evaluation mode); the encoder feature is the
    # mean of its feature map, and the phases differ from each other.
    one_batch = analysis.pooled_features(net, samples, text, window=12, batch_size=10)
    for name in features:
        for a, b in zip(features[name], one_batch[name]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    x = torch.stack([SkeletonFeeder(samples, window=12)[i][0] for i in range(2)])
    with torch.no_grad():
        expected = net.features(x).mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(features["encoder"][0][:2], expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(features["spatial"][0], features["spatial"][2])


def test_train_or_reuse_trains_then_reuses(tiny):
    small = dict(window=12, batch_size=4, val_fraction=0.25, progress=False, device="cpu")
    config = match_config(tiny["data"], **small, epochs=1, eval_batch_size=16, text_encoder="test-encoder")
    args = dict(model="global", config=config, pretrain=dict(small, epochs=1))
    text, address = tiny_text(), Run(tiny["data"], tiny["split"], root=tiny["root"] / "results")
    run = train_or_reuse(address, text, **args)
    assert run.name == "global" and (run / MATCH_FILE).is_file()
    encoder = run.parent / "encoder" / "encoder.pt"
    stamp = (encoder.read_bytes(), (run / "records" / "epoch_001.npz").stat().st_mtime_ns)
    assert train_or_reuse(address, text, **args) == run
    assert (encoder.read_bytes(), (run / "records" / "epoch_001.npz").stat().st_mtime_ns) == stamp
    net, meta = load_matching_model(run / MATCH_FILE)
    assert meta["model"] == "global" and meta["epochs_done"] == 1
    per_class = analysis.zsl_per_class(run, epochs=1)
    assert list(per_class.index) == [1, 4] and per_class.between(0, 1).all()


# ---------------------------------------------------------------- figures

def test_figures_have_one_panel_per_feature_set():
    rng = np.random.default_rng(0)
    labels = np.repeat([2, 5], 5)
    names = ["encoder"] + [f"{s} {e}" for s in STREAMS for e in (1, 2, 3)]
    embeddings = {n: rng.normal(size=(10, 2)) for n in names}
    metrics = pd.DataFrame({"silhouette": 0.5, "ari": 0.25}, index=names)
    fig = analysis.plot_tsne_grid(embeddings, labels, {2: "two", 5: "five"}, metrics, title="t")
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titled) == 7 and titled[1] == "spatial, phase 1\nsilhouette 0.50, ARI 0.25"
    legend = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert legend == ["two", "five"]
    table = analysis.per_class_comparison(pd.Series({2: 0.5, 5: 0.25}), pd.Series({2: 0.25, 5: 0.5}),
                                          {2: "two", 5: "five"})
    bars = analysis.plot_per_class(table).axes[0].patches
    assert sorted(b.get_width() for b in bars) == pytest.approx([-25.0, 25.0])
