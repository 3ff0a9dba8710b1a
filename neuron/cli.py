"""Command line: `python -m neuron <command> ...` (or the `neuron` console script).

Each command's work lives in the package; this module only parses arguments and imports the
module that does the work when the command runs, so `--help` stays fast.
"""

import argparse
import logging
import os
import sys
from pathlib import Path

from neuron.errors import DamagedFileError, MissingInputError, UserError
from neuron.paths import DATA_DIR, shared_data_dir

PREPARABLE = ("ntu60", "ntu120", "pku", "utd", "synthetic", "custom")
SPLITS_ADD = "splits-add"  # the parser of `neuron splits add`


def _cmd_prepare(args) -> None:
    out = Path(args.out) if args.out else DATA_DIR / args.dataset
    if args.dataset in ("ntu60", "ntu120", "pku", "custom") and not args.raw:
        raise UserError(f"--raw is required (give the raw data "
                        f"{'.npz file' if args.dataset == 'custom' else 'directory'})")
    if args.dataset in ("ntu60", "ntu120"):
        from neuron.data.ntu import prepare_ntu
        prepare_ntu(args.dataset, args.raw, out, workers=args.workers, missing_file=args.missing,
                    overwrite=args.overwrite)
    elif args.dataset == "pku":
        from neuron.data.pku import prepare_pku
        prepare_pku(args.raw, out, workers=args.workers, overwrite=args.overwrite)
    elif args.dataset == "utd":
        from neuron.data.utd import prepare_utd
        prepare_utd(args.raw or shared_data_dir() / "utd_mhad", out, overwrite=args.overwrite)
    elif args.dataset == "synthetic":
        from neuron.data.synthetic import prepare_synthetic
        prepare_synthetic(out, samples_per_class=args.samples_per_class, seed=args.seed, overwrite=args.overwrite)
    else:
        from neuron.data.custom import prepare_custom
        prepare_custom(args.raw, out, overwrite=args.overwrite, center=args.center)
        print("custom: every clip translated to its layout's centre joint, as the models expect"
              if args.center else "custom: coordinates kept as given (--no-center)")
    print(f"prepared {args.dataset} in {out}")


def _cmd_export(args) -> None:
    from neuron.data.custom import export_custom

    path = export_custom(args.dataset, args.out, benchmark=args.benchmark)
    print(f"{args.dataset} written as a custom dataset file {path} (`neuron prepare custom --raw {path} ...`)")


def _cmd_info(args) -> None:
    from neuron.data.datasets import dataset_dir
    from neuron.data.store import read_manifest, read_meta

    path = dataset_dir(args.dataset)
    meta, manifest = read_meta(path), read_manifest(path)
    lacking = [c for c in ("frames", *meta["benchmarks"]) if c not in manifest.columns]
    if lacking:
        raise DamagedFileError(f"{path / 'manifest.csv'} lacks the columns {lacking} that {path / 'meta.json'} "
                               f"names (prepare the dataset again with `neuron prepare ... --overwrite`)")
    print(f"{meta['name']} in {path}: {meta['num_samples']} samples, {len(meta['class_names'])} classes, "
          f"layout {meta['layout']}, x shaped (N, 3, {meta['max_frames']}, {meta['num_joints']}, "
          f"{meta['num_persons']})")
    print(f"frames per sample: min {manifest['frames'].min()}, median {int(manifest['frames'].median())}, "
          f"max {manifest['frames'].max()}")
    for bench in meta["benchmarks"]:
        counts = manifest[bench].value_counts()
        print(f"benchmark {bench}: " + ", ".join(f"{part} {counts.get(part, 0)}" for part in ("train", "test")))


def _cmd_splits(args) -> None:
    from neuron.data.splits import list_splits

    splits = list_splits(args.dataset)
    if not splits:
        print(f"{args.dataset} has no zero-shot split yet; add one with "
              f"`neuron splits add {args.dataset} NAME --unseen CLASS [CLASS ...]`")
    for split in splits:
        print(f"{split.dataset:10s} {split.name:8s} {len(split.seen):3d} seen / {len(split.unseen):2d} unseen: "
              f"{list(split.unseen)} {split.unseen_names}")


def _cmd_splits_add(args) -> None:
    from neuron.data.splits import add_split

    split = add_split(args.dataset, args.name, args.unseen)
    print(f"split {split.name} of {args.dataset}: {len(split.seen)} seen / {len(split.unseen)} unseen: "
          f"{split.unseen_names}")


