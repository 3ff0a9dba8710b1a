import json
import re

import pytest

from neuron.data.classnames import NTU60_CLASSES, NTU120_CLASSES, PKU51_CLASSES, UTD27_CLASSES

STOP_WORDS = {"a", "an", "the", "of", "on", "in", "to", "with", "from", "other", "person",
              "something", "object"}


def content_stems(name: str) -> set[str]:
    """Crude stems of a class name's content words ("brushing teeth" -> {"brus", "teet"})."""
    return {w[:4] for w in re.findall(r"[a-z]+", name.lower()) if w not in STOP_WORDS}


def released_names(semantics_dir, dataset: str) -> list[str]:
    path = semantics_dir / dataset / "spatial" / "spatial_cg.json"
    if not path.exists():
        pytest.skip(f"{path} absent")
    return list(json.loads(path.read_text()))


def test_counts_and_uniqueness():
    for names, n in [(NTU120_CLASSES, 120), (NTU60_CLASSES, 60), (PKU51_CLASSES, 51),
                     (UTD27_CLASSES, 27)]:
        assert len(names) == n
        assert len(set(names)) == n
        assert all(name == name.strip() and name for name in names)
    assert NTU60_CLASSES == NTU120_CLASSES[:60]


def test_ntu_spot_checks():
    assert NTU120_CLASSES[0] == "drink water"
    assert NTU120_CLASSES[58] == "walking towards each other"  # A59
    assert NTU120_CLASSES[59] == "walking apart from each other"  # A60
    assert NTU120_CLASSES[60] == "put on headphone"  # A61
    assert NTU120_CLASSES[119] == "finger-guessing game (playing rock-paper-scissors)"


def test_utd_order_matches_dataset_documentation():
    assert UTD27_CLASSES[0] == "right arm swipe to the left"
    assert UTD27_CLASSES[8] == "right hand draw circle (clockwise)"
    assert UTD27_CLASSES[9] == "right hand draw circle (counter clockwise)"
    assert UTD27_CLASSES[26] == "squat (two arms stretch out)"


def test_pku_names_match_released_side_information(semantics_dir):
    assert list(PKU51_CLASSES) == released_names(semantics_dir, "pku")


def test_ntu_names_align_with_released_side_information(semantics_dir):
    """The release keys NTU classes by short names; position i must name the same action,
    checked by a shared content word. A95 is the one paraphrase without one."""
    released = released_names(semantics_dir, "ntu")
    assert len(released) == 120
    paraphrases = {94: ("hands up (both hands)", "capitulate")}
    mismatched = [(i, ours, theirs) for i, (ours, theirs) in enumerate(zip(NTU120_CLASSES, released))
                  if not content_stems(ours) & content_stems(theirs)
                  and paraphrases.get(i) != (ours, theirs)]
    assert mismatched == []


def test_alignment_check_detects_a_shift(semantics_dir):
    released = released_names(semantics_dir, "ntu")
    shifted = NTU120_CLASSES[1:] + NTU120_CLASSES[:1]
    overlaps = sum(bool(content_stems(a) & content_stems(b)) for a, b in zip(shifted, released))
    assert overlaps < 30
