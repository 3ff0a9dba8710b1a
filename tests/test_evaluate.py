"""Tests for the evaluation metrics, per-epoch records and the two protocols (pure functions
on hand-made cases; no model is trained here)."""

import numpy as np
import pytest

from neuron.evaluation.metrics import (
    OFFICIAL_GAMMAS,
    Decisions,
    ausuc,
    balanced_gamma,
    best_gamma,
    decisions,
    fused_scores,
    gzsl_accuracies,
    harmonic_mean,
    margin_quantiles,
    or_correct,
    softmax,
    transfer_gamma,
)
from neuron.evaluation.protocols import or_ausuc, paper_epoch, paper_protocol, strict_protocol, zsl_confusion
from neuron.evaluation.records import EpochRecord, epoch_record, load_record, load_records, save_record

# ---------------------------------------------------------------- basic metrics

def test_harmonic_mean():
    assert harmonic_mean(0.5, 0.5) == 0.5
    assert harmonic_mean(0.8, 0.4) == pytest.approx(2 * 0.32 / 1.2)
    assert harmonic_mean(1.0, 0.0) == 0.0
    assert harmonic_mean(0.0, 0.0) == 0.0


def test_gzsl_accuracies_are_per_sample_and_split_by_class_group():
    labels = np.array([0, 0, 1, 2, 2, 2])  # class 2 unseen
    correct = np.array([True, False, True, True, False, False])
    acc = gzsl_accuracies(correct, labels, unseen_classes=[2])
    assert acc["seen"] == pytest.approx(2 / 3) and acc["unseen"] == pytest.approx(1 / 3)
    assert acc["harmonic"] == pytest.approx(harmonic_mean(2 / 3, 1 / 3))
    with pytest.raises(ValueError, match="both seen and unseen"):
        gzsl_accuracies(correct, labels, unseen_classes=[5])


def test_or_oracle_counts_a_sample_when_either_stream_is_right():
    labels = np.array([0, 1, 2, 3])
    spatial = np.array([0, 0, 2, 0])
    temporal = np.array([1, 1, 0, 0])
    np.testing.assert_array_equal(or_correct([spatial, temporal], labels), [True, True, True, False])
    # A single stream counts as itself.
    np.testing.assert_array_equal(or_correct([spatial], labels), spatial == labels)


# ---------------------------------------------------------------- calibration

def test_calibration_shifts_predictions_from_seen_to_unseen():
    classes, seen = [0, 1, 2], [0, 1]  # class 2 unseen
    scores = np.array([[0.50, 0.10, 0.40],   # margin 0.10
                       [0.20, 0.30, 0.50],   # margin -0.20: unseen already
                       [0.45, 0.50, 0.05]])  # margin 0.45
    dec = decisions(scores, classes, seen)
    np.testing.assert_array_equal(dec.seen_pred, [0, 1, 1])
    np.testing.assert_array_equal(dec.unseen_pred, [2, 2, 2])
    np.testing.assert_allclose(dec.margin, [0.10, -0.20, 0.45])
    np.testing.assert_array_equal(dec.predict(0.0), [0, 2, 1])
    np.testing.assert_array_equal(dec.predict(0.2), [2, 2, 1])  # the first sample moves to unseen
    np.testing.assert_array_equal(dec.predict(0.5), [2, 2, 2])


def test_decisions_predict_equals_argmax_of_shifted_scores():
    rng = np.random.default_rng(0)
    classes = np.array([0, 2, 3, 5, 7, 8])
    seen = [2, 5, 7, 8]
    scores = rng.random((200, len(classes)))
    dec = decisions(scores, classes, seen)
    for gamma in (-0.3, 0.0, 0.05, 0.2, 0.6):
        shifted = scores - gamma * np.isin(classes, seen)
        np.testing.assert_array_equal(dec.predict(gamma), classes[shifted.argmax(axis=1)])


def test_decisions_reject_bad_columns():
    with pytest.raises(ValueError, match="increasing"):
        decisions(np.zeros((1, 2)), [1, 0], [1])
    with pytest.raises(ValueError, match="both seen and unseen"):
        decisions(np.zeros((1, 2)), [0, 1], [0, 1])
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        decisions(np.zeros((1, 2)), [0, 1, 2], [0])


