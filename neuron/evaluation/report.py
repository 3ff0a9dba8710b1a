"""Evaluate a trained matching run under both protocols; write results.json and results.md.

Reads only what training stored: the main fold's match.pt and per-epoch records (test
set), and the validation fold's (same run name) for the strict protocol. Deterministic:
no model is run here, so evaluating twice gives identical files.
"""

from pathlib import Path

from neuron import tables
from neuron.atomic import atomic_path, write_json
from neuron.data.datasets import order_twins
from neuron.errors import MissingInputError, UserError
from neuron.evaluation.metrics import order_pair_confusion
from neuron.evaluation.protocols import paper_protocol, separate_streams, strict_protocol
from neuron.evaluation.records import load_records
from neuron.models.zero_shot import MATCH_FORMAT
from neuron.runs import HELDOUT_RECORDS, MATCH_FILE, RECORDS_DIR, RESULTS_JSON, RESULTS_MD, Run, load_model_file


def evaluate(run: Run) -> dict:
    """Evaluate the matching run `run` (its name: default "neuron"; its fold is ignored) from its
    main-fold folder and its validation-fold twin; writes results.json and results.md into the
    main fold's folder and returns the results."""
    return evaluate_dirs(run.with_(fold="main").match_dir("neuron"), run.with_(fold="validation").match_dir("neuron"))


def evaluate_dirs(main_dir, validation_dir, out_dir=None) -> dict:
    """Both protocols from a main-fold run directory and its validation-fold twin."""
    main_dir, validation_dir = Path(main_dir), Path(validation_dir)
    out_dir = Path(out_dir) if out_dir is not None else main_dir
    main, validation = _run_meta(main_dir, "main"), _run_meta(validation_dir, "validation")
    for key in ("dataset", "benchmark", "split", "model", "head_kwargs"):
        if main[key] != validation[key]:
            raise ValueError(f"{main_dir} and {validation_dir} differ in {key}: {main[key]!r} vs {validation[key]!r}")
    test_records = load_records(main_dir / RECORDS_DIR, main["epochs_done"])
    validation_records = load_records(validation_dir / RECORDS_DIR, validation["epochs_done"])
    heldout_dir = main_dir / RECORDS_DIR / HELDOUT_RECORDS  # absent in runs trained before it existed
    heldout_records = load_records(heldout_dir, main["epochs_done"]) if heldout_dir.is_dir() else None
    strict = strict_protocol(validation_records, test_records, heldout_records)
    strict["validation_encoder"] = {"path": validation["encoder_path"], "fold": validation["encoder_fold"],
                                    "saw_pseudo_unseen": validation["encoder_saw_unseen"],
                                    "holdout": validation.get("holdout", "samples")}  # folds.Fold.holdout
    order = _order_pairs(strict, main["dataset"], test_records[0].unseen_classes)
    if order:
        strict["order_pairs"] = order
    is_unseen = test_records[0].is_unseen
    results = {
        "dataset": main["dataset"], "benchmark": main["benchmark"], "split": main["split"],
        "run": main_dir.name, "model": main["model"], "head_kwargs": main["head_kwargs"],
        "classes": {"seen": main["train_classes"], "unseen": main["unseen_classes"],
                    "pseudo_unseen": strict["pseudo_unseen_classes"]},
        "test_samples": {"seen": int((~is_unseen).sum()), "unseen": int(is_unseen.sum())},
        "epochs": {"main": main["epochs_done"], "validation": validation["epochs_done"]},
        "paper": paper_protocol(test_records, official_grid=main["config"].get("paper_gamma_grid") == "official"),
        "strict": strict,
    }
    write_json(out_dir / RESULTS_JSON, results)
    with atomic_path(out_dir / RESULTS_MD) as tmp:
        tmp.write_text(markdown_table(results), encoding="utf-8")
    return results


def _order_pairs(strict: dict, dataset, unseen) -> dict:
    """Strict ZSL on unseen classes whose order twin is unseen too, per view (fused, each stream):
    {view: order_pair_confusion}; empty where the split has no such pair."""
    twins = order_twins(dataset)
    views = {"fused": strict, **separate_streams(strict)}
    order = {name: order_pair_confusion(view["zsl"]["confusion"], unseen, twins) for name, view in views.items()}
    return order if order["fused"] else {}


def _run_meta(run_dir: Path, fold: str) -> dict:
    path = run_dir / MATCH_FILE
    if not path.is_file():
        raise MissingInputError(f"no {MATCH_FILE} in {run_dir} (train the {fold} fold first: "
                                f"`neuron train ... --fold {fold}`)")
    payload = load_model_file(path, MATCH_FORMAT, "matching model", f"neuron train ... --fold {fold}")
    if payload.get("fold") != fold:
        raise UserError(f"{path} is not a {fold}-fold matching run (train one with `neuron train ... --fold {fold}`)")
    return {k: v for k, v in payload.items() if k != "state_dict"}


