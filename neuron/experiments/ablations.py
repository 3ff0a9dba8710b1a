"""Ablations of the matching stage: the paper's Table 6 (its mechanisms switched on one by one),
Figure 3 (the numbers of micro-prototypes N_s and N_t) and Table 5 (random splits).

Every variant is the same training code (`train_matching`) with other NeuronHead options and a
run name of its own, so variants never overwrite each other or notebook 03's runs:

    <results_dir>/runs/<dataset>/<benchmark>/<split>/main/ablation-<options>-<digest>/

<options> names the head options that differ from NeuronHead's defaults ("default" when none
does); <digest> hashes them with the training configuration, the encoder file and the text
features (what a resumed run must agree on). A variant that
coincides with another (Table 6's full model is N_s = 80 and N_t = 80 of Figure 3) is therefore
one run, a rerun with the same settings reuses the finished run, and other settings (epochs,
seed, ...) get a directory of their own.

Cost control: only the main fold is trained (no validation fold, hence no strict protocol).
Each run reports two protocols on its per-epoch test records:
- paper: the official one (spatial OR temporal right; epoch and calibration chosen on the test set);
- last: one fused prediction at the last epoch, GZSL uncalibrated (gamma 0); no test label chooses
  anything (`neuron.evaluation.protocols.fixed_epoch_protocol`).
"""

import hashlib
import inspect
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from tqdm import tqdm

from neuron import tables
from neuron.atomic import atomic_path, write_json
from neuron.data.datasets import DATASETS, dataset_info
from neuron.data.splits import split_names
from neuron.errors import MissingInputError
from neuron.evaluation.protocols import fixed_epoch_protocol, paper_protocol
from neuron.evaluation.records import load_records
from neuron.models.neuron import TABLE6_ROWS, NeuronHead
from neuron.runs import ENCODER_FILE, RECORDS_DIR, Run
from neuron.training.config import MatchConfig, pretrain_config, resume_relevant
from neuron.training.match import text_sha256, train_or_reuse
from neuron.training.pretrain import pretrain_or_reuse

# Prototype counts of the full Figure 3 sweep: the paper's accuracy peaks near N_s = 100 and
# N_t = 50 and stays high beyond (REFERENCE.md); this grid spans that range around the default 80.
FULL_PROTOTYPE_COUNTS = (20, 50, 80, 100, 150, 200)
# The paper's numbers (ZSL top-1, GZSL H in %), shown beside ours for orientation.
PAPER_TABLE6 = {"neither": (79.9, 65.9), "+spatial_granularity": (81.0, 66.3), "+temporal_evolving": (81.2, 67.1),
                "+spatial_compression": (81.7, 69.9), "full": (86.9, 71.4)}  # NTU60 Xsub 55/5
PROTOTYPE_OPTIONS = {"spatial": "num_spatial", "temporal": "num_temporal"}  # Figure 3's two sweeps
METRIC_COLUMNS = ("ZSL paper", "S paper", "U paper", "H paper", "ZSL last", "S last", "U last", "H last")
RANDOM_SPLIT = re.compile(r"r\d+")
ALL = "all"  # a grid parameter meaning "the full grid"


# ---------------------------------------------------------------- the grids

