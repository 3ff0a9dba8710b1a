"""The description features a matching run trains on, as its configuration says (MatchConfig.descriptions)."""

from pathlib import Path

import numpy as np

from neuron import paths
from neuron.data.datasets import class_names, dataset_info
from neuron.errors import MissingInputError, UserError
from neuron.training.config import OFFICIAL_DATASETS, MatchConfig


def official_features_path(dataset: str) -> Path:
    """Where `neuron side-info import-official` puts the released CLIP features of `dataset`."""
    return paths.TEXT_CACHE_DIR / "official" / f"{dataset}.npz"


def description_features(dataset, config: MatchConfig, progress: bool = True) -> dict[str, np.ndarray]:
    """{"spatial", "temporal"}: (3, K, N_a, D) features of every class of `dataset`: the project's
    side information encoded by config.text_encoder (descriptions "project"), or the paper's released
    CLIP features (descriptions "official"), which must have been imported."""
    from neuron.text.features import dataset_text_features, load_text_features

    if config.descriptions == "project":
        try:
            return dataset_text_features(dataset, config.text_encoder, progress=progress)
        except FileNotFoundError as err:  # no side information for this dataset: the message says how to add it
            raise MissingInputError(str(err)) from err
    name = dataset_info(dataset).name
    if name not in OFFICIAL_DATASETS:
        raise UserError(f"the paper released side information only for {', '.join(OFFICIAL_DATASETS)}, not {name}: "
                        "keep descriptions=project there (other official switches can be set one by one with --set)")
    path = official_features_path(name)
    if not path.is_file():
        raise MissingInputError(f"descriptions=official (the official recipe) trains on the paper's released "
                                f"descriptions, not imported for {name}: run `neuron side-info import-official "
                                f"--semantics PATH/TO/Neuron/semantics --dataset {name}` first ({path})")
    features, names = load_text_features(path)
    if names != class_names(name):
        raise UserError(f"{path} describes other classes than {name} ({len(names)}): import it again with "
                        f"`neuron side-info import-official ... --dataset {name}`")
    return features