_CALIBRATIONS = {"rank": "γ carried by rank", "absolute": "validation γ as an absolute value",
                 "none": "uncalibrated (γ 0)"}


def _fusion(view: str, streams) -> str:
    """"fused@0.25" -> "spatial 0.25 + temporal 0.75"; a stream's name or "fused" (1:1) as it is."""
    if not view.startswith("fused@"):
        return "1:1" if view == "fused" else f"{view} alone"
    w = float(view.split("@")[1])
    spatial, temporal = streams
    return f"{spatial} {w:g} + {temporal} {1 - w:g}"


def _strict_gamma(gzsl: dict) -> str:
    if gzsl.get("calibration") == "rank":
        return f"{gzsl['gamma']:.4f} ({gzsl['share']:.0%} of held-out seen clips flipped, as on validation)"
    return f"{gzsl['gamma']:.4f} (validation's value)"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def markdown_table(results: dict) -> str:
    """Both protocols side by side: ZSL top-1, GZSL seen / unseen / harmonic mean and AUSUC (in
    %), the epochs and calibration chosen; under the strict protocol each stream alone too."""
    paper, strict = results["paper"], results["strict"]
    paper_gamma = ", ".join(f"{s} {g:.5f}" for s, g in paper["gzsl"]["gamma"].items())
    rows = [("paper: spatial OR temporal right; epoch and γ on the test set", paper, paper_gamma + " (softmax)"),
            ("strict: one fused prediction; epoch and γ on validation", strict, _strict_gamma(strict["gzsl"]))]
    streams = separate_streams(strict)
    rows += [(f"strict: {name} stream alone", view, _strict_gamma(view["gzsl"])) for name, view in streams.items()]
    if "gated" in strict:
        rows.append(("strict: GZSL gated by the encoder's classifier (threshold on its confidence)", strict["gated"],
                     _strict_gamma(strict["gated"]["gzsl"])))
    chosen = strict.get("chosen_fusion")
    if chosen and streams:
        rows.append((f"strict: fusion chosen on validation (ZSL {_fusion(chosen['zsl']['view'], streams)}, "
                     f"GZSL {_fusion(chosen['gzsl']['view'], streams)})", chosen, _strict_gamma(chosen["gzsl"])))
    lines = [f"# {results['run']} ({results['model']}): {results['dataset']} {results['benchmark']}, "
             f"split {results['split']}", "",
             f"Unseen classes {results['classes']['unseen']}; test samples: {results['test_samples']['seen']} "
             f"seen, {results['test_samples']['unseen']} unseen. Pseudo-unseen (validation) classes "
             f"{results['classes']['pseudo_unseen']}.", ""]
    header = ["protocol", "ZSL top-1", "GZSL S", "GZSL U", "GZSL H", "AUSUC", "ZSL epoch", "GZSL epoch", "γ"]
    table = [[name, _pct(r["zsl"]["top1"]), _pct(r["gzsl"]["seen"]), _pct(r["gzsl"]["unseen"]),
              _pct(r["gzsl"]["harmonic"]), _pct(r["ausuc"]) if "ausuc" in r else "-", r["zsl"]["epoch"],
              r["gzsl"]["epoch"], gamma] for name, r, gamma in rows]
    lines.append(tables.markdown_table(header, table, [False] + [True] * 7 + [False]))
    others = {k: c for k, c in strict.get("calibrations", {}).items() if k != strict["gzsl"].get("calibration")}
    if others:
        lines += ["", "Strict fused GZSL under the other calibrations: " + "; ".join(
            f"{_CALIBRATIONS[k]} S {_pct(c['seen'])} / U {_pct(c['unseen'])} / H {_pct(c['harmonic'])}"
            for k, c in others.items()) + "."]
    if strict.get("order_pairs"):
        order = strict["order_pairs"]
        lines += ["", f"Order pairs (the {order['fused']['clips']} unseen clips of classes whose reversed twin is "
                      "unseen too), strict ZSL right / given to the twin: " + "; ".join(
                          f"{name} {_pct(o['zsl'])} / {_pct(o['swapped'])}" for name, o in order.items()) + "."]
    v = strict["gzsl"]["validation"]
    encoder = strict["validation_encoder"]
    lines += ["", f"Paper γ grid: {paper['gamma_grid']}. Strict protocol on validation: "
                  f"pseudo-ZSL {_pct(strict['zsl']['validation_top1'])}, "
                  f"pseudo-GZSL S {_pct(v['seen'])} / U {_pct(v['unseen'])} / H {_pct(v['harmonic'])}; "
                  f"validation encoder from the {encoder['fold']} fold"
                  + (" (it was trained on the pseudo-unseen classes)" if encoder["saw_pseudo_unseen"] else "")
                  + "; the validation fold's seen clips are "
                  + ("held-out subjects' clips." if encoder.get("holdout") == "subjects"
                     else "a held-out share of each class's clips."),
              ""]
    return "\n".join(lines)
