"""The prompt templates, installed as the data-only package neuron.prompt_templates (see setup.py)."""