def _cmd_side_info_generate(args) -> None:
    import json

    from neuron.data.datasets import class_names
    from neuron.side_info.generate import SideInfoGenerationError, generate_side_info
    from neuron.side_info.shipped import side_info_target

    cache_dir, key = side_info_target(args.dataset, args.cache_dir)
    similar = json.loads(Path(args.similar).read_text()) if args.similar else None
    try:
        generate_side_info(class_names(args.dataset), dataset=key, cache_dir=cache_dir,
                           model=args.model, base_url=args.base_url, n_descriptions=args.n_descriptions,
                           similar=similar, workers=args.workers, max_retries=args.max_retries,
                           timeout=args.timeout, temperature=args.temperature, seed=args.seed,
                           response_format=args.response_format, max_tokens=args.max_tokens)
    except SideInfoGenerationError as err:
        raise UserError(str(err)) from err
    print(f"side information for {args.dataset} complete in {Path(cache_dir) / key}")


def _cmd_side_info_import(args) -> None:
    from neuron.side_info.official import import_official
    from neuron.text.features import save_text_features
    from neuron.training.text import official_features_path

    features_out = args.features_out or official_features_path(args.dataset)
    official = import_official(args.semantics, args.dataset, cache_dir=args.cache_dir)
    save_text_features(features_out, official.features, official.class_names)
    print(f"imported {len(official.class_names)} classes of the paper's release for {args.dataset}; their CLIP "
          f"features in {features_out}" + ("" if args.features_out else " (where --recipe official finds them)"))


def _cmd_side_info_import_json(args) -> None:
    from neuron.side_info.user_json import import_side_info_json

    written = import_side_info_json(args.json, args.dataset, cache_dir=args.cache_dir)
    print(f"imported {len(written)} classes of {args.json} into {written[0].parent}")


def _cmd_side_info_export(args) -> None:
    from neuron.side_info.user_json import export_side_info_json

    out = export_side_info_json(args.dataset, args.json, args.cache_dir)
    print(f"side information of {args.dataset} written to {out}")


def _cmd_side_info_check(args) -> None:
    from neuron.data.datasets import class_names
    from neuron.side_info.shipped import side_info_location
    from neuron.side_info.user_json import side_info_problems

    home, folder = side_info_location(args.dataset, args.cache_dir)
    problems = side_info_problems(args.dataset, args.cache_dir)
    total = len(class_names(args.dataset))
    for name, problem in problems.items():
        print(f"{name}: {problem}")
    print(f"{args.dataset}: {total - len(problems)} of {total} classes complete in {home / folder}")
    if problems:
        sys.exit(1)


def _run(args, name: str | None = None):
    """The Run that --dataset, --split, --benchmark and --fold name."""
    from neuron.runs import Run

    return Run(args.dataset, _split(args), benchmark=args.benchmark, fold=getattr(args, "fold", "main"), name=name)


def _split(args):
    """The split named by --dataset and --split; checks the dataset first, so an unknown name is
    reported as such rather than as whatever the command needs first."""
    from neuron.data.datasets import dataset_info
    from neuron.data.splits import get_split

    dataset_info(args.dataset)
    try:
        return get_split(args.dataset, args.split)
    except ValueError as err:
        raise UserError(f"{err} (see `neuron splits {args.dataset}`)") from err


def _training_overrides(args, config_class) -> dict:
    """The config fields given on the command line, options and --set (None keeps the recipe's value)."""
    from neuron.training.config import parse_settings, stage_settings

    if args.device:
        from neuron.device import resolve_device
        resolve_device(args.device)  # a bad device is reported before any data is read
    options = dict(epochs=args.epochs, batch_size=args.batch_size, window=args.window, lr=args.lr,
                   seed=args.seed, device=args.device, num_workers=args.workers, amp=args.amp,
                   compile=args.compile)
    return {**options, **stage_settings(config_class, parse_settings(args.set), f"neuron {args.command}")}


def _cmd_pretrain(args) -> None:
    from neuron.training.config import PretrainConfig, pretrain_config
    from neuron.training.pretrain import pretrain_encoder

    config = pretrain_config(args.dataset, args.recipe, **_training_overrides(args, PretrainConfig))
    path = pretrain_encoder(_run(args), config, resume=args.resume)
    print(f"encoder: {path}")


