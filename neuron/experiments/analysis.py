"""What a trained matching model has learned (notebook 05).

- Phase features (the paper's Figures 4 and 5): Neuron pools its spatial and temporal
  micro-prototypes into one feature per phase (X^e, `MatchingOutput.features_per_phase`).
  For the unseen classes' test samples, how well do those features group by class, phase by
  phase? Measured against the frozen encoder's own mean-pooled feature (what the global
  baseline projects), with t-SNE for the eye and, on the features themselves (not on the
  2-D embedding), the silhouette and Calinski-Harabasz scores of the true classes and the
  agreement (ARI, FMI) between k-means clusters (k = number of unseen classes) and the classes.
- Per-class accuracy (the paper's Figure 6): ZSL accuracy of each unseen class for two runs,
  from the per-epoch records training stored (the fused prediction among the unseen classes
  at the last epoch: no test label chooses anything).
"""

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from sklearn.cluster import KMeans
from sklearn.manifold import TSNE
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, fowlkes_mallows_score, silhouette_score

from neuron.data.feeder import SkeletonFeeder
from neuron.data.store import SkeletonSet, read_manifest
from neuron.evaluation.records import load_records
from neuron.models.zero_shot import ZeroShotModel, text_features_for
from neuron.runs import RECORDS_DIR, Run
from neuron.training.runtime import eval_loader

ENCODER_FEATURE = "encoder"  # the frozen encoder's feature map averaged over time and joints
CLUSTER_METRICS = ("silhouette", "calinski_harabasz", "ari", "fmi")


# ---------------------------------------------------------------- runs and samples

def unseen_test_samples(run: Run, *, val_fraction: float, max_per_class: int | None = None,
                        seed: int = 0) -> SkeletonSet:
    """The main fold's test samples of the unseen classes, in manifest order; with max_per_class,
    at most that many per class, drawn at random with `seed`."""
    data = run.with_(fold="main").data(val_fraction)
    rows = data.fold.eval_rows
    labels = read_manifest(data.path)["label"].to_numpy()[rows]
    rng = np.random.default_rng(seed)
    keep = []
    for c in data.fold.unseen_classes:
        in_class = rows[labels == c]
        if max_per_class is not None and len(in_class) > max_per_class:
            in_class = rng.choice(in_class, size=max_per_class, replace=False)
        keep.append(in_class)
    return data.load(np.sort(np.concatenate(keep)))


@torch.no_grad()
def pooled_features(net: ZeroShotModel, samples: SkeletonSet, text, *, window: int,
                    batch_size: int = 64) -> dict[str, list[np.ndarray]]:
    """Pooled features of every sample, in order: {"encoder": [(N, C)], stream: [(N, C) per
    phase], ...} — the encoder's feature map averaged over time and joints, then the head's
    `features_per_phase` (Neuron: "spatial" and "temporal", one per phase; global: "global").

    net: a ZeroShotModel in eval mode (`load_matching_model`); samples: (N, 3, T, V, M) clips,
    resized to `window` frames as in evaluation; text: description features of every class
    of the samples' dataset (`text_features_for`)."""
    device = next(net.parameters()).device
    text = {s: t.to(device) for s, t in text_features_for(text, samples.class_names).items()}
    loader = eval_loader(SkeletonFeeder(samples, window=window), batch_size=batch_size, num_workers=0)
    chunks: dict[str, list[list[torch.Tensor]]] = {}
    for x, _, _ in loader:
        feature_map = net.features(x.to(device))  # (B, C, T', V)
        per_phase = {ENCODER_FEATURE: [feature_map.mean(dim=(2, 3))],
                     **net.head(feature_map, text).features_per_phase}
        for name, phases in per_phase.items():
            chunks.setdefault(name, [[] for _ in phases])
            for store, feature in zip(chunks[name], phases):
                store.append(feature.float().cpu())
    return {name: [torch.cat(parts).numpy() for parts in phases] for name, phases in chunks.items()}


