"""Tests for training (encoder pretraining, the matching stage, resume, prediction) and the
evaluation of trained runs, on a tiny synthetic dataset written into tmp_path.

The dataset: 6 classes of 20-joint (kinect20) single-person skeletons; class c oscillates
joint 2c along axis c mod 3 with c + 1 periods per clip, over small noise. Split "4_2"
holds out classes 1 and 4. Clips are resized to 12 frames (T' = 3 after the encoder), so
every run takes seconds on one core.
"""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from neuron.data.feeder import SkeletonFeeder
from neuron.data.folds import make_fold
from neuron.data.splits import Split
from neuron.data.store import load_dataset, read_manifest
from neuron.errors import UserError
from neuron.evaluation.metrics import fused_scores, softmax
from neuron.evaluation.records import epoch_record, load_records
from neuron.evaluation.report import evaluate, evaluate_dirs
from neuron.inference.predict import predict
from neuron.models.neuron import STREAMS
from neuron.models.zero_shot import ZeroShotModel, build_head, load_encoder, load_matching_model, text_features_for
from neuron.runs import Run, save_model_file
from neuron.text.features import DEFAULT_TEXT_ENCODER, save_text_features
from neuron.training import match as match_module
from neuron.training import pretrain as pretrain_module
from neuron.training.config import match_config, pretrain_config
from neuron.training.match import encoded_batches, final_logits, train_matching
from neuron.training.pretrain import pretrain_encoder
from neuron.training.runtime import eval_loader
from tiny_data import PER_CLASS, K, V, write_tiny_dataset

D = 16
UNSEEN = (1, 4)
HEAD = dict(num_spatial=8, num_temporal=8)
SMALL = dict(window=12, batch_size=4, val_fraction=0.25, progress=False, device="cpu")


pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py


