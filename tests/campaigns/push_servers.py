"""Real HTTP/2 servers on loopback playing the push providers in tests: hypercorn over TLS (a test
certificate authority made with `cryptography`), serving a small ASGI app that records each request
and answers from per-path handlers. APNs, FCM and Google's token endpoint are all this server."""

import asyncio
import datetime
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypercorn.asyncio import serve
from hypercorn.config import Config


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class LoopbackAuthority:
    """A certificate authority for one test: a server certificate for 127.0.0.1, client certificates."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = self._issue(self.key.public_key(), "Engage test CA", ca=True)
        self.ca_path = directory / "ca.pem"
        self.ca_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        server_key = ec.generate_private_key(ec.SECP256R1())
        self.server_cert_path = directory / "server.pem"
        self.server_key_path = directory / "server-key.pem"
        self.server_cert_path.write_bytes(
            self._issue(server_key.public_key(), "127.0.0.1", server=True).public_bytes(serialization.Encoding.PEM)
        )
        self.server_key_path.write_bytes(_pem_key(server_key))

    def _issue(self, public_key: Any, name: str, *, ca: bool = False, server: bool = False) -> x509.Certificate:
        now = datetime.datetime.now(datetime.UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        issuer = subject if ca else self.cert.subject
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
            )
        return builder.sign(self.key, hashes.SHA256())

    def client_certificate(self, name: str) -> tuple[str, str]:
        """(certificate PEM, private key PEM) of a client certificate this authority signed."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._issue(key.public_key(), name)
        return cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key).decode()


@dataclass
class Received:
    http_version: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Reply = tuple[int, dict[str, str], Any]  # status, headers, body (bytes, or anything JSON)
Handler = Callable[[Received], Reply]


class ProviderServer:
    """Hypercorn on 127.0.0.1 over TLS (h2 and http/1.1 by ALPN). `routes` maps a path prefix to a
    handler; `received` lists every request in order. With `require_client_certificate`, the TLS
    handshake demands a client certificate signed by the authority."""

    def __init__(self, authority: LoopbackAuthority, *, require_client_certificate: bool = False) -> None:
        self.routes: dict[str, Handler] = {}
        self.received: list[Received] = []
        self.config = Config()
        self.config.certfile = str(authority.server_cert_path)
        self.config.keyfile = str(authority.server_key_path)
        self.config.graceful_timeout = 0.2
        self.config.accesslog = None
        self.config.loglevel = "WARNING"  # no "Running on ..." line per server
        if require_client_certificate:
            self.config.ca_certs = str(authority.ca_path)
            self.config.verify_mode = ssl.CERT_REQUIRED
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)  # connections wait in the backlog until hypercorn accepts: no start race
        self.port = listener.getsockname()[1]
        self.config.bind = [f"fd://{listener.detach()}"]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def requests_to(self, prefix: str) -> list[Received]:
        return [r for r in self.received if r.path.startswith(prefix)]

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await serve(self._app, self.config, shutdown_trigger=self._stop.wait)

    async def _app(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = Received(
            http_version=scope["http_version"],
            method=scope["method"],
            path=scope["path"],
            headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
            body=body,
        )
        self.received.append(request)
        handler = next((h for prefix, h in self.routes.items() if request.path.startswith(prefix)), None)
        status, headers, content = handler(request) if handler else (404, {}, {"error": "no route"})
        if not isinstance(content, bytes):
            content = json.dumps(content).encode()
            headers = {"content-type": "application/json", **headers}
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": content})

    def start(self) -> "ProviderServer":
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
