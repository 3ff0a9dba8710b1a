"""Ask a chat-completions LLM for each class's descriptions, one multi-turn conversation per class.

A class's conversation is the system message followed by six user turns (PHASES: spatial
coarse -> mid -> fine, then temporal start -> middle -> end); every request carries the
whole conversation so far, so each turn builds on the model's earlier answers. Classes run
in parallel (a thread pool of `workers`), the turns of one class in order.

Each answer is validated (neuron.side_info.validate). Within one turn, a failure is retried
up to `max_retries` times (so a turn makes at most 1 + max_retries requests, plus one for
each response format the server refuses, below):
- a transient HTTP failure (429, 408, 409, 5xx, timeout, connection error) after an
  exponential backoff (retry_base_delay * 2**k seconds, at most MAX_BACKOFF_S);
- an invalid answer at once, with the rejected answer and a user message naming the problem
  (prompts/fix.txt) appended to the request, so the model can correct itself.
Once a turn has a valid answer, the conversation keeps only the turn's prompt and that
answer: later turns see the same conversation whether they run now or in a resumed run.

Each request asks for the answer's JSON schema (an object whose "descriptions" is an array
of exactly N_a strings) in the first form of RESPONSE_FORMATS the server accepts:
- "json_schema": OpenAI's structured outputs (OpenAI, vLLM, Ollama);
- "json_object_schema": {"type": "json_object", "schema": ...}, llama.cpp's grammar-constrained
  extension (llama-cpp-python's server refuses json_schema, with a 500 naming response_format);
- "json_object": any JSON object, the schema only in the prompt;
- "text": no response_format; the prompt and the validation feedback do all the work.
An HTTP 400, 422 or 500 whose error names the response format moves the run to the next form
at once (it is neither retried nor counted as a retry), and the run keeps that form for all its
later requests, so a server refuses at most once per form and worker. Each accepted answer records the form that got it
(provenance parameters.response_format). A fixed `response_format` sends only that form.
A schema-constrained answer is well-formed but not necessarily good: the validator's content
rules (word counts, duplicates, similar class names) still apply and are fed back.

After every accepted turn the class's cache file is rewritten atomically, so an interrupted
run loses at most the turns in flight; a rerun skips complete classes and resumes partial
ones at their first missing turn, with the cached turns in the conversation. A class whose
turn exhausts its retries, or meets a non-transient HTTP error (400, 401, 404, ...), is
reported as failed while the others go on; the run then raises SideInfoGenerationError
listing the failed classes and why.
"""

import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import openai
from tqdm import tqdm

from neuron.side_info.cache import (
    api_provenance,
    cached_phases,
    class_path,
    load_side_info,
    new_class_record,
    read_class_record,
    write_class_record,
)
from neuron.side_info.prompts import PHASES, PROMPTS_DIR, PromptTemplates
from neuron.side_info.similar import similar_by_token_overlap
from neuron.side_info.validate import InvalidAnswer, parse_answer

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0
RESPONSE_FORMATS = ("json_schema", "json_object_schema", "json_object", "text")  # fallback order
AUTO = "auto"
# Local servers (vLLM, llama.cpp, Ollama) accept any key, but the client insists on one.
PLACEHOLDER_API_KEY = "no-key-needed"
_TRANSIENT_STATUS = (408, 409, 429)


class SideInfoGenerationError(RuntimeError):
    """Some classes have no complete side information; `failures` maps class name -> reason."""

    def __init__(self, dataset: str, failures: dict[str, str], num_classes: int):
        self.failures = failures
        lines = "\n".join(f"  {name}: {reason}" for name, reason in failures.items())
        super().__init__(f"side information of {dataset}: {len(failures)} of {num_classes} classes "
                         f"failed (the others are cached; rerun to retry these):\n{lines}")


class _ClassFailed(Exception):
    """One class gave up; the message is the reason."""


class _Stopped(Exception):
    """The run was interrupted; a worker leaves its class as cached so far."""


class _FormatRefused(Exception):
    """The server rejected the request's response_format; the message is its error."""


class _RequestFailed(Exception):
    """A request that got no answer; `transient` where trying again may help."""

    def __init__(self, reason: str, transient: bool):
        super().__init__(reason)
        self.transient = transient


