"""The side-information generator against a real chat-completions HTTP server on loopback.

The server (tests/chat_server.py) plays a scripted model. Tests use small templates with
markers ("[phase=...] [action=...]") so the fake model can tell which turn a request asks
for; the shipped templates in prompts/ are checked separately.
"""

import dataclasses
import itertools
import json
import re
from pathlib import Path

import pytest

from chat_server import (
    LLAMA_CPP_REFUSES_JSON_SCHEMA,
    ChatServer,
    Reply,
    response_format_type,
    response_schema,
    small_model,
)
from neuron.side_info import (
    PHASES,
    SOURCE_API,
    SOURCE_HANDWRITTEN,
    PromptTemplates,
    handwritten_phase,
    load_side_info,
    similar_by_token_overlap,
)
from neuron.side_info.cache import class_path, new_class_record, write_class_record
from neuron.side_info.generate import (
    AUTO,
    RESPONSE_FORMATS,
    SideInfoGenerationError,
    answer_schema,
    generate_side_info,
)
from neuron.side_info.prompts import PROMPTS_DIR
from neuron.side_info.validate import PHASE_WORDS, InvalidAnswer, check_descriptions, parse_answer

CLASSES = ("drink water", "eat meal/snack", "brushing teeth")
DRINK, EAT, BRUSH = CLASSES
TURN = re.compile(r"\[phase=(\w+)\] \[action=(.+?)\]")


@pytest.fixture(autouse=True)
def no_openai_environment(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.fixture
def prompts(tmp_path) -> Path:
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "system.txt").write_text("SYSTEM for tests")
    (folder / "similar.txt").write_text("tell apart from: ${similar}")
    (folder / "fix.txt").write_text("[fix] ${error} (want ${n} for ${action})")
    for phase in PHASES:
        (folder / f"{phase}.txt").write_text(f"[phase={phase}] [action=${{action}}] n=${{n}}\n${{similar}}")
    return folder


def descriptions(action, phase, n=10):
    return [f"person {i} moves the left arm and right hand while doing {action} in {phase}" for i in range(n)]


def answer(action, phase, n=10):
    return json.dumps({"descriptions": descriptions(action, phase, n)})


def turn_of(body) -> tuple[str, str]:
    """(phase, action) of the turn a request asks for: its last user message with a turn marker."""
    for message in reversed(body["messages"]):
        match = TURN.match(message["content"]) if message["role"] == "user" else None
        if match:
            return match.groups()
    raise AssertionError(f"request without a turn: {body}")


def fake_model(script=None, slow=None):
    """Answers every turn correctly, except where `script` says otherwise.

    script: {(action, phase) or action: iterable of Replies}, used up in order, then correct answers.
    slow: {action: seconds} to wait before each correct answer.
    """
    script = {key: iter(replies) for key, replies in (script or {}).items()}

    def respond(body):
        phase, action = turn_of(body)
        for key in ((action, phase), action):
            reply = next(script[key], None) if key in script else None
            if reply is not None:
                return reply
        return Reply(content=answer(action, phase), delay=(slow or {}).get(action, 0.0))

    return respond


def run(server, tmp_path, prompts, classes=CLASSES, **overrides):
    kwargs = dict(dataset="ntu120", cache_dir=tmp_path / "cache", model="test-model",
                  base_url=server.base_url, prompts_dir=prompts, max_retries=2, timeout=5,
                  retry_base_delay=0.001, workers=2, progress=False)
    return generate_side_info(classes, **(kwargs | overrides))


def requests_for(server, action):
    return [body for body in server.requests if turn_of(body)[1] == action]


def expected(classes=CLASSES):
    return {c: {p: descriptions(c, p) for p in PHASES} for c in classes}


