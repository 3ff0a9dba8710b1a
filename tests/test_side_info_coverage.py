"""The shipped side information (data/side_info/<dataset>/) is complete and its provenance intact.

Every dataset ships: NTU RGB+D 120 (whose first 60 classes are NTU RGB+D 60), PKU-MMD I,
UTD-MHAD and the synthetic default. A missing folder fails the tests rather than skipping them.
"""

import json

import pytest

from neuron.data.classnames import UTD27_CLASSES
from neuron.data.datasets import DATASETS, class_names
from neuron.paths import REPO_ROOT
from neuron.side_info import (
    PHASES,
    SOURCE_API,
    SOURCE_HANDWRITTEN,
    PromptTemplates,
    load_side_info,
    similar_by_token_overlap,
)
from neuron.side_info.cache import class_path
from neuron.side_info.shipped import shipped_side_info
from neuron.side_info.validate import check_descriptions, parse_answer

SHIPPED = REPO_ROOT / "data" / "side_info"
N_A = 10  # descriptions per class and phase, as in the paper's official side information
SHIPPED_DATASETS = ("ntu120", "pku", "utd", "synthetic")


def test_every_dataset_is_shipped():
    assert set(DATASETS) - set(SHIPPED_DATASETS) == {"ntu60"}  # served by the ntu120 records
    assert shipped_side_info("ntu60") == {name: phases for name, phases in
                                          list(shipped_side_info("ntu120").items())[:60]}


def records(dataset: str):
    """(class name, record) of every class, read from the shipped files."""
    for index, name in enumerate(class_names(dataset)):
        path = class_path(SHIPPED, dataset, index, name)
        yield name, json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("dataset", SHIPPED_DATASETS)
def test_every_class_has_six_phases_of_valid_descriptions(dataset):
    classes = class_names(dataset)
    side_info = load_side_info(SHIPPED, dataset, classes)  # raises, naming the files, where incomplete
    assert list(side_info) == list(classes)
    for name, phases in side_info.items():
        assert list(phases) == list(PHASES), name
        for phase, descriptions in phases.items():
            assert check_descriptions(descriptions, N_A, phase) == descriptions, (name, phase)


@pytest.mark.parametrize("dataset", SHIPPED_DATASETS)
def test_provenance_says_who_wrote_each_answer(dataset):
    for name, record in records(dataset):
        for phase, entry in record["phases"].items():
            where = f"{dataset} / {name} / {phase}"
            provenance = entry["provenance"]
            assert provenance["source"] in (SOURCE_API, SOURCE_HANDWRITTEN), where
            if provenance["source"] == SOURCE_HANDWRITTEN:
                assert provenance["model"] is None and provenance["requests"] == 0, where
            else:
                assert provenance["model"] and provenance["requests"] >= 1, where
            assert len(provenance["template_sha256"]) == 64, where
            # the answer carried into the conversation holds exactly the stored descriptions
            assert parse_answer(entry["answer"], N_A, phase) == entry["descriptions"], where


def test_utd_prompts_are_those_the_generator_sends():
    """Each UTD answer is stored with the turn the generator renders (default similar classes)."""
    templates = PromptTemplates.load()
    similar = similar_by_token_overlap(UTD27_CLASSES)
    hashes = {entry["provenance"]["template_sha256"]
              for _, record in records("utd") for entry in record["phases"].values()}
    if hashes != {templates.sha256}:
        pytest.skip("prompts/ changed since the UTD side information was written; its records keep "
                    "the prompts they answer")
    for name, record in records("utd"):
        for phase in PHASES:
            assert record["phases"][phase]["prompt"] == templates.turn(phase, name, N_A, similar[name]), \
                (name, phase)