def generate_side_info(class_names, *, dataset: str, cache_dir, model: str, base_url: str | None = None,
                       api_key: str | None = None, n_descriptions: int = 10, similar=None,
                       workers: int = 4, max_retries: int = 5, timeout: float = 60.0,
                       temperature: float | None = 0.7, seed: int | None = 0, response_format: str = AUTO,
                       max_tokens: int | None = None,
                       retry_base_delay: float = 1.0, prompts_dir=PROMPTS_DIR,
                       progress: bool = True) -> dict[str, dict[str, list[str]]]:
    """Fill `<cache_dir>/<dataset>/` with the six phases of every class; return load_side_info's dict.

    class_names: the dataset's classes in label order (the index names the cache file).
    similar: {class name: [class names to tell it apart from]}; default similar_by_token_overlap.
    base_url: an OpenAI-compatible server (e.g. http://localhost:8000/v1); None is OpenAI.
    api_key: default $OPENAI_API_KEY; a server given by base_url may need none.
    temperature, seed: sent with each request unless None (some models reject them).
    response_format: AUTO (the first form of RESPONSE_FORMATS the server accepts) or one of them.
    max_tokens: sent with each request unless None: a small model under a JSON grammar can
        write until its context is full (reasoning models of OpenAI reject max_tokens).
    Raises SideInfoGenerationError after the run where some classes failed.
    """
    class_names = list(class_names)
    if len(set(class_names)) != len(class_names):
        raise ValueError(f"class names of {dataset} are not unique")
    if response_format != AUTO and response_format not in RESPONSE_FORMATS:
        raise ValueError(f"response_format must be {AUTO!r} or one of {RESPONSE_FORMATS}, got {response_format!r}")
    if n_descriptions < 1 or workers < 1 or max_retries < 0 or (max_tokens is not None and max_tokens < 1):
        raise ValueError(f"need n_descriptions >= 1, workers >= 1, max_retries >= 0, max_tokens >= 1 or None; "
                         f"got {n_descriptions}, {workers}, {max_retries}, {max_tokens}")
    similar = _resolve_similar(class_names, similar)
    templates = PromptTemplates.load(prompts_dir)

    # Read the cache before any request: a corrupt file stops the run here, not midway.
    todo = []
    for index, name in enumerate(class_names):
        path = class_path(cache_dir, dataset, index, name)
        record = read_class_record(path, dataset, index, name) or new_class_record(dataset, index, name)
        done = cached_phases(record, n_descriptions)
        if len(done) < len(PHASES):
            record["phases"] = {phase: record["phases"][phase] for phase in done}
            todo.append((name, path, record))

    failures = {}
    if todo:
        client = _make_client(base_url, api_key, timeout)
        session = _Session(client=client, templates=templates, model=model,
                           base_url_host=_host(client.base_url), n_descriptions=n_descriptions,
                           temperature=temperature, seed=seed, max_tokens=max_tokens,
                           formats=_FormatChooser(response_format),
                           max_retries=max_retries, retry_base_delay=retry_base_delay)
        with tqdm(total=len(class_names), initial=len(class_names) - len(todo), unit="class",
                  desc=f"side info {dataset}", disable=not progress) as bar:
            failures = session.run(todo, similar, workers, bar)
    if failures:
        order = {name: i for i, name in enumerate(class_names)}
        failures = dict(sorted(failures.items(), key=lambda item: order[item[0]]))
        raise SideInfoGenerationError(dataset, failures, len(class_names))
    return load_side_info(cache_dir, dataset, class_names)


def _resolve_similar(class_names, similar) -> dict[str, list[str]]:
    if similar is None:
        return similar_by_token_overlap(class_names)
    unknown = sorted(set(similar) - set(class_names))
    if unknown:
        raise ValueError(f"similar-class mapping names classes that are not in the dataset: {unknown}")
    for name, others in similar.items():
        if isinstance(others, str) or not all(isinstance(o, str) for o in others):
            raise ValueError(f"similar classes of {name!r} must be a list of names, got {others!r}")
    return {name: list(similar.get(name, ())) for name in class_names}