def test_each_turn_carries_the_conversation_so_far(tmp_path, prompts):
    with ChatServer(fake_model()) as server:
        result = run(server, tmp_path, prompts, classes=(DRINK, EAT), api_key="sk-test-secret",
                     similar={DRINK: [EAT]}, temperature=0.3, seed=7, max_tokens=900)
    assert result == expected((DRINK, EAT))
    for action in (DRINK, EAT):
        bodies = requests_for(server, action)
        assert [turn_of(b)[0] for b in bodies] == list(PHASES)
        for k, body in enumerate(bodies):
            messages = body["messages"]
            assert len(messages) == 2 + 2 * k
            assert messages[0] == {"role": "system", "content": "SYSTEM for tests"}
            for j in range(k):  # every earlier turn: its prompt, then the model's answer
                assert TURN.match(messages[1 + 2 * j]["content"]).groups() == (PHASES[j], action)
                assert messages[2 + 2 * j] == {"role": "assistant", "content": answer(action, PHASES[j])}
            assert messages[-1]["role"] == "user"
            assert ('tell apart from: "eat meal/snack"' in messages[-1]["content"]) == (action == DRINK)
            assert body["model"] == "test-model" and body["temperature"] == 0.3 and body["seed"] == 7
            assert body["max_tokens"] == 900
            assert body["response_format"] == {"type": "json_schema", "json_schema": {
                "name": "descriptions", "strict": True, "schema": answer_schema(10)}}

    path = class_path(tmp_path / "cache", "ntu120", 0, DRINK)
    assert path.name == "000_drink_water.json"
    text = path.read_text()
    assert "sk-test-secret" not in text
    record = json.loads(text)
    provenance = record["phases"]["spatial_mid"]["provenance"]
    assert provenance["source"] == SOURCE_API
    assert provenance["model"] == "test-model"
    assert provenance["base_url_host"] == server.base_url.split("/")[2]  # 127.0.0.1:port
    assert provenance["parameters"] == {"n_descriptions": 10, "temperature": 0.3, "seed": 7,
                                        "max_tokens": 900, "response_format": "json_schema"}
    assert provenance["template_sha256"] == PromptTemplates.load(prompts).sha256
    assert provenance["requests"] == 1
    assert list(record["phases"]) == list(PHASES)


@pytest.mark.parametrize("failure", [Reply(status=429), Reply(status=500), Reply(status=503),
                                     Reply(raw=b"<html>bad gateway</html>")],
                         ids=["429", "500", "503", "non-json-body"])
def test_transient_failures_are_retried_with_backoff_then_reported(tmp_path, prompts, failure):
    script = {(DRINK, "spatial_coarse"): [failure, failure], EAT: itertools.repeat(failure)}
    with ChatServer(fake_model(script)) as server:
        with pytest.raises(SideInfoGenerationError) as caught:
            run(server, tmp_path, prompts, classes=(DRINK, EAT), max_retries=2, retry_base_delay=0.05)
    # DRINK recovered after two failures: 6 turns + 2 retries; its waits doubled (0.05 s, 0.1 s).
    assert len(requests_for(server, DRINK)) == 8
    drink_times = [t for t, b in zip(server.arrival_times, server.requests) if turn_of(b)[1] == DRINK]
    assert drink_times[1] - drink_times[0] >= 0.05 and drink_times[2] - drink_times[1] >= 0.1
    # EAT never got an answer: 1 + max_retries requests, then reported with the reason.
    assert len(requests_for(server, EAT)) == 3
    assert list(caught.value.failures) == [EAT]
    reason = caught.value.failures[EAT]
    assert reason.startswith("spatial_coarse: no valid answer in 3 requests")
    assert (f"HTTP {failure.status}" if failure.raw is None else "not JSON") in reason
    assert "eat meal/snack" in str(caught.value) and "1 of 2 classes failed" in str(caught.value)
    assert load_side_info(tmp_path / "cache", "ntu120", [DRINK]) == expected([DRINK])


def test_timeouts_are_retried_then_reported(tmp_path, prompts):
    slow = Reply(content=answer(DRINK, "spatial_coarse"), delay=0.8)
    script = {(DRINK, "spatial_coarse"): [slow], EAT: itertools.repeat(Reply(content="late", delay=0.8))}
    with ChatServer(fake_model(script)) as server:
        with pytest.raises(SideInfoGenerationError) as caught:
            run(server, tmp_path, prompts, classes=(DRINK, EAT), timeout=0.4, max_retries=1)
    assert len(requests_for(server, DRINK)) == 7
    assert len(requests_for(server, EAT)) == 2
    assert caught.value.failures == {EAT: "spatial_coarse: no valid answer in 2 requests; "
                                          "last problem: request timed out"}


def test_client_errors_are_not_retried(tmp_path, prompts):
    with ChatServer(fake_model({EAT: itertools.repeat(Reply(status=401))})) as server:
        with pytest.raises(SideInfoGenerationError) as caught:
            run(server, tmp_path, prompts, classes=(DRINK, EAT))
    assert len(requests_for(server, EAT)) == 1
    assert caught.value.failures[EAT].startswith("spatial_coarse: HTTP 401")
    assert caught.value.failures[EAT].endswith("(not retried)")


