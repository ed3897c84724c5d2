"""A real HTTP server on loopback that plays an SMS/voice provider or a webhook receiver.

It records every request (method, path, headers, raw body) and answers from a script of
(status, headers, body) tuples, the last one repeating; tests assert on what arrived.
"""

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    def json(self):
        return json.loads(self.body)


class ProviderServer:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: list[tuple[int, dict[str, str], bytes]] = [(200, {}, b"{}")]
        self.connections: set[tuple] = set()
        self.hold: threading.Event | None = None  # set: answers wait until it is set (timeouts)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as providers do

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.connections.add(self.client_address)
                server.received.append(Received(self.command, self.path, dict(self.headers.items()), body))
                if server.hold is not None:
                    server.hold.wait(10)
                status, headers, answer = server.answers[0] if len(server.answers) == 1 else server.answers.pop(0)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer)

            do_POST = do_HEAD = do_GET = _handle

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def answer(self, *answers: tuple[int, dict | None, bytes | dict | str]) -> None:
        """Script the next answers; the last one repeats."""
        self.answers = [
            (
                status,
                headers or {},
                body if isinstance(body, bytes) else (json.dumps(body) if isinstance(body, dict) else body).encode(),
            )
            for status, headers, body in answers
        ]

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port() -> str:
    """A loopback URL nobody listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
