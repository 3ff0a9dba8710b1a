"""The two evaluation protocols, side by side, on per-epoch records (`records.EpochRecord`).

paper — what the official code (cseeyangchen/Neuron, main_match.py) computes:
  * a sample counts as correct when the spatial OR the temporal final-phase prediction is
    right (an oracle over two guesses);
  * ZSL: each stream's argmax among the unseen classes;
  * GZSL: each stream's softmax over all classes, a calibration gamma subtracted from the
    seen classes' scores, gamma_spatial and gamma_temporal each from a grid, the pair with
    the best harmonic mean kept (the first in grid order on ties). The grid is the official
    one (0.00020..0.00030 in steps of 0.00001) on NTU RGB+D and PKU-MMD, where the authors
    tuned it; on other datasets, whose score scale differs (fewer training steps, other K),
    that grid can miss the range where predictions change altogether, so it is replaced by
    the same kind of test-set tuning: 20 quantiles of each stream's test margins per epoch;
  * all of it on the test set, every epoch; the reported epoch is the best on the test set
    (ZSL and GZSL each their own).

strict — every choice without test labels, one prediction per sample:
  * fused scores (mean of the streams' K-scaled softmaxes, `metrics.fused_scores`), argmax;
  * the epoch and gamma are chosen on the validation fold (`neuron.training.folds`): a model
    trained on the pseudo-seen classes S' and scored on held-out samples of S' and on the
    pseudo-unseen classes U', among the seen classes S. ZSL epoch: best pseudo-ZSL accuracy;
    GZSL epoch and gamma: best pseudo-GZSL harmonic mean (gamma searched exactly,
    `metrics.best_gamma`); ties to the earlier epoch;
  * the main model's test records at those epochs, with that gamma, give the numbers.

fixed epoch — no choice at all, so no validation fold is needed (cheap runs such as ablations):
  * the fused prediction, as in strict, at a fixed epoch (by default the last one);
  * GZSL without calibration (gamma 0: seen and unseen classes' fused scores compete as they are).
"""

import itertools

import numpy as np

from neuron.evaluation.metrics import OFFICIAL_GAMMAS, best_gamma, gzsl_accuracies, margin_quantiles, or_correct
from neuron.evaluation.records import EpochRecord


def _zsl_accuracy(correct: np.ndarray, record: EpochRecord) -> float:
    return float(np.mean(correct[record.is_unseen]))


def paper_grids(record: EpochRecord, official: bool) -> dict[str, tuple[float, ...]]:
    """The calibration grid of each stream: the official one, or quantiles of its margins."""
    return {name: OFFICIAL_GAMMAS if official else margin_quantiles(d.margin) for name, d in record.streams.items()}


def paper_epoch(record: EpochRecord, official_grid: bool) -> dict:
    """The official numbers of one epoch: OR-counted ZSL, and OR-counted GZSL at the grid's
    best (gamma per stream)."""
    labels, streams = record.labels, record.streams
    zsl = _zsl_accuracy(or_correct([d.unseen_pred for d in streams.values()], labels), record)
    best = None
    for combo in itertools.product(*paper_grids(record, official_grid).values()):
        correct = or_correct([d.predict(g) for d, g in zip(streams.values(), combo)], labels)
        result = gzsl_accuracies(correct, labels, record.unseen_classes)
        if best is None or result["harmonic"] > best["harmonic"]:
            best = {**result, "gamma": dict(zip(streams, combo))}
    return {"zsl": zsl, "gzsl": best}


def _first_best(values) -> int:
    """Index of the first maximum (the earliest epoch on ties)."""
    return int(np.argmax(values))


def paper_protocol(test_records: list[EpochRecord], official_grid: bool) -> dict:
    """Per epoch on the test set, then the best epoch on the test set, as the official code."""
    per_epoch = [paper_epoch(r, official_grid) for r in test_records]
    z = _first_best([e["zsl"] for e in per_epoch])
    g = _first_best([e["gzsl"]["harmonic"] for e in per_epoch])
    return {"zsl": {"top1": per_epoch[z]["zsl"], "epoch": test_records[z].epoch},
            "gzsl": {**per_epoch[g]["gzsl"], "epoch": test_records[g].epoch},
            "gamma_grid": "official" if official_grid else "test-set margin quantiles",
            "per_epoch": [{"epoch": r.epoch, **e} for r, e in zip(test_records, per_epoch)]}


def strict_epoch(record: EpochRecord) -> dict:
    """Fused-prediction numbers of one validation epoch: pseudo-ZSL accuracy and the GZSL
    harmonic mean at the best gamma."""
    return {"zsl": _zsl_accuracy(record.fused_zsl_pred == record.labels, record),
            "gzsl": best_gamma(record.fused, record.labels, record.unseen_classes)}


def strict_protocol(validation_records: list[EpochRecord], test_records: list[EpochRecord]) -> dict:
    """Epochs and gamma chosen on the validation fold, applied to the main fold's test records."""
    if len(test_records) < len(validation_records):
        raise ValueError(f"the validation fold ran {len(validation_records)} epochs but the main fold only "
                         f"{len(test_records)}: train both with the same number of epochs")
    per_epoch = [strict_epoch(r) for r in validation_records]
    z = _first_best([e["zsl"] for e in per_epoch])
    g = _first_best([e["gzsl"]["harmonic"] for e in per_epoch])
    gamma = per_epoch[g]["gzsl"]["gamma"]
    zsl_test, gzsl_test = test_records[z], test_records[g]
    return {
        "zsl": {"top1": _zsl_accuracy(zsl_test.fused_zsl_pred == zsl_test.labels, zsl_test),
                "epoch": zsl_test.epoch, "validation_top1": per_epoch[z]["zsl"]},
        "gzsl": {**gzsl_accuracies(gzsl_test.fused.predict(gamma) == gzsl_test.labels, gzsl_test.labels,
                                   gzsl_test.unseen_classes),
                 "epoch": gzsl_test.epoch, "gamma": gamma,
                 "validation": {k: per_epoch[g]["gzsl"][k] for k in ("seen", "unseen", "harmonic")}},
        "pseudo_unseen_classes": validation_records[0].unseen_classes.tolist(),
        "validation_per_epoch": [{"epoch": r.epoch, **e} for r, e in zip(validation_records, per_epoch)],
    }


def fixed_epoch_protocol(test_records: list[EpochRecord], epoch: int | None = None) -> dict:
    """Fused-prediction numbers of the main fold's test records at `epoch` (None: the last one),
    GZSL uncalibrated (gamma 0). Uses no test label for any choice."""
    if not test_records:
        raise ValueError("no test records: train the matching stage first")
    by_epoch = {r.epoch: r for r in test_records}
    epoch = max(by_epoch) if epoch is None else epoch
    if epoch not in by_epoch:
        raise ValueError(f"no test record of epoch {epoch}; records exist for epochs {sorted(by_epoch)}")
    record = by_epoch[epoch]
    return {"zsl": {"top1": _zsl_accuracy(record.fused_zsl_pred == record.labels, record), "epoch": epoch},
            "gzsl": {**gzsl_accuracies(record.fused.predict(0.0) == record.labels, record.labels,
                                       record.unseen_classes),
                     "epoch": epoch, "gamma": 0.0}}
