"""Tests for the main job's summary (neuron.experiments.summary) on small fake results.json files."""

import json

import pytest

from neuron.experiments.summary import SUMMARY_JSON, SUMMARY_MD, results_files, write_summary


def fake_results(dataset, split, run, model, paper, strict, epochs):
    """The fields of a `neuron evaluate` results.json that the summary reads (and a few it ignores)."""
    return {"dataset": dataset, "benchmark": "xsub", "split": split, "run": run, "model": model,
            "epochs": {"main": epochs, "validation": epochs},
            "paper": {"zsl": {"top1": paper[0], "epoch": 1},
                      "gzsl": {"seen": 0.5, "unseen": 0.5, "harmonic": paper[1], "epoch": 2}},
            "strict": {"zsl": {"top1": strict[0], "epoch": 1},
                       "gzsl": {"seen": 0.4, "unseen": 0.4, "harmonic": strict[1], "epoch": 2}}}


def put(root, fold, results, folder=None):
    path = (root / "runs" / results["dataset"] / "xsub" / results["split"] / fold / (folder or results["run"])
            / "results.json")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(results))
    return path


def test_summary_collects_every_main_fold_run(tmp_path):
    put(tmp_path, "main", fake_results("utd", "22_5_1", "neuron", "neuron", (0.75, 0.5), (0.5, 0.25), 15))
    put(tmp_path, "main", fake_results("synthetic", "56_12", "neuron", "neuron", (0.625, 0.4), (0.3, 0.2), 8))
    put(tmp_path, "main", fake_results("synthetic", "56_12", "global", "global", (0.5, 0.125), (0.25, 0.1), 8))
    # A run folder renamed after evaluation is named by its folder.
    put(tmp_path, "main", fake_results("synthetic", "56_12", "neuron", "neuron", (0.25, 0.2), (0.125, 0.1), 4),
        folder="neuron_minilm")
    # Only main-fold runs are results; a stray file elsewhere is not collected.
    put(tmp_path, "validation", fake_results("synthetic", "56_12", "neuron", "neuron", (0, 0), (0, 0), 8))

    rows = write_summary(tmp_path)

    assert [(r["dataset"], r["run"]) for r in rows] == [("synthetic", "global"), ("synthetic", "neuron"),
                                                          ("synthetic", "neuron_minilm"), ("utd", "neuron")]
    assert rows[2]["model"] == "neuron" and rows[2]["epochs"] == 4
    assert rows[1] == {"dataset": "synthetic", "benchmark": "xsub", "split": "56_12", "run": "neuron",
                       "model": "neuron", "paper_zsl": 0.625, "paper_gzsl_h": 0.4, "strict_zsl": 0.3,
                       "strict_gzsl_h": 0.2, "epochs": 8}
    assert json.loads((tmp_path / SUMMARY_JSON).read_text()) == {"runs": rows}
    table = (tmp_path / SUMMARY_MD).read_text().splitlines()
    assert "| synthetic | xsub | 56_12 | neuron | neuron | 62.5 | 40.0 | 30.0 | 20.0 | 8 |" in table
    assert "| utd | xsub | 22_5_1 | neuron | neuron | 75.0 | 50.0 | 50.0 | 25.0 | 15 |" in table
    assert sum(line.startswith("| synthetic") or line.startswith("| utd") for line in table) == 4


def test_summary_of_no_runs_is_an_empty_table(tmp_path):
    assert write_summary(tmp_path) == []
    assert results_files(tmp_path) == []
    assert json.loads((tmp_path / SUMMARY_JSON).read_text()) == {"runs": []}
    assert "no evaluated run yet" in (tmp_path / SUMMARY_MD).read_text()


def test_a_broken_results_file_is_named(tmp_path):
    results = fake_results("utd", "22_5_1", "neuron", "neuron", (0.75, 0.5), (0.5, 0.25), 15)
    del results["strict"]["gzsl"]
    path = put(tmp_path, "main", results)
    with pytest.raises(ValueError, match=f"{path}.*not a results file"):
        write_summary(tmp_path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=f"{path}: not valid JSON"):
        write_summary(tmp_path)
