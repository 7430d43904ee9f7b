"""The webhook address guard, tried the way an attacker would: IPv4 hidden in IPv6, special-purpose ranges,
DNS that answers differently the second time, and TLS to a pinned address keeping its name."""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from service.services.destinations import BlockedDestination, Destination, post, refusal, resolve
from tests.services.test_webhooks import Receiver, _wait_finished, receiver  # noqa: F401

# Teredo: 2001:0:<server>:<flags>:<port ^ ffff>:<client ^ ffffffff>; here the client is 127.0.0.1.
TEREDO_TO_LOOPBACK = ipaddress.IPv6Address("2001:0:4136:e378:8000:63bf:80ff:fffe")

REFUSED = [
    "::127.0.0.1",  # IPv4-compatible
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:0:127.0.0.1",  # IPv4-translated (SIIT)
    "64:ff9b::7f00:1",  # NAT64 well-known prefix -> 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 -> 169.254.169.254, the cloud metadata service
    "64:ff9b:1::a00:1",  # local-use NAT64 (RFC 8215)
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    str(TEREDO_TO_LOOPBACK),  # Teredo whose client is 127.0.0.1
    "2607:f8b0::5efe:7f00:1", "2607:f8b0::200:5efe:a00:1",  # ISATAP interface ids of 127.0.0.1, 10.0.0.1
    "192.0.0.9", "192.0.0.170", "100.64.0.1", "198.18.0.1", "240.0.0.1", "255.255.255.255",
    "192.88.99.1", "0.0.0.0", "169.254.169.254", "10.1.2.3", "fd00::1", "fe80::1", "3fff::1", "5f00::1",
    "100:0:0:1::1", "2001:db8::1", "ff02::1",
]
ALLOWED = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1",
           "2607:f8b0::5efe:808:808"]


@pytest.mark.parametrize("address", REFUSED)
def test_special_and_embedded_addresses_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None
    with pytest.raises(BlockedDestination, match="KIWAME_WEBHOOK_ALLOW_PRIVATE"):
        resolve(f"http://[{address}]:8080/hook" if ":" in address else f"http://{address}/hook", False)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_teredo_fixture_really_embeds_loopback() -> None:
    assert TEREDO_TO_LOOPBACK.teredo is not None and TEREDO_TO_LOOPBACK.teredo[1] == ipaddress.IPv4Address("127.0.0.1")


def _fake_dns(monkeypatch: pytest.MonkeyPatch, name: str, answer: Callable[[], str]) -> None:
    """The attacker's own name server: ``name`` answers what ``answer`` says, everything else is real DNS."""
    real = socket.getaddrinfo

    def lookup(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        address = answer()
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port) if family == socket.AF_INET
                 else (address, port, 0, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", lookup)


def test_name_resolving_to_ipv4_compatible_loopback_is_blocked(make_app: Callable[..., Flask],
                                                                auth: Callable[..., dict[str, str]],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(monkeypatch, "hooks.attacker.test", lambda: "::127.0.0.1")
    app = make_app(KIWAME_WEBHOOK_ALLOW_PRIVATE="0")
    response = app.test_client().post("/api/v1/submissions?wait=5", headers=auth("ana"), json={
        "exercise_id": "permute-shape-quiz", "answer": [7, 4], "callback_url": "http://hooks.attacker.test:9/hook"})
    assert response.status_code == 200
    delivery = _wait_finished(app)
    assert delivery.status == "failed" and delivery.attempts == 1  # blocked at once, never retried
    assert delivery.last_error.startswith(
        "blocked: hooks.attacker.test resolves to the non-public address ::7f00:1 (embeds 127.0.0.1")


def test_dns_rebinding_cannot_redirect_the_request(make_app: Callable[..., Flask], auth: Callable[..., dict[str, str]],
                                                   receiver: tuple[Receiver, str],  # noqa: F811
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The attacker's name answers a public address for the check and 127.0.0.1 afterwards."""
    state, url = receiver
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    answers: list[str] = []

    def rebinding() -> str:
        answers.append("93.184.215.14" if not answers else "127.0.0.1")
        return answers[-1]

    _fake_dns(monkeypatch, "hooks.rebind.test", rebinding)
    app = make_app(KIWAME_WEBHOOK_ALLOW_PRIVATE="0", KIWAME_WEBHOOK_MAX_ATTEMPTS="1", KIWAME_WEBHOOK_TIMEOUT_S="1")
    app.test_client().post("/api/v1/submissions?wait=5", headers=auth("ana"), json={
        "exercise_id": "permute-shape-quiz", "answer": [7, 4], "callback_url": f"http://hooks.rebind.test:{port}/hook"})
    delivery = _wait_finished(app, timeout=20)
    assert answers == ["93.184.215.14"]  # resolved once, for the check
    assert delivery.status == "failed" and not state.calls  # the loopback receiver never saw the request


def _self_signed(tmp: Path, name: str) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}"],
                   check=True, capture_output=True)
    return cert, key


@pytest.mark.skipif(subprocess.run(["which", "openssl"], capture_output=True).returncode != 0, reason="no openssl")
def test_pinned_https_keeps_sni_host_and_certificate_name(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path, "hooks.example")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    seen: dict[str, Any] = {}

    def record_sni(_sock: Any, name: str | None, _ctx: Any) -> None:
        seen["sni"] = name

    server_ctx.sni_callback = record_sni
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            request = b""
            while b"\r\n\r\n" not in request:
                request += tls.recv(4096)
            head, _, body = request.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            while len(body) < length:  # read it all: closing with unread bytes would reset the connection
                body += tls.recv(4096)
            seen["request"] = request.decode(errors="replace")
            tls.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(cert))
    dest = Destination("https", "hooks.example", port, "/hook?x=1", ("127.0.0.1",))
    assert post(dest, b"{}", {"content-type": "application/json"}, 5, context=client_ctx) == 204
    thread.join(5)
    listener.close()
    assert seen["sni"] == "hooks.example"
    assert seen["request"].startswith("POST /hook?x=1 HTTP/1.1")
    assert f"Host: hooks.example:{port}" in seen["request"]

    # The certificate is still checked against the name: the same server under another name is refused.
    wrong = Destination("https", "other.example", port, "/", ("127.0.0.1",))
    listener2 = socket.create_server(("127.0.0.1", port))
    accept = threading.Thread(target=lambda: listener2.accept()[0].close(), daemon=True)
    accept.start()
    with pytest.raises((ssl.SSLError, ssl.CertificateError, OSError)):
        post(wrong, b"{}", {}, 5, context=client_ctx)
    listener2.close()