def test_best_gamma_hand_case():
    # Seen sample a (label 0): right as seen, margin 0.3. Seen sample b (label 1): right as
    # seen, margin 0.1. Unseen sample c (label 2): best unseen right, margin 0.2.
    dec = Decisions(seen_pred=np.array([0, 1, 0]), unseen_pred=np.array([2, 2, 2]),
                    margin=np.array([0.3, 0.1, 0.2]))
    labels = np.array([0, 1, 2])
    result = best_gamma(dec, labels, unseen_classes=[2])
    # gamma in (0.2, 0.3): a stays seen (S = 1/2), c becomes right (U = 1): H = 2/3, the best;
    # the midpoint between the margins 0.2 and 0.3 is chosen.
    assert result["gamma"] == pytest.approx(0.25)
    assert (result["seen"], result["unseen"]) == (0.5, 1.0)
    assert result["harmonic"] == pytest.approx(2 / 3)


def test_best_gamma_is_optimal_over_any_grid():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 6, 300)  # classes 0..3 seen, 4 and 5 unseen
    unseen = [4, 5]
    is_unseen = np.isin(labels, unseen)
    dec = Decisions(seen_pred=np.where(~is_unseen & (rng.random(300) < 0.7), labels, (labels + 1) % 4),
                    unseen_pred=np.where(is_unseen, np.where(rng.random(300) < 0.5, labels, 9 - labels), 4),
                    margin=rng.normal(0.1, 0.2, 300))
    best = best_gamma(dec, labels, unseen)
    grid = np.linspace(-1, 1, 2001)
    h_grid = [gzsl_accuracies(dec.predict(g) == labels, labels, unseen)["harmonic"] for g in grid]
    assert best["harmonic"] >= max(h_grid) - 1e-12
    assert best["harmonic"] == pytest.approx(
        gzsl_accuracies(dec.predict(best["gamma"]) == labels, labels, unseen)["harmonic"])


