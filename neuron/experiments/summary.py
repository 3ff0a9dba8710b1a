"""The main job's summary: every evaluated run under <results_dir>/runs/ in one table.

`neuron.evaluation.report.evaluate` writes a results.json into each main-fold run directory
(<results_dir>/runs/<dataset>/<benchmark>/<split>/main/<run>/). `write_summary` collects them
all into <results_dir>/summary.json (one record per run, accuracies as fractions) and
<results_dir>/summary.md (the same as a Markdown table, in %): dataset, benchmark, split,
run, model, ZSL top-1 and GZSL harmonic mean under the paper's and the strict protocol,
and the epochs trained (main fold).
"""

import json
from pathlib import Path

from neuron import paths
from neuron.atomic import atomic_path, write_json
from neuron.runs import RESULTS_JSON
from neuron.tables import markdown_table

SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
PROTOCOLS = ("paper", "strict")
ACCURACIES = tuple(f"{protocol}_{metric}" for protocol in PROTOCOLS for metric in ("zsl", "gzsl_h"))


def results_files(results_dir=None) -> list[Path]:
    """Every <results_dir>/runs/<dataset>/<benchmark>/<split>/main/<run>/results.json, sorted."""
    base = Path(paths.RESULTS_DIR if results_dir is None else results_dir)
    return sorted((base / "runs").glob(f"*/*/*/main/*/{RESULTS_JSON}"))


def summary_row(path) -> dict:
    """One summary record from a results.json: names, ZSL / GZSL H per protocol, epochs. The
    run is named by its folder, where `neuron evaluate --run-name` finds it (the file's own
    "run" is the folder it was evaluated in, stale once the folder is renamed)."""
    path = Path(path)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
        row = {"dataset": results["dataset"], "benchmark": results["benchmark"], "split": results["split"],
               "run": path.parent.name, "model": results["model"]}
        for protocol in PROTOCOLS:
            row[f"{protocol}_zsl"] = float(results[protocol]["zsl"]["top1"])
            row[f"{protocol}_gzsl_h"] = float(results[protocol]["gzsl"]["harmonic"])
        row["epochs"] = int(results["epochs"]["main"])
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: not a results file of `neuron evaluate` (missing or invalid {err})") from err
    return row


def markdown_summary(rows: list[dict]) -> str:
    """The records as one Markdown table, accuracies in %."""
    lines = ["# Results", "",
             "ZSL top-1 and GZSL harmonic mean H (%) of every evaluated run. paper: a sample is right when "
             "the spatial or the temporal prediction is, epoch and calibration chosen on the test set; "
             "strict: one fused prediction, epoch and calibration chosen on the validation fold.", ""]
    header = ["dataset", "benchmark", "split", "run", "model", "paper ZSL", "paper GZSL H", "strict ZSL",
              "strict GZSL H", "epochs"]
    table = [[row["dataset"], row["benchmark"], row["split"], row["run"], row["model"],
              *(f"{100 * row[key]:.1f}" for key in ACCURACIES), row["epochs"]] for row in rows]
    if not rows:
        table = [["(no evaluated run yet)", *[""] * (len(header) - 1)]]
    return "\n".join([*lines, markdown_table(header, table, [False] * 5 + [True] * 5)]) + "\n"


def write_summary(results_dir=None) -> list[dict]:
    """Collect every results.json under <results_dir>/runs/ (default neuron.paths.RESULTS_DIR)
    into <results_dir>/summary.json and summary.md; returns the records, sorted by dataset,
    benchmark, split and run."""
    base = Path(paths.RESULTS_DIR if results_dir is None else results_dir)
    rows = [summary_row(path) for path in results_files(base)]
    write_json(base / SUMMARY_JSON, {"runs": rows})
    with atomic_path(base / SUMMARY_MD) as tmp:
        tmp.write_text(markdown_summary(rows), encoding="utf-8")
    return rows
