"""A real HTTP server on loopback speaking the chat-completions protocol, for tests.

    with ChatServer(respond) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x")
        ...
    server.requests  # every request body, in arrival order

`respond(body) -> Reply` decides each answer: an assistant message, an HTTP error status, a
raw (malformed) body, and/or a delay before answering (to provoke client timeouts). Calls to
`respond` are serialised, so scripts need no locking of their own; delays run outside the
lock, so slow answers do not hold up other requests.
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


class ChatServer:
    def __init__(self, respond):
        self._respond = respond
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
            return self._respond(body)


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