def _cmd_train(args) -> None:
    from neuron.models.neuron import TABLE6_ROWS
    from neuron.training.config import MatchConfig, match_config
    from neuron.training.match import train_matching
    from neuron.training.text import description_features

    run, overrides = _run(args, args.run_name), _training_overrides(args, MatchConfig)
    if args.table6_row and args.table6_row not in TABLE6_ROWS:
        raise UserError(f"unknown --table6-row {args.table6_row!r} (choose one of {', '.join(TABLE6_ROWS)})")
    # With --text, --text-encoder names the encoder that made those features (None: unknown).
    text_encoder = args.text_encoder if args.text_encoder or not args.text else None
    config = match_config(args.dataset, args.recipe, **overrides, cache_features=args.cache_features,
                          **({"text_encoder": text_encoder} if text_encoder or args.text else {}))
    text = args.text or description_features(args.dataset, config)  # cache files are written atomically
    head_kwargs = TABLE6_ROWS[args.table6_row] if args.table6_row else None
    path = train_matching(run, text, model=args.model, head_kwargs=head_kwargs, config=config,
                          encoder_path=args.encoder, resume=args.resume)
    print(f"matching run: {path}")


def _cmd_evaluate(args) -> None:
    from neuron.evaluation.report import evaluate, markdown_table
    from neuron.experiments.reports import markdown_report, result_rows
    from neuron.runs import seeded_name

    run = _run(args)
    if not args.seeds:
        print(markdown_table(evaluate(run.with_(name=seeded_name(args.run_name, 1, args.recipe)))))
        return
    rows = []
    for seed in args.seeds:
        results = evaluate(run.with_(name=seeded_name(args.run_name, seed, args.recipe)))
        rows += result_rows(results, seed=seed, dataset=str(args.dataset))
    print(f"{args.run_name} over seeds {args.seeds}: mean ± standard deviation (%)\n")
    print(markdown_report(rows))


def _cmd_config(args) -> None:
    import json

    from neuron.training.config import parse_settings, resolved_configs

    print(json.dumps(resolved_configs(args.dataset, args.recipe, parse_settings(args.set), args.fold), indent=2))


def _add_recipe_arguments(p) -> None:
    p.add_argument("--recipe", default="project", choices=("project", "official"),
                   help="project (default): the project's choices; official: the official code's wherever the "
                        "project can reproduce it (README, 'The official recipe'; runs get folders *_official)")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE",
                   help="set one configuration field on top of the recipe, e.g. description_topk=10 or "
                        "'weight_decay_groups=[[\"Linear_weight\", 0.001]]' (VALUE is JSON where it parses; "
                        "`neuron config` lists the fields)")


def _add_training_arguments(p, *, stage: str) -> None:
    p.add_argument("--dataset", required=True, help="ntu60, ntu120, pku, utd, synthetic or a prepared directory")
    p.add_argument("--split", default=None, help="zero-shot split, e.g. 48_12 (default: the dataset's headline split)")
    p.add_argument("--benchmark", help="e.g. xsub, xview (default: the dataset's first)")
    p.add_argument("--fold", default="main", choices=("main", "validation"),
                   help="main: all seen classes; validation: some seen classes held out as pseudo-unseen "
                        "(the strict protocol's model selection)")
    p.add_argument("--epochs", type=_at_least(1))
    p.add_argument("--batch-size", type=_at_least(1))
    p.add_argument("--window", type=_at_least(1), help="frames per clip after crop and resize")
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int, help="training seed (default 1); another seed writes its own folders "
                                            "(encoder_s<seed>/, <model>_s<seed>/) and uses that seed's encoder")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:1, ...")
    p.add_argument("--workers", type=_at_least(0), help="data loader processes (0: in the main process)")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction,
                   help="bf16 autocast (default: on for a GPU, off for a CPU)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction,
                   help="torch.compile the network (default: on for a GPU, off for a CPU)")
    p.add_argument("--resume", action="store_true", help=f"continue an interrupted {stage} run from its checkpoint")
    _add_recipe_arguments(p)


