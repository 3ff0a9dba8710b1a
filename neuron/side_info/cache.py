"""On-disk side information: one JSON file per class, rewritten atomically after every phase.

`<cache_dir>/<dataset>/<class_index:03d>_<slug>.json` (class_index 0-based, slug from the
class name) holds

    {"format": 1, "dataset": ..., "class_index": ..., "class_name": ...,
     "phases": {phase: {"descriptions": [N_a strings],
                        "prompt": the user message of this turn,
                        "answer": the assistant message carried into the later turns,
                        "provenance": {"source", "model", "base_url_host", "parameters",
                                       "template_sha256", "created", "requests"}}}}

with the phases present in conversation order (a partial file is a resumable class). The
provenance never holds an API key: only the host of the base URL. `source` is SOURCE_API for
answers of a chat-completions server and SOURCE_HANDWRITTEN for descriptions written by hand.
"""

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from neuron.atomic import write_json
from neuron.side_info.prompts import PHASES
from neuron.side_info.validate import InvalidAnswer, check_descriptions

FORMAT_VERSION = 1
SOURCE_API = "api"
SOURCE_HANDWRITTEN = "written by the project's authors, not an API response"

_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def class_path(cache_dir, dataset: str, class_index: int, class_name: str) -> Path:
    """The cache file of one class (class_index: its 0-based label)."""
    if not _DATASET_NAME.match(dataset):
        raise ValueError(f"dataset name {dataset!r} must be letters, digits, '_', '.' or '-' "
                         "(it names a folder of the cache)")
    slug = re.sub(r"[^a-z0-9]+", "_", class_name.lower()).strip("_")[:48] or "class"
    return Path(cache_dir) / dataset / f"{class_index:03d}_{slug}.json"


def new_class_record(dataset: str, class_index: int, class_name: str) -> dict:
    return {"format": FORMAT_VERSION, "dataset": dataset, "class_index": class_index,
            "class_name": class_name, "phases": {}}


def read_class_record(path: Path, dataset: str, class_index: int, class_name: str) -> dict | None:
    """The record at `path`, or None where there is none yet; errors name the file."""
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"side information cache file {path} is not valid JSON ({err}); "
                         "delete it to generate this class again") from None
    expected = {"format": FORMAT_VERSION, "dataset": dataset, "class_index": class_index,
                "class_name": class_name}
    found = {key: record.get(key) for key in expected} if isinstance(record, dict) else record
    if found != expected or not isinstance(record.get("phases"), dict):
        raise ValueError(f"side information cache file {path} does not belong here: expected "
                         f"{expected} and a 'phases' object, found {found}")
    return record


def write_class_record(path: Path, record: dict) -> None:
    write_json(path, record)


def cached_phases(record: dict, n_descriptions: int) -> list[str]:
    """The phases, in conversation order, up to the first one missing or no longer valid.

    A phase after a gap is not reused: its answer was given in a conversation that did not
    contain the missing turn.
    """
    done = []
    for phase in PHASES:
        if phase_problem(record["phases"].get(phase), n_descriptions, phase):
            break
        done.append(phase)
    return done


def first_phase_count(record: dict) -> int:
    """How many descriptions a record's first phase holds (its N_a; 0 when it has none)."""
    first = record["phases"].get(PHASES[0], {})
    return len(first.get("descriptions") or []) if isinstance(first, dict) else 0


def record_problem(record: dict, n_descriptions: int) -> str | None:
    """Why a record is not complete: "phase <first unusable phase>: <why>"; None when all six are."""
    done = cached_phases(record, n_descriptions)
    if len(done) == len(PHASES):
        return None
    bad = PHASES[len(done)]
    return f"phase {bad}: {phase_problem(record['phases'].get(bad), n_descriptions, bad)}"


def phase_problem(entry, n_descriptions: int, phase: str) -> str | None:
    """Why a cached phase entry cannot be used, or None where it can."""
    if entry is None:
        return "not generated yet"
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("prompt", "answer")):
        return "not an object with 'descriptions', 'prompt' and 'answer'"
    descriptions = entry.get("descriptions")
    source = (entry.get("provenance") or {}).get("source")
    if source not in (SOURCE_API, SOURCE_HANDWRITTEN):
        # Imported side information (e.g. the paper's release) was not written to this
        # project's prompts, so only its shape is checked, not the protocol's answer rules.
        if (isinstance(descriptions, list) and len(descriptions) == n_descriptions
                and all(isinstance(d, str) and d.strip() for d in descriptions)):
            return None
        return f"expected {n_descriptions} non-empty description strings"
    try:
        check_descriptions(descriptions, n_descriptions, phase)
    except InvalidAnswer as err:
        return str(err)
    return None


def api_provenance(*, model: str, base_url_host: str, parameters: dict, template_sha256: str,
                   requests: int) -> dict:
    return {"source": SOURCE_API, "model": model, "base_url_host": base_url_host,
            "parameters": parameters, "template_sha256": template_sha256, "created": _now(),
            "requests": requests}


def handwritten_phase(descriptions: list[str], prompt: str, template_sha256: str) -> dict:
    """A phase entry for descriptions written by hand in answer to `prompt` (a rendered turn).

    Its `answer` is the descriptions as the JSON object the turns ask for, so that a class
    can continue its conversation from hand-written turns like from generated ones.
    """
    provenance = {"source": SOURCE_HANDWRITTEN, "model": None, "base_url_host": None,
                  "parameters": None, "template_sha256": template_sha256, "created": _now(),
                  "requests": 0}
    return {"descriptions": list(descriptions), "prompt": prompt,
            "answer": json.dumps({"descriptions": list(descriptions)}, ensure_ascii=False),
            "provenance": provenance}


def load_side_info(cache_dir, dataset: str, class_names) -> dict[str, dict[str, list[str]]]:
    """{class name: {phase: [N_a descriptions]}} for every class, in the order given.

    Every class must have all six phases, valid and with the same N_a; errors name the files.
    """
    side_info, problems, n_descriptions = {}, [], None
    for index, name in enumerate(class_names):
        path = class_path(cache_dir, dataset, index, name)
        record = read_class_record(path, dataset, index, name)
        if record is None:
            problems.append(f"{path}: missing")
            continue
        if n_descriptions is None:
            n_descriptions = first_phase_count(record)
        problem = record_problem(record, n_descriptions)
        if problem:
            problems.append(f"{path}: {problem}")
            continue
        side_info[name] = {phase: record["phases"][phase]["descriptions"] for phase in PHASES}
    if problems:
        raise ValueError(f"side information of {dataset} in {cache_dir} is incomplete for "
                         f"{len(problems)} of {len(class_names)} classes (run `neuron side-info "
                         "generate` to fill it):\n" + "\n".join(problems))
    return side_info


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