def _make_client(base_url, api_key, timeout) -> openai.OpenAI:
    key = api_key or os.environ.get("OPENAI_API_KEY")
    if not key:
        if base_url is None:
            raise ValueError("no API key for OpenAI: set OPENAI_API_KEY (or pass base_url for a "
                             "local server that needs none)")
        key = PLACEHOLDER_API_KEY
    # max_retries=0: retries are ours, so that invalid answers and HTTP failures share one
    # budget and the backoff can be tested.
    return openai.OpenAI(base_url=base_url, api_key=key, timeout=timeout, max_retries=0)


def _host(url) -> str:
    """host[:port] of a URL, without user info or path (so never a credential)."""
    parts = urlsplit(str(url))
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def answer_schema(n: int) -> dict:
    """The JSON schema of an answer: {"descriptions": exactly n strings}, nothing else."""
    descriptions = {"type": "array", "items": {"type": "string"}, "minItems": n, "maxItems": n}
    return {"type": "object", "properties": {"descriptions": descriptions},
            "required": ["descriptions"], "additionalProperties": False}


def response_format_field(form: str, n: int) -> dict | None:
    """The request's response_format for one of RESPONSE_FORMATS (None: send none)."""
    if form == "json_schema":
        return {"type": "json_schema",
                "json_schema": {"name": "descriptions", "strict": True, "schema": answer_schema(n)}}
    if form == "json_object_schema":
        return {"type": "json_object", "schema": answer_schema(n)}
    if form == "json_object":
        return {"type": "json_object"}
    return None


class _FormatChooser:
    """The response format the run asks for: the memory of what this server refused, shared by
    the worker threads."""

    def __init__(self, setting: str):
        self._chain = RESPONSE_FORMATS if setting == AUTO else (setting,)
        self._index = 0
        self._lock = threading.Lock()

    def current(self) -> str:
        with self._lock:
            return self._chain[self._index]

    def step_down(self, refused: str, reason: str) -> bool:
        """Note that the server refused `refused`; False where no other form is left to try."""
        with self._lock:
            position = self._chain.index(refused)
            # requests in flight when the first refusal came are refused too: step down once
            if self._index == position and position + 1 < len(self._chain):
                self._index += 1
                log.warning("the server refused response_format %s (%s); using %s from now on",
                            refused, reason, self._chain[self._index])
            return self._index > position


def _refuses_format(err: openai.APIStatusError) -> bool:
    """An error about the response format (so another form may work), not about the rest.

    500 too: llama-cpp-python 0.3.36's server answers a response_format it does not know with
    a 500 "internal_server_error" holding the request's validation error.
    """
    if err.status_code not in (400, 422, 500):
        return False
    text = f"{err.message} {json.dumps(err.body)}".lower()
    return any(word in text for word in ("response_format", "json_schema", "json_object"))