def _items(value) -> list:
    """A grid parameter as a list: a list or tuple as it is, one int or name as a list of it, and
    a string of comma-separated items ("20,80", "[20, 80]", "['neither', 'full']": papermill's
    `-p` passes a list as such a string) as its items, digits as ints."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if not isinstance(value, str):
        return [value]
    items = [v.strip(" '\"") for v in value.strip(" []()").split(",")]
    return [int(v) if v.isdigit() else v for v in items if v]


def table6_rows(value) -> list[str]:
    """Table 6 rows to run: names of TABLE6_ROWS (in table order), or "all"."""
    rows = list(TABLE6_ROWS) if value == ALL else [str(v) for v in _items(value)]
    unknown = [r for r in rows if r not in TABLE6_ROWS]
    if unknown:
        raise ValueError(f"unknown Table 6 rows {unknown}; rows: {list(TABLE6_ROWS)}")
    return [r for r in TABLE6_ROWS if r in rows]


def prototype_counts(value) -> list[int]:
    """Prototype counts of one Figure 3 sweep, sorted: positive integers, or "all" (FULL_PROTOTYPE_COUNTS)."""
    counts = list(FULL_PROTOTYPE_COUNTS) if value == ALL else _items(value)
    if any(isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 1 for c in counts):
        raise ValueError(f"prototype counts must be positive integers, got {counts}")
    return sorted(set(int(c) for c in counts))


def random_splits(dataset, value) -> list[str]:
    """Random splits to run: names among the dataset's "r1", "r2", ..., "all" (every one it has),
    or a count n (its first n, as many as it has). Datasets without random splits (UTD-MHAD, a
    custom dataset) have none."""
    name = dataset_info(dataset).name
    registered = split_names(name) if name in DATASETS else []  # a custom dataset registers no split
    available = [s for s in registered if RANDOM_SPLIT.fullmatch(s)]
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"a count of random splits must be >= 0, got {value}")
        return available[:value]
    wanted = available if value == ALL else [str(v) for v in _items(value)]
    unknown = [s for s in wanted if s not in available]
    if unknown:
        raise ValueError(f"{dataset} has no random splits {unknown}; it has {available or 'none'}")
    return wanted


# ---------------------------------------------------------------- one variant

def _neuron_defaults() -> dict:
    return {name: p.default for name, p in inspect.signature(NeuronHead).parameters.items()}


def canonical_head_kwargs(head_kwargs: Mapping | None) -> dict:
    """NeuronHead options without those equal to its defaults, sorted by name: two settings that
    build the same head give the same dict."""
    defaults = _neuron_defaults()
    head_kwargs = dict(head_kwargs or {})
    unknown = sorted(set(head_kwargs) - set(defaults))
    if unknown:
        raise ValueError(f"unknown NeuronHead options {unknown}; options: {sorted(defaults)}")
    normalised = {k: tuple(v) if isinstance(v, list) else v for k, v in head_kwargs.items()}
    return {k: normalised[k] for k in sorted(normalised) if normalised[k] != defaults[k]}


def _option_slug(name: str, value) -> str:
    if isinstance(value, bool):
        return name if value else f"no_{name}"
    if isinstance(value, tuple):
        return f"{name}{'_'.join(str(v) for v in value)}"
    return f"{name}{value}"


def ablation_run_name(head_kwargs: Mapping | None, config: MatchConfig, *, encoder_sha256: str,
                      text_sha256: str) -> str:
    """ablation-<options>-<digest> (module docstring): the digest covers what `train_matching`
    checks when it resumes a run (options, configuration, encoder file and text features), so a
    changed input gets a new directory instead of a resume error."""
    options = canonical_head_kwargs(head_kwargs)
    slug = "-".join(_option_slug(k, v) for k, v in options.items()) or "default"
    identity = json.dumps({"head_kwargs": options, "config": resume_relevant(config), "encoder": encoder_sha256,
                           "text": text_sha256}, sort_keys=True)
    return f"ablation-{slug}-{hashlib.sha256(identity.encode()).hexdigest()[:8]}"


def evaluate_main_fold(run_dir, epochs: int, official_grid: bool) -> dict:
    """Both protocols of a main-fold run from its `epochs` test records: "paper"
    (`paper_protocol`, without its per-epoch details) and "last" (`fixed_epoch_protocol`)."""
    records = load_records(Path(run_dir) / RECORDS_DIR, epochs)
    paper = {k: v for k, v in paper_protocol(records, official_grid).items() if k != "per_epoch"}
    return {"paper": paper, "last": fixed_epoch_protocol(records)}


def run_variant(run: Run, text: Mapping[str, np.ndarray], head_kwargs: Mapping | None = None, *,
                config: MatchConfig) -> dict:
    """Train (or reuse) the Neuron head with `head_kwargs` on the main fold of `run` and evaluate it.

    text: description features {stream: (P, K, N_a, D)} of every class, made by config.text_encoder
    (recorded in match.pt). The split's main encoder must exist
    (`pretrain_or_reuse`). Returns {"run": run name, "head_kwargs": canonical options, "paper": ...,
    "last": ...} (`evaluate_main_fold`).
    """
    options = canonical_head_kwargs(head_kwargs)
    main = run.with_(fold="main", name=None)
    encoder = main.encoder_dir(config.seed, config.recipe) / ENCODER_FILE
    if not encoder.is_file():
        raise MissingInputError(f"no encoder at {encoder} (pretrain it first: pretrain_or_reuse)")
    name = ablation_run_name(options, config, encoder_sha256=hashlib.sha256(encoder.read_bytes()).hexdigest(),
                             text_sha256=text_sha256(text))
    run_dir = train_or_reuse(main.with_(name=name), text, head_kwargs=options, config=config, encoder_path=encoder)
    return {"run": name, "head_kwargs": options,
            **evaluate_main_fold(run_dir, config.epochs, config.paper_gamma_grid == "official")}


# ---------------------------------------------------------------- the experiments

def run_table6(run: Run, text, rows: Iterable[str], *, config: MatchConfig, progress: bool = True) -> dict[str, dict]:
    """{row: run_variant result} for Table 6 rows (names of TABLE6_ROWS, or "all")."""
    return {row: run_variant(run, text, TABLE6_ROWS[row], config=config)
            for row in tqdm(table6_rows(rows), desc="Table 6 rows", disable=not progress)}


def run_prototype_sweep(run: Run, text, spatial_counts: Iterable[int], temporal_counts: Iterable[int], *,
                        config: MatchConfig, progress: bool = True) -> dict[tuple[str, int], dict]:
    """{(stream, count): run_variant result}: N_s over spatial_counts (N_t at its default), then
    N_t over temporal_counts (N_s at its default), the other options at NeuronHead's defaults."""
    points = [("spatial", n) for n in prototype_counts(spatial_counts)]
    points += [("temporal", n) for n in prototype_counts(temporal_counts)]
    return {(stream, n): run_variant(run, text, {PROTOTYPE_OPTIONS[stream]: n}, config=config)
            for stream, n in tqdm(points, desc="prototype counts", disable=not progress)}


