"""Service-principal sign-in through msal against the authority emulator: secrets, certificates, PFX, and the
errors an admin sees (AADSTS text, never the secret)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from syncd.emulators.tls import make_client_certificate
from syncd.entra_auth import sha1_thumbprint
from syncd.errors import ConfigError, SourceAuthFailed, SourceUnreachable
from syncd.models import Health

if TYPE_CHECKING:
    from .conftest import Cloud


def _group_with_one_user(cloud: Cloud) -> str:
    group = cloud.entra_dir.add_group("G")
    cloud.entra_dir.add_member(group, cloud.entra_dir.add_user("a@contoso.com"))
    return group


def test_bad_client_secret_names_the_aadsts_error_and_never_the_secret(
    cloud: Cloud, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    group = _group_with_one_user(cloud)
    wrong = "wrong-Secret~value.5678-abcdefgh"
    aad = cloud.open("entra", cloud.entra_table(client_secret=cloud.secret_file("bad.txt", wrong)))
    caplog.set_level(logging.DEBUG)

    with structlog.testing.capture_logs() as events, pytest.raises(SourceAuthFailed) as raised:
        aad.read_group(group)

    message = str(raised.value)
    assert "AADSTS7000215: Invalid client secret provided." in message
    assert f"Entra ID refused client {cloud.client_id} of tenant {cloud.tenant} (client secret)" in message
    assert "Trace ID" not in message  # only the AADSTS line, not Entra's trace block
    captured = capsys.readouterr()
    everything = "\n".join([message, caplog.text, repr(events), captured.out, captured.err])
    assert wrong not in everything
    assert cloud.client_secret not in everything
    assert cloud.graph.count() == 0


def test_unknown_client_and_unknown_tenant(cloud: Cloud) -> None:
    group = _group_with_one_user(cloud)
    stranger = cloud.open("entra", cloud.entra_table(client_id="99999999-9999-4999-8999-999999999999"))
    with pytest.raises(SourceAuthFailed, match="AADSTS700016: Application with identifier '9999"):
        stranger.read_group(group)

    elsewhere = cloud.open("entra", cloud.entra_table(tenant_id="contoso.example"))
    with pytest.raises(SourceAuthFailed, match=r"refused discovery .*check tenant_id"):
        elsewhere.read_group(group)


def test_certificate_with_its_certificate_in_the_pem(cloud: Cloud) -> None:
    group = _group_with_one_user(cloud)
    key_pem, cert_pem = make_client_certificate()
    cloud.authority.apps[cloud.client_id].certificates.append(cert_pem)
    table = cloud.entra_table(client_secret=None, certificate=cloud.secret_file("sp.pem", key_pem + cert_pem))
    aad = cloud.open("entra", table)

    assert [p.key for p in aad.read_group(group).members] == ["a@contoso.com"]
    assert cloud.authority.tokens_issued(cloud.client_id) == 1


def test_certificate_key_with_a_thumbprint_only(cloud: Cloud) -> None:
    group = _group_with_one_user(cloud)
    key_pem, cert_pem = make_client_certificate()
    cloud.authority.apps[cloud.client_id].certificates.append(cert_pem)
    table = cloud.entra_table(
        client_secret=None,
        certificate=cloud.secret_file("key.pem", key_pem),
        thumbprint=sha1_thumbprint(cert_pem),
    )
    aad = cloud.open("entra", table)

    assert aad.read_group(group).health is Health.OK


def test_certificate_not_registered_is_refused(cloud: Cloud) -> None:
    group = _group_with_one_user(cloud)
    key_pem, cert_pem = make_client_certificate()  # never uploaded to the app registration
    aad = cloud.open(
        "entra",
        cloud.entra_table(client_secret=None, certificate=cloud.secret_file("x.pem", key_pem + cert_pem)),
    )

    with pytest.raises(
        SourceAuthFailed, match="AADSTS700027: Client assertion contains an invalid signature"
    ):
        aad.read_group(group)


def test_encrypted_pfx_with_its_passphrase(cloud: Cloud) -> None:
    group = _group_with_one_user(cloud)
    key_pem, cert_pem = make_client_certificate()
    cloud.authority.apps[cloud.client_id].certificates.append(cert_pem)
    pfx = cloud.folder / "sp.pfx"
    pfx.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"syncd",
            serialization.load_pem_private_key(key_pem.encode(), None),  # type: ignore[arg-type]
            x509.load_pem_x509_certificate(cert_pem.encode()),
            None,
            serialization.BestAvailableEncryption(b"pfx-pass"),
        )
    )
    pfx.chmod(0o600)
    good = cloud.entra_table(
        client_secret=None, pfx=str(pfx), certificate_passphrase=cloud.secret_file("pass.txt", "pfx-pass")
    )
    assert cloud.open("entra", good).read_group(group).health is Health.OK

    wrong = dict(good, certificate_passphrase=cloud.secret_file("wrong.txt", "nope"))
    with pytest.raises(ConfigError, match=r"sources\[0\]\.pfx: .*cannot be opened.*certificate_passphrase"):
        cloud.open("entra", wrong).read_group(group)


def test_a_pem_without_a_key_is_a_config_error(cloud: Cloud) -> None:
    _, cert_pem = make_client_certificate()
    aad = cloud.open(
        "entra", cloud.entra_table(client_secret=None, certificate=cloud.secret_file("c.pem", cert_pem))
    )

    with pytest.raises(ConfigError, match=r"sources\[0\]\.certificate: no usable PEM private key"):
        aad.read_group("00000000-0000-0000-0000-000000000001")


def test_azure_devops_through_a_service_principal(cloud: Cloud) -> None:
    group = cloud.ado_dir.add_group("G")
    cloud.ado_dir.add_member(group, cloud.ado_dir.add_user("a@contoso.com"))
    table = cloud.ado_table(
        pat=None,
        tenant_id=cloud.tenant,
        client_id=cloud.client_id,
        client_secret=cloud.secret_file("s.txt", cloud.client_secret),
        authority_url=cloud.authority.base_url,
    )
    ado = cloud.open("azure_devops", table)

    assert [p.key for p in ado.read_group("[contoso]\\G").members] == ["a@contoso.com"]
    (issued,) = cloud.authority.issued.values()
    assert issued.scope == "499b84ac-1321-427f-aa17-267ca6975798/.default"


def test_authority_without_the_ca_bundle_is_unreachable_with_the_fix(cloud: Cloud) -> None:
    aad = cloud.open("entra", cloud.entra_table(ca_bundle=None))

    with pytest.raises(SourceUnreachable, match="set ca_bundle"):
        aad.read_group("00000000-0000-0000-0000-000000000001")


def test_authority_down_is_unreachable(cloud: Cloud) -> None:
    cloud.servers[0].stop()
    aad = cloud.open("entra", cloud.entra_table())

    with pytest.raises(SourceUnreachable, match="cannot be reached"):
        aad.read_group("00000000-0000-0000-0000-000000000001")
