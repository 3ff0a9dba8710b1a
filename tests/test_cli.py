"""The command line, end to end: each command parses, does its job and reports clearly."""

import json

import pytest

from chat_server import ChatServer, Reply
from neuron.cli import build_parser, main
from neuron.data.classnames import UTD27_CLASSES
from neuron.side_info import PHASES, load_side_info
from neuron.training.config import PretrainConfig


def _commands(parser):
    """Every (sub)command path of the parser, e.g. ["side-info", "generate"]."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield [name]
                yield from ([name, *rest] for rest in _commands(sub))


@pytest.mark.parametrize("command", [[]] + list(_commands(build_parser())), ids=" ".join)
def test_every_command_explains_itself(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert len(capsys.readouterr().out.splitlines()) > 3


def test_prepare_then_info(tmp_path, capsys):
    out = tmp_path / "syn"
    main(["prepare", "synthetic", "--out", str(out), "--samples-per-class", "2"])
    main(["info", str(out)])
    printed = capsys.readouterr().out
    assert f"prepared synthetic in {out}" in printed
    assert "synthetic in" in printed and "136 samples, 68 classes, layout ntu25" in printed
    assert "benchmark xsub: train" in printed


def test_prepare_without_raw_data_says_what_is_missing(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["prepare", "ntu60"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "neuron prepare: error: --raw is required (give the raw data directory)\n"


def test_splits_lists_the_papers_splits(capsys):
    main(["splits", "ntu60"])
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split()[:2] == ["ntu60", "48_12"] and "[3, 5, 9, 12, 15, 40, 42, 47, 51, 56, 58, 59]" in line
               for line in lines)


def test_side_info_generate_against_a_chat_server(tmp_path, monkeypatch, capsys):
    """`neuron side-info generate` drives a real chat-completions server through all six turns."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    turns = {}

    def respond(body):
        action = body["messages"][1]["content"].split('"')[1]  # the first turn names the action
        turn = sum(m["role"] == "user" for m in body["messages"])
        turns[action] = max(turns.get(action, 0), turn)
        texts = [f"performer {i} moves the right arm and the left hand, turn {turn}" for i in range(10)]
        return Reply(content=json.dumps({"descriptions": texts}))

    with ChatServer(respond) as server:
        main(["side-info", "generate", "--dataset", "utd", "--model", "test-model", "--base-url",
              server.base_url, "--cache-dir", str(tmp_path), "--workers", "4"])
    assert len(server.requests) == len(UTD27_CLASSES) * len(PHASES)
    assert set(turns.values()) == {len(PHASES)}
    side_info = load_side_info(tmp_path, "utd", UTD27_CLASSES)
    assert side_info[UTD27_CLASSES[3]][PHASES[-1]][0] == "performer 0 moves the right arm and the left hand, turn 6"
    assert "side information for utd complete" in capsys.readouterr().out


def test_pretrain_train_evaluate_chain(tmp_path, monkeypatch, capsys):
    """The three training commands run end to end on a tiny synthetic set (both folds, both protocols)."""
    from neuron import paths
    from neuron.data.synthetic import prepare_synthetic

    monkeypatch.setattr(paths, "DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(paths, "TEXT_CACHE_DIR", tmp_path / "text")
    prepare_synthetic(tmp_path / "data" / "synthetic", samples_per_class=16)
    tiny = ["--epochs", "1", "--batch-size", "8", "--window", "8", "--device", "cpu"]
    for fold in ("main", "validation"):
        main(["pretrain", "--dataset", "synthetic", "--split", "63_5", "--fold", fold, *tiny])
        main(["train", "--dataset", "synthetic", "--split", "63_5", "--fold", fold, "--model", "global",
              "--text-encoder", "wordllama-l2-supercat-256", *tiny])
    main(["evaluate", "--dataset", "synthetic", "--split", "63_5", "--run-name", "global"])
    run = tmp_path / "results" / "runs" / "synthetic" / "xsub" / "63_5" / "main" / "global"
    results = json.loads((run / "results.json").read_text())
    assert {"paper", "strict"} <= set(json.dumps(results).split('"'))
    assert "| strict" in (run / "results.md").read_text()


def test_amp_and_compile_switch_both_ways():
    from neuron.cli import _training_overrides

    def overrides(*flags):
        return _training_overrides(build_parser().parse_args(["pretrain", "--dataset", "utd", *flags]), PretrainConfig)
    assert (overrides()["amp"], overrides()["compile"]) == (None, None)  # the device's default
    assert (overrides("--amp")["amp"], overrides("--no-compile")["compile"]) == (True, False)
