"""Command line: `python -m neuron <command> ...` (or the `neuron` console script).

Each command's work lives in the package; this module only parses arguments and imports the
module that does the work when the command runs, so `--help` stays fast.
"""

import argparse
import sys
from pathlib import Path

from neuron.paths import DATA_DIR, SIDE_INFO_DIR, shared_data_dir

PREPARABLE = ("ntu60", "ntu120", "pku", "utd", "synthetic", "custom")


def _cmd_prepare(args) -> None:
    out = Path(args.out) if args.out else DATA_DIR / args.dataset
    if args.dataset in ("ntu60", "ntu120", "pku", "custom") and not args.raw:
        sys.exit(f"prepare {args.dataset}: --raw is required (the raw data "
                 f"{'.npz file' if args.dataset == 'custom' else 'directory'})")
    if args.dataset in ("ntu60", "ntu120"):
        from neuron.data.ntu import prepare_ntu
        prepare_ntu(args.dataset, args.raw, out, workers=args.workers, missing_file=args.missing)
    elif args.dataset == "pku":
        from neuron.data.pku import prepare_pku
        prepare_pku(args.raw, out, workers=args.workers)
    elif args.dataset == "utd":
        from neuron.data.utd import prepare_utd
        prepare_utd(args.raw or shared_data_dir() / "utd_mhad", out)
    elif args.dataset == "synthetic":
        from neuron.data.synthetic import prepare_synthetic
        prepare_synthetic(out, samples_per_class=args.samples_per_class, seed=args.seed)
    else:
        from neuron.data.custom import prepare_custom
        prepare_custom(args.raw, out)
    print(f"prepared {args.dataset} in {out}")


def _cmd_info(args) -> None:
    from neuron.data.datasets import dataset_dir
    from neuron.data.store import read_manifest, read_meta

    path = dataset_dir(args.dataset)
    meta, manifest = read_meta(path), read_manifest(path)
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

    for split in list_splits(args.dataset):
        print(f"{split.dataset:10s} {split.name:8s} {len(split.seen):3d} seen / {len(split.unseen):2d} unseen: "
              f"{list(split.unseen)}")


def _cmd_side_info_generate(args) -> None:
    import json

    from neuron.data.datasets import class_names
    from neuron.side_info.generate import SideInfoGenerationError, generate_side_info

    similar = json.loads(Path(args.similar).read_text()) if args.similar else None
    try:
        generate_side_info(class_names(args.dataset), dataset=args.dataset, cache_dir=args.cache_dir,
                           model=args.model, base_url=args.base_url, n_descriptions=args.n_descriptions,
                           similar=similar, workers=args.workers, max_retries=args.max_retries,
                           timeout=args.timeout, temperature=args.temperature, seed=args.seed,
                           json_mode=not args.no_json_mode)
    except SideInfoGenerationError as err:
        sys.exit(str(err))
    print(f"side information for {args.dataset} complete in {Path(args.cache_dir) / args.dataset}")


def _cmd_side_info_import(args) -> None:
    from neuron.side_info.official import import_official

    official = import_official(args.semantics, args.dataset, cache_dir=args.cache_dir,
                               features_out=args.features_out)
    print(f"imported {len(official.class_names)} classes of the paper's release for {args.dataset}")


def _split(args):
    from neuron.data.splits import get_split

    return get_split(args.dataset, args.split)


def _training_overrides(args) -> dict:
    """The config fields given on the command line (None keeps the dataset's default)."""
    return dict(epochs=args.epochs, batch_size=args.batch_size, window=args.window, lr=args.lr,
                seed=args.seed, device=args.device, num_workers=args.workers, amp=args.amp,
                compile=args.compile)


def _cmd_pretrain(args) -> None:
    from neuron.training.config import pretrain_config
    from neuron.training.pretrain import pretrain_encoder

    path = pretrain_encoder(args.dataset, _split(args), fold=args.fold, benchmark=args.benchmark,
                            config=pretrain_config(args.dataset, **_training_overrides(args)),
                            resume=args.resume)
    print(f"encoder: {path}")


