"""Delivering one alert: SMTP (STARTTLS or SMTPS, certificates always verified) or an HTTPS POST. A channel
raises AlertNotSent with a one-line reason; the notifier logs and audits it and the run goes on."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import requests

from syncd.alerts.message import AlertMessage, email_message, webhook_body
from syncd.alerts.settings import AlertSettings, EmailSettings, WebhookSettings
from syncd.errors import ConfigError


class AlertNotSent(Exception):
    """The channel did not take the message. `str()` is safe to log: no secret, no webhook URL."""


class Channel(Protocol):
    """**Protocol**: one configured alert destination."""

    @property
    def name(self) -> str: ...

    def send(self, message: AlertMessage) -> None: ...


def open_channel(settings: AlertSettings) -> Channel:
    if settings.email is not None:
        return EmailChannel(settings.name, settings.email)
    assert settings.webhook is not None
    return WebhookChannel(settings.name, settings.webhook)


def _tls_context(settings: EmailSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(settings.ca_bundle) if settings.ca_bundle else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass(frozen=True)
class EmailChannel:
    name: str
    settings: EmailSettings

    def send(self, message: AlertMessage) -> None:
        s = self.settings
        where = f"SMTP server {s.host}:{s.port} ({s.security})"
        try:
            password = s.password.resolve().reveal() if s.password is not None else None
        except ConfigError as error:
            raise AlertNotSent(str(error)) from None
        mail = email_message(message, s.sender, s.recipients)
        try:
            if s.security == "smtps":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=_tls_context(s)
                )
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            with client:
                if s.security == "starttls":
                    client.ehlo()
                    if not client.has_extn("starttls"):
                        raise AlertNotSent(f"{where} does not offer STARTTLS; syncd never sends in clear")
                    client.starttls(context=_tls_context(s))
                    client.ehlo()
                if s.username is not None and password is not None:
                    client.login(s.username, password)
                client.send_message(mail)
        except ssl.SSLCertVerificationError as error:
            raise AlertNotSent(
                f"{where}: certificate verify failed: {error.verify_message}; set ca_bundle"
            ) from None
        except smtplib.SMTPAuthenticationError as error:
            raise AlertNotSent(f"{where} refused the login (SMTP {error.smtp_code})") from None
        except smtplib.SMTPException as error:
            raise AlertNotSent(f"{where}: {type(error).__name__}: {_first_line(error)}") from None
        except (OSError, ssl.SSLError) as error:  # refused, DNS, timeout
            raise AlertNotSent(f"{where}: {type(error).__name__}: {_first_line(error)}") from None


@dataclass(frozen=True)
class WebhookChannel:
    name: str
    settings: WebhookSettings

    def send(self, message: AlertMessage) -> None:
        s = self.settings
        try:
            url = s.url.resolve().reveal()
        except ConfigError as error:
            raise AlertNotSent(str(error)) from None
        parts = urlsplit(url)
        # name the host only: the path and query of an incoming-webhook URL are its key
        where = f"webhook at {parts.hostname or '?'} ({s.preset})"
        if parts.scheme != "https" or not parts.hostname:
            raise AlertNotSent(f"{s.url.where}: the webhook URL must be https://… ({where})")
        proxies = {"http": s.http.proxy, "https": s.http.proxy} if s.http.proxy else None
        try:
            response = requests.post(
                url,
                json=webhook_body(message, s.preset),
                timeout=s.http.timeout,
                verify=str(s.http.ca_bundle) if s.http.ca_bundle else True,
                proxies=proxies,
                allow_redirects=False,
            )
        except requests.exceptions.SSLError:
            raise AlertNotSent(f"{where}: TLS verification failed; set ca_bundle") from None
        except (OSError, requests.exceptions.RequestException) as error:
            raise AlertNotSent(f"{where}: {type(error).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise AlertNotSent(f"{where} answered HTTP {response.status_code}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
