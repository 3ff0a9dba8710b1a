"""Side information -> the description features the Neuron head consumes.

`side_info_features` returns {"spatial": (3, K, N_a, D), "temporal": (3, K, N_a, D)} float32:
phase (spatial: coarse, mid, fine; temporal: start, middle, end), class (in the order of
`class_names`), description, text dimension.

Temporal texts: the paper's released temporal features are cumulative.
`temporal_fp.tar` holds the features of the start-phase descriptions, but
`temporal_fsp.tar` ("first + second phase") and `temporal_fstp.tar` ("first + second +
third phase"), which the official code pairs with the middle and end phases, are not the
features of the middle and end descriptions alone. The official repository has no script
that builds them; the released tensors show (checked on both NTU and PKU-MMD):
- description i of fsp/fstp continues description i of the earlier phases: fsp[k, i] is
  closer to fp[k, i] than to fp[k, j != i] for 89% (NTU) / 81% (PKU) of the pairs;
- they are not means of per-phase features: 2 fsp - fp and 3 fstp - 2 fsp, the "middle"
  and "end" features that would imply, have larger norms (17.7 and 18.6 against 15.9 for
  fp) and components far outside the range of every CLIP feature in the release;
- they carry the signature of longer texts: CLIP dimensions 201 and 363 shift with text
  length in all released features, and fsp and fstp sit where texts of two and three
  descriptions' length do (fstp: predicted -2.42, found -2.44 on dimension 201).
So phase e's i-th text is the concatenation of the i-th descriptions of phases 1..e
("cumulative", the default). The separator the authors used cannot be recovered from the
features; a space is used here (the descriptions are sentences). "per_phase" encodes each
phase's descriptions alone, as the paper's text reads. Spatial phases are always per phase.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from neuron.atomic import atomic_path
from neuron.side_info.prompts import SPATIAL_PHASES, TEMPORAL_PHASES
from neuron.text.cache import encode_cached
from neuron.text.encoders import TextEncoder

STREAMS = {"spatial": SPATIAL_PHASES, "temporal": TEMPORAL_PHASES}
TEMPORAL_MODES = ("cumulative", "per_phase")
CUMULATIVE_SEPARATOR = " "


def phase_texts(side_info: Mapping[str, Mapping[str, Sequence[str]]], class_names: Sequence[str],
                temporal_mode: str = "cumulative") -> dict[str, list[list[list[str]]]]:
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
    return texts


def side_info_features(side_info: Mapping[str, Mapping[str, Sequence[str]]], class_names: Sequence[str],
                       encoder: TextEncoder, cache_dir, temporal_mode: str = "cumulative",
                       batch_size: int = 64, progress: bool = True) -> dict[str, np.ndarray]:
    """{"spatial": (3, K, N_a, D), "temporal": (3, K, N_a, D)} float32 features of `side_info`
    ({class name: {phase: [N_a descriptions]}}, as load_side_info returns) for the K classes of
    `class_names`, in that order; D = encoder.dim. All texts are encoded in one cached call."""
    texts = phase_texts(side_info, class_names, temporal_mode)
    flat = [text for stream in STREAMS for phase in texts[stream] for cls in phase for text in cls]
    features = encode_cached(encoder, flat, cache_dir, batch_size=batch_size, progress=progress)
    phases, k, n = len(SPATIAL_PHASES), len(class_names), len(texts["spatial"][0][0])
    features = features.reshape(len(STREAMS), phases, k, n, encoder.dim)
    return {stream: np.ascontiguousarray(features[s]) for s, stream in enumerate(STREAMS)}


def save_text_features(path, features: Mapping[str, np.ndarray], class_names: Sequence[str]) -> None:
    """Write {"spatial", "temporal"} features (P, K, N_a, D) and the K class names to one .npz file."""
    _check_features(features, len(class_names), str(path))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, spatial=features["spatial"], temporal=features["temporal"],
                 class_names=np.array(list(class_names), dtype=str))


def load_text_features(path) -> tuple[dict[str, np.ndarray], list[str]]:
    """({"spatial", "temporal"} features (P, K, N_a, D) float32, the K class names) of a save_text_features file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            features = {stream: data[stream] for stream in STREAMS}
            class_names = [str(name) for name in data["class_names"]]
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{path} is not a text feature file with 'spatial', 'temporal' and "
                         f"'class_names' ({err})") from None
    _check_features(features, len(class_names), str(path))
    return features, class_names


def _check_features(features: Mapping[str, np.ndarray], num_classes: int, where: str) -> None:
    shapes = {stream: getattr(features.get(stream), "shape", None) for stream in STREAMS}
    spatial = shapes["spatial"]
    ok = (spatial is not None and len(spatial) == 4 and spatial[1] == num_classes
          and shapes["temporal"] == spatial
          and all(np.asarray(features[s]).dtype == np.float32 for s in STREAMS))
    if not ok:
        raise ValueError(f"{where}: expected float32 'spatial' and 'temporal' features of one shape "
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
