"""Evaluation: metric functions (`metrics`), per-epoch records (`records`), the paper and
strict protocols (`protocols`) and the results files (`report.evaluate`)."""