def test_invalid_answers_are_sent_back_to_be_fixed(tmp_path, prompts):
    chatty = "Sure! Here are ten descriptions of drinking water."
    nine = Reply(content=answer(DRINK, "spatial_coarse", n=9))
    script = {(DRINK, "spatial_coarse"): [Reply(content=chatty), nine],
              (EAT, "spatial_mid"): itertools.repeat(Reply(content=answer(EAT, "spatial_mid", n=9)))}
    with ChatServer(fake_model(script)) as server:
        with pytest.raises(SideInfoGenerationError) as caught:
            run(server, tmp_path, prompts, classes=(DRINK, EAT), max_retries=2)

    first, second, third, fourth = requests_for(server, DRINK)[:4]
    assert len(first["messages"]) == 2
    assert second["messages"][2:] == [
        {"role": "assistant", "content": chatty},
        {"role": "user", "content": "[fix] the answer is not valid JSON (Expecting value at character 0) "
                                    "(want 10 for drink water)"}]
    assert third["messages"][-2]["content"] == answer(DRINK, "spatial_coarse", n=9)
    assert third["messages"][-1]["content"].startswith("[fix] expected exactly 10 descriptions, got 9")
    # Once fixed, the next turn sees only the turn's prompt and its accepted answer.
    assert fourth["messages"][:3] == first["messages"] + [
        {"role": "assistant", "content": answer(DRINK, "spatial_coarse")}]
    assert len(fourth["messages"]) == 4 and turn_of(fourth)[0] == "spatial_mid"
    record = json.loads(class_path(tmp_path / "cache", "ntu120", 0, DRINK).read_text())
    assert record["phases"]["spatial_coarse"]["provenance"]["requests"] == 3

    assert caught.value.failures == {EAT: "spatial_mid: no valid answer in 3 requests; last problem: "
                                          "invalid answer: expected exactly 10 descriptions, got 9"}
    assert len(requests_for(server, EAT)) == 1 + 3


def test_a_failed_run_resumes_without_repeating_finished_turns(tmp_path, prompts):
    script = {(EAT, "temporal_start"): itertools.repeat(Reply(status=500)),
              BRUSH: itertools.repeat(Reply(status=503))}
    with ChatServer(fake_model(script)) as first:
        with pytest.raises(SideInfoGenerationError) as caught:
            run(first, tmp_path, prompts, max_retries=1)
    assert list(caught.value.failures) == [EAT, BRUSH]
    assert caught.value.failures[EAT].startswith("temporal_start:")
    cache = tmp_path / "cache" / "ntu120"
    assert sorted(p.name for p in cache.iterdir()) == ["000_drink_water.json", "001_eat_meal_snack.json"]
    assert list(json.loads((cache / "001_eat_meal_snack.json").read_text())["phases"]) == list(PHASES[:3])

    with ChatServer(fake_model()) as second:
        result = run(second, tmp_path, prompts)
    assert result == expected()
    assert requests_for(second, DRINK) == []
    eat = requests_for(second, EAT)
    assert [turn_of(b)[0] for b in eat] == list(PHASES[3:])
    # The resumed conversation starts with the three turns cached by the first run.
    assert eat[0]["messages"][1:7] == requests_for(first, EAT)[3]["messages"][1:7]
    assert [m["content"] for m in eat[0]["messages"][2:7:2]] == [answer(EAT, p) for p in PHASES[:3]]
    assert len(requests_for(second, BRUSH)) == 6

    with ChatServer(fake_model()) as third:
        assert run(third, tmp_path, prompts) == expected()
    assert third.requests == []


