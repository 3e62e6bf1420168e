"""TLS certificate probe against a local TLS server with certificates made in the test."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.management import call_command
from django.test import override_settings
from prometheus_client import CollectorRegistry, generate_latest

from helpdesk.monitoring.alerting import rules
from helpdesk.monitoring.alerting.evaluator import DatabaseSink, Evaluator
from helpdesk.monitoring.alerting.management.commands.worker import build_worker
from helpdesk.monitoring.alerting.models import Alert
from helpdesk.monitoring.security import tls
from helpdesk.monitoring.security.collector import SecurityCollector

pytestmark = pytest.mark.django_db

NOW = datetime.now(tz=UTC)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


class CA:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("Test CA"))
            .issuer_name(_name("Test CA"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=400))
            .not_valid_after(NOW + timedelta(days=400))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.path = folder / "ca.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, host: str, not_after: datetime) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(host))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(min(NOW - timedelta(days=30), not_after - timedelta(days=1)))
            .not_valid_after(not_after)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName(host)]
                    + (
                        [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                        if host == "localhost"
                        else []
                    )
                ),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        cert_path, key_path = self.folder / f"{name}.pem", self.folder / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path


class TlsServer:
    """Accept TLS handshakes on 127.0.0.1 until closed."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.recv(1)
            except (OSError, ssl.SSLError):
                pass  # the probe hangs up after the handshake, or refuses it

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def ca(tmp_path: Path) -> CA:
    return CA(tmp_path)


@pytest.fixture
def serve(ca: CA) -> Iterator[object]:
    servers: list[TlsServer] = []

    def start(name: str, days: float, host: str = "localhost") -> str:
        server = TlsServer(*ca.issue(name, host, NOW + timedelta(days=days)))
        servers.append(server)
        return f"localhost:{server.port}"

    yield start
    for server in servers:
        server.close()


def test_it_reads_the_expiry_of_a_valid_certificate(ca: CA, serve: object) -> None:
    target = serve("valid", 90)  # type: ignore[operator]
    result = tls.probe(target, timeout=5, cafile=str(ca.path))
    assert result.success
    assert result.error == ""
    left = result.seconds_left()
    assert left is not None
    assert 89 * 86400 < left <= 90 * 86400


def test_it_reports_an_expired_certificate_with_its_expiry(ca: CA, serve: object) -> None:
    result = tls.probe(serve("expired", -3), timeout=5, cafile=str(ca.path))  # type: ignore[operator]
    assert not result.success
    assert "expired" in result.error
    left = result.seconds_left()
    assert left is not None
    assert left < -2 * 86400


def test_it_reports_a_certificate_for_another_host(ca: CA, serve: object) -> None:
    target = serve("wrong", 90, host="other.example")  # type: ignore[operator]
    result = tls.probe(target, timeout=5, cafile=str(ca.path))
    assert not result.success
    assert "mismatch" in result.error or "match" in result.error
    assert result.not_after is not None


def test_it_reports_an_unknown_issuer(serve: object) -> None:
    result = tls.probe(serve("valid", 90), timeout=5)  # type: ignore[operator]  # system trust
    assert not result.success
    assert "issuer" in result.error or "verify" in result.error


def test_it_reports_a_closed_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = tls.probe(f"127.0.0.1:{port}", timeout=2)
    assert not result.success
    assert result.not_after is None
    assert result.error.startswith("connection failed")


@pytest.mark.parametrize("bad", ["", "host:port", "host:0", "[::1]:99999"])
def test_it_refuses_a_malformed_target(bad: str) -> None:
    with pytest.raises(ValueError, match="HOST"):
        tls.parse_target(bad)


def test_it_exposes_metrics_and_alerts_from_the_worker_job(ca: CA, serve: object) -> None:
    valid = serve("valid", 90)  # type: ignore[operator]
    expiring = serve("expiring", 14)  # type: ignore[operator]
    soon = serve("soon", 3)  # type: ignore[operator]
    expired = serve("expired", -1)  # type: ignore[operator]
    with override_settings(
        SECURITY_TLS_HOSTS=[valid, expiring, soon, expired], SECURITY_TLS_CA_FILE=str(ca.path)
    ):
        worker = build_worker(evaluate=False, deliver=False)
        job = next(j for j in worker.jobs if j.name == "tls-check")
        # (job.func directly: run_job closes connections, which a test transaction forbids)
        assert job.func() == {"hosts": 4, "failed": 1}
    registry = CollectorRegistry()
    registry.register(SecurityCollector())
    text = generate_latest(registry).decode()
    assert f'helpdesk_tls_probe_success{{host="{valid}"}} 1.0' in text
    assert f'helpdesk_tls_probe_success{{host="{expired}"}} 0.0' in text
    assert f'helpdesk_tls_certificate_expiry_seconds{{host="{expired}"}} -' in text
    assert 'helpdesk_security_lockouts{scope="ip"} 0.0' in text

    # The catalogue's `for` (1 h for the warning, 10 min for the critical) on a test clock.
    clock = [time.time()]
    evaluator = Evaluator(rules.default_rules(), DatabaseSink(), clock=lambda: clock[0])
    evaluator.evaluate()
    clock[0] += 3600
    evaluator.evaluate()
    firing = {
        (a.name, a.labels["host"], a.severity)
        for a in Alert.objects.filter(status="firing", name__startswith="TLS")
    }
    assert ("TLSCertificateExpiringSoon", expiring, "warning") in firing
    assert ("TLSCertificateExpiryCritical", soon, "critical") in firing
    assert ("TLSCertificateExpiryCritical", expired, "critical") in firing
    assert ("TLSCertificateExpiringSoon", soon, "warning") not in firing  # one alert per host
    assert not {host for _, host, _ in firing} & {valid}


def test_it_checks_hosts_from_the_command(ca: CA, serve: object, capsys: object) -> None:
    valid = serve("valid", 90)  # type: ignore[operator]
    call_command("tls_check", valid, cafile=str(ca.path))
    expiring = serve("expiring", 5)  # type: ignore[operator]
    with pytest.raises(SystemExit) as exit_info:
        call_command("tls_check", valid, expiring, cafile=str(ca.path))
    assert exit_info.value.code == 1
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert f"{expiring}: ok EXPIRES within 7 days (critical)" in out


def test_it_reports_expiry_by_the_tls_alerts_thresholds(
    ca: CA, serve: object, capsys: object, settings: Any
) -> None:
    # The command's limits are the catalogue's, overridden as the alerts' are.
    month = serve("month", 30)  # type: ignore[operator]
    call_command("tls_check", month, cafile=str(ca.path))
    settings.ALERT_THRESHOLDS = "TLSCertificateExpiringSoon.days=45"
    with pytest.raises(SystemExit):
        call_command("tls_check", month, cafile=str(ca.path))
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert f"{month}: ok EXPIRES within 45 days (warning)" in out
    settings.ALERT_THRESHOLDS = "TLSCertificateExpiryCritical.days=40"
    with pytest.raises(SystemExit):
        call_command("tls_check", month, cafile=str(ca.path))
    assert f"{month}: ok EXPIRES within 40 days (critical)" in capsys.readouterr().out  # type: ignore[attr-defined]
