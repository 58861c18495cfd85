"""The server's checks that run before anything listens, and its token check, as plain functions."""

import socket

import pytest

from aib_deploy.errors import AibError
from aib_deploy.serving.auth import BearerTokenInterceptor
from aib_deploy.serving.options import ServerOptions
from aib_deploy.serving.server import check_port_free, read_pem, server_credentials


def test_a_busy_port_is_named_and_port_zero_is_always_free():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(AibError, match=f"--port {port}: cannot listen on 127.0.0.1:{port}"):
            check_port_free("127.0.0.1", port)
    check_port_free("127.0.0.1", 0)


def test_a_host_that_is_no_address_is_named():
    with pytest.raises(AibError, match=r"--host no\.such\.host\.invalid: not an address of this machine"):
        check_port_free("no.such.host.invalid", 50999)


def test_pem_files_are_read_and_checked_by_flag(tmp_path):
    missing, text = tmp_path / "missing.pem", tmp_path / "text.pem"
    text.write_text("hello\n")
    with pytest.raises(AibError, match=f"--tls-cert {missing}: cannot read it"):
        read_pem(missing, "--tls-cert", b"CERTIFICATE", "certificate chain")
    with pytest.raises(AibError, match=f"--tls-key {text}: not a PEM private key"):
        read_pem(text, "--tls-key", b"PRIVATE KEY", "private key")
    assert server_credentials(ServerOptions()) is None  # no TLS asked for


@pytest.mark.parametrize(
    "header, allowed",
    [
        ("Bearer s3cret", True),
        ("bearer s3cret", True),
        ("BEARER  s3cret ", True),
        ("Bearer wrong", False),
        ("Basic s3cret", False),
        ("s3cret", False),
        ("", False),
        (None, False),
    ],
)
def test_the_bearer_scheme_is_case_insensitive_and_the_token_must_match(header, allowed):
    assert BearerTokenInterceptor("s3cret", ()).allows(header) is allowed


@pytest.mark.parametrize(
    "field, value, flag",
    [
        ("port", 70000, "--port"),
        ("max_streams", 0, "--max-streams"),
        ("max_delay_ms", -1.0, "--max-delay-ms"),
        ("idle_timeout_s", 0.0, "--idle-timeout-s"),
        ("token", " ", "--token"),
        ("tls_cert", "c.pem", "--tls-cert"),
    ],
)
def test_impossible_options_are_named_by_their_flag(field, value, flag):
    with pytest.raises(AibError, match=flag):
        ServerOptions(**{field: value}).validate()
