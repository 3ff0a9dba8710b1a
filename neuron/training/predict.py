"""Classify one skeleton sequence among any classes named at run time, given the features
of their descriptions: the zero-shot model as a user meets it."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from neuron.data.feeder import resize_frames
from neuron.evaluation.metrics import fused_scores
from neuron.text.features import load_text_features as load_text_file
from neuron.training.match import ZeroShotModel, load_matching_model, text_features_for


def predict(skeleton: np.ndarray, text, class_names: Sequence[str] | None, model, *,
            device: str = "cpu") -> list[tuple[str, float]]:
    """Rank `class_names` for one sequence.

    skeleton: (3, T, V, M) xyz coordinates, prepared like the training data (centre joint of
    the first frame at the origin); trailing all-zero frames are padding and dropped, and
    persons beyond M up to the model's count are absent (zero).
    text: {"spatial": (P, K, N_a, D), "temporal": (P, K, N_a, D)} description features of the
    K classes, in `class_names` order (or the path of a neuron.text.save_text_features .npz file).
    model: the path of a match.pt, or the (ZeroShotModel, meta) pair of `load_matching_model`.
    Returns [(class name, probability)] by decreasing probability: the mean over the streams
    of the final-phase softmax over the K classes (the strict protocol's fused prediction).
    """
    net, meta = load_matching_model(model, device) if not isinstance(model, tuple) else model
    if not isinstance(net, ZeroShotModel):
        raise TypeError(f"model must be a match.pt path or a (ZeroShotModel, meta) pair, got {type(net).__name__}")
    if class_names is None:
        if not isinstance(text, (str, Path)):
            raise ValueError("class_names are required unless text is a feature file that names them")
        class_names = load_text_file(text)[1]
    names = list(class_names)
    text = text_features_for(text, names)
    x = _prepare(np.asarray(skeleton, dtype=np.float32), net, meta["window"])
    device_ = next(net.parameters()).device
    with torch.no_grad():
        output = net.eval()(x.to(device_), {s: t.to(device_) for s, t in text.items()})
    logits = [v.float().cpu().numpy() for v in output.final_logits().values()]
    probability = fused_scores(logits, range(len(names)))[0] / len(names)
    order = np.argsort(-probability, kind="stable")
    return [(names[i], float(probability[i])) for i in order]


def _prepare(x: np.ndarray, net: ZeroShotModel, window: int) -> torch.Tensor:
    """(3, T, V, M) -> (1, 3, window, V, M_model): padding frames dropped, persons padded, resized."""
    joints, persons = net.encoder.num_joints, net.encoder.num_persons
    if x.ndim != 4 or x.shape[0] != 3 or x.shape[2] != joints or not 1 <= x.shape[3] <= persons:
        raise ValueError(f"skeleton must be (3, T, V={joints}, M<={persons}) for this model, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("skeleton contains NaN or infinite coordinates")
    moving = np.flatnonzero(np.abs(x).sum(axis=(0, 2, 3)) > 0)
    if len(moving) == 0:
        raise ValueError("skeleton is all zeros")
    x = x[:, :moving[-1] + 1]
    x = np.concatenate([x, np.zeros((*x.shape[:3], persons - x.shape[3]), np.float32)], axis=3)
    return torch.from_numpy(np.ascontiguousarray(resize_frames(x, window)))[None]
