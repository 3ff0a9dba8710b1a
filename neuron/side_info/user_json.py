"""Descriptions as one plain JSON file: bring your own in, take a dataset's out, check what is there.

The file is {class name: {phase: [descriptions]}} with the six phases of neuron.side_info.prompts
(spatial_coarse, spatial_mid, spatial_fine, temporal_start, temporal_middle, temporal_end) and
the same number of non-empty descriptions in every class and phase. Imported phases are recorded
like the generator's (one record per class, `neuron.side_info.cache`) with provenance source
"imported" and the file's name; they are checked for shape, not for the generator's answer rules.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

from neuron.atomic import write_json
from neuron.data.datasets import class_names
from neuron.errors import UserError
from neuron.side_info.cache import class_path, new_class_record, read_class_record, record_problem, write_class_record
from neuron.side_info.prompts import PHASES
from neuron.side_info.shipped import shipped_side_info, side_info_location, side_info_target

SOURCE_IMPORTED = "imported"


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"side information file {path} does not exist")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is not a JSON file ({err})") from None
    if not isinstance(content, dict) or not content:
        raise UserError(f"{path}: expected a non-empty object {{class name: {{phase: [descriptions]}}}}")
    return content


def _match_classes(path: Path, content: dict, names: list[str], dataset) -> dict[int, dict]:
    """{label: phases} for each class of the file, matched to the dataset's names exactly or
    ignoring case and repeated spaces."""
    folded = {" ".join(n.lower().split()): i for i, n in enumerate(names)}
    matched, unknown = {}, []
    for key, phases in content.items():
        label = names.index(key) if key in names else folded.get(" ".join(key.lower().split()))
        if label is None:
            unknown.append(key)
        elif label in matched:
            raise UserError(f"{path}: class {names[label]!r} appears twice")
        else:
            matched[label] = phases
    if unknown:
        raise UserError(f"{path}: {dataset} has no class {', '.join(map(repr, unknown[:5]))}; its classes: "
                        f"{', '.join(names)}")
    return matched


def _checked_phases(path: Path, name: str, phases) -> dict[str, list[str]]:
    if not isinstance(phases, dict):
        raise UserError(f"{path}: class {name!r}: expected an object {{phase: [descriptions]}}")
    missing = [p for p in PHASES if p not in phases]
    extra = [p for p in phases if p not in PHASES]
    if missing or extra:
        raise UserError(f"{path}: class {name!r}: phases must be exactly {', '.join(PHASES)}; "
                        f"missing {missing}, unknown {extra}")
    for phase in PHASES:
        texts = phases[phase]
        if (not isinstance(texts, list) or not texts
                or not all(isinstance(t, str) and t.strip() for t in texts)):
            raise UserError(f"{path}: class {name!r}, phase {phase}: expected a non-empty list of "
                            "non-empty strings")
    return {phase: [t.strip() for t in phases[phase]] for phase in PHASES}


def import_side_info_json(json_path, dataset, cache_dir=None) -> list[Path]:
    """Write the descriptions of `json_path` as `dataset`'s side-information records where
    `side_info_target` says (never the shipped data/side_info unless `cache_dir` names it). Every
    class of the file must have all six phases with one count N_a, which must also be the count
    of the records already there. Everything is checked before anything is written; an existing
    record of an imported class is replaced. Returns the paths written."""
    path = Path(json_path)
    names = class_names(dataset)
    matched = _match_classes(path, _read_json(path), names, dataset)
    phases = {label: _checked_phases(path, names[label], content) for label, content in matched.items()}
    counts = {len(texts) for content in phases.values() for texts in content.values()}
    if len(counts) != 1:
        raise UserError(f"{path}: every class and phase needs the same number of descriptions, found "
                        f"{sorted(counts)}")
    home, folder = side_info_target(dataset, cache_dir)
    kept = _existing_counts(home, folder, names, skip=set(phases))
    if kept and kept != counts:
        raise UserError(f"{path} has {counts.pop()} descriptions per phase but the records already in "
                        f"{home / folder} have {sorted(kept)}; import every class again or use another --cache-dir")
    created = datetime.now(UTC).isoformat(timespec="seconds")
    written = []
    for label in sorted(phases):
        record = new_class_record(folder, label, names[label])
        for phase in PHASES:
            texts = phases[label][phase]
            provenance = {"source": SOURCE_IMPORTED, "file": path.name, "model": None, "base_url_host": None,
                          "parameters": None, "template_sha256": None, "created": created, "requests": 0}
            record["phases"][phase] = {"descriptions": texts, "prompt": "",
                                       "answer": json.dumps({"descriptions": texts}, ensure_ascii=False),
                                       "provenance": provenance}
        target = class_path(home, folder, label, names[label])
        write_class_record(target, record)
        written.append(target)
    return written


def _existing_counts(home: Path, folder: str, names: list[str], skip: set[int]) -> set[int]:
    """N_a of the complete records of the classes not in `skip`."""
    counts = set()
    for label, name in enumerate(names):
        if label in skip:
            continue
        record = read_class_record(class_path(home, folder, label, name), folder, label, name)
        first = (record or {}).get("phases", {}).get(PHASES[0])
        if isinstance(first, dict) and isinstance(first.get("descriptions"), list):
            counts.add(len(first["descriptions"]))
    return counts


def export_side_info_json(dataset, json_path, cache_dir=None) -> Path:
    """Write `dataset`'s complete side information as one JSON file (the import format)."""
    side_info = shipped_side_info(dataset, cache_dir)
    write_json(json_path, side_info)
    return Path(json_path)


def side_info_problems(dataset, cache_dir=None) -> dict[str, str]:
    """{class name: what is missing or wrong} for `dataset`'s side information ({} when complete)."""
    home, folder = side_info_location(dataset, cache_dir)
    names = class_names(dataset)
    problems, n_descriptions = {}, None
    for label, name in enumerate(names):
        path = class_path(home, folder, label, name)
        try:
            record = read_class_record(path, folder, label, name)
        except ValueError as err:
            problems[name] = str(err)
            continue
        if record is None:
            problems[name] = f"missing ({path})"
            continue
        first = record["phases"].get(PHASES[0])
        if n_descriptions is None and isinstance(first, dict) and isinstance(first.get("descriptions"), list):
            n_descriptions = len(first["descriptions"])
        problem = record_problem(record, n_descriptions or 0)
        if problem:
            problems[name] = problem
    return problems