@pytest.mark.parametrize("where", ["worker", "main"])
def test_an_interrupted_run_keeps_every_finished_turn(tmp_path, prompts, monkeypatch, where):
    """Ctrl-C (a KeyboardInterrupt) in a worker while it saves drink water's second turn, or in
    the main thread once drink water is complete, while the slow classes are mid-conversation."""
    import neuron.side_info.generate as generate

    real_write, real_as_completed = generate.write_class_record, generate.as_completed

    def write(path, record):
        if record["class_name"] == DRINK and len(record["phases"]) == 2:
            raise KeyboardInterrupt
        real_write(path, record)

    def as_completed(futures):
        yield next(real_as_completed(futures))
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        if where == "worker":
            patch.setattr(generate, "write_class_record", write)
        else:
            patch.setattr(generate, "as_completed", as_completed)
        with ChatServer(fake_model(slow={EAT: 0.25, BRUSH: 0.25})) as first:
            with pytest.raises(KeyboardInterrupt):
                run(first, tmp_path, prompts, classes=(DRINK, EAT, BRUSH), workers=2)

    cached = {}
    for index, name in enumerate(CLASSES):
        path = class_path(tmp_path / "cache", "ntu120", index, name)
        cached[name] = list(json.loads(path.read_text())["phases"]) if path.exists() else []
    assert cached[DRINK] == list(PHASES[:1] if where == "worker" else PHASES)
    # the other classes stopped at their next request (well before their sixth) and kept
    # every answer they got
    for name in (EAT, BRUSH):
        assert len(requests_for(first, name)) == len(cached[name]) < len(PHASES)
    if where == "worker":  # the failing worker stopped the run before taking up the next class
        assert requests_for(first, BRUSH) == []

    with ChatServer(fake_model()) as second:
        assert run(second, tmp_path, prompts) == expected()
    for name in CLASSES:
        assert [turn_of(b)[0] for b in requests_for(second, name)] == list(PHASES[len(cached[name]):])


