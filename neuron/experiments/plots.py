"""One plotting style for every figure: seaborn's paper context, saved to figures/ as PNG (+PDF)."""

import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from neuron.data.layouts import Layout
from neuron.paths import FIGURES_DIR

INLINE_DPI = 60  # figures shown in notebooks are low-resolution copies: committed outputs stay small


def set_style() -> None:
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.1)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 200, "savefig.bbox": "tight"})


def save_figure(fig, name: str, *, pdf: bool = False, folder=None, show: bool = True):
    """Write `fig` to figures/<name>.png (and .pdf for paper-style figures); show it inline.

    Returns the PNG path. The notebook shows a low-resolution copy, so it holds a few tens of
    kilobytes per figure rather than the full-resolution file.
    """
    folder = Path(folder) if folder else FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    fig.savefig(png)
    if pdf:
        fig.savefig(folder / f"{name}.pdf")
    if show:
        from IPython.display import Image, display

        inline = io.BytesIO()
        fig.savefig(inline, format="png", dpi=INLINE_DPI)
        display(Image(data=inline.getvalue()))
    plt.close(fig)
    return png


def draw_skeleton(ax, joints: np.ndarray, layout: Layout, *, color=None, alpha=1.0, view=(0, 1)) -> None:
    """Draw one pose: joints (V, 3) in metres; `view` picks the two axes to plot (x, y by default)."""
    a, b = view
    for child, parent in layout.bones:
        ax.plot(joints[[child, parent], a], joints[[child, parent], b], color=color, alpha=alpha, lw=1.5)
    ax.scatter(joints[:, a], joints[:, b], s=6, color=color, alpha=alpha, zorder=3)
    ax.set_aspect("equal")
