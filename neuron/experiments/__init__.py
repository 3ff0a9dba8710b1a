"""Experiments on top of the library: the notebooks runner, ablations, analysis, summaries, reports, plots."""
