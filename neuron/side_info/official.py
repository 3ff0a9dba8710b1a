"""Import the side information released with the paper's official code (its `semantics/` folder).

Layout (`semantics_dir`, one sub-folder per dataset, "ntu" or "pku"):
    <ds>/spatial/spatial_{cg,mg,fg}.json        {class name: [10 descriptions]}, coarse/mid/fine
    <ds>/temporal/temporal_{fp,sp,tp}.json      first/second/third phase
    <ds>/spatial/<prefix>_gpt4omini_incontext_spatial_{cg,mg,fg}.tar      torch-saved float32
    <ds>/temporal/<prefix>_gpt4omini_incontext_temporal_{fp,fsp,fstp}.tar (classes, 10, 768)
with prefix "ntu120" or "pkuv1". The `.tar` files hold one tensor each: the CLIP
ViT-L/14@336px text features of the descriptions, not normalised, saved from a CUDA device.
The official code pairs the temporal phases with fp, fsp and fstp: cumulative features of
the first, first + second, and first + second + third phase's descriptions (see
neuron.text.features). The descriptions were written by GPT-4o-mini (the file names and the
paper say so).

Classes: the NTU files list the 120 classes in NTU action order (A1..A120) under shorter
names ("brush teeth" for "brushing teeth", "capitulate" for "hands up (both hands)"), so
they are matched to NTU120_CLASSES by position; NTU60 is the first 60. The PKU-MMD files use
the dataset's 51 names in label order, checked against PKU51_CLASSES.

`import_official` returns the descriptions as {class: {phase: [descriptions]}} and the
features in the layout of neuron.text.side_info_features ({"spatial": (3, K, 10, 768),
"temporal": (3, K, 10, 768)}); it can also write the descriptions into the side
information cache (neuron.side_info.cache). `neuron side-info import-official` saves the
features too (neuron.text.save_text_features), where `--recipe official` finds them.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from neuron.data.classnames import NTU60_CLASSES, NTU120_CLASSES, PKU51_CLASSES
from neuron.errors import ExistingOutputError, MissingInputError, UserError
from neuron.side_info.cache import class_path, new_class_record, read_class_record, write_class_record
from neuron.side_info.prompts import (
    SPATIAL_COARSE,
    SPATIAL_FINE,
    SPATIAL_MID,
    SPATIAL_PHASES,
    TEMPORAL_END,
    TEMPORAL_MIDDLE,
    TEMPORAL_PHASES,
    TEMPORAL_START,
)

SOURCE_OFFICIAL = "the side information released with the paper's official code (cseeyangchen/Neuron, semantics/)"
OFFICIAL_MODEL = "gpt-4o-mini"

# phase -> (folder, descriptions JSON stem, features .tar suffix)
_RELEASE_FILES = {
    SPATIAL_COARSE: ("spatial", "spatial_cg", "spatial_cg"),
    SPATIAL_MID: ("spatial", "spatial_mg", "spatial_mg"),
    SPATIAL_FINE: ("spatial", "spatial_fg", "spatial_fg"),
    TEMPORAL_START: ("temporal", "temporal_fp", "temporal_fp"),
    TEMPORAL_MIDDLE: ("temporal", "temporal_sp", "temporal_fsp"),
    TEMPORAL_END: ("temporal", "temporal_tp", "temporal_fstp"),
}


@dataclass(frozen=True)
class _Release:
    folder: str  # sub-folder of semantics_dir
    prefix: str  # of the .tar names
    num_released: int  # classes in the release's files
    class_names: tuple[str, ...]  # the project's names of the first len(class_names) of them
    match_names: bool  # the release's keys must equal class_names (case aside)


_DATASETS = {
    "ntu120": _Release("ntu", "ntu120", 120, NTU120_CLASSES, match_names=False),
    "ntu60": _Release("ntu", "ntu120", 120, NTU60_CLASSES, match_names=False),
    "pku": _Release("pku", "pkuv1", 51, PKU51_CLASSES, match_names=True),
}
OFFICIAL_DATASETS = tuple(_DATASETS)


@dataclass(frozen=True)
class OfficialSideInfo:
    dataset: str
    class_names: tuple[str, ...]  # the project's names, label order
    release_names: tuple[str, ...]  # the release's name of each class
    side_info: dict[str, dict[str, list[str]]]  # {class name: {phase: [N_a descriptions]}}
    features: dict[str, np.ndarray]  # {"spatial", "temporal"}: float32 (3, K, N_a, 768)


def read_official(semantics_dir, dataset: str) -> OfficialSideInfo:
    """The released descriptions and features of `dataset` ("ntu120", "ntu60" or "pku")."""
    if dataset not in _DATASETS:
        raise UserError(f"the release has no side information for {dataset!r}; known: {OFFICIAL_DATASETS}")
    release = _DATASETS[dataset]
    root = Path(semantics_dir) / release.folder
    if not root.is_dir():
        raise MissingInputError(f"{root} does not exist: expected the release's {release.folder}/ folder "
                                f"in {semantics_dir}")
    k = len(release.class_names)
    descriptions, features, keys = {}, {}, None
    for phase, (folder, json_stem, tar_stem) in _RELEASE_FILES.items():
        json_path = root / folder / f"{json_stem}.json"
        phase_keys, lists = _read_descriptions(json_path)
        if keys is None:
            keys = phase_keys
            _check_classes(json_path, keys, release)
        elif phase_keys != keys:
            raise UserError(f"{json_path} lists other classes (or another order) than "
                            f"{root / 'spatial' / 'spatial_cg.json'}")
        tar_path = root / folder / f"{release.prefix}_gpt4omini_incontext_{tar_stem}.tar"
        tensor = _read_features(tar_path, len(keys), len(lists[0]))
        descriptions[phase], features[phase] = lists[:k], tensor[:k]
    side_info = {name: {phase: descriptions[phase][i] for phase in _RELEASE_FILES}
                 for i, name in enumerate(release.class_names)}
    stacked = {"spatial": np.stack([features[p] for p in SPATIAL_PHASES]),
               "temporal": np.stack([features[p] for p in TEMPORAL_PHASES])}
    return OfficialSideInfo(dataset, release.class_names, tuple(keys[:k]), side_info, stacked)


def import_official(semantics_dir, dataset: str, cache_dir=None) -> OfficialSideInfo:
    """read_official; with cache_dir, also write each class's six phases into the side information
    cache (`<cache_dir>/<dataset>/`). (`neuron side-info import-official` also saves the features,
    with neuron.text.save_text_features.)

    A cache file that already holds side information from another source is not overwritten.
    """
    official = read_official(semantics_dir, dataset)
    if cache_dir is not None:
        paths = [class_path(cache_dir, dataset, i, name) for i, name in enumerate(official.class_names)]
        for i, (path, name) in enumerate(zip(paths, official.class_names)):
            _check_replaceable(path, dataset, i, name)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        for i, (path, name) in enumerate(zip(paths, official.class_names)):
            record = new_class_record(dataset, i, name)
            record["phases"] = {phase: _phase_entry(official.side_info[name][phase], official.release_names[i],
                                                    dataset, phase, created)
                                for phase in _RELEASE_FILES}
            write_class_record(path, record)
    return official


def _phase_entry(descriptions: list[str], release_name: str, dataset: str, phase: str, created: str) -> dict:
    """A cache phase entry. The release has no prompts: `prompt` is empty, `answer` the
    descriptions as the JSON object the project's turns ask for."""
    folder, json_stem, tar_stem = _RELEASE_FILES[phase]
    release = _DATASETS[dataset]
    tar_name = f"{release.prefix}_gpt4omini_incontext_{tar_stem}.tar"
    provenance = {"source": SOURCE_OFFICIAL, "model": OFFICIAL_MODEL, "base_url_host": None, "parameters": None,
                  "template_sha256": None, "created": created, "requests": 0,
                  "release_class_name": release_name,
                  "release_files": [f"{release.folder}/{folder}/{json_stem}.json",
                                    f"{release.folder}/{folder}/{tar_name}"]}
    return {"descriptions": list(descriptions), "prompt": "",
            "answer": json.dumps({"descriptions": list(descriptions)}, ensure_ascii=False),
            "provenance": provenance}


