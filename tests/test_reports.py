"""`neuron report`: rows from evaluated runs, mean ± std tables, the README block rewritten."""

import json

import pytest

from neuron.cli import main
from neuron.evaluation.metrics import order_pair_confusion
from neuron.experiments.reports import markdown_report, report_rows, result_rows, write_report


def results(model, split, zsl, h, ausuc=0.5):
    protocol = {"zsl": {"top1": zsl}, "gzsl": {"seen": 0.6, "unseen": 0.4, "harmonic": h}, "ausuc": ausuc}
    return {"dataset": "utd", "split": split, "model": model, "paper": protocol, "strict": protocol}


def write_run(root, run, content, split="22_5_1"):
    path = root / "runs" / "utd" / "xsub" / split / "main" / run / "results.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(content))


def test_rows_seeds_and_tables(tmp_path):
    for run, zsl in (("neuron", 0.70), ("neuron_s2", 0.80), ("neuron_s3", 0.90)):
        write_run(tmp_path, run, results("neuron", "22_5_1", zsl, 0.3))
    write_run(tmp_path, "global", results("global", "22_5_1", 0.5, 0.2))
    write_run(tmp_path, "global", results("global", "22_5_2", 0.7, 0.4), split="22_5_2")
    write_run(tmp_path, "neuron_cached", results("neuron", "22_5_1", 0.1, 0.1))  # not a seed run: ignored
    rows = report_rows("utd", tmp_path)
    assert len(rows) == 2 * 5
    first = rows[0]
    assert first == {"dataset": "utd", "split": "22_5_1", "seed": 1, "model": "neuron", "protocol": "paper",
                     "zsl": 70.0, "gzsl_seen": 60.0, "gzsl_unseen": 40.0, "gzsl_h": 30.0, "ausuc": 50.0}
    table = markdown_report(rows)
    assert "| 22_5_1 | neuron | strict | 3 | 80.0 ± 10.0 | 60.0 ± 0.0 |" in table
    assert "| 22_5_2 | global | paper | 1 | 70.0 |" in table
    assert "| mean | global | paper | 1 | 60.0 |" in table  # the mean over the two splits of seed 1


def test_write_report_renders_the_readme_block(tmp_path):
    write_run(tmp_path, "neuron", results("neuron", "22_5_1", 0.7, 0.3))
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- report:utd -->\nold numbers\n<!-- /report:utd -->\nafter\n")
    path = write_report("utd", results_dir=tmp_path, reports_dir=tmp_path / "reports", readme=readme)
    assert json.loads(path.read_text())[0]["zsl"] == 70.0
    text = readme.read_text()
    assert text.startswith("before\n<!-- report:utd -->") and text.endswith("<!-- /report:utd -->\nafter\n")
    assert "old numbers" not in text and "| 22_5_1 | neuron | paper | 1 | 70.0 |" in text


def test_no_runs_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["report", "utd", "--results-dir", str(tmp_path)])
    assert exit_.value.code == 2 and "no evaluated run of utd" in capsys.readouterr().err


def test_seeds_get_their_own_folders_and_evaluate_aggregates_them(tmp_path, monkeypatch, capsys):
    from neuron import paths
    from test_own_dataset import CLASSES, side_info_json, tiny_custom

    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(paths, "TEXT_CACHE_DIR", tmp_path / "text")
    data = tiny_custom(tmp_path)
    main(["splits", "add", data, "4_2", "--unseen", "jump", "kick"])
    main(["side-info", "import", "--dataset", data, "--json", str(side_info_json(tmp_path / "s.json", CLASSES))])
    tiny = ["--epochs", "1", "--window", "12", "--batch-size", "4", "--device", "cpu"]
    for seed in ("1", "2"):
        for fold in ("main", "validation"):
            main(["pretrain", "--dataset", data, "--split", "4_2", "--fold", fold, "--seed", seed, *tiny])
            main(["train", "--dataset", data, "--split", "4_2", "--fold", fold, "--seed", seed, "--model", "global",
                  *tiny])
    root = tmp_path / "results" / "runs" / "mine" / "default" / "4_2" / "main"
    assert sorted(p.name for p in root.iterdir()) == ["encoder", "encoder_s2", "global", "global_s2"]
    from neuron.models.zero_shot import load_matching_model
    assert load_matching_model(root / "global_s2" / "match.pt")[1]["encoder_path"] == str(
        root / "encoder_s2" / "encoder.pt")  # each seed trains on its own encoder
    capsys.readouterr()
    main(["evaluate", "--dataset", data, "--split", "4_2", "--run-name", "global", "--seeds", "1", "2"])
    out = capsys.readouterr().out
    assert "global over seeds [1, 2]" in out and "| 4_2 | global | strict | 2 |" in out