def _cmd_predict(args) -> None:
    import json

    from neuron.inference.predict import classify_skeleton_file
    from neuron.side_info.generate import SideInfoGenerationError

    names = list(args.classes or [])
    if args.classes_file:
        if not Path(args.classes_file).is_file():
            raise MissingInputError(f"classes file {args.classes_file} does not exist (give a text file "
                                    "with one class name per line)")
        lines = Path(args.classes_file).read_text(encoding="utf-8").splitlines()
        names += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not names:
        raise UserError("no class names (name the classes with --classes and/or --classes-file)")
    if args.top is not None and args.top < 1:
        raise UserError(f"--top must be at least 1, got {args.top}")
    try:
        ranking = classify_skeleton_file(args.model, args.skeleton, names, descriptions_dir=args.descriptions,
                                         llm_model=args.llm_model, base_url=args.base_url,
                                         text_encoder=args.text_encoder, layout=args.layout, device=args.device,
                                         progress=not args.json)
    except (ValueError, FileNotFoundError, SideInfoGenerationError) as err:
        raise UserError(str(err)) from err
    ranking = ranking[:args.top]
    if args.json:
        print(json.dumps([{"class": r.name, "probability": r.probability, "descriptions": r.source}
                          for r in ranking], indent=2))
        return
    width = max(len("class"), *(len(r.name) for r in ranking))
    print(f"{'rank':>4}  {'class':<{width}}  probability  descriptions")
    for rank, r in enumerate(ranking, start=1):
        print(f"{rank:>4}  {r.name:<{width}}  {r.probability:>11.4f}  {r.source}")


def _cmd_report(args) -> None:
    from neuron.experiments.reports import write_report

    path = write_report(args.dataset, results_dir=args.results_dir)
    print(f"{path} written; README.md's report:{args.dataset} block rendered from it")


def _cmd_run(args) -> None:
    from neuron.experiments.pipeline import run_notebooks

    run_notebooks(dataset=args.dataset, only=args.only, out_dir=args.out, extra=dict(args.param or []))


