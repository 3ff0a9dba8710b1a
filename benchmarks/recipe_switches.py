"""The measured effect of each official-recipe switch: recipe `project` against `project` with one
switch set to the official value, on the three UTD-MHAD 22/5 splits, seed 1, Neuron and the
global baseline, paper and strict protocols.

    OMP_NUM_THREADS=1 python benchmarks/recipe_switches.py run --switches test_augmentation weight_decay_groups &
    OMP_NUM_THREADS=1 python benchmarks/recipe_switches.py run --switches encoder_selection val_fraction &
    python benchmarks/recipe_switches.py collect     # -> benchmarks/results/recipe_switches_utd.json, README table

The project runs are the standard ones (results/runs/utd/..., reused when finished, else trained).
A variant trains into results/recipe_switches/<variant>/ and reuses whatever the switch leaves
unchanged: the project's encoders for a matching-stage switch, the project's validation fold for a
switch that the validation fold does not take (`config.for_fold`: it keeps its held-out share and
selection). `paper_gamma_grid` changes only the evaluation: the project's records are evaluated again.
Switches that cannot be measured here are listed in the README table with the reason.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from neuron import paths
from neuron.atomic import write_json
from neuron.evaluation.protocols import paper_protocol
from neuron.evaluation.records import load_records
from neuron.evaluation.report import evaluate_dirs
from neuron.experiments.reports import result_rows
from neuron.runs import ENCODER_FILE, RECORDS_DIR, RESULTS_JSON, Run
from neuron.tables import markdown_table
from neuron.training.config import OFFICIAL, SWITCHES, for_fold, match_config, pretrain_config
from neuron.training.match import train_or_reuse
from neuron.training.text import description_features

DATASET, BENCHMARK, SPLITS, SEED = "utd", "xsub", ("22_5_1", "22_5_2", "22_5_3"), 1
MODELS = ("neuron", "global")
# variant -> (pretraining fields, matching fields), each set to the official value (config.OFFICIAL)
VARIANTS = {
    "test_augmentation": ({}, {"test_augmentation": True}),
    "weight_decay_groups": ({"weight_decay_groups": OFFICIAL["pretrain"]["weight_decay_groups"]}, {}),
    "encoder_selection": ({"encoder_selection": "test"}, {}),
    "val_fraction": ({"val_fraction": 0.0, "encoder_selection": "test"}, {"val_fraction": 0.0}),
    "paper_gamma_grid": ({}, {"paper_gamma_grid": "official"}),
}
# Folds a variant takes from the project runs, for CPU time: the strict protocol's epoch and gamma come from the
# project's validation fold (README says so next to the table).
PROJECT_FOLDS = {"weight_decay_groups": ("validation",)}
NOT_MEASURED = {
    "descriptions": "not on UTD-MHAD: the paper released descriptions for NTU and PKU-MMD only",
    "text_encoder": "not on UTD-MHAD: goes with descriptions (the released features are CLIP's)",
    "description_topk": "none by construction here: every shipped class has exactly 10 descriptions, where the "
                        "mean of the top 10 is the mean (tests/test_recipes.py checks both cases)",
    "gpu_fast_path": "only on a GPU (on a CPU both settings run fp32 eager); no GPU was lent to this task",
}
WORK = paths.RESULTS_DIR / "recipe_switches"
OUT = paths.REPO_ROOT / "benchmarks" / "results" / f"recipe_switches_{DATASET}.json"


def project_run(split: str, model: str, fold: str) -> Path:
    """The project recipe's run of `model` in `fold`, trained (or reused) as `neuron run` would."""
    run = Run(DATASET, split, BENCHMARK, fold)
    config = match_config(DATASET, seed=SEED, progress=False)
    folder = run.match_dir(model)
    if not (folder / RESULTS_JSON).is_file() and not _finished(folder, config.epochs):
        train_or_reuse(run, description_features(DATASET, config, progress=False), model=model, config=config,
                       pretrain=dict(seed=SEED, progress=False))
    return folder


