"""Where things live: the repository, prepared data, and the shared real data used by tests.

From a checkout (an editable install), data/, results/ and figures/ are the repository's; an
installed copy (`pip install .`) uses those of the current directory instead. NEURON_DATA_DIR and
NEURON_RESULTS_DIR override either. The prompt templates and the shipped side information travel
inside the package: the data-only packages neuron.prompt_templates and neuron.shipped_side_info,
which setup.py maps onto the repository's prompts/ and data/side_info/.
"""

import os
from importlib.resources import files
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
_WORK_DIR = REPO_ROOT if (REPO_ROOT / "pyproject.toml").is_file() else Path.cwd()  # checkout, or installed copy
DATA_DIR = Path(os.environ.get("NEURON_DATA_DIR", _WORK_DIR / "data"))
RESULTS_DIR = Path(os.environ.get("NEURON_RESULTS_DIR", _WORK_DIR / "results"))
FIGURES_DIR = _WORK_DIR / "figures"
TEXT_CACHE_DIR = DATA_DIR / "text_features"  # encoded descriptions, keyed by encoder and text hash
PROMPTS_DIR = Path(files("neuron.prompt_templates"))  # prompts/ in the repository
SIDE_INFO_DIR = Path(files("neuron.shipped_side_info"))  # shipped descriptions: data/side_info/ in the repository


def shared_data_dir() -> Path:
    """Real sample data (NTU samples, UTD-MHAD, released side information) beside the checkout.

    Not part of the project: `NEURON_SHARED_DATA` overrides the default `../shared/data`.
    """
    return Path(os.environ.get("NEURON_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