@dataclass
class _Session:
    """One run's client, templates and request settings, shared by the worker threads."""

    client: openai.OpenAI
    templates: PromptTemplates
    model: str
    base_url_host: str
    n_descriptions: int
    temperature: float | None
    seed: int | None
    max_tokens: int | None
    formats: _FormatChooser
    max_retries: int
    retry_base_delay: float
    stop: threading.Event = field(default_factory=threading.Event)  # set: workers stop asking

    def parameters(self, form: str) -> dict:
        """What, besides the prompts, shapes an answer; recorded with every answer."""
        return {"n_descriptions": self.n_descriptions, "temperature": self.temperature,
                "seed": self.seed, "max_tokens": self.max_tokens, "response_format": form}

    def run(self, todo, similar, workers, bar) -> dict[str, str]:
        """Complete the classes of `todo` in a thread pool; return {class name: reason} of failures."""
        failures = {}
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(self.class_job, name, path, record, similar[name]): name
                       for name, path, record in todo}
            try:
                for future in as_completed(futures):
                    name = futures[future]
                    try:
                        future.result()
                    except _ClassFailed as err:
                        failures[name] = str(err)
                        bar.set_postfix(failed=len(failures))
                    except _Stopped:
                        continue  # stopped by another class's error, which this loop re-raises
                    bar.update(1)
            except BaseException:
                # Ctrl-C, or an unexpected error in a class: running classes stop at their
                # next request (their finished turns are cached; a second Ctrl-C abandons the
                # requests in flight), classes not started yet are dropped.
                self.stop.set()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        return failures

    def class_job(self, name, path, record, similar) -> None:
        try:
            self.complete_class(name, path, record, similar)
        except (_ClassFailed, _Stopped):
            raise
        except BaseException:
            self.stop.set()  # now, before this worker thread takes up the next class
            raise

    def complete_class(self, name, path, record, similar) -> None:
        """Ask the turns missing from `record` in order, saving the record after each."""
        messages = [{"role": "system", "content": self.templates.system()}]
        for entry in record["phases"].values():
            messages += [{"role": "user", "content": entry["prompt"]},
                         {"role": "assistant", "content": entry["answer"]}]
        for phase in PHASES[len(record["phases"]):]:
            prompt = self.templates.turn(phase, name, self.n_descriptions, similar)
            turn = messages + [{"role": "user", "content": prompt}]
            descriptions, answer, requests, form = self.ask(name, phase, turn, similar)
            provenance = api_provenance(model=self.model, base_url_host=self.base_url_host,
                                        parameters=self.parameters(form),
                                        template_sha256=self.templates.sha256, requests=requests)
            record["phases"][phase] = {"descriptions": descriptions, "prompt": prompt, "answer": answer,
                                       "provenance": provenance}
            write_class_record(path, record)
            messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]

    def ask(self, name, phase, messages, similar) -> tuple[list[str], str, int, str]:
        """(descriptions, answer text, requests made, response format) for the turn that ends
        `messages`. A refused response format costs a request but not a retry."""
        messages = list(messages)
        last_error, attempts, requests, transient_failures = None, 0, 0, 0
        while attempts < 1 + self.max_retries:
            if self.stop.is_set():
                raise _Stopped()
            form = self.formats.current()
            requests += 1
            try:
                answer = self.chat(messages, form)
            except _FormatRefused as err:
                if self.formats.step_down(form, str(err)):
                    continue
                raise _ClassFailed(f"{phase}: {err} (not retried: the server refuses response_format "
                                   f"{form})") from None
            except _RequestFailed as err:
                if not err.transient:
                    raise _ClassFailed(f"{phase}: {err} (not retried)") from None
                attempts += 1
                last_error = str(err)
                delay = min(self.retry_base_delay * 2 ** transient_failures, MAX_BACKOFF_S)
                transient_failures += 1
                log.info("%s / %s: %s; retrying in %.2f s", name, phase, last_error, delay)
                if self.stop.wait(delay):
                    raise _Stopped() from None
                continue
            attempts += 1
            try:
                return parse_answer(answer, self.n_descriptions, phase, name, similar), answer, requests, form
            except InvalidAnswer as err:
                last_error = f"invalid answer: {err}"
                log.info("%s / %s: %s; asking for a fix", name, phase, last_error)
                fix = self.templates.fix(str(err), name, self.n_descriptions)
                messages += [{"role": "assistant", "content": answer or ""}, {"role": "user", "content": fix}]
        raise _ClassFailed(f"{phase}: no valid answer in {requests} requests; "
                           f"last problem: {last_error}")

    def chat(self, messages, form: str) -> str | None:
        """The assistant message content of one chat-completions request (None where it has none)."""
        kwargs = {}
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        if self.seed is not None:
            kwargs["seed"] = self.seed
        if self.max_tokens is not None:
            kwargs["max_tokens"] = self.max_tokens
        response_format = response_format_field(form, self.n_descriptions)
        if response_format is not None:
            kwargs["response_format"] = response_format
        try:
            response = self.client.chat.completions.create(model=self.model, messages=messages, **kwargs)
        except openai.APITimeoutError:
            raise _RequestFailed("request timed out", transient=True) from None
        except openai.APIConnectionError as err:
            raise _RequestFailed(f"connection error ({err.__cause__ or err})", transient=True) from None
        except openai.APIStatusError as err:
            status = err.status_code
            message = " ".join(str(err.message).split())  # one line, even for a server's traceback
            if response_format is not None and _refuses_format(err):
                raise _FormatRefused(f"HTTP {status}: {message}") from None
            transient = status in _TRANSIENT_STATUS or status >= 500
            raise _RequestFailed(f"HTTP {status}: {message}", transient=transient) from None
        except json.JSONDecodeError:
            # A 200 whose body is not JSON: a proxy or a server in trouble, worth another try.
            raise _RequestFailed("the server's response body is not JSON", transient=True) from None
        message = response.choices[0].message if response.choices else None
        return message.content if message is not None else None
