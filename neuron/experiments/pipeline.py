"""The main job: execute the numbered notebooks in order, headlessly, with papermill."""

import ast
import time
from pathlib import Path

from neuron.errors import UserError
from neuron.paths import REPO_ROOT, RESULTS_DIR

NOTEBOOK_DIR = REPO_ROOT / "notebooks"


def _literal(value, name=None):
    """Parse a command-line parameter the way papermill's `-p` does: a Python literal, else a string.
    A split stays text (but None): papermill's literal of 48_12 is the integer 4812."""
    if not isinstance(value, str) or (name == "split" and value != "None"):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def numbered_notebooks(only=None) -> list[Path]:
    notebooks = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    if only:
        notebooks = [nb for nb in notebooks if any(nb.name.startswith(prefix) for prefix in only)]
        if not notebooks:
            raise UserError(f"no notebook in {NOTEBOOK_DIR} starts with {only} (name a prefix such as 03)")
    return notebooks


def run_notebooks(dataset="synthetic", only=None, out_dir=None, extra=None) -> list[Path]:
    """Execute each numbered notebook with `dataset` (and `extra` parameters it declares).

    Executed copies go to `out_dir` (default results/notebooks/<dataset>/); the notebooks
    themselves write figures/ and results/. Finally every evaluated run under results/runs/
    (or the `results_dir` parameter's runs/) is collected into summary.json and summary.md
    beside it (`neuron.experiments.summary`).
    """
    import papermill

    from neuron.experiments.summary import SUMMARY_MD, write_summary
    from neuron.notebook_params import CHECKED, check_parameters

    if Path(str(dataset)).is_dir():  # a prepared directory: the notebooks run in notebooks/
        dataset = str(Path(dataset).resolve())
    wanted = {"dataset": dataset, **{k: _literal(v, k) for k, v in (extra or {}).items()}}
    notebooks = numbered_notebooks(only)
    declared_by = {nb: papermill.inspect_notebook(str(nb)) for nb in notebooks}
    unknown = sorted(set(wanted) - set().union(*declared_by.values()))
    if unknown:
        raise UserError(f"no notebook declares the parameters {unknown} (see the notebooks' parameters cells)")
    check_parameters(**{k: v for k, v in wanted.items() if k in CHECKED})  # before any notebook runs
    out_dir = Path(out_dir) if out_dir else RESULTS_DIR / "notebooks" / str(dataset)
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = []
    for notebook, declared in declared_by.items():
        # Only parameters that differ from the notebook's defaults: a default run stays identical
        # to the committed notebook (no injected cell).
        params = {k: v for k, v in wanted.items()
                  if k in declared and _literal(declared[k]["default"]) != v}
        target = out_dir / notebook.name
        start = time.perf_counter()
        print(f"[neuron run] {notebook.name} with {params}", flush=True)
        _execute(notebook, target, params)
        print(f"[neuron run] {notebook.name} done in {time.perf_counter() - start:.0f} s -> {target}", flush=True)
        executed.append(target)
    # A results_dir parameter is read by the notebooks, which run in notebooks/.
    results_dir = NOTEBOOK_DIR / wanted["results_dir"] if wanted.get("results_dir") else RESULTS_DIR
    rows = write_summary(results_dir)
    print(f"[neuron run] summary of {len(rows)} evaluated runs -> {results_dir / SUMMARY_MD}", flush=True)
    return executed


class NotebookFailed(UserError):
    """A notebook's cell raised; the message is its error in one line (the traceback is in the executed copy)."""


def _execute(notebook: Path, target: Path, params: dict) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(str(notebook), str(target), parameters=params, kernel_name="python3",
                                   cwd=str(NOTEBOOK_DIR), progress_bar=False)
    except PapermillExecutionError as err:
        # A UserError raised in the notebook is already a sentence; other errors keep their type.
        what = " ".join((err.evalue if err.ename == "UserError" else f"{err.ename}: {err.evalue}").split())
        raise NotebookFailed(f"{notebook.name}, cell {err.exec_count}: {what} (traceback in {target}; "
                             f"--debug shows it here)") from err
