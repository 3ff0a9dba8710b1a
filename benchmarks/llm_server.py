"""How well a chat-completions server (and its model) answers the side-information conversation:
valid answers and requests per turn, classes completed, the content problems the validator
found per class, the response format the run settled on, and the wall time.

    python benchmarks/llm_server.py --base-url http://127.0.0.1:8080/v1 --model M
        [--dataset utd] [--classes K] [--n-descriptions 3] [--max-retries 2] [--workers 1]
        [--timeout 300] [--max-tokens 300] [--response-format auto] [--json-out FILE]

It runs neuron.side_info.generate_side_info in this process into a fresh temporary cache
(never the project's data/), counting every chat-completions request the openai client
sends (its turn, its response_format type, and what came back). `--classes K` takes the
dataset's first K classes. `--max-tokens` caps each answer (a 135M model under a bare JSON
grammar was seen writing for over ten minutes without stopping). An older generator without
the `response_format` and `max_tokens` parameters (one that always asked for json_object)
runs too, its requests given the same cap, so that a checkout from before the response
formats can be measured:
    PYTHONPATH=that/checkout:.venv/lib/python3.11/site-packages .venv/bin/python -S benchmarks/llm_server.py ...
(-S keeps the editable install of this checkout off the path).
"""

import argparse
import inspect
import json
import logging
import re
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import openai
from openai.resources.chat.completions import Completions

from neuron.data.datasets import class_names
from neuron.side_info.generate import SideInfoGenerationError, generate_side_info
from neuron.side_info.prompts import PHASES

_TURN = re.compile(r"Turn (\d) of 6")  # the shipped prompts number their turns


class RequestLog:
    """Every chat-completions request of the run: (phase, response_format type, outcome)."""

    def __init__(self, defaults: dict):
        self.rows: list[tuple[str, str, str]] = []
        self.defaults = defaults  # request fields added where the generator sends none
        self._lock = threading.Lock()

    def wrap(self, create):
        def counted(completions, *args, **kwargs):
            kwargs = self.defaults | kwargs
            phase = _phase(kwargs.get("messages", []))
            form = (kwargs.get("response_format") or {}).get("type", "text")
            if form == "json_object" and "schema" in kwargs["response_format"]:
                form = "json_object_schema"
            try:
                response = create(completions, *args, **kwargs)
            except openai.APIStatusError as err:
                self._add(phase, form, f"HTTP {err.status_code}")
                raise
            except openai.APIError as err:
                self._add(phase, form, type(err).__name__)
                raise
            self._add(phase, form, "answered")
            return response

        return counted

    def _add(self, *row):
        with self._lock:
            self.rows.append(row)


