"""The official recipe, switch by switch: each switch against a hand case computed from the
official formulas (REFERENCE.md), the two recipes as `neuron config` prints them, and official
checkpoints loading. Training runs use the tiny dataset of tests/tiny_data.py (seconds each)."""

import json
import logging
from collections import OrderedDict

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from neuron import paths
from neuron.cli import main
from neuron.data.feeder import SkeletonFeeder, apply_rotation, resize_frames
from neuron.data.folds import make_fold
from neuron.data.splits import Split
from neuron.data.store import load_dataset, read_manifest, select_rows
from neuron.errors import MissingInputError, UserError
from neuron.models.neuron import STREAMS, description_logits
from neuron.models.shift_gcn import ShiftGCN
from neuron.models.zero_shot import load_encoder, load_matching_model
from neuron.runs import Run
from neuron.training.config import (
    ADDED_FIELDS,
    OFFICIAL,
    STAGE_SWITCHES,
    for_fold,
    match_config,
    parse_settings,
    pretrain_config,
    resolved_configs,
)
from neuron.training.match import train_matching
from neuron.training.pretrain import pretrain_encoder, selection_rows
from neuron.training.runtime import parameter_decays, sgd
from neuron.training.text import description_features
from tiny_data import K, write_tiny_dataset

pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py
SMALL = dict(window=12, batch_size=4, progress=False, device="cpu", epochs=1, milestones=())
D = 16


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipes")
    data = write_tiny_dataset(root / "data")
    return {"root": root, "data": data, "split": Split.from_unseen(str(data), "4_2", (1, 4), K)}


def text(seed=0, n_descriptions=2):
    g = torch.Generator().manual_seed(seed)
    return {s: torch.randn(3, K, n_descriptions, D, generator=g) for s in STREAMS}


# ---------------------------------------------------------------- the two recipes

def test_official_recipe_sets_every_official_value_and_project_differs_only_there():
    official, project = (json.loads(json.dumps(resolved_configs("ntu60", r))) for r in ("official", "project"))
    for stage in ("pretrain", "match"):
        for field, value in OFFICIAL[stage].items():
            assert official[stage][field] == (json.loads(json.dumps(value))), (stage, field)
        differ = {k for k in project[stage] if project[stage][k] != official[stage][k]}
        assert differ - {"recipe", "weight_decay_by_parameter"} == set(STAGE_SWITCHES[stage]), stage
    assert official["match"]["text_encoder"] == "clip-vit-large-patch14-336"
    assert (official["pretrain"]["epochs"], official["match"]["milestones"]) == (110, [4, 20])  # NTU's own


def test_config_command_prints_resolved_json(capsys):
    main(["config", "--dataset", "ntu60", "--recipe", "official"])
    printed = json.loads(capsys.readouterr().out)
    groups = printed["pretrain"]["weight_decay_by_parameter"]
    assert [(g["pattern"], g["weight_decay"]) for g in groups] == [("Linear_weight", 1e-3), ("Mask", 0.0),
                                                                   (None, 1e-4)]
    assert "l1.gcn1.Linear_weight" in groups[0]["parameters"] and "l10.gcn1.Feature_Mask" in groups[1]["parameters"]
    main(["config", "--dataset", "utd", "--set", "description_topk=10", "--set", "test_augmentation=true"])
    printed = json.loads(capsys.readouterr().out)
    assert (printed["match"]["description_topk"], printed["match"]["test_augmentation"]) == (10, True)
    assert printed["pretrain"]["test_augmentation"] is True and printed["recipe"] == "project"


def test_settings_parse_as_json_and_unknown_fields_are_refused():
    assert parse_settings(['weight_decay_groups=[["Mask", 0]]', "text_encoder=null", "descriptions=official",
                           "val_fraction=0"]) == {"weight_decay_groups": (("Mask", 0),), "text_encoder": None,
                                                  "descriptions": "official", "val_fraction": 0}
    with pytest.raises(UserError, match="unknown configuration fields"):
        parse_settings(["learning_rate=0.1"])
    with pytest.raises(UserError, match="--recipe, not --set"):
        parse_settings(["recipe=official"])
    with pytest.raises(SystemExit):  # `neuron pretrain` cannot set a matching field
        main(["pretrain", "--dataset", "utd", "--set", "description_topk=10"])


