"""A tiny OpenAI-compatible chat server on 127.0.0.1 that misbehaves on command (tests only).

``FakeServer(script)``: ``script`` is a list of behaviours consumed one per request, then ``"ok"`` forever:
``"ok"`` (a valid completion: the first allowed choice, or "hello"), ``"500"``, ``"timeout"`` (sleeps
``delay`` seconds before answering), ``"malformed"`` (a body that is not JSON), ``"truncated"`` (text cut
short, finish_reason "length"). ``requests`` records the JSON bodies and headers received.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeServer:
    def __init__(self, script: list[str] | None = None, delay: float = 2.0) -> None:
        self.script = list(script or [])
        self.delay = delay
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.headers.append(dict(self.headers))
                action = server.script.pop(0) if server.script else "ok"
                if action == "500":
                    return self._send(500, b'{"error": {"message": "internal error"}}')
                if action == "timeout":
                    time.sleep(server.delay)
                if action == "malformed":
                    return self._send(200, b"{not json")
                so = (body.get("structured_outputs") or {}).get("choice")
                text = so[0] if so else "hello"
                finish = "stop"
                if action == "truncated":
                    text, finish = text[: max(1, len(text) // 2)], "length"
                payload = {"id": "x", "object": "chat.completion", "created": 0, "model": body.get("model", "m"),
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                        "finish_reason": finish}],
                           "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}}
                self._send(200, json.dumps(payload).encode())

            def _send(self, code, data):
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
