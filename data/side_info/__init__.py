"""The shipped side information, installed as the data-only package neuron.shipped_side_info (see setup.py)."""
