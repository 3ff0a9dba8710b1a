"""Neuron: zero-shot skeleton action recognition with context-aware evolving micro-prototypes."""

__version__ = "0.1.0"