def _random_decisions(seed: int, n: int, unseen_right: float) -> tuple[np.ndarray, Decisions]:
    """Labels 0..5 (4 and 5 unseen) and decisions right for 80% of the seen samples and
    `unseen_right` of the unseen ones, with normal margins."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 6, n)
    is_unseen = labels >= 4
    return labels, Decisions(seen_pred=np.where(~is_unseen & (rng.random(n) < 0.8), labels, 0),
                             unseen_pred=np.where(is_unseen & (rng.random(n) < unseen_right), labels, 4),
                             margin=rng.normal(0, 1, n))


def test_balanced_gamma_hand_case_and_optimality():
    # Seen a: right, margin 0.3; seen b: right, margin 0.1; unseen c: best unseen right, margin 0.2.
    # gamma in (0.2, 0.3): S 1/2, U 1, min 1/2; any other gamma leaves S or U at 0 (or S 1/2, U 0).
    dec = Decisions(seen_pred=np.array([0, 1, 0]), unseen_pred=np.array([2, 2, 2]), margin=np.array([0.3, 0.1, 0.2]))
    result = balanced_gamma(dec, np.array([0, 1, 2]), [2])
    assert result["gamma"] == pytest.approx(0.25) and (result["seen"], result["unseen"]) == (0.5, 1.0)
    labels, dec = _random_decisions(seed=2, n=300, unseen_right=0.5)
    best = balanced_gamma(dec, labels, [4, 5])
    grid = [gzsl_accuracies(dec.predict(g) == labels, labels, [4, 5]) for g in np.linspace(-4, 4, 4001)]
    assert min(best["seen"], best["unseen"]) >= max(min(a["seen"], a["unseen"]) for a in grid) - 1e-12
    # never below the smaller accuracy at H's optimum
    assert min(best["seen"], best["unseen"]) >= min(best_gamma(dec, labels, [4, 5])[k] for k in ("seen", "unseen"))


def test_gamma_grids():
    assert OFFICIAL_GAMMAS[0] == 0.0002 and OFFICIAL_GAMMAS[-1] == 0.0003 and len(OFFICIAL_GAMMAS) == 11
    np.testing.assert_allclose(margin_quantiles(np.arange(100.0), count=4), [12.375, 37.125, 61.875, 86.625])


# ---------------------------------------------------------------- strict fusion

def test_softmax_rows_sum_to_one():
    p = softmax(np.array([[0.0, 0.0], [1000.0, 0.0]]))
    np.testing.assert_allclose(p, [[0.5, 0.5], [1.0, 0.0]])


def test_fused_scores_sum_the_streams_and_scale_by_k():
    spatial = np.log(np.array([[0.70, 0.20, 0.10]]))  # confident in class 0
    temporal = np.log(np.array([[0.30, 0.40, 0.30]]))  # weakly prefers class 1
    fused = fused_scores([spatial, temporal], [0, 1, 2])
    np.testing.assert_allclose(fused, 3 * np.array([[0.50, 0.30, 0.20]]))
    assert fused.argmax() == 0  # one prediction: the confident stream wins
    # Uniform scores are 1 whatever K is: a gamma chosen among some classes transfers.
    np.testing.assert_allclose(fused_scores([np.zeros((2, 7))], range(7)), np.ones((2, 7)))
    # The softmax is taken over the requested columns only.
    np.testing.assert_allclose(fused_scores([spatial, temporal], [1, 2]).sum(axis=1), [2.0])


# ---------------------------------------------------------------- records and protocols

def make_record(epoch, labels, streams, fused, fused_zsl, train=(0, 1), eval_=(0, 1, 2, 3), unseen=(2, 3)):
    return EpochRecord(epoch, np.asarray(labels), np.asarray(train), np.asarray(eval_), np.asarray(unseen),
                       streams, fused, np.asarray(fused_zsl))


def dec(seen_pred, unseen_pred, margin):
    return Decisions(np.asarray(seen_pred), np.asarray(unseen_pred), np.asarray(margin, dtype=float))


def test_epoch_record_from_logits():
    rng = np.random.default_rng(2)
    logits = {"spatial": rng.normal(size=(8, 5)), "temporal": rng.normal(size=(8, 5))}
    labels = np.array([0, 1, 2, 3, 4, 0, 3, 4])
    rec = epoch_record(3, logits, labels, train_classes=[0, 1, 2], eval_classes=[0, 1, 2, 3, 4],
                       unseen_classes=[3, 4])
    unseen = np.array([3, 4])
    for name, s in logits.items():  # per-stream ZSL = argmax of the logits over unseen classes
        np.testing.assert_array_equal(rec.streams[name].unseen_pred, unseen[s[:, unseen].argmax(axis=1)])
    np.testing.assert_array_equal(rec.fused_zsl_pred,
                                  unseen[fused_scores(list(logits.values()), unseen).argmax(axis=1)])
    np.testing.assert_array_equal(rec.is_unseen, np.isin(labels, unseen))
    full = fused_scores(list(logits.values()), range(5))
    np.testing.assert_array_equal(rec.fused.predict(0.0), full.argmax(axis=1))


def test_record_round_trip(tmp_path):
    rec = make_record(2, [0, 2, 3], {"spatial": dec([0, 1, 0], [2, 2, 3], [0.1, -0.2, 0.3]),
                                     "temporal": dec([1, 1, 0], [3, 2, 3], [0.0, 0.5, -0.1])},
                      dec([0, 1, 0], [2, 2, 3], [0.2, 0.1, 0.0]), [2, 2, 3])
    save_record(tmp_path, rec)
    back = load_record(tmp_path / "epoch_002.npz")
    assert back.epoch == 2 and list(back.streams) == ["spatial", "temporal"]
    np.testing.assert_array_equal(back.streams["temporal"].margin, rec.streams["temporal"].margin)
    np.testing.assert_array_equal(back.fused_zsl_pred, rec.fused_zsl_pred)
    with pytest.raises(FileNotFoundError, match=r"epochs \[1, 3\]"):
        load_records(tmp_path, 3)
    (tmp_path / "epoch_001.npz").write_text("garbage")
    with pytest.raises(ValueError, match="epoch_001.npz"):
        load_records(tmp_path, 2)


def test_paper_epoch_counts_or_and_searches_gamma_per_stream():
    labels = [0, 1, 2, 3]  # 0, 1 seen; 2, 3 unseen
    spatial = dec([0, 0, 0, 0], [2, 2, 2, 2], [1e-3, 1e-3, 1.5e-4, 1e-3])
    temporal = dec([1, 1, 1, 1], [3, 3, 3, 3], [1e-3, 1e-3, 1e-3, 2.5e-4])
    rec = make_record(1, labels, {"spatial": spatial, "temporal": temporal}, spatial, [2, 3, 2, 3])
    out = paper_epoch(rec, official_grid=True)
    # ZSL: unseen samples 2 (spatial right) and 3 (temporal right): OR gives 100%.
    assert out["zsl"] == 1.0
    # Seen samples are right (sample 0 by spatial, 1 by temporal) for all grid gammas (margins
    # 1e-3 > 3e-4). Unseen sample 2 is right (spatial) at any gamma >= 2e-4 > 1.5e-4; sample 3
    # only with temporal gamma > 2.5e-4: first such grid value is 0.00026.
    assert (out["gzsl"]["seen"], out["gzsl"]["unseen"]) == (1.0, 1.0)
    assert out["gzsl"]["gamma"] == {"spatial": 0.0002, "temporal": 0.00026}


def test_paper_quantile_grid_follows_the_score_scale():
    # Margins of 0.01-0.05: the official grid (2e-4..3e-4) never moves a prediction, the
    # margin quantiles do (the unseen sample needs gamma > 0.02, the seen ones < 0.04).
    labels = [0, 1, 2, 2]
    d = dec([0, 1, 0, 1], [2, 2, 2, 2], [0.04, 0.05, 0.02, 0.01])
    rec = make_record(1, labels, {"spatial": d, "temporal": d}, d, [2, 2, 2, 2])
    assert paper_epoch(rec, official_grid=True)["gzsl"]["harmonic"] == 0.0
    quantile = paper_epoch(rec, official_grid=False)["gzsl"]
    assert (quantile["seen"], quantile["unseen"]) == (1.0, 1.0)
    assert any(0.02 < g < 0.04 for g in quantile["gamma"].values())  # OR: one stream suffices


def _records_with_zsl(zsl_correct_per_epoch, unseen=(2, 3), train=(0, 1), eval_=(0, 1, 2, 3)):
    """Records over samples labelled [0, 1, 2, 3] whose fused ZSL prediction is right on the
    unseen samples as listed per epoch; GZSL decisions all correct at gamma 0."""
    labels = np.array(eval_)
    records = []
    for epoch, right in enumerate(zsl_correct_per_epoch, start=1):
        zsl = np.array([2, 2, 2 if right else 3, 3 if right else 2])
        d = dec(labels.clip(max=max(train)), zsl, np.where(np.isin(labels, unseen), -1.0, 1.0))
        records.append(make_record(epoch, labels, {"spatial": d, "temporal": d}, d, zsl, train, eval_, unseen))
    return records


def test_paper_protocol_picks_the_best_test_epoch():
    result = paper_protocol(_records_with_zsl([False, True, False]), official_grid=True)
    assert result["zsl"] == {"top1": 1.0, "epoch": 2}
    assert len(result["per_epoch"]) == 3


def test_strict_protocol_chooses_on_validation_not_test():
    # Validation says epoch 1 is best; the test set would prefer epoch 2: strict reports epoch 1.
    validation = _records_with_zsl([True, False, False])
    test = _records_with_zsl([False, True, False])
    result = strict_protocol(validation, test)
    assert result["zsl"]["epoch"] == 1 and result["zsl"]["validation_top1"] == 1.0
    assert result["zsl"]["top1"] == 0.0
    assert result["gzsl"]["epoch"] == 1 and result["gzsl"]["validation"]["harmonic"] == 1.0
    assert (result["gzsl"]["seen"], result["gzsl"]["unseen"]) == (1.0, 0.0)  # test epoch 1: unseen wrong
    assert result["pseudo_unseen_classes"] == [2, 3]
    with pytest.raises(ValueError, match="same number of epochs"):
        strict_protocol(validation, test[:2])


# ---------------------------------------------------------------- AUSUC and a calibration carried by rank

def test_ausuc_hand_case_and_bounds():
    # Seen a: right, margin 0.3; seen b: right, margin 0.1; unseen c: best unseen right, margin 0.2.
    dec = Decisions(seen_pred=np.array([0, 1, 0]), unseen_pred=np.array([2, 2, 2]), margin=np.array([0.3, 0.1, 0.2]))
    labels = np.array([0, 1, 2])
    # The curve (U, S) as gamma grows: (0, 1) -> b flips (0, 1/2) -> c right (1, 1/2) -> a flips (1, 0).
    assert ausuc(dec, labels, [2]) == pytest.approx(0.5)
    perfect = Decisions(seen_pred=labels.clip(max=1), unseen_pred=np.array([2, 2, 2]), margin=np.array([1, 1, -1.0]))
    assert ausuc(perfect, labels, [2]) == 1.0
    hopeless = Decisions(seen_pred=np.array([1, 0, 0]), unseen_pred=np.array([2, 2, 3]), margin=np.zeros(3))
    assert ausuc(hopeless, labels, [2, 3]) == 0.0


def test_ausuc_equals_a_fine_grid_of_calibrations():
    labels, dec = _random_decisions(seed=4, n=400, unseen_right=0.6)
    grid = np.concatenate([[-10], np.sort(dec.margin) + 1e-9, [10]])
    curve = np.array([[gzsl_accuracies(dec.predict(g) == labels, labels, [4, 5])[k] for k in ("unseen", "seen")]
                      for g in np.concatenate([[-10], np.sort(dec.margin) - 1e-9, grid])])
    curve = curve[np.lexsort((-curve[:, 1], curve[:, 0]))]
    area = np.sum(np.diff(curve[:, 0]) * (curve[1:, 1] + curve[:-1, 1]) / 2)
    assert ausuc(dec, labels, [4, 5]) == pytest.approx(area)


def test_transfer_gamma_keeps_the_share_of_seen_samples_flipped():
    reference = np.array([0.1, 0.2, 0.3, 0.4])  # gamma 0.25 flips half of them
    target = np.array([10.0, 30.0, 20.0, 40.0, 50.0])  # another model, another scale
    moved = transfer_gamma(0.25, reference, target)
    assert moved["share"] == 0.5 and moved["gamma"] == 30.0
    assert np.mean(target < moved["gamma"]) == pytest.approx(0.4)  # the quantile splits the target likewise
    assert transfer_gamma(0.0, reference, target) == {"gamma": 9.0, "share": 0.0}
    assert transfer_gamma(1.0, reference, target) == {"gamma": 51.0, "share": 1.0}
    with pytest.raises(ValueError, match="held-out seen samples"):
        transfer_gamma(0.0, reference, np.array([]))


def test_strict_protocol_carries_gamma_by_rank_and_reports_each_stream():
    validation = _records_with_zsl([True, False, False])
    test = _records_with_zsl([False, True, False])
    # The main model's held-out seen clips: margins on another scale than the validation model's.
    heldout = [make_record(e, np.array([0, 1]), {s: dec(np.array([0, 1]), np.array([2, 2]), np.array([5.0, 7.0]))
                                                 for s in ("spatial", "temporal")},
                           dec(np.array([0, 1]), np.array([2, 2]), np.array([5.0, 7.0])), np.array([2, 2]),
                           (0, 1), (0, 1, 2, 3), (2, 3)) for e in (1, 2, 3)]
    absolute = strict_protocol(validation, test)
    assert absolute["gzsl"]["calibration"] == "absolute" and set(absolute["calibrations"]) == {"absolute", "none"}
    ranked = strict_protocol(validation, test, heldout)
    assert ranked["gzsl"]["calibration"] == "absolute" and set(ranked["calibrations"]) == {"absolute", "rank", "none"}
    rank = ranked["calibrations"]["rank"]
    assert rank["share"] == 0.0 and rank["gamma"] == 4.0  # below the held-out margins: no seen clip given up
    assert set(ranked["streams"]) == {"spatial", "temporal"} and "ausuc" in ranked["streams"]["spatial"]
    assert ranked["calibrations"]["absolute"]["gamma"] == absolute["gzsl"]["gamma"] == 0.0


def test_or_ausuc_counts_either_stream():
    labels = np.array([0, 1, 2, 3])
    good = dec(np.array([0, 1, 0, 0]), np.array([2, 2, 2, 3]), np.array([1.0, 1.0, -1.0, -1.0]))
    bad = dec(np.array([1, 0, 0, 0]), np.array([3, 3, 3, 2]), np.zeros(4))
    record = make_record(1, labels, {"spatial": good, "temporal": bad}, good, np.array([2, 2, 2, 3]),
                         (0, 1), (0, 1, 2, 3), (2, 3))
    assert or_ausuc(record) == pytest.approx(1.0)


def test_weighted_fusions_are_recorded_and_one_is_chosen_on_validation(tmp_path):
    rng = np.random.default_rng(5)
    labels = np.array([0, 1, 2, 3] * 5)
    logits = {"spatial": rng.normal(size=(20, 4)), "temporal": rng.normal(size=(20, 4))}
    logits["spatial"][np.arange(20), labels] += 3.0  # the spatial stream is the informative one
    rec = epoch_record(1, logits, labels, train_classes=[0, 1], eval_classes=[0, 1, 2, 3], unseen_classes=[2, 3])
    assert sorted(rec.weighted) == [0.25, 0.75]
    spatial_heavy = fused_scores(list(logits.values()), [0, 1, 2, 3], (0.75, 0.25))
    np.testing.assert_allclose(rec.weighted[0.75][0].margin, spatial_heavy[:, :2].max(1) - spatial_heavy[:, 2:].max(1))
    np.testing.assert_allclose(fused_scores(list(logits.values()), [0, 1], (0.5, 0.5)),
                               fused_scores(list(logits.values()), [0, 1]))
    loaded = load_record(save_record(tmp_path, rec))
    np.testing.assert_array_equal(loaded.weighted[0.25][1], rec.weighted[0.25][1])
    np.testing.assert_array_equal(loaded.weighted[0.75][0].margin, rec.weighted[0.75][0].margin)
    result = strict_protocol([rec], [rec])
    assert result["chosen_fusion"]["zsl"]["view"] == "spatial"  # the best pseudo-ZSL, first in order on ties
    assert result["chosen_fusion"]["gzsl"]["view"] in ("spatial", "fused@0.75", "fused", "fused@0.25", "temporal")


def test_zsl_confusion_counts_unseen_clips_by_true_and_predicted_class():
    # Unseen classes 3 and 2 (in that order); the seen clips (label 0) do not count.
    rec = make_record(1, [3, 3, 2, 0, 2, 3], {}, None, [3, 2, 2, 2, 3, 2], unseen=(3, 2))
    assert zsl_confusion(rec.fused_zsl_pred, rec) == [[1, 2], [1, 1]]


# ---------------------------------------------------------------- GZSL gated by the encoder's classifier

def test_epoch_record_keeps_the_encoder_classifier_for_the_gate(tmp_path):
    rng = np.random.default_rng(3)
    logits = {"spatial": rng.normal(size=(6, 5)), "temporal": rng.normal(size=(6, 5))}
    labels = np.array([0, 1, 2, 3, 4, 2])
    encoder_logits = rng.normal(size=(6, 3))  # columns: train classes 0, 2, 1 in this order
    rec = epoch_record(1, logits, labels, train_classes=[0, 2, 1], eval_classes=[0, 1, 2, 3, 4],
                       unseen_classes=[3, 4], encoder_logits=encoder_logits)
    probs = np.exp(encoder_logits) / np.exp(encoder_logits).sum(axis=1, keepdims=True)
    np.testing.assert_array_equal(rec.encoder_pred, np.array([0, 2, 1])[probs.argmax(axis=1)])
    np.testing.assert_allclose(rec.encoder_confidence, probs.max(axis=1))
    threshold = float(np.median(rec.encoder_confidence))
    expected = np.where(rec.encoder_confidence > threshold, rec.encoder_pred, rec.fused_zsl_pred)
    np.testing.assert_array_equal(rec.gated.predict(threshold), expected)
    save_record(tmp_path, rec)
    back = load_record(tmp_path / "epoch_001.npz")
    np.testing.assert_array_equal(back.gated.predict(threshold), expected)
    plain = epoch_record(1, logits, labels, train_classes=[0, 2, 1], eval_classes=[0, 1, 2, 3, 4],
                         unseen_classes=[3, 4])
    save_record(tmp_path / "plain", plain)
    assert plain.gated is None and load_record(tmp_path / "plain" / "epoch_001.npz").gated is None


def _with_gate(records, confidence, encoder_pred):
    for r in records:
        r.encoder_pred, r.encoder_confidence = np.asarray(encoder_pred), np.asarray(confidence, dtype=float)
    return records


def test_strict_protocol_gates_gzsl_with_a_threshold_chosen_on_validation():
    # Samples [0, 1, 2, 3]: 0, 1 seen. On validation the encoder is sure of the seen clips (0.9)
    # and unsure of the unseen ones (0.2), so any threshold between separates them; the test
    # model's unseen clip 3 is confident (0.8): it keeps its (wrong) seen class at that threshold.
    validation = _with_gate(_records_with_zsl([True, True, True]), [0.9, 0.9, 0.2, 0.2], [0, 1, 0, 1])
    test = _with_gate(_records_with_zsl([True, True, True]), [0.9, 0.9, 0.3, 0.8], [0, 0, 0, 1])
    gated = strict_protocol(validation, test)["gated"]
    assert 0.2 < gated["gzsl"]["gamma"] < 0.9 and gated["gzsl"]["validation"]["harmonic"] == 1.0
    threshold = gated["gzsl"]["gamma"]
    assert (gated["gzsl"]["seen"], gated["gzsl"]["unseen"]) == (0.5, 1.0 if threshold > 0.8 else 0.5)
    assert gated["zsl"]["top1"] == strict_protocol(validation, test)["zsl"]["top1"]  # ZSL is not gated
    assert "gated" not in strict_protocol(_records_with_zsl([True, True, True]), test)  # validation lacks it
