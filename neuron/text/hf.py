"""Loading `transformers` models strictly from local files, with missing weights as an error."""

import torch


def load_pretrained(model_class, source):
    """`model_class.from_pretrained(source)` in float32 from local files only, in eval mode.

    Weights the checkpoint has and the model does not (e.g. CLIP's vision tower when only the
    text tower is loaded) are expected and not reported. Weights the model needs and the
    checkpoint lacks would be silently initialised at random by `transformers`: raised here.
    """
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the per-key load report lists every unused vision weight
    hf_logging.disable_progress_bar()  # a bar for loading a few hundred tensors is noise in logs and notebooks
    try:
        model, info = model_class.from_pretrained(source, local_files_only=True, dtype=torch.float32,
                                                  output_loading_info=True)
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        raise ValueError(f"{source} lacks weights that {model_class.__name__} needs "
                         f"({len(missing)}: {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); "
                         "is it the right model?")
    return model.eval()
