"""Headline reports: the evaluated runs of a dataset as machine-readable rows, and the README's
tables rendered from them (numbers in the README are never typed by hand).

`neuron report utd` reads every results.json of the dataset's runs named `<model>` (seed 1) or
`<model>_s<seed>` (<results>/runs/<dataset>/<benchmark>/<split>/main/<run>/), writes
reports/<dataset>.json, a list of rows

    {"dataset", "split", "seed", "model", "protocol", "zsl", "gzsl_seen", "gzsl_unseen",
     "gzsl_h", "ausuc"}                                         (accuracies in %)

with protocol "paper", "strict" (the fused prediction), "strict: gated" (its GZSL gated by the
encoder's classifier, where the runs recorded it) and, for Neuron, "strict: spatial" and
"strict: temporal" (each stream alone, chosen on the validation fold the same way),

and, where the split's unseen classes hold order twins (classes that differ only in the order
of their phases: the synthetic sequences), two more for the strict rows, from results.json's
strict "order_pairs": "order_zsl", the ZSL accuracy on those twins' clips, and
"order_swaps", the share of those clips given to the twin;

and rewrites the block of README.md between `<!-- report:<dataset> -->` and
`<!-- /report:<dataset> -->` with mean ± standard deviation over seeds per split, model and
protocol (and the mean over splits).
"""

import json
import re
from pathlib import Path

import numpy as np

from neuron import paths
from neuron.atomic import atomic_path, write_json
from neuron.errors import UserError
from neuron.evaluation.protocols import separate_streams
from neuron.tables import markdown_table

REPORTS_DIR = paths.REPO_ROOT / "reports"
README = paths.REPO_ROOT / "README.md"
MODELS = ("neuron", "global")
PROTOCOLS = ("paper", "strict")
METRICS = ("zsl", "gzsl_seen", "gzsl_unseen", "gzsl_h", "ausuc")
ORDER_METRICS = ("order_zsl", "order_swaps")
COLUMNS = {"zsl": "ZSL", "gzsl_seen": "GZSL S", "gzsl_unseen": "GZSL U", "gzsl_h": "GZSL H", "ausuc": "AUSUC",
           "order_zsl": "order pairs: ZSL", "order_swaps": "order pairs: swapped"}
_RUN_NAME = re.compile(r"(?P<model>[a-z]+)(?:_s(?P<seed>\d+))?")


def report_rows(dataset: str, results_dir=None) -> list[dict]:
    """One row per evaluated run of `dataset` (named as the module docstring says) and protocol."""
    base = Path(paths.RESULTS_DIR if results_dir is None else results_dir) / "runs" / dataset
    rows = []
    for path in sorted(base.glob("*/*/main/*/results.json")):
        named = _RUN_NAME.fullmatch(path.parent.name)
        if not named or named["model"] not in MODELS:
            continue
        results = json.loads(path.read_text(encoding="utf-8"))
        if results["model"] != named["model"]:
            raise UserError(f"{path}: run folder {path.parent.name} holds a {results['model']} model")
        rows += result_rows(results, seed=int(named["seed"] or 1), dataset=dataset)
    if not rows:
        raise UserError(f"no evaluated run of {dataset} under {base} (train both folds and `neuron evaluate`)")
    return sorted(rows, key=lambda r: (r["split"], r["model"] != "neuron", _protocol_order(r["protocol"]), r["seed"]))


def _protocol_order(protocol: str) -> tuple:
    """paper, strict (fused), then each stream alone under the strict protocol, by name."""
    return (PROTOCOLS.index(protocol), "") if protocol in PROTOCOLS else (len(PROTOCOLS), protocol)