def _check_replaceable(path: Path, dataset: str, index: int, name: str) -> None:
    record = read_class_record(path, dataset, index, name)
    if record is None:
        return
    sources = {(entry.get("provenance") or {}).get("source") if isinstance(entry, dict) else None
               for entry in record["phases"].values()}
    if sources - {SOURCE_OFFICIAL}:
        raise ExistingOutputError(f"{path} holds side information from another source "
                                  f"({sorted(map(str, sources))}); import the release into another cache directory")


def _read_descriptions(path: Path) -> tuple[list[str], list[list[str]]]:
    """(class keys, descriptions per class) of one release JSON file, all classes with the same count."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MissingInputError(f"{path} is missing from the release") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(data, dict) or not data:
        raise UserError(f"{path} must be a JSON object {{class name: [descriptions]}}")
    counts = set()
    for key, descriptions in data.items():
        if not isinstance(descriptions, list) or not all(isinstance(d, str) and d.strip() for d in descriptions):
            raise UserError(f"{path}: class {key!r} must map to a list of non-empty strings")
        counts.add(len(descriptions))
    if len(counts) != 1 or 0 in counts:
        raise UserError(f"{path}: every class needs the same number of descriptions, found {sorted(counts)}")
    return list(data), list(data.values())


def _check_classes(path: Path, keys: list[str], release: _Release) -> None:
    if len(keys) != release.num_released:
        raise UserError(f"{path} lists {len(keys)} classes, expected {release.num_released}")
    if release.match_names:
        wrong = [(i, key, name) for i, (key, name) in enumerate(zip(keys, release.class_names))
                 if key.casefold() != name.casefold()]
        if wrong:
            raise UserError(f"{path}: classes differ from the dataset's names in label order, e.g. "
                            f"position {wrong[0][0]}: {wrong[0][1]!r} vs {wrong[0][2]!r}")


def _read_features(path: Path, num_classes: int, n_descriptions: int) -> np.ndarray:
    """The float32 (classes, N_a, D) tensor of one release .tar file."""
    import torch

    if not path.is_file():
        raise MissingInputError(f"{path} is missing from the release")
    try:
        tensor = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a file it cannot read
        raise UserError(f"{path} cannot be read with torch.load ({type(err).__name__}: {err})") from None
    if not isinstance(tensor, torch.Tensor) or tensor.dtype != torch.float32 or tensor.ndim != 3 \
            or tuple(tensor.shape[:2]) != (num_classes, n_descriptions):
        found = (f"{tensor.dtype} {tuple(tensor.shape)}" if isinstance(tensor, torch.Tensor)
                 else type(tensor).__name__)
        raise UserError(f"{path}: expected one float32 tensor ({num_classes}, {n_descriptions}, D), "
                        f"found {found}")
    return tensor.numpy()