def _finished(run: Path, epochs: int) -> bool:
    return (run / RECORDS_DIR / f"epoch_{epochs:03d}.npz").is_file()


def variant_results(variant: str, split: str, model: str) -> dict:
    """results.json of `model` on `split` with `variant`'s switch set to the official value."""
    pretrain_fields, match_fields = VARIANTS[variant]
    main_project = project_run(split, model, "main")
    validation_project = project_run(split, model, "validation")
    if variant == "paper_gamma_grid":  # evaluation only: the project's records under the official grid
        results = json.loads((main_project / RESULTS_JSON).read_text(encoding="utf-8"))
        records = load_records(main_project / RECORDS_DIR, results["epochs"]["main"])
        paper = paper_protocol(records, official_grid=True)
        return {**results, "paper": {k: v for k, v in paper.items() if k != "per_epoch"}}
    root = WORK / variant
    dirs = {}
    for fold, project in (("main", main_project), ("validation", validation_project)):
        if fold in PROJECT_FOLDS.get(variant, ()):
            dirs[fold] = project
            continue
        pretrain = pretrain_config(DATASET, seed=SEED, progress=False, **pretrain_fields)
        match = match_config(DATASET, seed=SEED, progress=False, **match_fields)
        if for_fold(pretrain, fold) == for_fold(pretrain_config(DATASET, seed=SEED, progress=False), fold) and \
                for_fold(match, fold) == for_fold(match_config(DATASET, seed=SEED, progress=False), fold):
            dirs[fold] = project  # the switch leaves this fold as the project runs it
            continue
        # a matching-stage switch keeps the project's encoder
        encoder = None if pretrain_fields else Run(DATASET, split, BENCHMARK, fold).encoder_dir() / ENCODER_FILE
        dirs[fold] = train_or_reuse(Run(DATASET, split, BENCHMARK, fold, root=root),
                                    description_features(DATASET, match, progress=False), model=model, config=match,
                                    pretrain=dict(seed=SEED, progress=False, **pretrain_fields), encoder_path=encoder)
    out = WORK / variant / "evaluated" / split / model
    out.mkdir(parents=True, exist_ok=True)
    return evaluate_dirs(dirs["main"], dirs["validation"], out_dir=out)


def run(switches) -> None:
    """Each (switch, split) not done yet and not taken by another worker (a lock file while it runs)."""
    (WORK / "locks").mkdir(parents=True, exist_ok=True)
    for variant in switches:
        for split in SPLITS:
            outs = {model: WORK / "rows" / f"{variant}_{split}_{model}.json" for model in MODELS}
            lock = WORK / "locks" / f"{variant}_{split}"
            if all(out.is_file() for out in outs.values()):
                continue
            try:
                lock.touch(exist_ok=False)
            except FileExistsError:
                continue  # another worker has it
            try:
                for model, out in outs.items():
                    if not out.is_file():
                        rows = result_rows(variant_results(variant, split, model), seed=SEED, dataset=DATASET)
                        write_json(out, [{**r, "variant": variant} for r in rows])
                        print(f"{variant} {split} {model}: done", flush=True)
            finally:
                lock.unlink()


def collect() -> None:
    """The project's rows and every finished variant's into OUT, and the README table from them."""
    rows = []
    for split in SPLITS:
        for model in MODELS:
            results = json.loads((project_run(split, model, "main") / RESULTS_JSON).read_text(encoding="utf-8"))
            rows += [{**r, "variant": "project"} for r in result_rows(results, seed=SEED, dataset=DATASET)]
    for path in sorted((WORK / "rows").glob("*.json")):
        rows += json.loads(path.read_text(encoding="utf-8"))
    write_json(OUT, rows)
    print(f"{OUT} written ({len(rows)} rows)")
    render_readme(rows)


def _mean(rows, variant, model, protocol, metric):
    values = [r[metric] for r in rows if (r["variant"], r["model"], r["protocol"]) == (variant, model, protocol)]
    return sum(values) / len(values) if len(values) == len(SPLITS) else None


