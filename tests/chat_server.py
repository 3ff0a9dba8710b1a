"""A real HTTP server on loopback speaking the chat-completions protocol, for tests.

    with ChatServer(respond) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x")
        ...
    server.requests  # every request body, in arrival order

`respond(body) -> Reply` decides each answer: an assistant message, an HTTP error status, a
raw (malformed) body, and/or a delay before answering (to provoke client timeouts). Calls to
`respond` are serialised, so scripts need no locking of their own; delays run outside the
lock, so slow answers do not hold up other requests.

Behaviours of real servers, for tests of the response formats:
- `ChatServer(respond, refusals={"json_schema": LLAMA_CPP_REFUSES_JSON_SCHEMA})` answers a
  request whose response_format has a refused type with that reply, as llama-cpp-python's
  server does (the request is recorded; `respond` is not asked);
- `small_model(write)` plays a small model behind a grammar-constrained server: it honours the
  JSON schema of a request (`response_schema`: exactly as many descriptions as it asks for),
  and without one it answers JSON without the asked key (json_object) or free text.
"""

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    content: str | None = None  # the assistant message of a 200 answer
    status: int = 200  # anything else answers with an OpenAI-style error object
    delay: float = 0.0  # seconds to wait before answering
    raw: bytes | None = None  # sent as the body as is, instead of a chat.completion


# What llama-cpp-python 0.3.36's server (python -m llama_cpp.server) answered to a request with
# OpenAI's structured outputs, {"type": "json_schema", ...}, when measured on 2026-12-04: a 500
# (not a 400), its message the request's validation error and where it was raised (the
# install path shortened here).
LLAMA_CPP_REFUSES_JSON_SCHEMA = Reply(status=500, raw=json.dumps({"error": {
    "message": "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
               "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', 'ctx': "
               "{'expected': \"'text' or 'json_object'\"}}\n\n  File \".../site-packages/llama_cpp/server/"
               "app.py\", line 376, in create_chat_completion\n    POST /v1/chat/completions",
    "type": "internal_server_error", "param": None, "code": None}}).encode())


def response_format_type(body: dict) -> str:
    """The response_format type a request asks for; "text" where it sends none."""
    return (body.get("response_format") or {}).get("type", "text")


def response_schema(body: dict) -> dict | None:
    """The JSON schema a request's answer must follow: structured outputs' (json_schema) or
    llama.cpp's extension (json_object with a schema); None where it gives none."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return response_format["json_schema"]["schema"]
    return response_format.get("schema")


def small_model(write):
    """A `respond` function for a model that writes `write(body, n)` (a list of n strings) as
    its descriptions when a schema holds it to {"descriptions": n strings}, and otherwise
    ignores the asked format, as SmolLM2-135M did behind llama-cpp-python's server."""

    def respond(body):
        schema = response_schema(body)
        if schema is not None:
            n = schema["properties"]["descriptions"]["maxItems"]
            return Reply(content=json.dumps({"descriptions": write(body, n)}))
        if response_format_type(body) == "json_object":
            return Reply(content=json.dumps({"action": "a person moves", "steps": 3}))
        return Reply(content="Sure! A person lifts the arm, then lowers it again.")

    return respond


class ChatServer:
    def __init__(self, respond, refusals: dict[str, Reply] | None = None):
        self._respond = respond
        self._refusals = dict(refusals or {})  # response_format type -> the reply refusing it
        self._lock = threading.Lock()
        self.requests: list[dict] = []
        self.arrival_times: list[float] = []  # time.monotonic() of each request
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.chat = self
        # a short poll interval: shutdown() waits for the serving loop's next poll
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _answer(self, body: dict) -> Reply:
        with self._lock:
            self.requests.append(body)
            self.arrival_times.append(time.monotonic())
            refusal = self._refusals.get(response_format_type(body))
            return refusal if refusal is not None else self._respond(body)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        if self.path != "/v1/chat/completions":
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server.chat
        reply = server._answer(body)
        time.sleep(reply.delay)
        if reply.raw is not None:
            self._send(reply.status, reply.raw)
        elif reply.status != 200:
            self._send(reply.status, {"error": {"message": f"injected failure {reply.status}",
                                                "type": "server_error", "code": None}})
        else:
            self._send(200, _completion(body, reply.content, len(server.requests)))

    def _send(self, status: int, payload):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and hung up: what the test provoked

    def log_message(self, *args):
        pass


def _completion(body: dict, content: str | None, number: int) -> dict:
    return {
        "id": f"chatcmpl-test-{number}", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", "test-model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
