"""Where things live: the repository, prepared data, and the shared real data used by tests."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("NEURON_DATA_DIR", REPO_ROOT / "data"))
RESULTS_DIR = Path(os.environ.get("NEURON_RESULTS_DIR", REPO_ROOT / "results"))
FIGURES_DIR = REPO_ROOT / "figures"
SIDE_INFO_DIR = REPO_ROOT / "data" / "side_info"  # shipped descriptions (tracked in git)
TEXT_CACHE_DIR = DATA_DIR / "text_features"  # encoded descriptions, keyed by encoder and text hash


def shared_data_dir() -> Path:
    """Real sample data (NTU samples, UTD-MHAD, released side information) beside the checkout.

    Not part of the project: `NEURON_SHARED_DATA` overrides the default `../shared/data`.
    """
    return Path(os.environ.get("NEURON_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