def _delta(rows, variant, model, protocol, metric) -> str:
    base, new = (_mean(rows, v, model, protocol, metric) for v in ("project", variant))
    return "-" if base is None or new is None else f"{new - base:+.1f}"


def switches_table(rows) -> str:
    official = {**OFFICIAL["pretrain"], **OFFICIAL["match"]}
    project = {**pretrain_config(DATASET).to_dict(), **match_config(DATASET).to_dict()}
    header = ["switch", "official", "project default", "why the default differs", "Neuron ZSL / H, paper",
              "Neuron ZSL / H, strict", "global ZSL / H, strict"]
    table = []
    for switch, why in SWITCHES.items():
        if switch in NOT_MEASURED:
            effect = [NOT_MEASURED[switch], "", ""]
        else:
            effect = [f"{_delta(rows, switch, m, p, 'zsl')} / {_delta(rows, switch, m, p, 'gzsl_h')}"
                      for m, p in (("neuron", "paper"), ("neuron", "strict"), ("global", "strict"))]
        table.append([f"`{switch}`", f"`{_value(official[switch])}`", f"`{_value(project[switch])}`", why, *effect])
    return markdown_table(header, table) + "\n"


def _value(value) -> str:
    return json.dumps(value) if isinstance(value, (list, tuple)) else str(value)


def _seed_spread() -> dict:
    """{(model, protocol): "ZSL / H"}: the standard deviation over seeds of the mean over the splits,
    from the committed report of the project recipe's seeds."""
    report = json.loads((paths.REPO_ROOT / "reports" / f"{DATASET}.json").read_text(encoding="utf-8"))
    spread = {}
    for model in MODELS:
        for protocol in ("paper", "strict"):
            chosen = [r for r in report if (r["model"], r["protocol"]) == (model, protocol)]
            seeds = sorted({r["seed"] for r in chosen})
            means = {m: [np.mean([r[m] for r in chosen if r["seed"] == s]) for s in seeds] for m in ("zsl", "gzsl_h")}
            spread[model, protocol] = f"{np.std(means['zsl'], ddof=1):.1f} / {np.std(means['gzsl_h'], ddof=1):.1f}"
    return spread


def render_readme(rows) -> None:
    readme = paths.REPO_ROOT / "README.md"
    start, end = "<!-- recipe-switches -->", "<!-- /recipe-switches -->"
    text = readme.read_text(encoding="utf-8")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    base = {m: {p: (_mean(rows, "project", m, p, "zsl"), _mean(rows, "project", m, p, "gzsl_h")) for p in
                ("paper", "strict")} for m in MODELS}
    spread = _seed_spread()
    note = (f"Effect = the switch's mean over the three UTD-MHAD 22/5 splits (seed {SEED}) minus the project "
            f"recipe's, in points of ZSL top-1 / GZSL H. Project recipe means: Neuron paper "
            f"{base['neuron']['paper'][0]:.1f} / {base['neuron']['paper'][1]:.1f}, strict "
            f"{base['neuron']['strict'][0]:.1f} / {base['neuron']['strict'][1]:.1f}; global strict "
            f"{base['global']['strict'][0]:.1f} / {base['global']['strict'][1]:.1f}. For scale, the same means vary "
            f"from one seed (encoders and matching) to another by (standard deviation over seeds 1-3, "
            f"reports/{DATASET}.json): "
            f"Neuron paper {spread['neuron', 'paper']}, strict {spread['neuron', 'strict']}; global strict "
            f"{spread['global', 'strict']}. An effect smaller than that is not told apart from the seed by one run.")
    block = (f"{start}\n<!-- written by `python benchmarks/recipe_switches.py collect` from "
             f"benchmarks/results/recipe_switches_{DATASET}.json; do not edit by hand -->\n\n"
             f"{switches_table(rows)}\n{note}\n{end}")
    readme.write_text(head + block + tail, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train and evaluate variants (resumable: finished ones are skipped)")
    r.add_argument("--switches", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    sub.add_parser("collect", help="write the JSON and the README table from the finished variants")
    args = parser.parse_args()
    run(args.switches) if args.command == "run" else collect()


if __name__ == "__main__":
    main()