def _cmd_train(args) -> None:
    from neuron.models.neuron import TABLE6_ROWS
    from neuron.training.config import match_config
    from neuron.training.match import train_matching

    if args.text:
        text, text_encoder = args.text, args.text_encoder  # the paper's CLIP features: --text-encoder clip-...
    else:
        from neuron.text import DEFAULT_TEXT_ENCODER, dataset_text_features
        text_encoder = args.text_encoder or DEFAULT_TEXT_ENCODER
        text = dataset_text_features(args.dataset, text_encoder)  # cache files are written atomically
    head_kwargs = TABLE6_ROWS[args.table6_row] if args.table6_row else None
    path = train_matching(args.dataset, _split(args), text, model=args.model, head_kwargs=head_kwargs,
                          run_name=args.run_name, fold=args.fold, benchmark=args.benchmark,
                          config=match_config(args.dataset, **_training_overrides(args),
                                              cache_features=args.cache_features),
                          encoder_path=args.encoder, resume=args.resume, text_encoder=text_encoder)
    print(f"matching run: {path}")


def _cmd_evaluate(args) -> None:
    from neuron.evaluation.report import evaluate

    evaluate(args.dataset, _split(args), run_name=args.run_name, benchmark=args.benchmark)


def _add_training_arguments(p, *, stage: str) -> None:
    p.add_argument("--dataset", required=True, help="ntu60, ntu120, pku, utd, synthetic or a prepared directory")
    p.add_argument("--split", default=None, help="zero-shot split, e.g. 48_12 (default: the dataset's headline split)")
    p.add_argument("--benchmark", help="e.g. xsub, xview (default: the dataset's first)")
    p.add_argument("--fold", default="main", choices=("main", "validation"),
                   help="main: all seen classes; validation: some seen classes held out as pseudo-unseen "
                        "(the strict protocol's model selection)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--window", type=int, help="frames per clip after crop and resize")
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:1, ...")
    p.add_argument("--workers", type=int, help="data loader processes")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction,
                   help="bf16 autocast (default: on for a GPU, off for a CPU)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction,
                   help="torch.compile the network (default: on for a GPU, off for a CPU)")
    p.add_argument("--resume", action="store_true", help=f"continue an interrupted {stage} run from its checkpoint")


def _cmd_predict(args) -> None:
    import json

    from neuron.classify import classify_skeleton_file
    from neuron.side_info.generate import SideInfoGenerationError

    names = list(args.classes or [])
    if args.classes_file:
        if not Path(args.classes_file).is_file():
            sys.exit(f"predict: classes file {args.classes_file} does not exist")
        lines = Path(args.classes_file).read_text(encoding="utf-8").splitlines()
        names += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not names:
        sys.exit("predict: name the classes with --classes and/or --classes-file")
    if args.top is not None and args.top < 1:
        sys.exit(f"predict: --top must be at least 1, got {args.top}")
    try:
        ranking = classify_skeleton_file(args.model, args.skeleton, names, descriptions_dir=args.descriptions,
                                         llm_model=args.llm_model, base_url=args.base_url,
                                         text_encoder=args.text_encoder, layout=args.layout, device=args.device,
                                         progress=not args.json)
    except (ValueError, FileNotFoundError, SideInfoGenerationError) as err:
        sys.exit(f"predict: {err}")
    ranking = ranking[:args.top]
    if args.json:
        print(json.dumps([{"class": r.name, "probability": r.probability, "descriptions": r.source}
                          for r in ranking], indent=2))
        return
    width = max(len("class"), *(len(r.name) for r in ranking))
    print(f"{'rank':>4}  {'class':<{width}}  probability  descriptions")
    for rank, r in enumerate(ranking, start=1):
        print(f"{rank:>4}  {r.name:<{width}}  {r.probability:>11.4f}  {r.source}")