def test_the_cache_never_holds_a_half_written_file(tmp_path, prompts, monkeypatch):
    with ChatServer(fake_model({(DRINK, "temporal_start"): [Reply(status=500)]})) as server:
        with pytest.raises(SideInfoGenerationError):
            run(server, tmp_path, prompts, classes=(DRINK,), max_retries=0)
    path = class_path(tmp_path / "cache", "ntu120", 0, DRINK)
    before = path.read_text()

    real_write_text, partial = Path.write_text, []

    def write_half_then_fail(self, data, *args, **kwargs):
        real_write_text(self, data[: len(data) // 2], *args, **kwargs)
        partial.append((self, self.read_text()))
        raise OSError(28, "No space left on device (injected)")

    monkeypatch.setattr(Path, "write_text", write_half_then_fail)
    with ChatServer(fake_model()) as server:
        with pytest.raises(OSError, match="injected"):  # not a class failure: the run stops
            run(server, tmp_path, prompts, classes=(DRINK,))
    monkeypatch.setattr(Path, "write_text", real_write_text)

    [(tmp_file, half)] = partial  # the write really was cut off midway ...
    assert tmp_file != path and len(half) < len(before)
    with pytest.raises(json.JSONDecodeError):
        json.loads(half)
    assert path.read_text() == before  # ... yet the cache file is untouched
    assert list(path.parent.iterdir()) == [path]  # and no temporary file is left behind
    assert list(json.loads(before)["phases"]) == list(PHASES[:3])


def test_hand_written_phases_load_and_seed_the_conversation(tmp_path, prompts):
    templates = PromptTemplates.load(prompts)
    cache = tmp_path / "cache"
    record = new_class_record("ntu120", 0, DRINK)
    for phase in PHASES[:2]:
        prompt = templates.turn(phase, DRINK, 10, [])
        record["phases"][phase] = handwritten_phase(descriptions(DRINK, phase), prompt, templates.sha256)
    write_class_record(class_path(cache, "ntu120", 0, DRINK), record)
    with ChatServer(fake_model()) as server:
        assert run(server, tmp_path, prompts, classes=(DRINK,)) == expected([DRINK])
    assert [turn_of(b)[0] for b in server.requests] == list(PHASES[2:])
    assert server.requests[0]["messages"][2] == {"role": "assistant", "content": answer(DRINK, PHASES[0])}
    saved = json.loads(class_path(cache, "ntu120", 0, DRINK).read_text())["phases"]
    assert saved[PHASES[0]]["provenance"]["source"] == SOURCE_HANDWRITTEN
    assert saved[PHASES[0]]["provenance"]["model"] is None
    assert saved[PHASES[2]]["provenance"]["source"] == SOURCE_API


def test_load_side_info_names_missing_and_broken_files(tmp_path):
    cache = tmp_path / "cache"
    record = new_class_record("ntu120", 0, DRINK)
    for phase in PHASES:
        record["phases"][phase] = handwritten_phase(descriptions(DRINK, phase), "prompt", "sha")
    record["phases"]["temporal_end"]["descriptions"][3] = "too short"
    write_class_record(class_path(cache, "ntu120", 0, DRINK), record)
    with pytest.raises(ValueError) as caught:
        load_side_info(cache, "ntu120", [DRINK, EAT])
    message = str(caught.value)
    assert "incomplete for 2 of 2 classes" in message
    assert "000_drink_water.json: phase temporal_end: description 4 has 2 words" in message
    assert "001_eat_meal_snack.json: missing" in message

    class_path(cache, "ntu120", 1, EAT).write_text("{not json")
    with pytest.raises(ValueError, match="001_eat_meal_snack.json is not valid JSON"):
        load_side_info(cache, "ntu120", [DRINK, EAT])
    class_path(cache, "ntu120", 1, EAT).write_text(class_path(cache, "ntu120", 0, DRINK).read_text())
    with pytest.raises(ValueError, match="001_eat_meal_snack.json does not belong here"):
        load_side_info(cache, "ntu120", [DRINK, EAT])  # a copy of drink water's file


def test_an_api_key_is_required_only_for_openai(tmp_path, prompts):
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        generate_side_info([DRINK], dataset="ntu120", cache_dir=tmp_path, model="m", prompts_dir=prompts)


@pytest.mark.parametrize("change, problem", [
    (dict(class_names=[DRINK, DRINK]), "class names of ntu120 are not unique"),
    (dict(similar={"drink juice": [EAT]}), "names classes that are not in the dataset: ['drink juice']"),
    (dict(similar={DRINK: EAT}), "similar classes of 'drink water' must be a list of names"),
    (dict(dataset="../elsewhere"), "dataset name '../elsewhere' must be letters"),
    (dict(n_descriptions=0), "need n_descriptions >= 1"),
    (dict(max_tokens=0), "max_tokens >= 1 or None; got 10, 4, 5, 0"),
    (dict(response_format="xml"), "response_format must be 'auto' or one of"),
])
def test_bad_arguments_are_rejected_before_any_request(tmp_path, prompts, change, problem):
    kwargs = dict(class_names=[DRINK, EAT], dataset="ntu120", cache_dir=tmp_path, model="m",
                  base_url="http://127.0.0.1:9/v1", prompts_dir=prompts) | change
    with pytest.raises(ValueError, match=re.escape(problem)):
        generate_side_info(kwargs.pop("class_names"), **kwargs)


def test_a_missing_template_is_named(prompts):
    (prompts / "temporal_end.txt").unlink()
    with pytest.raises(FileNotFoundError, match="temporal_end.txt is missing"):
        PromptTemplates.load(prompts)


def with_last(item, n=10):
    """An answer whose first n - 1 descriptions are fine and whose last one is `item`."""
    return json.dumps({"descriptions": descriptions("x", "y")[: n - 1] + [item]})


@pytest.mark.parametrize("text, phase, problem", [
    ("", "spatial_coarse", "the answer was empty"),
    ('{"items": []}', "spatial_coarse", 'not a JSON object with the key "descriptions"'),
    (with_last("a hand moves", n=9), "spatial_coarse", "expected exactly 10 descriptions, got 9"),
    (with_last(7), "spatial_coarse", "description 10 is not a non-empty string"),
    (with_last("   "), "spatial_coarse", "description 10 is not a non-empty string"),
    (with_last("PERSON 0 moves the  left arm and right hand while doing x in y"), "spatial_coarse",
     "descriptions 1 and 10 are the same"),
    (with_last("arm up"), "temporal_end", "description 10 has 2 words"),
    (with_last("hand " * 26), "temporal_end", "description 10 has 26 words; this turn asks for 5 to 25"),
    (with_last("hand " * 21), "spatial_coarse", "description 10 has 21 words; this turn asks for 5 to 20"),
    (with_last("the left hand lifts the cup"), "spatial_fine",
     "description 10 has 6 words; this turn asks for 12 to 45"),
    (with_last("the stapler is pressed onto the papers"), "spatial_coarse",
     "description 10 names no body part"),
    (with_last("2024-05-01 12:00:00 . . ."), "temporal_start",
     "description 10 has no words, only digits or symbols"),
    (with_last("Person 0 moves the left arm, and right hand, while doing x in y!"), "temporal_start",
     "descriptions 1 and 10 are the same"),
])
def test_answers_that_fail_validation(text, phase, problem):
    with pytest.raises(InvalidAnswer, match=re.escape(problem)):
        parse_answer(text, 10, phase)


def test_answers_that_pass_validation():
    items = descriptions("x", "y")[:9] + ["the stapler is pressed  onto the papers"]
    fenced = "```json\n" + json.dumps({"descriptions": items}) + "\n```"
    # temporal turns are not checked for body words; whitespace runs are collapsed
    assert parse_answer(fenced, 10, "temporal_middle")[-1] == "the stapler is pressed onto the papers"
    assert check_descriptions(descriptions("x", "y"), 10, "spatial_fine") == descriptions("x", "y")
    # a raw newline or tab inside a string is not valid strict JSON, yet only whitespace
    raw = '{"descriptions": ["the left arm\n rises\tslowly above the head"]}'
    assert parse_answer(raw, 1, "spatial_coarse") == ["the left arm rises slowly above the head"]


def test_similar_classes_by_shared_words():
    names = ["put on a hat/cap", "take off a hat/cap", "throw up cap/hat", "kicking something",
             "kicking other person", "clapping"]
    similar = similar_by_token_overlap(names, k=2)
    assert similar["put on a hat/cap"] == ["take off a hat/cap", "throw up cap/hat"]
    assert similar["kicking something"] == ["kicking other person"]
    assert similar["clapping"] == []
    assert similar == similar_by_token_overlap(names, k=2)


def test_shipped_templates_render_every_turn(tmp_path):
    templates = PromptTemplates.load()
    for phase in PHASES:
        for similar in ([], ["cheers and drink"]):
            text = templates.turn(phase, "drink water", 10, similar)
            assert '"drink water"' in text and "10" in text and "$" not in text
            assert ('"cheers and drink"' in text) == bool(similar)
    assert "$" not in templates.fix("expected exactly 10 descriptions, got 9", "drink water", 10)
    # the hash follows the wording
    copy = tmp_path / "prompts"
    copy.mkdir()
    for path in PROMPTS_DIR.glob("*.txt"):
        (copy / path.name).write_text(path.read_text())
    assert PromptTemplates.load(copy).sha256 == templates.sha256
    (copy / "spatial_fine.txt").write_text((copy / "spatial_fine.txt").read_text() + " Be brief.")
    assert PromptTemplates.load(copy).sha256 != templates.sha256


# Response formats: the fallback chain and its memory, against the behaviours of real servers.

LLAMA_CPP = {"json_schema": LLAMA_CPP_REFUSES_JSON_SCHEMA}


def form_of(body) -> str:
    """Which of RESPONSE_FORMATS a request used."""
    kind = response_format_type(body)
    return "json_object_schema" if kind == "json_object" and response_schema(body) else kind


def schema_model(write=None):
    """small_model writing the correct descriptions of each turn, or `write(action, phase, n)`'s."""
    def descriptions_of(body, n):
        phase, action = turn_of(body)
        return (write or descriptions)(action, phase, n)
    return small_model(descriptions_of)


def answer_formats(cache, classes=CLASSES) -> set[str]:
    """The response formats recorded in the provenance of every cached answer."""
    return {entry["provenance"]["parameters"]["response_format"]
            for index, name in enumerate(classes)
            for entry in json.loads(class_path(cache, "ntu120", index, name).read_text())["phases"].values()}


def test_a_server_with_structured_outputs_gets_the_schema_in_every_request(tmp_path, prompts):
    with ChatServer(schema_model()) as server:  # OpenAI, vLLM, Ollama
        assert run(server, tmp_path, prompts) == expected()
    assert len(server.requests) == 3 * 6
    for body in server.requests:
        schema = body["response_format"]["json_schema"]["schema"]
        assert schema == answer_schema(10) and form_of(body) == "json_schema"
    assert schema["properties"]["descriptions"] | {"items": None} == {
        "type": "array", "items": None, "minItems": 10, "maxItems": 10}
    assert answer_formats(tmp_path / "cache") == {"json_schema"}


def test_llama_cpp_refusing_json_schema_costs_one_request_per_run(tmp_path, prompts, caplog):
    with ChatServer(schema_model(), refusals=LLAMA_CPP) as server:
        assert run(server, tmp_path, prompts, workers=1) == expected()
    # refused once; the same turn asked again at once with llama.cpp's json_object + schema,
    # which the rest of the run keeps
    assert [form_of(b) for b in server.requests] == ["json_schema"] + ["json_object_schema"] * 18
    assert server.requests[1]["messages"] == server.requests[0]["messages"]
    assert server.requests[1]["response_format"] == {"type": "json_object", "schema": answer_schema(10)}
    assert answer_formats(tmp_path / "cache") == {"json_object_schema"}
    first = json.loads(class_path(tmp_path / "cache", "ntu120", 0, DRINK).read_text())["phases"]
    assert [first[p]["provenance"]["requests"] for p in PHASES] == [2, 1, 1, 1, 1, 1]
    refusals = [r.getMessage() for r in caplog.records if "refused response_format" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].endswith("using json_object_schema from now on")


def test_concurrent_refusals_step_down_the_chain_once(tmp_path, prompts):
    slow_refusal = dataclasses.replace(LLAMA_CPP_REFUSES_JSON_SCHEMA, delay=0.3)
    with ChatServer(schema_model(), refusals={"json_schema": slow_refusal}) as server:
        assert run(server, tmp_path, prompts, workers=3) == expected()
    forms = [form_of(b) for b in server.requests]
    # the three first turns were in flight together and all refused: one step, not three
    assert forms.count("json_schema") == 3 and set(forms[3:]) == {"json_object_schema"}
    assert answer_formats(tmp_path / "cache") == {"json_object_schema"}


def test_a_server_refusing_every_json_format_gets_free_text_and_the_feedback(tmp_path, prompts):
    no_json = Reply(status=400, raw=b'{"error": {"message": "response_format is not supported", "type": "x"}}')

    def chatty_then_fixed(body):
        phase, action = turn_of(body)
        fixing = body["messages"][-1]["content"].startswith("[fix]")
        return Reply(content=answer(action, phase) if fixing else "Sure! Here they are: the arm moves.")

    refusals = {"json_schema": LLAMA_CPP_REFUSES_JSON_SCHEMA, "json_object": no_json}
    with ChatServer(chatty_then_fixed, refusals=refusals) as server:
        assert run(server, tmp_path, prompts, classes=(DRINK,)) == expected([DRINK])
    assert [form_of(b) for b in server.requests] == list(RESPONSE_FORMATS[:3]) + ["text"] * 12
    assert all("response_format" not in body for body in server.requests[3:])
    assert server.requests[4]["messages"][-1]["content"].startswith("[fix] the answer is not valid JSON")
    record = json.loads(class_path(tmp_path / "cache", "ntu120", 0, DRINK).read_text())["phases"]
    assert record["spatial_coarse"]["provenance"]["requests"] == 3 + 2
    assert answer_formats(tmp_path / "cache", (DRINK,)) == {"text"}


def test_json_object_without_a_schema_is_validated_and_fed_back(tmp_path, prompts):
    """What the issue measured: plain json_object lets a small model answer any JSON object."""
    with ChatServer(schema_model()) as server:
        with pytest.raises(SideInfoGenerationError) as caught:
            run(server, tmp_path, prompts, classes=(DRINK, EAT), response_format="json_object")
    reason = ('spatial_coarse: no valid answer in 3 requests; last problem: invalid answer: the answer '
              'is not a JSON object with the key "descriptions"')
    assert caught.value.failures == {DRINK: reason, EAT: reason}
    assert {form_of(b) for b in server.requests} == {"json_object"} and len(server.requests) == 6
    assert requests_for(server, DRINK)[1]["messages"][-1]["content"].startswith("[fix] the answer is not")
    assert not (tmp_path / "cache" / "ntu120").exists()  # nothing half-written


def test_a_fixed_format_the_server_refuses_fails_each_class_at_once(tmp_path, prompts):
    with ChatServer(schema_model(), refusals=LLAMA_CPP) as server:
        with pytest.raises(SideInfoGenerationError) as caught:
            run(server, tmp_path, prompts, classes=(DRINK, EAT), response_format="json_schema")
    assert len(server.requests) == 2
    for reason in caught.value.failures.values():
        assert reason.startswith("spatial_coarse: HTTP 500: ") and "\n" not in reason
        assert "Input should be 'text' or 'json_object'" in reason
        assert reason.endswith("(not retried: the server refuses response_format json_schema)")


@pytest.mark.parametrize("form", RESPONSE_FORMATS)
def test_a_fixed_format_is_sent_as_is(tmp_path, prompts, form):
    with ChatServer(fake_model()) as server:  # a model that answers well in any form
        assert run(server, tmp_path, prompts, classes=(DRINK,), response_format=form) == expected([DRINK])
    assert {form_of(b) for b in server.requests} == {form}
    assert not any("max_tokens" in body for body in server.requests)  # no cap unless asked
    assert answer_formats(tmp_path / "cache", (DRINK,)) == {form}


def test_other_client_errors_do_not_change_the_format(tmp_path, prompts):
    too_long = Reply(status=400, raw=b'{"error": {"message": "This model\'s maximum context length is 2048 tokens", '
                                     b'"type": "invalid_request_error", "code": "context_length_exceeded"}}')
    with ChatServer(fake_model({EAT: [too_long]})) as server:
        with pytest.raises(SideInfoGenerationError) as caught:
            run(server, tmp_path, prompts, classes=(EAT, DRINK), workers=1)
    assert caught.value.failures[EAT].endswith("context length is 2048 tokens (not retried)")
    assert {form_of(b) for b in server.requests} == {"json_schema"} and len(server.requests) == 7


def test_a_constrained_model_can_still_fail_the_content_rules(tmp_path, prompts):
    """Every answer has the schema's shape; the validator finds what is wrong with its content,
    sends it back, and reports it per class."""
    def poor(action, phase, n):
        good = descriptions(action, phase, n)
        if action == DRINK:  # names the similar class it must be told apart from
            return good[:-1] + ["the left hand moves to the mouth as in Eat Meal / Snack"]
        if action == EAT:  # a timestamp, as SmolLM2-135M wrote
            return good[:-1] + ["2024-05-01 12:00:00"]
        return good[:-1] + [good[0].upper() + "!"]  # a copy, but for case and punctuation

    with ChatServer(schema_model(poor), refusals=LLAMA_CPP) as server:
        with pytest.raises(SideInfoGenerationError) as caught:
            run(server, tmp_path, prompts, similar={DRINK: [EAT]}, workers=1)
    last = "spatial_coarse: no valid answer in {} requests; last problem: invalid answer: description 10 "
    assert caught.value.failures == {
        DRINK: last.format(4) + 'names the similar action "eat meal/snack"; tell the actions apart without '
                                "naming it: 'the left hand moves to the mouth as in Eat Meal / Snack'",
        EAT: last.format(3) + "has no words, only digits or symbols: '2024-05-01 12:00:00'",
        BRUSH: last.format(3).replace("description 10 ", "descriptions 1 and 10 are the same; all 10 must differ"),
    }
    fix = requests_for(server, EAT)[1]["messages"][-1]["content"]
    assert fix.startswith("[fix] description 10 has no words")


@pytest.mark.parametrize("text, action, similar, problem", [
    ("the arms swing while walking towards each other", "walking towards each other", ["walking"], None),
    ("the arms swing while walking apart from each other", "walking towards each other",
     ["walking apart from each other"], 'names the similar action "walking apart from each other"'),
    ("the right hand swipes like in swipe-LEFT, only mirrored", "swipe right", ["swipe left"],
     'names the similar action "swipe left"'),
    ("the right hand swipes to the left side", "swipe right", ["swipe left"], None),
])
def test_descriptions_must_not_name_the_similar_classes(text, action, similar, problem):
    items = json.dumps({"descriptions": [text]})
    if problem is None:
        assert parse_answer(items, 1, "temporal_middle", action, similar) == [text]
    else:
        with pytest.raises(InvalidAnswer, match=re.escape(problem)):
            parse_answer(items, 1, "temporal_middle", action, similar)


def test_word_ranges_are_those_the_prompts_ask_for():
    templates = PromptTemplates.load()
    for phase in PHASES:
        asked = re.findall(r"of (\d+) to (\d+) words", templates.texts[phase])
        assert [tuple(map(int, pair)) for pair in asked] == [PHASE_WORDS[phase]], phase


def test_the_command_line_offers_every_response_format():
    from neuron.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["side-info", "generate", "--dataset", "utd", "--model", "m"])
    assert args.response_format == AUTO
    for form in RESPONSE_FORMATS:
        args = parser.parse_args(["side-info", "generate", "--dataset", "utd", "--model", "m",
                                  "--response-format", form])
        assert args.response_format == form
    with pytest.raises(SystemExit):
        parser.parse_args(["side-info", "generate", "--dataset", "utd", "--model", "m", "--response-format", "xml"])