def _at_least(minimum: int):
    """An argparse type: an integer >= minimum (argparse reports anything else as a usage error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neuron", description=__doc__.split("\n")[0])
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error (also NEURON_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("prepare", help="convert a raw dataset into the prepared format",
                       description="Parse, denoise and store a dataset as compressed arrays plus a "
                                   "manifest (see neuron/data/store.py). Interrupted runs resume.")
    p.add_argument("dataset", choices=PREPARABLE)
    p.add_argument("--raw", help="raw data: NTU .skeleton directory, PKU-MMD root, UTD-MHAD .mat "
                                 "directory (default: ../shared/data/utd_mhad), or a custom .npz file")
    p.add_argument("--out", help="output directory (default: data/<dataset>)")
    p.add_argument("--workers", type=_at_least(1), default=None, help="parallel parser processes (default: all cores)")
    p.add_argument("--overwrite", action="store_true",
                   help="rebuild --out although it holds a dataset prepared from other data (default: refuse)")
    p.add_argument("--missing", help="NTU list of samples with missing skeletons (default: looked up in --raw)")
    p.add_argument("--center", action=argparse.BooleanOptionalAction, default=True,
                   help="custom: translate each clip to its layout's centre joint in the first frame, as the "
                        "prepared NTU/PKU/UTD data are (default); --no-center keeps the coordinates as given")
    p.add_argument("--samples-per-class", type=_at_least(1), default=40, help="synthetic: samples per class")
    p.add_argument("--seed", type=int, default=0, help="synthetic: generator seed")
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("export", help="write a prepared dataset as one custom .npz file",
                       description="Write every sample of a prepared dataset, with its names, frames and a "
                                   "benchmark's train/test parts, in the custom .npz format (neuron/data/custom.py): "
                                   "a worked example of your own data, or a way to share a prepared set.")
    p.add_argument("dataset", help="dataset name (utd, synthetic, ...) or a prepared directory")
    p.add_argument("--out", required=True, help="the .npz file to write")
    p.add_argument("--benchmark", help="whose train/test parts become the file's `split` (default: the first)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("info", help="summarise a prepared dataset",
                       description="Print sample, class, frame and benchmark counts of a prepared dataset.")
    p.add_argument("dataset", help="dataset name (ntu60, ntu120, pku, utd, synthetic) or a prepared directory")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("splits", help="list the zero-shot splits (`neuron splits add` stores one)",
                       description="List every registered seen/unseen split, or one dataset's (a name or a "
                                   "prepared directory). `neuron splits add DIR NAME --unseen CLASS ...` stores "
                                   "a split in a prepared directory.")
    p.add_argument("dataset", nargs="?", help="only this dataset's splits")
    p.set_defaults(func=_cmd_splits)

    # Reached as `neuron splits add ...` (main() routes it): `splits` keeps its optional positional.
    p = sub.add_parser(SPLITS_ADD, prog="neuron splits add",
                       description="Store a zero-shot split in a prepared dataset directory (splits.json), "
                                   "usable with --split NAME by pretrain, train, evaluate, run and the notebooks.")
    p.add_argument("dataset", help="a prepared dataset directory, e.g. data/mine")
    p.add_argument("name", help="the split's name, e.g. 7_3 or mine_a")
    p.add_argument("--unseen", nargs="+", required=True, metavar="CLASS",
                   help="the unseen classes: class names (quote each) or 0-based class indices")
    p.set_defaults(func=_cmd_splits_add)

    p = sub.add_parser("side-info", help="generate or import the class descriptions",
                       description="Side information: per class, six phases of descriptions written by an "
                                   "LLM in one multi-turn conversation (prompts/), cached per class.")
    side = p.add_subparsers(dest="side_info_command", required=True, metavar="ACTION")
    g = side.add_parser("generate", help="ask an LLM (OpenAI or any compatible server) for descriptions",
                        description="Generate descriptions with the openai client. The API key comes from "
                                    "OPENAI_API_KEY; --base-url points at a compatible server (vLLM, "
                                    "llama.cpp, Ollama). Reruns ask only for what the cache lacks.")
    g.add_argument("--dataset", required=True, help="ntu60, ntu120, pku, utd, synthetic or a prepared directory")
    g.add_argument("--model", required=True, help="model name, e.g. gpt-4o-mini")
    g.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://localhost:8000/v1")
    g.add_argument("--cache-dir", help="where per-class records go (default: a prepared directory's own "
                   "side_info/, where training finds them; data/side_info_user for a registered dataset)")
    g.add_argument("--n-descriptions", type=int, default=10, help="descriptions per class and phase (N_a)")
    g.add_argument("--workers", type=int, default=4, help="classes generated concurrently")
    g.add_argument("--max-retries", type=int, default=5, help="retries per turn (errors, invalid answers)")
    g.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    g.add_argument("--temperature", type=float, default=0.7)
    g.add_argument("--seed", type=int, default=0, help="sent to servers that support seeded sampling")
    g.add_argument("--response-format", default="auto",
                   choices=("auto", "json_schema", "json_object_schema", "json_object", "text"),
                   help="how the answer's JSON schema is asked for: auto (default) tries json_schema "
                        "(structured outputs), json_object_schema (llama.cpp), json_object, then text, "
                        "moving on when the server refuses one; the others send only that form")
    g.add_argument("--max-tokens", type=int, help="cap on each answer's tokens (default: none; a small local "
                   "model can otherwise write until its context is full)")
    g.add_argument("--similar", help="JSON file {class: [similar classes]} (default: by shared words)")
    g.set_defaults(func=_cmd_side_info_generate)
    i = side.add_parser("import-official", help="import the side information released with the paper",
                        description="Read the official semantics/ folder (JSON descriptions and CLIP "
                                    "feature tensors) into this project's formats.")
    i.add_argument("--semantics", required=True, help="the official semantics/ folder (holding ntu/ and pku/)")
    i.add_argument("--dataset", required=True, choices=("ntu60", "ntu120", "pku"))
    i.add_argument("--cache-dir", help="write the descriptions as side-information records here")
    i.add_argument("--features-out", help="write the released CLIP features here (.npz; default: "
                                          "data/text_features/official/<dataset>.npz, where --recipe official "
                                          "and descriptions=official find them)")
    i.set_defaults(func=_cmd_side_info_import)
    j = side.add_parser("import", help="import your own descriptions from one JSON file",
                        description="Read {class: {phase: [descriptions]}} (phases spatial_coarse, spatial_mid, "
                                    "spatial_fine, temporal_start, temporal_middle, temporal_end; the same count "
                                    "everywhere) and write the dataset's side-information records, where "
                                    "training finds them.")
    j.add_argument("--dataset", required=True, help="a prepared directory (e.g. data/mine) or a dataset name")
    j.add_argument("--json", required=True, help="the JSON file")
    j.add_argument("--cache-dir", help="write the records here instead (default: a prepared directory's own "
                                       "side_info/; data/side_info_user for a registered dataset)")
    j.set_defaults(func=_cmd_side_info_import_json)
    e = side.add_parser("export", help="write a dataset's descriptions as one JSON file (the import format)",
                        description="The inverse of `side-info import`: every class's six phases as one JSON file.")
    e.add_argument("--dataset", required=True, help="ntu60, ntu120, pku, utd, synthetic or a prepared directory")
    e.add_argument("--json", required=True, help="the JSON file to write")
    e.add_argument("--cache-dir", help="read the records from here (default: the dataset's own)")
    e.set_defaults(func=_cmd_side_info_export)
    c = side.add_parser("check", help="report classes or phases whose descriptions are missing",
                        description="List every class whose side information is missing or incomplete; exit 1 "
                                    "when any is.")
    c.add_argument("--dataset", required=True, help="ntu60, ntu120, pku, utd, synthetic or a prepared directory")
    c.add_argument("--cache-dir", help="look here (default: the dataset's own)")
    c.set_defaults(func=_cmd_side_info_check)

    p = sub.add_parser("pretrain", help="pretrain the Shift-GCN encoder on a split's seen classes",
                       description="Train Shift-GCN on the seen classes of the training part, selecting the "
                                   "epoch on held-out seen samples. Hyper-parameters default to the official "
                                   "ones for NTU/PKU and to CPU-sized ones for small datasets.")
    _add_training_arguments(p, stage="pretraining")
    p.set_defaults(func=_cmd_pretrain)

    p = sub.add_parser("train", help="train the matching stage (Neuron or the global baseline)",
                       description="Freeze the pretrained encoder and train the evolving micro-prototypes (or "
                                   "the global-alignment baseline) against the description features.")
    _add_training_arguments(p, stage="matching")
    p.add_argument("--model", default="neuron", choices=("neuron", "global"))
    p.add_argument("--table6-row", help="an ablation row of the paper's Table 6 (neuron.models.neuron.TABLE6_ROWS)")
    p.add_argument("--run-name", help="folder name of this run (default: the model name, <model>_s<seed> for a seed "
                                         "other than 1)")
    p.add_argument("--text", help="description features (.npz from neuron.text.save_text_features, or the "
                                  "paper's CLIP features from `side-info import-official --features-out`)")
    p.add_argument("--text-encoder", default=None, help="encode the shipped descriptions with this encoder "
                                                        "when --text is not given (default: the recipe's); "
                                                        "with --text, the encoder that made those features")
    p.add_argument("--encoder", help="pretrained encoder: an encoder.pt (default: the split's own) or a state dict "
                                     "saved by the official pretraining code")
    p.add_argument("--cache-features", action=argparse.BooleanOptionalAction, default=None,
                   help="encode the training clips once, without augmentation, and train the head on the stored "
                        "features (needs the encoder's BatchNorm in eval mode; default: the dataset's)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="ZSL and GZSL under the paper's and the strict protocol",
                       description="Evaluate a matching run (main fold, and the validation fold for the strict "
                                   "protocol): writes results.json and results.md in the run folder.")
    p.add_argument("--dataset", required=True)
    p.add_argument("--split", default=None)
    p.add_argument("--benchmark")
    p.add_argument("--run-name", default="neuron", help="the run (with --seeds: the runs <name> for seed 1 and "
                                                         "<name>_s<seed> for the others, as `train --seed` names them)")
    p.add_argument("--seeds", nargs="+", type=int, metavar="SEED", help="evaluate the runs of these seeds and print "
                                                                        "mean ± std of every number")
    p.add_argument("--recipe", default="project", choices=("project", "official"),
                   help="evaluate the runs trained with this recipe (official: the folders <name>_official)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("config", help="print the resolved pretraining and matching configurations as JSON",
                       description="Every field a run would use, after the dataset's defaults, the recipe and "
                                   "--set, including each Shift-GCN parameter's pretraining weight decay.")
    p.add_argument("--dataset", required=True, help="ntu60, ntu120, pku, utd, synthetic or a prepared directory")
    p.add_argument("--fold", default="main", choices=("main", "validation"))
    _add_recipe_arguments(p)
    p.set_defaults(func=_cmd_config)

    p = sub.add_parser("predict", help="zero-shot: classify one skeleton file among any class names",
                       description="Rank class names given now for one skeleton file. Each class's descriptions "
                                   "are looked up by name (ignoring case, spaces, '_' and '-') in --descriptions, "
                                   "then in the shipped side information of every dataset; classes found nowhere "
                                   "are generated with --llm-model and cached in --descriptions. They are encoded "
                                   "by the text encoder the model was trained with.")
    p.add_argument("--model", required=True, help="a matching run's match.pt")
    p.add_argument("--skeleton", required=True, help="the file to classify: NTU .skeleton, UTD-MHAD .mat, a custom "
                                                     ".npz with one sample, or a .npy array (shapes in "
                                                     "neuron/data/skeleton_file.py)")
    p.add_argument("--classes", nargs="+", metavar="NAME", help="class names to choose from (quote each)")
    p.add_argument("--classes-file", help="more class names, one per line ('#' starts a comment line)")
    p.add_argument("--descriptions", help="your side-information folder, searched first and where generated "
                                          "descriptions are cached (default: data/side_info_user)")
    p.add_argument("--llm-model", help="generate missing descriptions with this chat model (key: OPENAI_API_KEY)")
    p.add_argument("--base-url", help="OpenAI-compatible server for --llm-model, e.g. http://localhost:8000/v1")
    p.add_argument("--text-encoder", help="for a model that does not record its text encoder")
    p.add_argument("--layout", help="joint layout of a .npy skeleton (ntu25, kinect20; default: the model's)")
    p.add_argument("--top", type=int, help="print only the N most probable classes")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, auto, ...")
    p.add_argument("--json", action="store_true", help="print the ranking as JSON")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("report", help="collect a dataset's evaluated runs into reports/<dataset>.json and the README",
                       description="Read the results.json of every run named <model> (seed 1) or <model>_s<seed> "
                                   "(models neuron, global) of the dataset, write reports/<dataset>.json and render "
                                   "README.md's report block (mean ± std over seeds) from it.")
    p.add_argument("dataset", help="e.g. utd, synthetic")
    p.add_argument("--results-dir", help="where the runs are (default: results/)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("run", help="the main job: execute the numbered notebooks headlessly",
                       description="Execute notebooks/NN_*.ipynb in order with papermill, writing executed "
                                   "copies, figures/ and results/.")
    p.add_argument("--dataset", default="synthetic", help="dataset every notebook runs on (default: synthetic)")
    p.add_argument("--only", nargs="*", help="run only notebooks whose file name starts with these prefixes")
    p.add_argument("--out", default=None, help="folder for executed notebooks (default: results/notebooks/<dataset>)")
    p.add_argument("-p", "--param", action="append", type=_key_value, metavar="NAME=VALUE",
                   help="extra notebook parameter, passed to every notebook that declares it")
    p.set_defaults(func=_cmd_run)
    return parser


def _route_splits_add(argv) -> list[str]:
    """`splits add ...` -> the SPLITS_ADD parser (options before the command, like --debug, stay)."""
    argv = list(argv)
    command = next((i for i, word in enumerate(argv) if not word.startswith("-")), None)
    if command is not None and argv[command:command + 2] == ["splits", "add"]:
        argv[command:command + 2] = [SPLITS_ADD]
    return argv


def _command_name(args) -> str:
    """`neuron prepare`, `neuron side-info generate`, ...: the prefix of an error line."""
    words = ["splits add" if args.command == SPLITS_ADD else args.command, getattr(args, "side_info_command", None)]
    return " ".join(["neuron", *(w for w in words if w)])


def main(argv=None) -> None:
    """Run one command. A UserError prints one line, `neuron <command>: error: <message>`, and exits 2;
    with --debug or NEURON_DEBUG=1 it propagates with its traceback. Other errors are program errors
    and always keep their traceback."""
    args = build_parser().parse_args(_route_splits_add(sys.argv[1:] if argv is None else argv))
    debug = args.debug or os.environ.get("NEURON_DEBUG", "") not in ("", "0")
    # Notes the training stages log for a user at the terminal (e.g. --resume without a checkpoint).
    notes = logging.StreamHandler(sys.stderr)
    notes.setFormatter(logging.Formatter(f"{_command_name(args)}: %(message)s"))
    training_log = logging.getLogger("neuron.training")
    training_log.addHandler(notes)
    training_log.setLevel(logging.INFO)
    try:
        args.func(args)
    except UserError as err:
        if debug:
            raise
        print(f"{_command_name(args)}: error: {err}", file=sys.stderr)
        sys.exit(2)
    finally:
        training_log.removeHandler(notes)

