"""Hand-written side information: checked like answers, stored like the generator's records."""

import json
import re

import pytest

from chat_server import ChatServer, Reply
from neuron.side_info import PHASES, SOURCE_HANDWRITTEN, PromptTemplates, load_side_info
from neuron.side_info.cache import class_path
from neuron.side_info.generate import generate_side_info
from neuron.side_info.handwritten import write_handwritten_side_info

CLASSES = ("right hand wave", "two hand front clap", "right hand knock on door")
WAVE, CLAP, KNOCK = CLASSES
ACTION = re.compile(r'^Action: "(.+?)"')  # the first turn of the shipped templates names the class


def authored_phase(action, phase, n=10):
    return [f"person {i} lifts the right hand and arm  while doing {action} ({phase})" for i in range(n)]


def authored(classes=CLASSES):
    return {name: {phase: authored_phase(name, phase) for phase in PHASES} for name in classes}


def write(cache, mapping, **kwargs):
    return write_handwritten_side_info(mapping, dataset="utd", class_names=CLASSES, cache_dir=cache, **kwargs)


def test_round_trip_through_load_side_info(tmp_path):
    cache = tmp_path / "cache"
    paths = write(cache, authored())
    assert paths == [class_path(cache, "utd", i, name) for i, name in enumerate(CLASSES)]
    loaded = load_side_info(cache, "utd", CLASSES)
    # whitespace is collapsed exactly as for a model's answer ("arm  while" -> "arm while")
    assert loaded == {name: {phase: [" ".join(d.split()) for d in authored_phase(name, phase)]
                             for phase in PHASES} for name in CLASSES}

    entry = json.loads(paths[1].read_text())["phases"]["temporal_middle"]
    assert entry["provenance"]["source"] == SOURCE_HANDWRITTEN
    assert entry["provenance"]["model"] is None and entry["provenance"]["requests"] == 0
    assert entry["provenance"]["template_sha256"] == PromptTemplates.load().sha256
    assert json.loads(entry["answer"]) == {"descriptions": loaded[CLAP]["temporal_middle"]}


def test_prompts_match_those_the_generator_sends(tmp_path):
    """Same templates, N_a and default similar classes: the generator's own records are the reference."""

    def fake_model(body):
        user_turns = [m["content"] for m in body["messages"] if m["role"] == "user"]
        action = ACTION.match(user_turns[0]).group(1)
        phase = PHASES[len(user_turns) - 1]
        return Reply(content=json.dumps({"descriptions": authored_phase(action, phase)}))

    with ChatServer(fake_model) as server:
        generate_side_info(CLASSES, dataset="utd", cache_dir=tmp_path / "api", model="test-model",
                           base_url=server.base_url, workers=1, timeout=5, progress=False)
    write(tmp_path / "hand", authored())
    for index, name in enumerate(CLASSES):
        generated = json.loads(class_path(tmp_path / "api", "utd", index, name).read_text())["phases"]
        hand = json.loads(class_path(tmp_path / "hand", "utd", index, name).read_text())["phases"]
        assert list(hand) == list(PHASES)
        for phase in PHASES:
            assert hand[phase]["prompt"] == generated[phase]["prompt"], (name, phase)
            assert hand[phase]["descriptions"] == generated[phase]["descriptions"], (name, phase)
            assert (hand[phase]["provenance"]["template_sha256"]
                    == generated[phase]["provenance"]["template_sha256"])
    # the similar classes really are in the prompts (wave and knock share "right hand")
    assert f'"{KNOCK}"' in hand["spatial_coarse"]["prompt"] and f'"{WAVE}"' in hand["temporal_end"]["prompt"]


@pytest.mark.parametrize("break_it, message", [
    (lambda a: a[CLAP]["spatial_mid"].pop(),
     r"class 'two hand front clap', phase spatial_mid: expected exactly 10 descriptions, got 9"),
    (lambda a: a[KNOCK]["temporal_end"].__setitem__(3, "too short"),
     r"class 'right hand knock on door', phase temporal_end: description 4 has 2 words"),
    (lambda a: a[WAVE]["spatial_fine"].__setitem__(
        0, "it is done the same way again and again, slowly and then quickly"),
     r"class 'right hand wave', phase spatial_fine: description 1 names no body part"),
    (lambda a: a[WAVE]["temporal_start"].__setitem__(1, a[WAVE]["temporal_start"][0].upper()),
     r"class 'right hand wave', phase temporal_start: descriptions 1 and 2 are the same"),
    (lambda a: a[CLAP].pop("temporal_end"),
     r"class 'two hand front clap': phases must be exactly .* missing \['temporal_end'\], unknown \[\]"),
    (lambda a: a[CLAP].__setitem__("spatial_extra", []),
     r"class 'two hand front clap': .* unknown \['spatial_extra'\]"),
    (lambda a: a.__setitem__("right hand wave (typo)", a[WAVE]), r"not in utd: \['right hand wave \(typo\)'\]"),
])
def test_bad_input_names_class_and_phase_and_writes_nothing(tmp_path, break_it, message):
    mapping = authored()
    break_it(mapping)
    with pytest.raises(ValueError, match=message):
        write(tmp_path / "cache", mapping)
    assert not (tmp_path / "cache").exists()  # checked before anything is written


def test_similar_mapping_must_name_known_classes(tmp_path):
    with pytest.raises(ValueError, match=r"similar-class mapping names classes that are not in utd: \['wave'\]"):
        write(tmp_path / "cache", authored(), similar={"wave": [CLAP]})