def _cmd_run(args) -> None:
    from neuron.pipeline import run_notebooks

    run_notebooks(dataset=args.dataset, only=args.only, out_dir=args.out, extra=dict(args.param or []))


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neuron", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("prepare", help="convert a raw dataset into the prepared format",
                       description="Parse, denoise and store a dataset as compressed arrays plus a "
                                   "manifest (see neuron/data/store.py). Interrupted runs resume.")
    p.add_argument("dataset", choices=PREPARABLE)
    p.add_argument("--raw", help="raw data: NTU .skeleton directory, PKU-MMD root, UTD-MHAD .mat "
                                 "directory (default: ../shared/data/utd_mhad), or a custom .npz file")
    p.add_argument("--out", help="output directory (default: data/<dataset>)")
    p.add_argument("--workers", type=int, default=None, help="parallel parser processes (default: all cores)")
    p.add_argument("--missing", help="NTU list of samples with missing skeletons (default: looked up in --raw)")
    p.add_argument("--samples-per-class", type=int, default=40, help="synthetic: samples per class")
    p.add_argument("--seed", type=int, default=0, help="synthetic: generator seed")
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("info", help="summarise a prepared dataset",
                       description="Print sample, class, frame and benchmark counts of a prepared dataset.")
    p.add_argument("dataset", help="dataset name (ntu60, ntu120, pku, utd, synthetic) or a prepared directory")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("splits", help="list the zero-shot splits",
                       description="List every registered seen/unseen split, optionally of one dataset.")
    p.add_argument("dataset", nargs="?", help="only this dataset's splits")
    p.set_defaults(func=_cmd_splits)

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
    g.add_argument("--cache-dir", default=str(SIDE_INFO_DIR), help="where per-class records go "
                   "(default: the shipped data/side_info; use another folder to keep them)")
    g.add_argument("--n-descriptions", type=int, default=10, help="descriptions per class and phase (N_a)")
    g.add_argument("--workers", type=int, default=4, help="classes generated concurrently")
    g.add_argument("--max-retries", type=int, default=5, help="retries per turn (errors, invalid answers)")
    g.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    g.add_argument("--temperature", type=float, default=0.7)
    g.add_argument("--seed", type=int, default=0, help="sent to servers that support seeded sampling")
    g.add_argument("--no-json-mode", action="store_true", help="for servers without response_format")
    g.add_argument("--similar", help="JSON file {class: [similar classes]} (default: by shared words)")
    g.set_defaults(func=_cmd_side_info_generate)
    i = side.add_parser("import-official", help="import the side information released with the paper",
                        description="Read the official semantics/ folder (JSON descriptions and CLIP "
                                    "feature tensors) into this project's formats.")
    i.add_argument("--semantics", required=True, help="the official semantics/ folder (holding ntu/ and pku/)")
    i.add_argument("--dataset", required=True, choices=("ntu60", "ntu120", "pku"))
    i.add_argument("--cache-dir", help="write the descriptions as side-information records here")
    i.add_argument("--features-out", help="write the released CLIP features here (.npz)")
    i.set_defaults(func=_cmd_side_info_import)

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
    p.add_argument("--run-name", help="folder name of this run (default: the model name)")
    p.add_argument("--text", help="description features (.npz from neuron.text.save_text_features, or the "
                                  "paper's CLIP features from `side-info import-official --features-out`)")
    p.add_argument("--text-encoder", default=None, help="encode the shipped descriptions with this encoder "
                                                        "when --text is not given (default: the offline default); "
                                                        "with --text, the encoder that made those features")
    p.add_argument("--encoder", help="pretrained encoder checkpoint (default: the split's own)")
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
    p.add_argument("--run-name", default="neuron")
    p.set_defaults(func=_cmd_evaluate)

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


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)