class ProblemLog(logging.Handler):
    """The validator's findings the generator sent back to the model ("asking for a fix")."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.by_class: dict[str, Counter] = defaultdict(Counter)

    def emit(self, record):
        if record.getMessage().endswith("asking for a fix"):
            name, _, problem = record.args
            self.by_class[name][_kind(problem)] += 1


def _phase(messages) -> str:
    for message in reversed(messages):
        match = _TURN.search(message.get("content") or "") if message.get("role") == "user" else None
        if match:
            return PHASES[int(match.group(1)) - 1]
    return "?"


def _kind(problem: str) -> str:
    """A validator message without its quoted description and numbers, to count problems by kind."""
    problem = re.sub(r"^invalid answer: ", "", problem)
    problem = re.sub(r": ['\"{\[].*$", "", problem, flags=re.DOTALL)  # the quoted description
    return re.sub(r"\d+", "N", problem)


def measure(args) -> dict:
    names = class_names(args.dataset)[: args.classes]
    kwargs = dict(dataset=args.dataset, model=args.model, base_url=args.base_url,
                  n_descriptions=args.n_descriptions, workers=args.workers, max_retries=args.max_retries,
                  timeout=args.timeout, progress=False)
    parameters = inspect.signature(generate_side_info).parameters
    defaults = {}
    if "response_format" in parameters:
        kwargs["response_format"] = args.response_format
    elif args.response_format != "auto":
        raise SystemExit("this generator has no response_format parameter; leave --response-format auto")
    if "max_tokens" in parameters:
        kwargs["max_tokens"] = args.max_tokens
    else:
        defaults["max_tokens"] = args.max_tokens

    requests, problems = RequestLog(defaults), ProblemLog()
    logger = logging.getLogger("neuron.side_info.generate")
    logger.setLevel(logging.INFO)
    logger.addHandler(problems)
    create = Completions.create
    Completions.create = requests.wrap(create)
    failures = {}
    try:
        with tempfile.TemporaryDirectory(prefix="llm_server_bench_") as cache:
            start = time.perf_counter()
            try:
                generate_side_info(names, cache_dir=cache, **kwargs)
            except SideInfoGenerationError as err:
                failures = err.failures
            wall = time.perf_counter() - start
            records = [json.loads(path.read_text()) for path in sorted((Path(cache) / args.dataset).glob("*.json"))]
    finally:
        Completions.create = create
        logger.removeHandler(problems)

    accepted = Counter(phase for record in records for phase in record["phases"])
    forms = Counter(_form(entry) for record in records for entry in record["phases"].values())
    asked = Counter(row[0] for row in requests.rows)
    outcomes = Counter(row[1:] for row in requests.rows)
    return {
        "base_url": args.base_url, "model": args.model, "dataset": args.dataset, "classes": len(names),
        "n_descriptions": args.n_descriptions, "max_retries": args.max_retries, "workers": args.workers,
        "max_tokens": args.max_tokens,
        "response_format": kwargs.get("response_format", "(none: older generator)"),
        "wall_s": round(wall, 1),
        "turns": {phase: {"valid": accepted[phase], "requests": asked[phase]} for phase in PHASES},
        "classes_completed": len(names) - len(failures),
        "requests_by_format": {f"{form} -> {outcome}": count for (form, outcome), count in sorted(outcomes.items())},
        "accepted_answers_by_format": dict(forms),
        "problems_fed_back": {name: dict(problems.by_class[name]) for name in names if problems.by_class[name]},
        "failures": failures,
    }


def _form(entry) -> str:
    parameters = entry["provenance"].get("parameters") or {}
    if "response_format" in parameters:
        return parameters["response_format"]
    return "json_object" if parameters.get("json_mode") else "text"


def report(result: dict) -> str:
    lines = [f"{result['model']} at {result['base_url']}, {result['dataset']} ({result['classes']} classes), "
             f"N_a {result['n_descriptions']}, max retries {result['max_retries']}, workers {result['workers']}, "
             f"max_tokens {result['max_tokens']}, response_format {result['response_format']}",
             f"wall time {result['wall_s']} s; classes completed {result['classes_completed']} of {result['classes']}",
             "turn               valid answers / requests"]
    lines += [f"  {phase:16s} {t['valid']:3d} / {t['requests']}" for phase, t in result["turns"].items()]
    lines.append("requests by response_format: "
                 + ", ".join(f"{k}: {v}" for k, v in result["requests_by_format"].items()))
    lines.append("accepted answers by response_format: "
                 + (", ".join(f"{k}: {v}" for k, v in result["accepted_answers_by_format"].items()) or "none"))
    lines.append("problems fed back to the model, per class:")
    for name, kinds in result["problems_fed_back"].items():
        lines.append(f"  {name}: " + "; ".join(f"{count}x {kind}" for kind, count in kinds.items()))
    lines.append("classes that failed, with the last problem:")
    lines += [f"  {name}: {reason}" for name, reason in result["failures"].items()] or ["  none"]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="the server, e.g. http://127.0.0.1:8080/v1")
    parser.add_argument("--model", required=True, help="the model name the server expects")
    parser.add_argument("--dataset", default="utd")
    parser.add_argument("--classes", type=int, help="only the dataset's first K classes")
    parser.add_argument("--n-descriptions", type=int, default=3)
    parser.add_argument("--max-retries", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="classes asked concurrently")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    parser.add_argument("--max-tokens", type=int, default=300, help="cap on each answer's tokens")
    parser.add_argument("--response-format", default="auto")
    parser.add_argument("--json-out", help="also write the result here as JSON")
    args = parser.parse_args()
    result = measure(args)
    print(report(result))
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
