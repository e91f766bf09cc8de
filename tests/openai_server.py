"""A small real HTTP server speaking the OpenAI chat-completions protocol, scripted per test.

`behaviour` decides the reply: "answer" (JSON or SSE stream, as the client asks), "hang" (accept, never answer),
"error" (HTTP `status`), "break" (stream a first piece, then drop the connection). A request with a field named in
`rejects` gets HTTP 400, as from a server that does not know that field.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAIServer:
    def __init__(self):
        self.reply = ""
        self.behaviour = "answer"
        self.status = 500
        self.rejects: set[str] = set()
        self.requests: list[dict] = []
        self.reported: list[dict] = []  # the `usage` sent with each reply
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if server.behaviour == "hang":
                    server._stop.wait(120)
                    return
                unknown = sorted(server.rejects & set(body))
                if server.behaviour == "error" or unknown:
                    error = {"message": "scripted failure", "type": "server_error"}
                    if unknown:  # worded as OpenAI-compatible servers word it
                        error = {"message": f"Unrecognized request argument supplied: {unknown[0]}",
                                 "type": "invalid_request_error"}
                    payload = json.dumps({"error": error}).encode()
                    self.send_response(400 if unknown else server.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if body.get("stream"):
                    self._stream(body)
                else:
                    self._plain(body)

            def _usage(self, body):
                """Token counts that tell requests apart: a token per 4 characters, as in English."""
                prompt = sum(len(str(m.get("content") or "")) for m in body["messages"]) // 4
                usage = {"prompt_tokens": prompt, "completion_tokens": len(server.reply) // 4 + 1}
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                server.reported.append(usage)
                return usage

            def _plain(self, body):
                payload = json.dumps(
                    {
                        "id": "cmpl-test",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body["model"],
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": server.reply}, "finish_reason": "stop"}
                        ],
                        "usage": self._usage(body),
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _stream(self, body):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                pieces = [server.reply[i : i + 4] for i in range(0, len(server.reply), 4)]
                for i, piece in enumerate(pieces):
                    event = {
                        "id": "cmpl-test",
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                        "model": body["model"],
                        "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                    }
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                    if server.behaviour == "break" and i == 1:
                        self.wfile.write(b"data: {\"broken")  # half an event, then the connection drops
                        self.wfile.flush()
                        self.close_connection = True
                        return
                final = {
                    "id": "cmpl-test",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                }
                self.wfile.write(f"data: {json.dumps(final)}\n\n".encode())
                if (body.get("stream_options") or {}).get("include_usage"):
                    usage = {**final, "choices": [], "usage": self._usage(body)}
                    self.wfile.write(f"data: {json.dumps(usage)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