def test_recipe_runs_get_folders_of_their_own(tiny):
    official = dict(SMALL, val_fraction=0.25, encoder_selection="heldout")
    path = pretrain_encoder(Run(tiny["data"], tiny["split"], root=tiny["root"] / "results"),
                            config=pretrain_config(tiny["data"], "official", **official))
    assert path.parent.name == "encoder_official"


# ---------------------------------------------------------------- pretraining weight decay

@pytest.mark.parametrize("name, decay", [
    ("l1.gcn1.Linear_weight", 1e-3), ("l10.gcn1.Linear_weight", 1e-3), ("l3.gcn1.Feature_Mask", 0.0),
    ("l1.gcn1.Linear_bias", 1e-4), ("l2.tcn1.temporal_linear.weight", 1e-4), ("l5.tcn1.shift_in.ypos", 1e-4),
    ("data_bn.weight", 1e-4), ("fc.weight", 1e-4), ("fc.bias", 1e-4),
])
def test_official_weight_decay_of_each_parameter(name, decay):
    model = ShiftGCN(5, layout="ntu25", num_persons=2)
    official, project = pretrain_config("ntu60", "official"), pretrain_config("ntu60")
    assert parameter_decays(model, official)[name] == decay
    assert parameter_decays(model, project)[name] == 1e-4
    by_param = {id(p): group["weight_decay"] for group in sgd(model, official).param_groups for p in group["params"]}
    assert by_param[id(dict(model.named_parameters())[name])] == decay


def test_one_decay_gives_one_group_in_parameter_order():
    model = ShiftGCN(5, layout="ntu25", num_persons=2)
    (group,) = sgd(model, pretrain_config("ntu60")).param_groups
    assert [id(p) for p in group["params"]] == [id(p) for p in model.parameters()]


# ---------------------------------------------------------------- test-time augmentation

def test_test_augmentation_is_the_official_crop_and_rotation_and_the_same_every_epoch(tiny):
    data = load_dataset(tiny["data"])
    feeder = SkeletonFeeder(data, window=12, random_crop=True, random_rotation=True, seed=3)
    index = 5
    first = feeder[index][0].numpy()
    for _ in range(2):  # two "epochs" of an evaluation loader: nobody calls set_epoch on it
        assert np.array_equal(feeder[index][0].numpy(), first)
    # By hand: one generator per (seed, epoch 0, sample); crop ratio uniform in [0.5, 1], at least the
    # window, at a uniform start; then three angles uniform in [-0.3, 0.3].
    rng = np.random.default_rng([3, 0, index])
    valid = int(feeder.frames[index])
    length = min(max(int(np.floor(valid * rng.uniform(0.5, 1.0))), 12), valid)
    start = int(rng.integers(0, valid - length + 1))
    angles = rng.uniform(-0.3, 0.3, size=3)
    clip = data.x[feeder.rows[index]]
    expected = apply_rotation(resize_frames(clip[:, start:start + length], 12), angles)
    np.testing.assert_allclose(first, expected, rtol=1e-6, atol=1e-6)
    whole = SkeletonFeeder(data, window=12)[index][0].numpy()
    assert not np.allclose(first, whole)


def test_matching_evaluates_augmented_clips_when_switched_on(tiny):
    pretrain_encoder(Run(tiny["data"], tiny["split"], root=tiny["root"] / "results"),
                     config=pretrain_config(tiny["data"], **SMALL, val_fraction=0.25))
    logits = {}
    for augment in (False, True):
        config = match_config(tiny["data"], **SMALL, val_fraction=0.25, test_augmentation=augment, eval_batch_size=16)
        address = Run(tiny["data"], tiny["split"], name=f"global_aug{augment}", root=tiny["root"] / "results")
        run = train_matching(address, text(), model="global", config=config)
        with np.load(run / "records" / "epoch_001.npz") as record:
            logits[augment] = {k: record[k] for k in record.files}
    differing = [k for k in logits[True] if logits[True][k].dtype.kind == "f"
                 and not np.array_equal(logits[True][k], logits[False][k])]
    assert differing  # the same head weights (same seed, same training clips) score other test inputs


# ---------------------------------------------------------------- description pooling

