"""Side information -> the description features the Neuron head consumes.

`side_info_features` returns {"spatial": (3, K, N_a, D), "temporal": (3, K, N_a, D)} float32:
phase (spatial: coarse, mid, fine; temporal: start, middle, end), class (in the order of
`class_names`), description, text dimension.

Temporal texts ("cumulative", the default): phase e's i-th text is the i-th descriptions
of phases 1..e joined by a space. The official code pairs the start, middle and end phases
with the released `temporal_fp`, `temporal_fsp` ("first + second phase") and
`temporal_fstp` ("first + second + third") features; no script in the repository builds
them, but the tensors show what they are (NTU and PKU-MMD alike):
- fsp[k, i] is nearest to fp[k, i] among fp[k, :] for 89% (NTU) / 81% (PKU) of the pairs:
  description i continues description i of the earlier phases;
- they are not means of per-phase features: the middle and end features that would imply
  (2 fsp - fp, 3 fstp - 2 fsp) have norms 17.7 and 18.6 against 15.9 for fp, and values
  outside the range of every released feature;
- CLIP dimension 201 shifts with text length across all released features, and fsp and
  fstp sit where texts of two and three descriptions' length do.
The authors' separator cannot be recovered; CLIP's tokenizer drops whitespace, so only a
punctuation separator would have changed the tokens.
"per_phase" encodes each phase's descriptions alone, as the paper's text reads. Spatial
phases are always per phase.

Class names (`class_name_prefix`, off by default): classifying each start-phase description
by the class means of the coarse-spatial features, the released CLIP features are right for
96.6% (NTU120) / 99.0% (PKU-MMD); all-MiniLM-L6-v2 on the same descriptions for 43.2% /
73.7%, and 89.2% / 98.2% once each text starts with the class name. The released features
were most likely encoded from texts that name the class, as the authors' earlier STAR code
does ("<class>,<description>"), although the released JSON files do not show it. With
`class_name_prefix=True` the texts are "<class name>, <text>".
"""

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from neuron.atomic import atomic_path
from neuron.errors import UserError
from neuron.side_info.prompts import SPATIAL_PHASES, TEMPORAL_PHASES
from neuron.text.base import TextEncoder
from neuron.text.cache import encode_cached

STREAMS = {"spatial": SPATIAL_PHASES, "temporal": TEMPORAL_PHASES}
TEMPORAL_MODES = ("cumulative", "per_phase")
CUMULATIVE_SEPARATOR = " "
CLASS_NAME_SEPARATOR = ", "
# The default offline encoder: its weights ship inside a PyPI package. Chosen over all-MiniLM-L6-v2
# for speed (~100x faster on CPU), which keeps the notebooks and tests quick; UTD-MHAD's runs use
# all-MiniLM-L6-v2, chosen on its validation folds (training.config, README "Text encoders").
DEFAULT_TEXT_ENCODER = "wordllama-l2-supercat-256"


def phase_texts(side_info: Mapping[str, Mapping[str, Sequence[str]]], class_names: Sequence[str],
                temporal_mode: str = "cumulative",
                class_name_prefix: bool = False) -> dict[str, list[list[list[str]]]]:
    """{stream: texts[phase][class][description]}: the texts whose features side_info_features returns."""
    if temporal_mode not in TEMPORAL_MODES:
        raise ValueError(f"temporal_mode must be one of {TEMPORAL_MODES}, got {temporal_mode!r}")
    n_descriptions = _check_side_info(side_info, class_names)
    texts = {stream: [[list(side_info[name][phase]) for name in class_names] for phase in phases]
             for stream, phases in STREAMS.items()}
    if temporal_mode == "cumulative":
        per_phase = texts["temporal"]
        texts["temporal"] = [
            [[CUMULATIVE_SEPARATOR.join(per_phase[p][k][i] for p in range(e + 1)) for i in range(n_descriptions)]
             for k in range(len(class_names))]
            for e in range(len(per_phase))]
    if class_name_prefix:
        texts = {stream: [[[f"{name}{CLASS_NAME_SEPARATOR}{text}" for text in cls]
                           for name, cls in zip(class_names, phase)] for phase in phases]
                 for stream, phases in texts.items()}
    return texts