def run_random_splits(run: Run, splits: Iterable[str], text, *, config: MatchConfig,
                      pretrain: Mapping | None = None, progress: bool = True) -> dict[str, dict]:
    """{split: run_variant result} of the default Neuron head on each random split (names or
    "all") of `run`'s dataset, each on a main encoder of its own (the unseen classes differ),
    pretrained with `pretrain_config(dataset, **pretrain)` where missing. An existing encoder must
    have been pretrained with exactly those settings (an error names the difference): a grid with
    fewer pretraining epochs never passes for one with the default."""
    settings = pretrain_config(run.dataset, **dict(pretrain or {})).to_dict()  # every field explicit
    results = {}
    for split in tqdm(random_splits(run.dataset, splits), desc="random splits", disable=not progress):
        split_run = run.with_(split=split, fold="main", name=None)
        pretrain_or_reuse(split_run, **settings)
        results[split] = run_variant(split_run, text, None, config=config)
    return results


# ---------------------------------------------------------------- tables

def metric_row(result: Mapping) -> dict[str, float]:
    """The METRIC_COLUMNS of one run_variant result, in %."""
    paper, last = result["paper"], result["last"]
    values = (paper["zsl"]["top1"], paper["gzsl"]["seen"], paper["gzsl"]["unseen"], paper["gzsl"]["harmonic"],
              last["zsl"]["top1"], last["gzsl"]["seen"], last["gzsl"]["unseen"], last["gzsl"]["harmonic"])
    return {column: 100 * v for column, v in zip(METRIC_COLUMNS, values)}