def test_top10_pooling_of_12_descriptions_differs_from_the_mean_and_equals_it_for_10():
    g = torch.Generator().manual_seed(0)
    embedding = F.normalize(torch.randn(3, 8, generator=g), dim=1)
    descriptions = torch.randn(4, 12, 8, generator=g)  # K = 4 classes, 12 descriptions each
    cosine = torch.einsum("nd,kad->nka", embedding, F.normalize(descriptions, dim=-1))
    by_hand = torch.stack([torch.stack([torch.sort(cosine[n, k], descending=True).values[:10].mean()
                                        for k in range(4)]) for n in range(3)])
    top10 = description_logits(embedding, descriptions, 0.1, topk=10)
    torch.testing.assert_close(top10, 0.1 * by_hand)
    assert not torch.allclose(top10, description_logits(embedding, descriptions, 0.1))
    ten = descriptions[:, :10]
    torch.testing.assert_close(description_logits(embedding, ten, 0.1, topk=10),
                               description_logits(embedding, ten, 0.1))


def test_a_trained_head_keeps_its_pooling(tiny):
    config = match_config(tiny["data"], **SMALL, val_fraction=0.25, description_topk=2, eval_batch_size=16)
    run = train_matching(Run(tiny["data"], tiny["split"], name="neuron_top2", root=tiny["root"] / "results"),
                         text(n_descriptions=3), head_kwargs=dict(num_spatial=4, num_temporal=4), config=config)
    net, meta = load_matching_model(run / "match.pt")
    assert net.head.description_topk == 2 and meta["config"]["description_topk"] == 2


# ---------------------------------------------------------------- held-out share and epoch selection

def test_held_out_share_0_trains_on_every_seen_training_sample(tiny):
    manifest = read_manifest(tiny["data"])
    split = tiny["split"]
    fold = make_fold("main", split, manifest, "xsub", val_fraction=0.0)
    seen_train = select_rows(manifest, benchmark="xsub", part="train", classes=split.seen)
    assert np.array_equal(np.sort(fold.train_rows), np.sort(seen_train)) and len(fold.heldout_rows) == 0
    assert len(make_fold("main", split, manifest, "xsub", val_fraction=0.25).train_rows) < len(seen_train)
    with pytest.raises(UserError, match="validation fold"):
        make_fold("validation", split, manifest, "xsub", val_fraction=0.0)
    official = pretrain_config("ntu60", "official")
    assert (for_fold(official, "validation").val_fraction, for_fold(official, "validation").encoder_selection) == \
        (0.1, "heldout")
    assert for_fold(official, "main") == official
    with pytest.raises(UserError, match="encoder_selection=test"):
        pretrain_config("ntu60", val_fraction=0.0)


def test_official_selection_keeps_the_best_epoch_on_the_seen_test_samples(tiny, tmp_path):
    config = pretrain_config(tiny["data"], **{**SMALL, "epochs": 2}, val_fraction=0.0, encoder_selection="test")
    path = pretrain_encoder(Run(tiny["data"], tiny["split"], root=tmp_path), config=config)
    _, meta = load_encoder(path)
    history = pd.read_csv(path.parent / "metrics.csv").to_dict("records")
    manifest = read_manifest(tiny["data"])
    test_rows = select_rows(manifest, benchmark="xsub", part="test", classes=tiny["split"].seen)
    seen_test = load_dataset(tiny["data"], test_rows)
    encoder, _ = load_encoder(path)
    feeder = SkeletonFeeder(seen_test, list(tiny["split"].seen), window=12, random_crop=False, random_rotation=False)
    with torch.no_grad():
        x = torch.stack([feeder[i][0] for i in range(len(feeder))])
        accuracy = (encoder.eval()(x).argmax(1).numpy() == feeder.labels).mean()
    assert meta["val_acc"] == pytest.approx(accuracy) == pytest.approx(max(h["val_acc"] for h in history))
    # the matching stage on that encoder holds out nothing and writes no held-out records
    run = train_matching(Run(tiny["data"], tiny["split"], root=tmp_path), text(), model="global", config=match_config(
        tiny["data"], **SMALL, val_fraction=0.0, eval_batch_size=16))
    assert not (run / "records" / "heldout").exists()
    validation = Run(tiny["data"], tiny["split"], fold="validation").data(0.25)
    with pytest.raises(UserError, match="main fold's test samples"):  # for_fold never lets a run get here
        selection_rows(validation, pretrain_config(tiny["data"], **SMALL, val_fraction=0.25, encoder_selection="test"))


# ---------------------------------------------------------------- official descriptions and checkpoints

def test_official_descriptions_must_be_imported_first(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "TEXT_CACHE_DIR", tmp_path / "text_features")
    config = match_config("ntu60", "official")
    with pytest.raises(MissingInputError, match="neuron side-info import-official"):
        description_features("ntu60", config)
    with pytest.raises(UserError, match="only for ntu60, ntu120, pku"):
        description_features("utd", match_config("utd", descriptions="official", text_encoder=config.text_encoder))
    with pytest.raises(UserError, match="descriptions=official needs text_encoder"):
        match_config("ntu60", descriptions="official")


def test_imported_release_features_are_found_by_the_official_recipe(tmp_path, monkeypatch, capsys):
    semantics = paths.shared_data_dir() / "neuron_semantics"
    if not semantics.is_dir():
        pytest.skip(f"the paper's released side information is not in {semantics} (../shared/data)")
    monkeypatch.setattr(paths, "TEXT_CACHE_DIR", tmp_path / "text_features")
    main(["side-info", "import-official", "--semantics", str(semantics), "--dataset", "ntu60"])
    assert "where --recipe official finds them" in capsys.readouterr().out
    features = description_features("ntu60", match_config("ntu60", "official"))
    assert features["spatial"].shape == (3, 60, 10, 768) and features["temporal"].shape == (3, 60, 10, 768)


def official_state_dict(encoder: ShiftGCN) -> OrderedDict:
    """What the official pretraining code saves: a bare state dict, here with DataParallel's prefixes."""
    return OrderedDict((f"module.{k}", v.clone()) for k, v in encoder.state_dict().items())


def test_an_official_checkpoint_trains_a_head(tiny, tmp_path, caplog):
    source = ShiftGCN(len(tiny["split"].seen), layout="kinect20", num_persons=1)
    torch.save(official_state_dict(source), tmp_path / "official_pretrain.pt")
    config = match_config(tiny["data"], **SMALL, val_fraction=0.25, eval_batch_size=16)
    with caplog.at_level(logging.INFO, logger="neuron.training.official_encoder"):
        run = train_matching(Run(tiny["data"], tiny["split"], root=tmp_path), text(), model="global", config=config,
                             encoder_path=tmp_path / "official_pretrain.pt")
    assert "a state dict of the official pretraining code" in caplog.text and "4 classes" in caplog.text
    net, meta = load_matching_model(run / "match.pt")
    assert meta["encoder_fold"] == "official"
    for name, value in source.state_dict().items():
        if not name.endswith(("running_mean", "running_var", "num_batches_tracked")):
            assert torch.equal(net.encoder.state_dict()[name], value), name