def result_rows(results: dict, *, seed: int, dataset: str) -> list[dict]:
    """The rows of one results.json of `neuron evaluate`: one per protocol, then, for a model
    of several streams, one per stream alone under the strict protocol ("strict: temporal")."""
    strict = results["strict"]
    order = strict.get("order_pairs", {})
    # (protocol, its results, its entry in order_pairs)
    views = [("paper", results["paper"], None), ("strict", strict, "fused"),
             *([("strict: gated", strict["gated"], None)] if "gated" in strict else []),
             *((f"strict: {name}", view, name) for name, view in separate_streams(strict).items())]
    rows = []
    for protocol, r, order_view in views:
        row = {"dataset": dataset, "split": results["split"], "seed": seed, "model": results["model"],
               "protocol": protocol, "zsl": _pct(r["zsl"]["top1"]), "gzsl_seen": _pct(r["gzsl"]["seen"]),
               "gzsl_unseen": _pct(r["gzsl"]["unseen"]), "gzsl_h": _pct(r["gzsl"]["harmonic"]),
               "ausuc": _pct(r["ausuc"]) if "ausuc" in r else None}
        if order.get(order_view):
            row |= {"order_zsl": _pct(order[order_view]["zsl"]), "order_swaps": _pct(order[order_view]["swapped"])}
        rows.append(row)
    return rows


def _pct(x) -> float:
    return round(100 * float(x), 2)


def _mean_std(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}"


def markdown_report(rows: list[dict]) -> str:
    """mean ± std (sample standard deviation over seeds) per split, model and protocol, then the
    mean over splits of the per-seed numbers."""
    table = []
    metrics = METRICS + (ORDER_METRICS if any("order_zsl" in r for r in rows) else ())
    splits = sorted({r["split"] for r in rows})
    protocols = sorted({r["protocol"] for r in rows}, key=_protocol_order)
    groups = [(split, model, protocol) for split in splits for model in MODELS for protocol in protocols]
    if len(splits) > 1:
        groups += [("mean", model, protocol) for model in MODELS for protocol in protocols]
    for split, model, protocol in groups:
        chosen = [r for r in rows if r["model"] == model and r["protocol"] == protocol
                  and (split == "mean" or r["split"] == split)]
        if not chosen:
            continue
        if split == "mean":  # per seed, the mean over splits; then mean ± std over seeds
            seeds = sorted({r["seed"] for r in chosen})
            chosen = [{m: _mean_or_none([r.get(m) for r in chosen if r["seed"] == s]) for m in metrics} | {"seed": s}
                      for s in seeds]
        seeds = len({r["seed"] for r in chosen})
        table.append([split, model, protocol, seeds, *(_mean_std([r.get(m) for r in chosen]) for m in metrics)])
    header = ["split", "model", "protocol", "seeds", *(COLUMNS[m] for m in metrics)]
    return markdown_table(header, table, [False] * 3 + [True] * (len(header) - 3)) + "\n"


def _mean_or_none(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def write_report(dataset: str, results_dir=None, reports_dir=None, readme=None) -> Path:
    """reports/<dataset>.json from the evaluated runs, and the README block rendered from it."""
    rows = report_rows(dataset, results_dir)
    path = Path(REPORTS_DIR if reports_dir is None else reports_dir) / f"{dataset}.json"
    write_json(path, rows)
    render_readme(dataset, path, readme)
    return path


def render_readme(dataset: str, report_path, readme=None) -> None:
    """Replace README's `<!-- report:<dataset> -->` block with the tables of a report file."""
    readme = Path(README if readme is None else readme)
    rows = json.loads(Path(report_path).read_text(encoding="utf-8"))
    start, end = f"<!-- report:{dataset} -->", f"<!-- /report:{dataset} -->"
    text = readme.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise UserError(f"{readme} has no block {start} ... {end} to write the {dataset} report into")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    block = (f"{start}\n<!-- written by `neuron report {dataset}` from reports/{dataset}.json; "
             f"do not edit by hand -->\n\n{markdown_report(rows)}\n{end}")
    with atomic_path(readme) as tmp:
        tmp.write_text(head + block + tail, encoding="utf-8")
