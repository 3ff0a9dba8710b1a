"""Zero-shot inference: rank class names given at run time for a skeleton (`neuron predict`)."""