def table6_frame(results: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per Table 6 row: our metrics, the paper's ZSL and H (NTU60 Xsub 55/5), the run."""
    rows = [{"row": row, **metric_row(result), "ZSL in paper": PAPER_TABLE6[row][0],
             "H in paper": PAPER_TABLE6[row][1], "run": result["run"]} for row, result in results.items()]
    return pd.DataFrame(rows, columns=["row", *METRIC_COLUMNS, "ZSL in paper", "H in paper", "run"]).set_index("row")


def prototype_frame(results: Mapping[tuple[str, int], Mapping]) -> pd.DataFrame:
    """One row per Figure 3 point: the swept stream, its prototype count, our metrics, the run."""
    rows = [{"stream": stream, "prototypes": count, **metric_row(r), "run": r["run"]}
            for (stream, count), r in results.items()]
    return pd.DataFrame(rows, columns=["stream", "prototypes", *METRIC_COLUMNS, "run"]).set_index(
        ["stream", "prototypes"])


def random_split_frame(results: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per random split, then their mean and (sample, ddof 1) standard deviation."""
    frame = pd.DataFrame([{"split": s, **metric_row(r)} for s, r in results.items()],
                         columns=["split", *METRIC_COLUMNS]).set_index("split")
    if frame.empty:
        return frame
    summary = pd.DataFrame({"mean": frame.mean(), "std": frame.std(ddof=1)}).T
    return pd.concat([frame, summary]).rename_axis("split")


def markdown_table(frame: pd.DataFrame, digits: int = 1) -> str:
    """A GitHub markdown table of `frame` (index as the first columns), floats rounded."""
    flat = frame.reset_index()

    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else f"{v:.{digits}f}"
        return str(v)
    numeric = [pd.api.types.is_numeric_dtype(flat[c]) for c in flat.columns]
    return tables.markdown_table(flat.columns, ([cell(v) for v in row] for row in flat.itertuples(index=False)),
                                 numeric)


def write_table(frame: pd.DataFrame, path_stem, *, title: str, notes: Sequence[str] = (),
                meta: Mapping | None = None, digits: int = 1) -> tuple[Path, Path]:
    """Write `frame` as <path_stem>.md (title, notes, table with floats to `digits` places) and
    <path_stem>.json ({"meta", "columns", "rows"}: one object per row, index included, full
    precision). Returns both paths."""
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    md, js = stem.with_suffix(".md"), stem.with_suffix(".json")
    text = [f"# {title}", "", *notes, *([""] if notes else []), markdown_table(frame, digits), ""]
    with atomic_path(md) as tmp:
        tmp.write_text("\n".join(text), encoding="utf-8")
    flat = frame.reset_index()
    rows = json.loads(flat.to_json(orient="records"))  # NaN -> null
    write_json(js, {"meta": dict(meta or {}), "columns": list(map(str, flat.columns)), "rows": rows})
    return md, js


def plot_prototype_sweep(frame: pd.DataFrame, *, chance: float | None = None, title: str = ""):
    """Figure 3's analogue from prototype_frame: accuracy (%) against N_s (left) and N_t (right),
    ZSL and GZSL H under both protocols; chance: the ZSL chance level (100 / unseen classes)."""
    streams = list(dict.fromkeys(frame.index.get_level_values("stream")))
    if not streams:
        raise ValueError("no prototype counts to plot")
    fig, axes = plt.subplots(1, len(streams), figsize=(4.2 * len(streams), 3.4), squeeze=False, sharey=True)
    lines = (("ZSL paper", "ZSL, paper protocol", "-", "o"), ("ZSL last", "ZSL, last epoch", "--", "o"),
             ("H paper", "GZSL H, paper protocol", "-", "s"), ("H last", "GZSL H, last epoch (γ = 0)", "--", "s"))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    symbol = {"spatial": "$N_s$", "temporal": "$N_t$"}
    for ax, stream in zip(axes[0], streams):
        part = frame.xs(stream, level="stream")
        for (column, label, style, marker), color in zip(lines, colors):
            ax.plot(part.index, part[column], style, marker=marker, color=color, label=label)
        if chance is not None:
            ax.axhline(chance, color="gray", lw=0.8, ls=":", label="ZSL chance")
        ax.set_xticks(part.index)
        ax.set_xlabel(f"{stream} prototypes {symbol[stream]}")
        other = "temporal" if stream == "spatial" else "spatial"
        ax.set_title(f"{symbol[other]} = {_neuron_defaults()[PROTOTYPE_OPTIONS[other]]}", fontsize=10)
    axes[0, 0].set_ylabel("accuracy (%)")
    axes[0, 0].set_ylim(bottom=0)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.02))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig
