"""Side information written by hand, stored exactly like the generator's answers.

Where no LLM can be asked, a person answers the six turns of each class's conversation.
`write_handwritten_side_info` records every phase with the user message the generator would
have sent for it (same templates, same N_a, same similar classes) and the templates' hash,
with provenance SOURCE_HANDWRITTEN and no model, so that `load_side_info` reads the result
like a generated cache and a reader can see which prompt each answer responds to.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path

from neuron.side_info.cache import class_path, handwritten_phase, new_class_record, write_class_record
from neuron.side_info.prompts import PHASES, PROMPTS_DIR, PromptTemplates
from neuron.side_info.similar import similar_by_token_overlap
from neuron.side_info.validate import InvalidAnswer, check_descriptions


def write_handwritten_side_info(authored: Mapping[str, Mapping[str, list[str]]], *, dataset: str,
                                class_names: Sequence[str], cache_dir, n_descriptions: int = 10,
                                similar: Mapping[str, Sequence[str]] | None = None,
                                prompts_dir=PROMPTS_DIR) -> list[Path]:
    """Write one cache file per class of `authored` ({class name: {phase: [descriptions]}}).

    class_names: the dataset's classes in label order (the index names the cache file);
    `authored` may cover a subset of them, each class with all six phases.
    similar: {class name: [similar class names]} as given to the generator; default, like
    the generator's, similar_by_token_overlap(class_names).
    Everything is checked before anything is written; an error names the class and phase.
    An existing file of a class is replaced. Returns the paths written, in label order.
    """
    class_names = list(class_names)
    unknown = [name for name in authored if name not in class_names]
    if unknown:
        raise ValueError(f"hand-written side information names classes that are not in {dataset}: "
                         f"{unknown}")
    if similar is None:
        similar = similar_by_token_overlap(class_names)
    elif set(similar) - set(class_names):
        raise ValueError(f"similar-class mapping names classes that are not in {dataset}: "
                         f"{sorted(set(similar) - set(class_names))}")
    templates = PromptTemplates.load(prompts_dir)

    records = {}
    for index, name in enumerate(class_names):
        if name not in authored:
            continue
        phases = authored[name]
        extra = [phase for phase in phases if phase not in PHASES]
        missing = [phase for phase in PHASES if phase not in phases]
        if extra or missing:
            raise ValueError(f"class {name!r}: phases must be exactly {PHASES}; "
                             f"missing {missing}, unknown {extra}")
        record = new_class_record(dataset, index, name)
        for phase in PHASES:  # conversation order, whatever the order of `phases`
            try:
                descriptions = check_descriptions(phases[phase], n_descriptions, phase)
            except InvalidAnswer as err:
                raise ValueError(f"class {name!r}, phase {phase}: {err}") from None
            prompt = templates.turn(phase, name, n_descriptions, list(similar.get(name, ())))
            record["phases"][phase] = handwritten_phase(descriptions, prompt, templates.sha256)
        records[class_path(cache_dir, dataset, index, name)] = record

    for path, record in records.items():
        write_class_record(path, record)
    return list(records)
