"""The shared emulator HTTP(S) server: plain and TLS, keep-alive, reset, stop closes open connections."""

from __future__ import annotations

import ssl

import pytest
import requests
import trustme

from syncd.emulators.http_server import DropConnection, EmulatorServer, Request, Response


def echo(request: Request) -> Response:
    if request.path == "/drop":
        raise DropConnection()
    if request.path == "/boom":
        raise RuntimeError("bug")
    return Response.json(
        200,
        {
            "method": request.method,
            "path": request.path,
            "q": request.param("q"),
            "auth": request.header("authorization"),
            "body": request.body.decode(),
        },
        {"X-Test": "1"},
    )


def test_plain_http_round_trip_with_query_headers_and_body() -> None:
    with EmulatorServer(echo) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        response = requests.post(
            server.base_url + "/a%20b?q=1&q=2", data="hello", headers={"Authorization": "x"}, timeout=5
        )
    assert response.status_code == 200
    assert response.headers["X-Test"] == "1"
    assert response.json() == {"method": "POST", "path": "/a b", "q": "1", "auth": "x", "body": "hello"}


def test_tls_with_a_trusted_ca(tmp_path) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with EmulatorServer(echo, ssl_context=context) as server:
        assert server.base_url.startswith("https://127.0.0.1:")
        response = requests.get(server.base_url + "/x", verify=str(bundle), timeout=5)
        assert response.json()["path"] == "/x"
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(server.base_url + "/x", verify=True, timeout=5)


def test_drop_connection_is_a_connection_error_and_handler_bugs_are_500() -> None:
    with EmulatorServer(echo) as server:
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(server.base_url + "/drop", timeout=5)
        response = requests.get(server.base_url + "/boom", timeout=5)
    assert response.status_code == 500
    assert "bug" in response.json()["error"]["message"]


def test_stop_closes_keep_alive_connections_and_releases_the_port() -> None:
    session = requests.Session()
    server = EmulatorServer(echo).start()
    url = server.base_url
    assert session.get(url + "/1", timeout=5).status_code == 200
    server.stop()
    assert not server.running
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(url + "/2", timeout=5)
    server.stop()  # idempotent