def feature_sets(features: Mapping[str, Sequence[np.ndarray]]) -> dict[str, np.ndarray]:
    """Flatten pooled_features into named (N, C) sets: "encoder", "spatial 1", ..., "temporal 3"."""
    return {name if len(phases) == 1 else f"{name} {e + 1}": f
            for name, phases in features.items() for e, f in enumerate(phases)}


# ---------------------------------------------------------------- cluster quality

def cluster_metrics(features: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> dict[str, float]:
    """How well (N, D) features group by their labels (N,): silhouette and Calinski-Harabasz of the
    true classes (Euclidean), and ARI and FMI between the classes and k-means clusters
    (k = number of classes, k-means++ with `seed`, 10 restarts)."""
    features, labels = np.asarray(features, dtype=np.float64), np.asarray(labels)
    if features.ndim != 2 or len(features) != len(labels):
        raise ValueError(f"features must be (N, D) with one label per row, got {features.shape} and "
                         f"{labels.shape} labels")
    k = len(np.unique(labels))
    if not 2 <= k < len(labels):
        raise ValueError(f"cluster metrics need 2 <= classes < samples, got {k} classes and {len(labels)} samples")
    clusters = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(features)
    return {"silhouette": float(silhouette_score(features, labels)),
            "calinski_harabasz": float(calinski_harabasz_score(features, labels)),
            "ari": float(adjusted_rand_score(labels, clusters)),
            "fmi": float(fowlkes_mallows_score(labels, clusters))}


def cluster_table(sets: Mapping[str, np.ndarray], labels: np.ndarray, *, seed: int = 0) -> pd.DataFrame:
    """cluster_metrics of each named feature set (rows, in order)."""
    return pd.DataFrame({name: cluster_metrics(f, labels, seed=seed) for name, f in sets.items()}).T[
        list(CLUSTER_METRICS)]


def tsne_embedding(features: np.ndarray, *, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """(N, D) -> (N, 2) t-SNE (PCA initialisation, `seed`); the perplexity is capped below N / 3
    so that small sets work."""
    features = np.asarray(features, dtype=np.float32)
    perplexity = min(perplexity, (len(features) - 1) / 3)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)


# ---------------------------------------------------------------- per-class accuracy

def per_class_accuracy(predictions: np.ndarray, labels: np.ndarray, classes: Sequence[int]) -> pd.Series:
    """Share of each class's samples predicted right: a Series indexed by `classes` (a class
    without samples is an error: its accuracy would be undefined)."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {predictions.shape} and labels {labels.shape} differ in shape")
    empty = [c for c in classes if not np.any(labels == c)]
    if empty:
        raise ValueError(f"classes {empty} have no samples")
    return pd.Series({int(c): float(np.mean(predictions[labels == c] == c)) for c in classes}, name="accuracy")


def zsl_per_class(run_dir, epochs: int) -> pd.Series:
    """Per-class ZSL accuracy of a main-fold run at epoch `epochs` (its last): the fused prediction
    among the unseen classes, from the stored test record."""
    record = load_records(Path(run_dir) / RECORDS_DIR, epochs)[-1]
    unseen = record.is_unseen
    return per_class_accuracy(record.fused_zsl_pred[unseen], record.labels[unseen], record.unseen_classes)


def per_class_comparison(ours: pd.Series, baseline: pd.Series, class_names: Sequence[str], *,
                         names: tuple[str, str] = ("neuron", "global")) -> pd.DataFrame:
    """Per-class accuracies of two runs (Series over the same classes, in [0, 1]) side by side in %,
    with their difference (ours minus baseline), rows sorted by the difference, largest first."""
    if list(ours.index) != list(baseline.index):
        raise ValueError(f"the runs cover different classes: {list(ours.index)} vs {list(baseline.index)}")
    frame = pd.DataFrame({"class": [class_names[c] for c in ours.index], names[0]: 100 * ours.to_numpy(),
                          names[1]: 100 * baseline.to_numpy()}, index=pd.Index(ours.index, name="label"))
    frame["difference"] = frame[names[0]] - frame[names[1]]
    return frame.sort_values("difference", ascending=False, kind="stable")


# ---------------------------------------------------------------- figures

def class_colors(count: int) -> list:
    """`count` distinguishable colours (tab10, or tab20 beyond ten classes)."""
    cmap = plt.get_cmap("tab10" if count <= 10 else "tab20")
    if count > cmap.N:
        cmap = plt.get_cmap("hsv", count + 1)
    return [cmap(i) for i in range(count)]


def plot_tsne_grid(embeddings: Mapping[str, np.ndarray], labels: np.ndarray, class_names: Sequence[str],
                   metrics: pd.DataFrame | None = None, *, title: str = ""):
    """A grid of t-SNE panels: one row per stream, one column per phase, after a first column
    with the encoder feature (top) and the class legend (below). embeddings: {set name: (N, 2)}
    named as feature_sets names them ("encoder", "spatial 1", ...); labels: (N,) classes;
    metrics: cluster_table, whose silhouette and ARI caption each panel."""
    phase_sets = [name.rsplit(" ", 1) for name in embeddings if name != ENCODER_FEATURE]
    streams = list(dict.fromkeys(stream for stream, _ in phase_sets))
    phases = max(int(e) for _, e in phase_sets)
    fig, axes = plt.subplots(len(streams), phases + 1, figsize=(2.6 * (phases + 1), 2.6 * len(streams) + 0.4),
                             squeeze=False)
    classes = list(np.unique(labels))
    colors = dict(zip(classes, class_colors(len(classes))))
    for ax in axes.flat:
        ax.set_axis_off()
    panels = {ENCODER_FEATURE: (axes[0, 0], "encoder (mean over T', V)")}
    panels |= {f"{stream} {e}": (axes[r, e], f"{stream}, phase {e}")
               for r, stream in enumerate(streams) for e in range(1, phases + 1)}
    for name, (ax, caption) in panels.items():
        if name not in embeddings:
            continue
        ax.set_axis_on()
        for c in classes:
            ax.scatter(*embeddings[name][labels == c].T, s=5, color=colors[c], linewidths=0)
        if metrics is not None:
            caption += f"\nsilhouette {metrics.loc[name, 'silhouette']:.2f}, ARI {metrics.loc[name, 'ari']:.2f}"
        ax.set_title(caption, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [plt.Line2D([], [], ls="", marker="o", markersize=4, color=colors[c]) for c in classes]
    legend_ax = axes[min(1, len(streams) - 1), 0]
    legend_ax.legend(handles, [textwrap.fill(class_names[c], 26) for c in classes], loc="center", fontsize=6,
                     frameon=False, handletextpad=0.2, labelspacing=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_per_class(comparison: pd.DataFrame, *, title: str = ""):
    """Horizontal bars of the per-class accuracy difference (per_class_comparison), in points,
    largest on top, with both accuracies written beside each bar."""
    ours, baseline = comparison.columns[1], comparison.columns[2]
    rows = comparison.iloc[::-1]  # barh draws from the bottom
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(rows) + 1.2))
    y = np.arange(len(rows))
    diff = rows["difference"].to_numpy()
    ax.barh(y, diff, color=np.where(diff >= 0, "tab:blue", "tab:red"))
    ax.set_yticks(y, rows["class"], fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(f"ZSL accuracy, {ours} minus {baseline} (points)")
    # Both accuracies at the right edge (axes x, data y), so equal classes still show their level.
    for yi, (a, b) in zip(y, rows[[ours, baseline]].to_numpy()):
        ax.text(1.01, yi, f"{a:.0f} vs {b:.0f}", transform=ax.get_yaxis_transform(), va="center", fontsize=7)
    ax.text(1.01, len(rows) - 0.3, f"{ours} vs {baseline} (%)", transform=ax.get_yaxis_transform(), fontsize=7,
            va="bottom")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