def test_order_twins_get_their_own_columns():
    """Synthetic sequences whose twin (the other order) is unseen too: the strict fused ZSL
    accuracy on their clips and the share given to the twin, from the confusion matrix."""
    from neuron.data.synthetic import ORDER_TWINS
    assert ORDER_TWINS[64] == 65 and ORDER_TWINS[65] == 64
    unseen = [3, 64, 65]  # class 3 is no sequence: its clips do not count
    confusion = [[5, 0, 0],
                 [1, 6, 3],   # 64: 6 right, 3 given to its twin 65, 1 elsewhere
                 [0, 5, 5]]   # 65: 5 right, 5 given to 64
    assert order_pair_confusion(confusion, unseen, ORDER_TWINS) == {"zsl": 0.55, "swapped": 0.4, "clips": 20}
    assert order_pair_confusion(confusion, [3, 64, 66], ORDER_TWINS) is None  # 64's twin is seen
    content = results("neuron", "56_12", 0.5, 0.3)
    temporal = dict(content["strict"], zsl={"top1": 0.6})
    content["strict"] = dict(content["strict"], streams={"spatial": content["strict"], "temporal": temporal},
                             order_pairs={"fused": {"zsl": 0.55, "swapped": 0.4, "clips": 20},
                                          "spatial": {"zsl": 0.1, "swapped": 0.2, "clips": 20},
                                          "temporal": {"zsl": 0.7, "swapped": 0.05, "clips": 20}})
    rows = result_rows(content, seed=1, dataset="synthetic")
    assert [r["protocol"] for r in rows] == ["paper", "strict", "strict: spatial", "strict: temporal"]
    paper, strict, _, alone = rows
    assert "order_zsl" not in paper and strict["order_zsl"] == 55.0 and strict["order_swaps"] == 40.0
    assert alone["zsl"] == 60.0 and alone["order_swaps"] == 5.0
    table = markdown_report(rows)
    assert "order pairs: swapped" in table and "| 56_12 | neuron | strict | 1 | 50.0 |" in table
    assert "| 56_12 | neuron | strict: temporal | 1 | 60.0 |" in table
    assert table.rstrip().endswith("| 70.0 | 5.0 |")
    assert "order pairs" not in markdown_report(result_rows(results("neuron", "22_5_1", 0.5, 0.3), seed=1,
                                                            dataset="utd"))


def test_the_gated_view_gets_its_own_row():
    content = results("global", "22_5_1", 0.5, 0.3)
    gated = {"zsl": {"top1": 0.5}, "gzsl": {"seen": 0.5, "unseen": 0.45, "harmonic": 0.47}, "ausuc": 0.31}
    content["strict"] = dict(content["strict"], gated=gated)
    rows = result_rows(content, seed=1, dataset="utd")
    assert [r["protocol"] for r in rows] == ["paper", "strict", "strict: gated"]
    assert (rows[2]["gzsl_seen"], rows[2]["gzsl_unseen"], rows[2]["ausuc"]) == (50.0, 45.0, 31.0)
    assert "| 22_5_1 | global | strict: gated | 1 | 50.0 | 50.0 | 45.0 | 47.0 | 31.0 |" in markdown_report(rows)
