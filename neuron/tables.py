"""The one Markdown table writer: results.md, the summary, the reports, the ablation tables and the
benchmarks' tables all go through `markdown_table`."""

from collections.abc import Iterable, Sequence


def markdown_table(header: Sequence, rows: Iterable[Sequence], numeric: Sequence[bool] | None = None) -> str:
    """A GitHub Markdown table: the header, the alignment row (`---:` for the columns flagged in
    `numeric`, right-aligned; `---` otherwise), then one line per row; no trailing newline."""
    numeric = list(numeric) if numeric is not None else [False] * len(header)
    lines = ["| " + " | ".join(map(str, header)) + " |",
             "| " + " | ".join("---:" if n else "---" for n in numeric) + " |"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)