def test_an_official_checkpoint_of_another_split_or_a_stray_file_is_refused(tiny, tmp_path):
    torch.save(official_state_dict(ShiftGCN(5, layout="kinect20", num_persons=1)), tmp_path / "five.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "stray.pt")
    config = match_config(tiny["data"], **SMALL, val_fraction=0.25, eval_batch_size=16)
    with pytest.raises(UserError, match="has 5 classes, but fold main .* trains on 4"):
        train_matching(Run(tiny["data"], tiny["split"], root=tmp_path), text(), model="global", config=config,
                       encoder_path=tmp_path / "five.pt")
    with pytest.raises(UserError, match="neither an encoder.pt"):
        train_matching(Run(tiny["data"], tiny["split"], root=tmp_path), text(), model="global", config=config,
                       encoder_path=tmp_path / "stray.pt")


def test_logit_scale_reaches_the_head_and_older_runs_load_with_the_official_one(tiny, tmp_path):
    from neuron.models.neuron import OFFICIAL_LOGIT_SCALE
    assert match_config("ntu60").logit_scale == match_config("utd").logit_scale == OFFICIAL_LOGIT_SCALE == 0.1
    assert match_config("synthetic", "official").logit_scale == OFFICIAL_LOGIT_SCALE
    config = match_config(tiny["data"], **SMALL, val_fraction=0.25, logit_scale=2.0)
    pretrain_encoder(Run(tiny["data"], tiny["split"], root=tmp_path),
                     config=pretrain_config(tiny["data"], **SMALL, val_fraction=0.25))
    for model in ("neuron", "global"):
        run = train_matching(Run(tiny["data"], tiny["split"], root=tmp_path), text(), model=model, config=config)
        assert load_matching_model(run / "match.pt")[0].head.logit_scale == 2.0
    payload = torch.load(run / "match.pt", weights_only=False)
    del payload["config"]["logit_scale"]  # as written before the field existed
    torch.save(payload, run / "match.pt")
    assert load_matching_model(run / "match.pt")[0].head.logit_scale == 0.1
    with pytest.raises(UserError, match="may not set"):
        train_matching(Run(tiny["data"], tiny["split"], root=tmp_path, name="other"), text(), model="global",
                       head_kwargs={"logit_scale": 1.0}, config=config)


def test_a_run_written_before_the_switches_existed_is_still_reused(tiny, tmp_path):
    config = match_config(tiny["data"], **SMALL, val_fraction=0.25, eval_batch_size=16)
    pretrain_encoder(Run(tiny["data"], tiny["split"], root=tmp_path),
                     config=pretrain_config(tiny["data"], **SMALL, val_fraction=0.25))
    run = train_matching(Run(tiny["data"], tiny["split"], root=tmp_path), text(), model="global", config=config)
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    for field in ADDED_FIELDS:
        state["identity"].pop(field, None)  # the matching identity has the matching fields only
    torch.save(state, run / "checkpoint.pt")
    assert train_matching(Run(tiny["data"], tiny["split"], root=tmp_path), text(), model="global", config=config,
                          resume=True) == run
    with pytest.raises(UserError, match="another configuration"):  # but not with another value
        train_matching(Run(tiny["data"], tiny["split"], root=tmp_path), text(), model="global", resume=True,
                       config=match_config(tiny["data"], **SMALL, val_fraction=0.25, eval_batch_size=16,
                                           description_topk=1))


def test_the_official_recipe_end_to_end_on_the_command_line(tmp_path, monkeypatch, capsys):
    """pretrain, train and evaluate with --recipe official on a custom dataset (descriptions set back to
    the project's: the paper released none for it), then a head on an official encoder checkpoint."""
    from test_own_dataset import CLASSES, side_info_json, tiny_custom

    for name, folder in (("DATA_DIR", "data"), ("RESULTS_DIR", "results"), ("TEXT_CACHE_DIR", "text")):
        monkeypatch.setattr(paths, name, tmp_path / folder)
    data = tiny_custom(tmp_path)
    main(["splits", "add", data, "4_2", "--unseen", "jump", "kick"])
    side_info = side_info_json(tmp_path / "side.json", CLASSES, n=12)  # 12: top-10 pooling differs from the mean
    main(["side-info", "import", "--dataset", data, "--json", str(side_info)])
    common = ["--dataset", data, "--split", "4_2", "--recipe", "official", "--epochs", "1", "--window", "12",
              "--batch-size", "4", "--device", "cpu"]
    descriptions = ["--set", "descriptions=project", "--set", "text_encoder=wordllama-l2-supercat-256"]
    for fold in ("main", "validation"):
        main(["pretrain", *common, "--fold", fold])
        main(["train", *common, *descriptions, "--fold", fold, "--model", "global"])
    main(["evaluate", "--dataset", data, "--split", "4_2", "--recipe", "official", "--run-name", "global"])
    assert "| paper: spatial OR temporal right" in capsys.readouterr().out
    root = tmp_path / "results" / "runs" / "mine" / "default" / "4_2"
    runs = {p.relative_to(root).as_posix() for p in root.glob("*/*") if p.is_dir()}
    assert {"main/encoder_official", "main/global_official", "validation/encoder_official",
            "validation/global_official"} <= runs, runs
    _, meta = load_matching_model(root / "main" / "global_official" / "match.pt")
    assert (meta["config"]["val_fraction"], meta["config"]["description_topk"], meta["config"]["test_augmentation"],
            meta["config"]["paper_gamma_grid"]) == (0.0, 10, True, "official")
    _, validation = load_matching_model(root / "validation" / "global_official" / "match.pt")
    assert validation["config"]["val_fraction"] == 0.1  # the validation fold keeps the project's held-out share
    results = json.loads((root / "main" / "global_official" / "results.json").read_text())
    assert results["paper"]["gamma_grid"] == "official"

    source = ShiftGCN(4, layout="kinect20", num_persons=1)
    torch.save(official_state_dict(source), tmp_path / "official_pretrain.pt")
    main(["train", *common, *descriptions, "--model", "global", "--run-name", "on_official",
          "--encoder", str(tmp_path / "official_pretrain.pt")])
    assert "a state dict of the official pretraining code" in capsys.readouterr().err