def side_info_features(side_info: Mapping[str, Mapping[str, Sequence[str]]], class_names: Sequence[str],
                       encoder: TextEncoder, cache_dir, temporal_mode: str = "cumulative",
                       class_name_prefix: bool = False, batch_size: int = 64,
                       progress: bool = True) -> dict[str, np.ndarray]:
    """{"spatial": (3, K, N_a, D), "temporal": (3, K, N_a, D)} float32 features of `side_info`
    ({class name: {phase: [N_a descriptions]}}, as load_side_info returns) for the K classes of
    `class_names`, in that order; D = encoder.dim. temporal_mode and class_name_prefix choose the
    texts (module docstring). All texts are encoded in one cached call."""
    texts = phase_texts(side_info, class_names, temporal_mode, class_name_prefix)
    flat = [text for stream in STREAMS for phase in texts[stream] for cls in phase for text in cls]
    features = encode_cached(encoder, flat, cache_dir, batch_size=batch_size, progress=progress)
    phases, k, n = len(SPATIAL_PHASES), len(class_names), len(texts["spatial"][0][0])
    features = features.reshape(len(STREAMS), phases, k, n, encoder.dim)
    return {stream: np.ascontiguousarray(features[s]) for s, stream in enumerate(STREAMS)}


def dataset_text_features(dataset: str, encoder: str = DEFAULT_TEXT_ENCODER, *, side_info_dir=None,
                          cache_dir=None, temporal_mode: str = "cumulative", class_name_prefix: bool = False,
                          progress: bool = True) -> dict[str, np.ndarray]:
    """side_info_features of the shipped (or `side_info_dir`) side information of `dataset`,
    encoded by the registered encoder `encoder`, cached in `cache_dir` (default data/text_features)."""
    from neuron import paths
    from neuron.data.datasets import class_names
    from neuron.side_info.shipped import shipped_side_info
    from neuron.text.encoders import get_text_encoder

    side_info = shipped_side_info(dataset, side_info_dir)
    return side_info_features(side_info, class_names(dataset), get_text_encoder(encoder),
                              paths.TEXT_CACHE_DIR if cache_dir is None else cache_dir,
                              temporal_mode=temporal_mode, class_name_prefix=class_name_prefix,
                              progress=progress)


def save_text_features(path, features: Mapping[str, np.ndarray], class_names: Sequence[str]) -> None:
    """Write {"spatial", "temporal"} features (P, K, N_a, D) and the K class names to one .npz file."""
    _check_features(features, len(class_names), str(path))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, spatial=features["spatial"], temporal=features["temporal"],
                 class_names=np.array(list(class_names), dtype=str))


def load_text_features(path) -> tuple[dict[str, np.ndarray], list[str]]:
    """({"spatial", "temporal"} float32 features (P, K, N_a, D), the K class names) of a
    save_text_features file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            features = {stream: data[stream] for stream in STREAMS}
            class_names = [str(name) for name in data["class_names"]]
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"{path} is not a text feature file with 'spatial', 'temporal' and 'class_names' ({err}) "
                        f"(give a file written by neuron.text.save_text_features or `side-info import-official "
                        f"--features-out`)") from None
    _check_features(features, len(class_names), str(path))
    return features, class_names


def _check_features(features: Mapping[str, np.ndarray], num_classes: int, where: str) -> None:
    shapes = {stream: getattr(features.get(stream), "shape", None) for stream in STREAMS}
    spatial = shapes["spatial"]
    ok = (spatial is not None and len(spatial) == 4 and spatial[1] == num_classes
          and shapes["temporal"] == spatial
          and all(np.asarray(features[s]).dtype == np.float32 for s in STREAMS))
    if not ok:
        raise UserError(f"{where}: expected float32 'spatial' and 'temporal' features of one shape "
                        f"(P, K={num_classes}, N_a, D), got {shapes}")


def _check_side_info(side_info, class_names) -> int:
    """N_a, after checking every class has every phase with N_a non-empty descriptions."""
    if not class_names:
        raise ValueError("class_names is empty")
    if len(set(class_names)) != len(class_names):
        raise ValueError("class_names are not unique")
    counts, problems = set(), []
    for name in class_names:
        phases = side_info.get(name)
        if not isinstance(phases, Mapping):
            problems.append(f"{name!r}: no side information")
            continue
        for phase in SPATIAL_PHASES + TEMPORAL_PHASES:
            descriptions = phases.get(phase)
            if not isinstance(descriptions, Sequence) or isinstance(descriptions, str) or not descriptions:
                problems.append(f"{name!r}: phase {phase} is missing or not a list of descriptions")
                continue
            counts.add(len(descriptions))
    if problems:
        raise ValueError(f"side information is incomplete for {len(problems)} class phases:\n"
                         + "\n".join(problems))
    if len(counts) != 1:
        raise ValueError(f"every class and phase needs the same number of descriptions, found {sorted(counts)}")
    return counts.pop()
