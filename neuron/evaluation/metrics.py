"""Pure metric functions for zero-shot (ZSL) and generalised zero-shot (GZSL) evaluation.

Shapes: N samples, K candidate classes. Scores are (N, K) arrays whose column j belongs to
`classes[j]` (original dataset labels); predictions and labels are original labels.

GZSL uses calibrated stacking (Chao et al., ECCV 2016): subtract gamma from the score of
every seen class, then take the argmax. Whatever gamma is, a sample's prediction is either
its best seen class or its best unseen class, and it is the seen one exactly when
(best seen score - best unseen score) > gamma. `Decisions` keeps these three numbers per
sample, which is all any gamma needs, and is what training stores per epoch (a full score
matrix of NTU120's test set would be ~50 MB per epoch).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# The official GZSL calibration grid on softmax scores: 0.00020, 0.00021, ..., 0.00030.
OFFICIAL_GAMMAS = tuple(i / 100000 for i in range(20, 31))


def harmonic_mean(seen: float, unseen: float) -> float:
    """2 S U / (S + U), 0 when both are 0."""
    return 0.0 if seen + unseen == 0 else 2 * seen * unseen / (seen + unseen)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) logits, in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def fused_scores(logits: Sequence[np.ndarray], columns: Sequence[int], weights: Sequence[float] | None = None
                 ) -> np.ndarray:
    """One score matrix from several streams: the mean over streams (weighted by `weights`,
    which sum to 1; default equal) of K * softmax over the `columns` (K of them) of each
    stream's (N, K_all) logits. Returns (N, K).

    Scaling by K makes the uniform score 1 whatever K is, so a calibration gamma chosen among
    one set of classes (validation) transfers to a larger set (test); divide by K for
    probabilities.
    """
    columns = np.asarray(columns)
    weights = np.full(len(logits), 1 / len(logits)) if weights is None else np.asarray(weights, dtype=np.float64)
    return np.sum([w * len(columns) * softmax(np.asarray(s)[:, columns]) for w, s in zip(weights, logits)], axis=0)


@dataclass
class Decisions:
    """Per sample: the best seen class, the best unseen class, and margin = best seen score -
    best unseen score. All (N,)."""

    seen_pred: np.ndarray
    unseen_pred: np.ndarray
    margin: np.ndarray

    def predict(self, gamma: float = 0.0) -> np.ndarray:
        """Calibrated-stacking predictions: argmax of the scores after subtracting gamma from
        every seen class's score. On an exact tie the lower class label wins (numpy argmax
        over class-ordered columns)."""
        return np.where(self.margin > gamma, self.seen_pred,
                        np.where(self.margin < gamma, self.unseen_pred,
                                 np.minimum(self.seen_pred, self.unseen_pred)))


def decisions(scores: np.ndarray, classes: Sequence[int], seen_classes: Sequence[int]) -> Decisions:
    """Decisions of (N, K) scores whose columns are `classes` (increasing labels); the seen
    classes are calibrated, the others are unseen. Both groups must be non-empty."""
    classes = np.asarray(classes)
    if np.any(np.diff(classes) <= 0):
        raise ValueError(f"classes must be increasing labels, got {classes.tolist()}")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != len(classes):
        raise ValueError(f"scores must be (N, {len(classes)}), got {scores.shape}")
    is_seen = np.isin(classes, seen_classes)
    if is_seen.all() or not is_seen.any():
        raise ValueError("GZSL needs both seen and unseen candidate classes")
    seen, unseen = scores[:, is_seen], scores[:, ~is_seen]
    return Decisions(seen_pred=classes[is_seen][seen.argmax(axis=1)],
                     unseen_pred=classes[~is_seen][unseen.argmax(axis=1)],
                     margin=seen.max(axis=1) - unseen.max(axis=1))


def or_correct(predictions: Sequence[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """(N,) bool: True where ANY of the predictions (one (N,) array per stream) is right —
    the official code's counting, an oracle over the streams' guesses."""
    return np.any([np.asarray(p) == labels for p in predictions], axis=0)


def gzsl_accuracies(correct: np.ndarray, labels: np.ndarray, unseen_classes: Sequence[int]) -> dict:
    """Per-sample accuracy on the seen-class samples (S), on the unseen-class samples (U)
    and their harmonic mean (H). correct, labels: (N,)."""
    is_unseen = np.isin(labels, unseen_classes)
    if is_unseen.all() or not is_unseen.any():
        raise ValueError("GZSL accuracies need samples of both seen and unseen classes")
    seen, unseen = float(np.mean(correct[~is_unseen])), float(np.mean(correct[is_unseen]))
    return {"seen": seen, "unseen": unseen, "harmonic": harmonic_mean(seen, unseen)}


def _sweep(dec: Decisions, labels: np.ndarray, unseen_classes: Sequence[int]):
    """Every distinct calibration: (candidate gammas, S, U) arrays, gamma increasing.

    S(gamma) and U(gamma) only change where gamma crosses a sample's margin, so the
    candidates are the midpoints between consecutive distinct margins plus one value below
    all margins and one above (every seen / every unseen)."""
    is_unseen = np.isin(labels, unseen_classes)
    if is_unseen.all() or not is_unseen.any():
        raise ValueError("a GZSL calibration needs samples of both seen and unseen classes")
    margins = np.unique(dec.margin)
    candidates = np.concatenate([[margins[0] - 1.0], (margins[:-1] + margins[1:]) / 2, [margins[-1] + 1.0]])
    # A seen sample is right iff its best seen class is right and margin > gamma; an unseen
    # one iff its best unseen class is right and margin < gamma (no margin equals a candidate).
    seen_ok = np.sort(dec.margin[~is_unseen & (dec.seen_pred == labels)])
    unseen_ok = np.sort(dec.margin[is_unseen & (dec.unseen_pred == labels)])
    seen_acc = (len(seen_ok) - np.searchsorted(seen_ok, candidates, side="right")) / np.sum(~is_unseen)
    unseen_acc = np.searchsorted(unseen_ok, candidates, side="left") / np.sum(is_unseen)
    return candidates, seen_acc, unseen_acc


def best_gamma(dec: Decisions, labels: np.ndarray, unseen_classes: Sequence[int]) -> dict:
    """The calibration gamma maximising the GZSL harmonic mean of `dec`, searched exactly over
    every distinct calibration (`_sweep`). Ties in H go to the gamma closest to 0 (the least
    calibration). Returns {"gamma", "seen", "unseen", "harmonic"}.
    """
    candidates, seen_acc, unseen_acc = _sweep(dec, labels, unseen_classes)
    h = np.where(seen_acc + unseen_acc > 0, 2 * seen_acc * unseen_acc / np.maximum(seen_acc + unseen_acc, 1e-300), 0)
    best = np.lexsort((candidates, np.abs(candidates), -h))[0]  # max H, then |gamma|, then gamma
    gamma = float(candidates[best])
    return {"gamma": gamma, **gzsl_accuracies(dec.predict(gamma) == labels, labels, unseen_classes)}


def balanced_gamma(dec: Decisions, labels: np.ndarray, unseen_classes: Sequence[int]) -> dict:
    """The calibration gamma maximising min(seen, unseen accuracy), searched exactly as in
    `best_gamma` (ties to the gamma closest to 0): the highest accuracy that seen and unseen
    samples can both reach under any one gamma. On test records it is a ceiling no protocol
    may use, for a target such as "both at least 40%". Returns {"gamma", "seen", "unseen", "harmonic"}."""
    candidates, seen_acc, unseen_acc = _sweep(dec, labels, unseen_classes)
    best = np.lexsort((candidates, np.abs(candidates), -np.minimum(seen_acc, unseen_acc)))[0]
    gamma = float(candidates[best])
    return {"gamma": gamma, **gzsl_accuracies(dec.predict(gamma) == labels, labels, unseen_classes)}


def ausuc(dec: Decisions, labels: np.ndarray, unseen_classes: Sequence[int]) -> float:
    """Area under the seen-unseen accuracy curve (Chao et al., ECCV 2016): seen accuracy over
    unseen accuracy as gamma sweeps from -inf (every sample seen) to +inf (every sample unseen),
    exactly (trapezoids between the curve's points). Needs no gamma; 1 is perfect."""
    _, seen_acc, unseen_acc = _sweep(dec, labels, unseen_classes)
    return curve_area(unseen_acc, seen_acc)


def curve_area(unseen_acc: np.ndarray, seen_acc: np.ndarray) -> float:
    """Area under a seen-unseen accuracy curve given as points in order of increasing unseen
    accuracy (trapezoids between consecutive points)."""
    return float(np.sum((unseen_acc[1:] - unseen_acc[:-1]) * (seen_acc[1:] + seen_acc[:-1]) / 2))


def transfer_gamma(gamma: float, reference_margins: np.ndarray, target_margins: np.ndarray) -> dict:
    """Carry a calibration from one model to another by rank, not by value.

    The share of `reference_margins` (the validation model's held-out seen samples) that
    `gamma` turns from seen to unseen predictions is applied to `target_margins` (the main
    model's own held-out seen samples): the gamma at that quantile of them. Score scales differ
    between two models (other classes, another encoder), so an absolute gamma does not carry
    over; the share of seen samples given up does. Returns {"gamma", "share"}."""
    reference, target = np.asarray(reference_margins), np.sort(np.asarray(target_margins))
    if len(reference) == 0 or len(target) == 0:
        raise ValueError("transferring a calibration needs held-out seen samples of both models")
    share = float(np.mean(reference < gamma))
    if share == 0.0:
        return {"gamma": float(target[0] - 1.0), "share": 0.0}  # below every margin: none flipped
    if share == 1.0:
        return {"gamma": float(target[-1] + 1.0), "share": 1.0}
    return {"gamma": float(np.quantile(target, share)), "share": share}


def margin_quantiles(margins: np.ndarray, count: int = 20) -> tuple[float, ...]:
    """`count` calibration gammas at the (i + 0.5) / count quantiles of `margins`: a grid
    spread over where the predictions actually change, each step moving about 1/count of
    the samples between their best seen and best unseen class."""
    return tuple(float(q) for q in np.quantile(margins, (np.arange(count) + 0.5) / count))


def order_pair_confusion(confusion, unseen, twins: dict[int, int]) -> dict | None:
    """Clips of the unseen classes whose order twin (`twins`: label -> the class with the same
    phases in the other order) is unseen too, from a ZSL confusion matrix over `unseen` (rows
    true, columns predicted): the share predicted right ("zsl") and the share given to the twin
    ("swapped"); a model blind to phase order splits a pair's clips about evenly between the
    two. None when no unseen class has its twin among the unseen."""
    counts = np.asarray(confusion)
    index = {int(c): i for i, c in enumerate(unseen)}
    paired = [(index[c], index[twins[c]]) for c in index if twins.get(c) in index]
    clips = sum(int(counts[i].sum()) for i, _ in paired)
    if not clips:
        return None
    return {"zsl": sum(int(counts[i, i]) for i, _ in paired) / clips,
            "swapped": sum(int(counts[i, j]) for i, j in paired) / clips, "clips": clips}
