"""A throw-away certificate authority for the HTTPS emulators.

Generated in memory at start (EC P-256, valid one day), it signs one server certificate for 127.0.0.1 and
localhost. `write_ca(path)` writes the CA certificate as PEM so a source's or target's `ca_bundle` can name
it: the client then verifies the emulator exactly as it verifies a real peer (no `verify=False` anywhere).

Built with `cryptography` (a runtime dependency) rather than trustme (a test extra) so that
`python -m syncd.emulators.cloud_trial` and the demo work from a plain install.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOSTS = ("127.0.0.1", "localhost")


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "syncd emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class TestCA:
    """A CA and one server certificate for `hosts`. `server_context()` is ready for EmulatorServer."""

    hosts: tuple[str, ...] = HOSTS
    ca_pem: bytes = field(init=False)
    cert_pem: bytes = field(init=False)
    key_pem: bytes = field(init=False)

    __test__ = False  # not a pytest test class, despite the name

    def __post_init__(self) -> None:
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name("syncd emulator test CA")
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = []
        for host in self.hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(self.hosts[0]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        self.key_pem = _pem_key(key)

    def server_context(self) -> ssl.SSLContext:
        """An SSLContext for a server presenting the certificate (the chain includes nothing else)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # load_cert_chain needs files; a private temporary directory keeps the key off shared paths
        with tempfile.TemporaryDirectory(prefix="syncd-tls-") as folder:
            cert_file = Path(folder) / "cert.pem"
            key_file = Path(folder) / "key.pem"
            cert_file.write_bytes(self.cert_pem)
            key_file.write_bytes(self.key_pem)
            key_file.chmod(0o600)
            context.load_cert_chain(cert_file, key_file)
        return context

    def write_ca(self, path: Path) -> Path:
        """Write the CA certificate (public, PEM) to `path` for a `ca_bundle` setting; returns `path`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.ca_pem)
        return path


def make_client_certificate(common_name: str = "syncd service principal") -> tuple[str, str]:
    """A self-signed RSA-2048 certificate and its key, as Entra app registrations take: (key PEM, cert PEM).

    For tests and dry trials of certificate credentials: the key goes into the source's `certificate`
    secret file (key + certificate concatenated), the certificate into the authority emulator's app.
    """
    from cryptography.hazmat.primitives.asymmetric import rsa

    now = datetime.datetime.now(datetime.UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()