def make_text(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {s: torch.randn(3, K, 2, D, generator=g) for s in STREAMS}


def pre_config(data, **kw):
    return pretrain_config(data, **{**SMALL, "epochs": 2, "milestones": (1,), **kw})


def m_config(data, **kw):
    return match_config(data, **{**SMALL, "epochs": 3, "milestones": (2,), "eval_batch_size": 16, **kw})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    data = write_tiny_dataset(root / "data")
    return {"root": root, "data": data, "split": Split.from_unseen(str(data), "4_2", UNSEEN, K)}


@pytest.fixture(scope="module")
def encoder(tiny):
    torch.set_num_threads(1)
    return pretrain_encoder(Run(tiny["data"], tiny["split"], root=tiny["root"] / "results"),
                            config=pre_config(tiny["data"]))


@pytest.fixture(scope="module")
def main_run(tiny, encoder):
    torch.set_num_threads(1)
    return train_matching(Run(tiny["data"], tiny["split"], root=tiny["root"] / "results"), make_text(),
                          head_kwargs=HEAD, config=m_config(tiny["data"]))


@pytest.fixture(scope="module")
def validation_run(tiny, encoder):
    torch.set_num_threads(1)
    return train_matching(Run(tiny["data"], tiny["split"], fold="validation", root=tiny["root"] / "results"),
                          make_text(), head_kwargs=HEAD, encoder_path=encoder, config=m_config(tiny["data"]))


# ---------------------------------------------------------------- configuration and folds

def test_config_defaults_and_overrides():
    ntu = pretrain_config("ntu60")
    assert (ntu.epochs, ntu.milestones, ntu.lr, ntu.weight_decay, ntu.batch_size, ntu.window, ntu.seed) == \
        (110, (60, 80, 100), 0.1, 1e-4, 64, 64, 1)
    m = match_config("ntu60")
    assert (m.epochs, m.milestones, m.weight_decay, m.encoder_bn_train) == (30, (4, 20), 5e-4, True)
    assert match_config("pku").milestones == (8, 20)
    assert match_config("utd").encoder_bn_train is False
    utd, utd_m = pretrain_config("utd"), match_config("utd")
    assert (utd.epochs, utd.window, utd_m.epochs, utd_m.window, utd_m.cache_features) == (30, 32, 30, 32, True)
    assert utd_m.text_encoder == "all-minilm-l6-v2"  # chosen on UTD's validation folds
    assert match_config("/prepared/mine").text_encoder == DEFAULT_TEXT_ENCODER
    assert pretrain_config("/prepared/mine") == utd  # a prepared directory gets the small-dataset defaults
    syn, syn_m = pretrain_config("synthetic"), match_config("synthetic")  # CPU-quick (notebooks 02-03)
    assert (syn.epochs, syn.milestones, syn.lr, syn.batch_size, syn.window) == (8, (6,), 0.05, 16, 12)
    assert (syn_m.epochs, syn_m.milestones, syn_m.lr, syn_m.batch_size, syn_m.window) == (6, (5,), 0.3, 8, 12)
    assert syn_m.cache_features and not syn_m.encoder_bn_train
    assert match_config("utd", epochs=3, lr=None).epochs == 3  # None keeps the default
    with pytest.raises(ValueError, match="unknown MatchConfig fields"):
        match_config("utd", epoch=3)
    with pytest.raises(ValueError, match="milestones"):
        pretrain_config("utd", milestones=(5, 2))

def test_gpu_fast_path_is_the_default_on_cuda_only():
    for build in (pretrain_config, match_config):
        assert (build("ntu60", device="cuda").amp, build("ntu60", device="cuda:1").compile) == (True, True)
        assert (build("ntu60", device="cpu").amp, build("ntu60", device="cpu").compile) == (False, False)
        off = build("ntu60", device="cuda", amp=False, compile=False)  # --no-amp --no-compile
        assert (off.amp, off.compile) == (False, False)
        assert build("utd", device="cpu", amp=True).amp  # allowed on a CPU when asked for
    assert pretrain_config("ntu60", device="auto").amp == torch.cuda.is_available()



def test_folds_partition_the_data(tiny):
    manifest = read_manifest(tiny["data"])
    labels = manifest["label"].to_numpy()
    main = make_fold("main", tiny["split"], manifest, "xsub", val_fraction=0.25)
    assert main.train_classes == (0, 2, 3, 5) and main.unseen_classes == UNSEEN
    assert not set(main.train_rows) & set(main.heldout_rows)
    assert set(labels[main.train_rows]) == set(labels[main.heldout_rows]) == set(main.train_classes)
    assert (manifest["xsub"].iloc[main.eval_rows] == "test").all() and len(main.eval_rows) == K * PER_CLASS // 2

    val = make_fold("validation", tiny["split"], manifest, "xsub", val_fraction=0.25)
    assert len(val.unseen_classes) == 1 and set(val.unseen_classes) < set(tiny["split"].seen)
    assert set(val.train_classes) == set(tiny["split"].seen) - set(val.unseen_classes)
    assert val.eval_classes == tiny["split"].seen
    # Never a test sample or a real unseen class; pseudo-unseen never trained on.
    assert (manifest["xsub"].iloc[val.eval_rows] == "train").all()
    assert not set(labels[val.eval_rows]) & set(UNSEEN)
    assert not set(labels[val.train_rows]) & set(val.unseen_classes)
    with pytest.raises(ValueError, match="fold must be"):
        make_fold("test", tiny["split"], manifest, "xsub", val_fraction=0.25)


def test_the_validation_fold_holds_out_whole_subjects_where_the_test_set_does(tiny):
    manifest = read_manifest(tiny["data"])  # xsub: subjects 1 and 3 train, 2 and 4 test
    labels, subjects = manifest["label"].to_numpy(), manifest["subject"].to_numpy()
    main = make_fold("main", tiny["split"], manifest, "xsub", val_fraction=0.25)
    val = make_fold("validation", tiny["split"], manifest, "xsub", val_fraction=0.25)
    assert (main.holdout, val.holdout) == ("samples", "subjects")
    held = set(subjects[val.heldout_rows])
    assert len(held) == 1 and not held & set(subjects[val.train_rows])  # one of the 2, at least one
    assert set(subjects[val.train_rows]) | held == {1, 3}
    # Every pseudo-seen training clip of the held-out subject is evaluated; every pseudo-unseen clip too.
    pseudo_seen = np.isin(labels, val.train_classes) & (manifest["xsub"] == "train").to_numpy()
    assert set(val.heldout_rows) == set(np.flatnonzero(pseudo_seen & np.isin(subjects, list(held))))
    pseudo_unseen = np.isin(labels, val.unseen_classes) & (manifest["xsub"] == "train").to_numpy()
    assert set(val.eval_rows) == set(val.heldout_rows) | set(np.flatnonzero(pseudo_unseen))
    assert len(val.train_rows) + len(val.heldout_rows) == pseudo_seen.sum()

    # Where the test part shares subjects with the training part, samples are held out as in main.
    shared = manifest.assign(subject=1)
    val = make_fold("validation", tiny["split"], shared, "xsub", val_fraction=0.25)
    assert val.holdout == "samples" and set(val.heldout_rows) <= set(main.heldout_rows)
    assert make_fold("validation", tiny["split"], manifest.drop(columns="subject"), "xsub", val_fraction=0.25
                     ).holdout == "samples"


def test_a_validation_encoder_that_held_out_samples_is_not_reused(tiny, tmp_path):
    """Validation-fold encoders written before the fold held out subjects trained on other clips."""
    run = Run(tiny["data"], tiny["split"], fold="validation", root=tmp_path)
    path = pretrain_encoder(run, config=pre_config(tiny["data"], epochs=1, milestones=()))
    assert load_encoder(path)[1]["holdout"] == "subjects"
    state = torch.load(path.parent / "checkpoint.pt", weights_only=False)
    del state["identity"]["holdout"]  # as written before the field existed: samples
    torch.save(state, path.parent / "checkpoint.pt")
    with pytest.raises(UserError, match="'holdout': \\(None, 'subjects'\\)"):
        pretrain_encoder(run, config=pre_config(tiny["data"], epochs=1, milestones=()), resume=True)


def test_text_features_are_checked(tmp_path):
    text, names = make_text(), [f"class {k}" for k in range(K)]
    assert text_features_for(text, names)["spatial"].dtype == torch.float32
    save_text_features(tmp_path / "text.npz", {s: t.numpy() for s, t in text.items()}, names)
    assert torch.equal(text_features_for(tmp_path / "text.npz", names)["temporal"], text["temporal"])
    with pytest.raises(ValueError, match="text.npz describes the classes"):
        text_features_for(tmp_path / "text.npz", names[::-1])
    with pytest.raises(ValueError, match="expected 7"):
        text_features_for(make_text(), names + ["extra"])
    with pytest.raises(ValueError, match="keys"):
        text_features_for({"spatial": text["spatial"]}, names)
    bad = {**text, "temporal": text["temporal"].clone()}
    bad["temporal"][0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        text_features_for(bad, names)


# ---------------------------------------------------------------- pretraining

def test_pretraining_writes_encoder_and_metrics(tiny, encoder):
    model, meta = load_encoder(encoder)
    assert meta["classes"] == list(tiny["split"].seen) and meta["fold"] == "main"
    assert model.fc.out_features == len(tiny["split"].seen)
    assert 1 <= meta["epoch"] <= 2 and 0 <= meta["val_acc"] <= 1
    metrics = pd.read_csv(encoder.parent / "metrics.csv")
    assert list(metrics.columns) == ["epoch", "lr", "loss", "train_acc", "val_acc", "time_s"]
    assert metrics["epoch"].tolist() == [1, 2] and metrics["lr"].tolist() == pytest.approx([0.1, 0.01])
    assert metrics["val_acc"].max() == meta["val_acc"]


def test_a_finished_run_is_not_overwritten(tiny, encoder):
    with pytest.raises(FileExistsError, match="resume"):
        pretrain_encoder(Run(tiny["data"], tiny["split"], root=tiny["root"] / "results"),
                         config=pre_config(tiny["data"]))
    with pytest.raises(ValueError, match="another configuration"):
        pretrain_encoder(Run(tiny["data"], tiny["split"], root=tiny["root"] / "results"),
                         config=pre_config(tiny["data"], lr=0.05), resume=True)


def test_resuming_a_finished_run_keeps_its_encoder_file(tiny, encoder, tmp_path):
    """Matching runs record the encoder file's hash: resuming a finished pretraining must not
    rewrite it (here its metadata differs from what this code writes, as after an update)."""
    out = tmp_path / "encoder"
    shutil.copytree(encoder.parent, out)
    payload = torch.load(out / "encoder.pt", weights_only=True)
    save_model_file(out / "encoder.pt", {**payload, "config": {**payload["config"], "from": "older code"}})
    before = (out / "encoder.pt").read_bytes()
    pretrain_encoder(Run(tiny["data"], tiny["split"]), config=pre_config(tiny["data"]), out_dir=out, resume=True)
    assert (out / "encoder.pt").read_bytes() == before
    # one that predates its checkpoint (a crash between the two writes) is written again
    save_model_file(out / "encoder.pt", {**payload, "epochs_done": payload["epochs_done"] - 1})
    pretrain_encoder(Run(tiny["data"], tiny["split"]), config=pre_config(tiny["data"]), out_dir=out, resume=True)
    assert torch.load(out / "encoder.pt", weights_only=True)["epochs_done"] == payload["epochs_done"]


# ---------------------------------------------------------------- matching stage

def test_gradients_reach_the_head_not_the_encoder(encoder):
    net = ZeroShotModel(load_encoder(encoder)[0], build_head("neuron", D, HEAD))
    net.train()
    text = {s: t[:, :4] for s, t in make_text().items()}
    output = net(torch.randn(4, 3, 12, V, 1), text)
    match_module.matching_loss(output, torch.tensor([0, 1, 2, 3])).backward()
    assert all(p.grad is None and not p.requires_grad for p in net.encoder.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.head.parameters())


def test_matching_trains_the_head_and_keeps_the_encoder(tiny, encoder, main_run):
    net, meta = load_matching_model(main_run / "match.pt")
    pretrained, _ = load_encoder(encoder)
    for name, value in pretrained.state_dict().items():  # encoder_bn_train=False: buffers too
        assert torch.equal(net.encoder.state_dict()[name], value), name
    torch.manual_seed(1)  # the head as initialised by the run (seed 1)
    initial = build_head("neuron", D, HEAD)
    assert all(not torch.equal(p, initial.state_dict()[n]) for n, p in net.head.state_dict().items()
               if n.endswith("weight"))
    assert meta["train_classes"] == list(tiny["split"].seen) and meta["epochs_done"] == 3
    metrics = pd.read_csv(main_run / "metrics.csv")
    assert metrics["lr"].tolist() == pytest.approx([0.1, 0.1, 0.01])
    assert metrics[["loss", "train_acc", "val_acc"]].notna().all().all()
    records = load_records(main_run / "records", 3)
    assert [r.epoch for r in records] == [1, 2, 3] and len(records[0].labels) == K * PER_CLASS // 2
    heldout = load_records(main_run / "records" / "heldout", 3)  # the held-out seen clips, for calibration
    assert not heldout[0].is_unseen.any() and set(heldout[0].labels) <= set(tiny["split"].seen)
    assert [r.epoch for r in heldout] == [1, 2, 3] and len(heldout[0].labels) > 0


def test_bn_train_mode_updates_only_encoder_buffers(tiny, encoder):
    out = train_matching(Run(tiny["data"], tiny["split"], root=tiny["root"] / "results", name="global_bn"), make_text(),
                         model="global", config=m_config(
        tiny["data"], epochs=1, encoder_bn_train=True, cache_features=False))
    net, meta = load_matching_model(out / "match.pt")
    pretrained = load_encoder(encoder)[0].state_dict()
    state = net.encoder.state_dict()
    assert all(torch.equal(p, pretrained[n]) for n, p in net.encoder.named_parameters())
    assert not torch.equal(state["data_bn.running_mean"], pretrained["data_bn.running_mean"])
    assert meta["model"] == "global" and list(load_records(out / "records", 1)[0].streams) == ["global"]


def crash_in_second_epoch(module, monkeypatch):
    """Make `module`'s training batches die after one optimiser step of the second epoch, whether
    they come from a loader of clips or from stored features (`feature_batches`)."""
    real = {name: getattr(module, name) for name in ("train_loader", "feature_batches") if hasattr(module, name)}

    def crashing(make_batches):
        def make(*args, epoch, **kw):
            batches = make_batches(*args, epoch=epoch, **kw)
            if epoch != 1:
                return batches

            def one_batch_then_crash():
                yield next(iter(batches))
                raise KeyboardInterrupt("simulated crash")
            return one_batch_then_crash()
        return make

    for name, function in real.items():
        monkeypatch.setattr(module, name, crashing(function))
    return lambda: [monkeypatch.setattr(module, name, function) for name, function in real.items()]


def assert_same_checkpoints(straight_dir, resumed_dir):
    straight = torch.load(straight_dir / "checkpoint.pt", weights_only=True)
    resumed = torch.load(resumed_dir / "checkpoint.pt", weights_only=True)
    assert straight["epoch"] == resumed["epoch"] and straight["model"].keys() == resumed["model"].keys()
    for name, value in straight["model"].items():
        assert torch.equal(value, resumed["model"][name]), name
    for a, b in zip(straight["optimizer"]["state"].values(), resumed["optimizer"]["state"].values()):
        assert torch.equal(a["momentum_buffer"], b["momentum_buffer"])
    assert straight["scheduler"] == resumed["scheduler"]
    without_time = [[{k: v for k, v in row.items() if k != "time_s"} for row in state["history"]]
                    for state in (straight, resumed)]
    assert without_time[0] == without_time[1]


@pytest.mark.parametrize("cache_features", [True, False], ids=["stored-features", "augmented-clips"])
def test_matching_resumes_bit_identically_after_a_crash(tiny, encoder, cache_features, monkeypatch, tmp_path):
    """3 epochs straight vs 1 epoch, a crash one step into epoch 2, and a resume."""
    config = m_config(tiny["data"], cache_features=cache_features)

    def train(out, resume=False):
        return train_matching(Run(tiny["data"], tiny["split"]), make_text(), head_kwargs=HEAD, config=config,
                              out_dir=out, encoder_path=encoder, resume=resume)

    straight, out = train(tmp_path / "straight"), tmp_path / "resumed"
    restore = crash_in_second_epoch(match_module, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train(out)
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 1
    restore()
    train(out, resume=True)
    assert_same_checkpoints(straight, out)
    for a, b in zip(load_records(straight / "records", 3), load_records(out / "records", 3)):
        np.testing.assert_array_equal(a.fused.margin, b.fused.margin)
        np.testing.assert_array_equal(a.streams["temporal"].margin, b.streams["temporal"].margin)


def test_pretraining_resumes_bit_identically_after_a_crash(tiny, encoder, monkeypatch):
    out = tiny["root"] / "resumed_encoder"
    restore = crash_in_second_epoch(pretrain_module, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        pretrain_encoder(Run(tiny["data"], tiny["split"]), config=pre_config(tiny["data"]), out_dir=out)
    restore()
    pretrain_encoder(Run(tiny["data"], tiny["split"]), config=pre_config(tiny["data"]), out_dir=out, resume=True)
    assert_same_checkpoints(encoder.parent, out)
    straight, resumed = load_encoder(encoder), load_encoder(out / "encoder.pt")
    assert straight[1]["epoch"] == resumed[1]["epoch"]
    for name, value in straight[0].state_dict().items():
        assert torch.equal(value, resumed[0].state_dict()[name]), name


def test_bf16_autocast_runs_on_cpu(tiny, encoder, tmp_path):
    out = train_matching(Run(tiny["data"], tiny["split"]), make_text(), model="global", out_dir=tmp_path,
                         config=m_config(tiny["data"], epochs=1, amp=True), encoder_path=encoder)
    assert np.isfinite(pd.read_csv(out / "metrics.csv")["loss"]).all()


def test_evaluation_inference_is_deterministic(tiny, main_run):
    net, meta = load_matching_model(main_run / "match.pt")
    data = load_dataset(tiny["data"])
    loader = eval_loader(SkeletonFeeder(data, window=meta["window"]), batch_size=16, num_workers=0)
    text = text_features_for(make_text(), data.class_names)
    cpu = torch.device("cpu")
    first = final_logits(net.head, (f for f, _ in encoded_batches(net.features, loader, cpu, False)), text, cpu, False)
    second = final_logits(net.head, (f for f, _ in encoded_batches(net.features, loader, cpu, False)), text, cpu, False)
    assert first.keys() == {"spatial", "temporal"} and first["spatial"].shape == (len(data), K)
    for s in first:
        np.testing.assert_array_equal(first[s], second[s])


def test_the_validation_fold_never_sees_test_data(tiny, validation_run):
    _, meta = load_matching_model(validation_run / "match.pt")
    assert meta["fold"] == "validation" and not set(meta["eval_classes"]) & set(UNSEEN)
    assert meta["encoder_fold"] == "main" and meta["encoder_saw_unseen"]
    record = load_records(validation_run / "records", 3)[0]
    assert set(record.labels) <= set(tiny["split"].seen)


# ---------------------------------------------------------------- evaluation and prediction

def test_both_protocols_give_sane_deterministic_results(tiny, main_run, validation_run, tmp_path):
    results = evaluate(Run(tiny["data"], tiny["split"], name="neuron", root=tiny["root"] / "results"))
    first_json = (main_run / "results.json").read_text()
    evaluate_dirs(main_run, validation_run)
    assert (main_run / "results.json").read_text() == first_json  # evaluating twice: identical
    assert json.loads(first_json) == results
    assert results["test_samples"] == {"seen": 16, "unseen": 8}
    for protocol in ("paper", "strict"):
        r = results[protocol]
        assert 0 <= r["zsl"]["top1"] <= 1 and 1 <= r["zsl"]["epoch"] <= 3
        g = r["gzsl"]
        assert 0 <= g["seen"] <= 1 and 0 <= g["unseen"] <= 1 and 1 <= g["epoch"] <= 3
        assert g["harmonic"] == pytest.approx(0 if g["seen"] + g["unseen"] == 0 else
                                              2 * g["seen"] * g["unseen"] / (g["seen"] + g["unseen"]))
    # The oracle over two guesses is never below either stream alone.
    for record, epoch in zip(load_records(main_run / "records", 3), results["paper"]["per_epoch"]):
        unseen = record.is_unseen
        for d in record.streams.values():
            assert epoch["zsl"] >= np.mean(d.unseen_pred[unseen] == record.labels[unseen])
    assert set(results["paper"]["gzsl"]["gamma"]) == {"spatial", "temporal"}
    assert results["strict"]["validation_encoder"]["saw_pseudo_unseen"] is True
    table = (main_run / "results.md").read_text()
    assert "| paper:" in table and "| strict:" in table


def test_records_hold_the_encoder_classifier_where_it_can_gate(tiny, encoder, main_run, validation_run):
    """The main fold's records carry the encoder's own classifier on the evaluation clips (its
    forward pass); a validation run on the main encoder, which learnt the pseudo-unseen classes,
    cannot gate them and records none, so its evaluation has no gated view."""
    net, meta = load_encoder(encoder)
    fold = Run(tiny["data"], tiny["split"], fold="main").data(SMALL["val_fraction"]).fold
    data = load_dataset(tiny["data"])
    feeder = SkeletonFeeder(data, window=SMALL["window"])
    with torch.no_grad():
        logits = net.eval()(torch.stack([feeder[i][0] for i in fold.eval_rows])).numpy()
    probs = softmax(logits)
    stored = load_records(main_run / "records", 3)[-1]
    np.testing.assert_array_equal(stored.encoder_pred, np.asarray(meta["classes"])[probs.argmax(axis=1)])
    np.testing.assert_allclose(stored.encoder_confidence, probs.max(axis=1), rtol=1e-5)
    assert load_records(validation_run / "records", 3)[0].gated is None
    assert "gated" not in evaluate_dirs(main_run, validation_run)["strict"]


def test_a_validation_encoder_gives_the_gated_view(tiny, encoder, main_run, tmp_path):
    torch.set_num_threads(1)
    run = Run(tiny["data"], tiny["split"], fold="validation", root=tmp_path)
    own = pretrain_encoder(run, config=pre_config(tiny["data"]))
    validation = train_matching(run, make_text(), head_kwargs=HEAD, encoder_path=own, config=m_config(tiny["data"]))
    assert load_records(validation / "records", 3)[0].gated is not None
    results = evaluate_dirs(main_run, validation, out_dir=tmp_path)
    gated = results["strict"]["gated"]
    assert 0 <= gated["gzsl"]["harmonic"] <= 1 and gated["zsl"] == results["strict"]["zsl"]
    assert "gated by the encoder's classifier" in (tmp_path / "results.md").read_text()


def test_evaluation_requires_the_validation_fold(tiny, main_run, tmp_path):
    with pytest.raises(FileNotFoundError, match="--fold validation"):
        evaluate_dirs(main_run, tmp_path / "nothing")


def test_predict_ranks_runtime_classes(tiny, main_run, tmp_path):
    data = load_dataset(tiny["data"])
    model = load_matching_model(main_run / "match.pt")
    sample = data.x[3]  # (3, T, V, M), zero-padded after its frames
    text = make_text()
    ranking = predict(sample, text, data.class_names, model)
    assert sorted(name for name, _ in ranking) == sorted(data.class_names)
    probabilities = [p for _, p in ranking]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) == pytest.approx(1.0)
    # The same as the evaluation path over every class (full clip resized, no augmentation).
    net, meta = model
    loader = eval_loader(SkeletonFeeder(data.subset([3]), window=meta["window"]), batch_size=1, num_workers=0)
    text_all = text_features_for(text, data.class_names)
    cpu = torch.device("cpu")
    logits = final_logits(net.head, (f for f, _ in encoded_batches(net.features, loader, cpu, False)), text_all, cpu,
                          False)
    expected = fused_scores(list(logits.values()), range(K))[0] / K
    assert ranking[0][0] == data.class_names[int(expected.argmax())]
    assert ranking[0][1] == pytest.approx(float(expected.max()), rel=1e-5)
    # Any subset of classes, in any order, with their own features.
    subset = {s: t[:, [5, 0]] for s, t in text.items()}
    assert {name for name, _ in predict(sample, subset, ["class 5", "class 0"], model)} == {"class 5", "class 0"}
    # A feature file names its classes.
    save_text_features(tmp_path / "two.npz", {s: t.numpy() for s, t in subset.items()}, ["class 5", "class 0"])
    assert predict(sample, tmp_path / "two.npz", None, model) == predict(sample, subset, ["class 5", "class 0"], model)
    with pytest.raises(ValueError, match="V=20"):
        predict(np.zeros((3, 10, 25, 1), np.float32), text, data.class_names, model)


# ---------------------------------------------------------------- stored encoder features


def test_stored_evaluation_features_give_the_logits_of_fresh_encoding(tiny, main_run):
    """A fixed encoder encodes the evaluation clips once per run: the last epoch's record equals
    encoding them again with the saved model, bit for bit."""
    net, meta = load_matching_model(main_run / "match.pt")
    data = Run(tiny["data"], tiny["split"], fold="main").data(SMALL["val_fraction"])
    fold = data.fold
    eval_rows = np.union1d(fold.eval_rows, fold.heldout_rows)
    feeder = SkeletonFeeder(data.load(eval_rows), window=meta["window"])
    cpu = torch.device("cpu")
    batches = encoded_batches(net.features, eval_loader(feeder, batch_size=16, num_workers=0), cpu, False)
    logits = final_logits(net.head, (f for f, _ in batches), text_features_for(make_text(), data.split.class_names),
                          cpu, False)
    at = np.searchsorted(eval_rows, fold.eval_rows)
    fresh = epoch_record(3, {s: v[at] for s, v in logits.items()}, feeder.labels[at], train_classes=fold.train_classes,
                         eval_classes=fold.eval_classes, unseen_classes=fold.unseen_classes)
    stored = load_records(main_run / "records", 3)[-1]
    np.testing.assert_array_equal(fresh.fused.margin, stored.fused.margin)
    np.testing.assert_array_equal(fresh.fused_zsl_pred, stored.fused_zsl_pred)


def test_cached_training_features_are_deterministic_and_skip_augmentation(tiny, encoder, main_run, tmp_path):
    def trained(name, cache_features):
        return train_matching(Run(tiny["data"], tiny["split"]), make_text(), head_kwargs=HEAD,
                              config=m_config(tiny["data"], cache_features=cache_features),
                              out_dir=tmp_path / name, encoder_path=encoder)

    runs = [trained("a", True), trained("b", True)]
    assert_same_checkpoints(*runs)
    assert np.isfinite(pd.read_csv(runs[0] / "metrics.csv")["loss"]).all()
    cached = torch.load(runs[0] / "match.pt", weights_only=True)["state_dict"]
    augmented = torch.load(trained("augmented", False) / "match.pt", weights_only=True)["state_dict"]
    assert not torch.equal(cached["head.project.spatial.0.weight"], augmented["head.project.spatial.0.weight"])
    with pytest.raises(ValueError, match="cache_features needs a fixed encoder"):
        m_config(tiny["data"], cache_features=True, encoder_bn_train=True)
