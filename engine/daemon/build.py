"""Building a daemon from the configuration: its transports, its composer and its settings."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
import threading
from urllib.parse import urlsplit

from engine.config import Config
from engine.daemon.journeys import JourneyPhases
from engine.daemon.tick import Daemon, DaemonSettings
from engine.delivery.compose import Compose, Composer
from engine.delivery.pool import PooledComposer
from engine.delivery.smtp import SmtpMailer
from engine.delivery.tokens import secret_key
from engine.delivery.transport import Transport, TransportRouter
from engine.delivery.webhook import WebhookTransport
from engine.errors import ConfigError
from engine.service import Nurture

#: messages claimed at once per SMTP connection: enough to keep the pool busy, few enough to send well
#: within a lease
CLAIM_PER_CONNECTION = 8


def smtp_transport(config: Config) -> SmtpMailer:
    return SmtpMailer(config.smtp_host, config.smtp_port, tls=config.smtp_tls, username=config.smtp_username,
                      password=config.smtp_password, concurrency=config.smtp_concurrency,
                      rate_per_second=config.smtp_rate or None, tls_context=_tls_context(config.smtp_ca_file))


def _tls_context(ca_file: str | None) -> ssl.SSLContext | None:
    """Trust the certificate authorities in ``ca_file`` (a private relay's own CA); None: the system's."""
    if ca_file is None:
        return None
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"smtp_ca_file {ca_file!r} cannot be read as PEM certificates ({err}); point it at the "
                          "CA file of your SMTP relay, or leave it unset to trust the system's CAs") from None


def router_for(config: Config, email: Transport | None = None) -> TransportRouter:
    """Email over ``email`` (SMTP as configured by default), sales webhooks signed with the configured secret."""
    return TransportRouter(email or smtp_transport(config), WebhookTransport(config.webhook_secret or ""))


def composer_for(nurture: Nurture) -> Composer:
    """Links to the configured base URL, signed with the configured key or the store's own."""
    return Composer(nurture.config.base_url, lambda: secret_key(nurture.store, nurture.config.secret_key))


def delivery_composer(nurture: Nurture) -> Compose:
    """What the daemon composes with: in `render_workers` processes when set, else in its own."""
    workers = nurture.config.render_workers
    return PooledComposer(composer_for(nurture), workers) if workers > 0 else composer_for(nurture)


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url_problem(base_url: str) -> str | None:
    """Why links to ``base_url`` would not work in mail clients, with the fix; None when they would.

    One-click unsubscribe (RFC 8058) needs an https URL; plain http is for development on this machine only.
    """
    url = urlsplit(base_url)
    fix = ("set base_url (NURTURE_BASE_URL) to the https address this server is reached at, "
           "e.g. https://nurture.example.com")
    if url.scheme not in ("http", "https") or not url.hostname:
        return f"base_url {base_url!r} is not an http(s) URL, so the links in emails would not work: {fix}"
    if url.scheme == "http" and not _is_loopback(url.hostname):
        return (f"base_url {base_url!r} is plain http: mail clients offer one-click unsubscribe (List-Unsubscribe, "
                f"RFC 8058) only over https, and readers' links would travel unencrypted - {fix} "
                "(http is accepted only for 127.0.0.1 or localhost, for development and the demo)")
    return None


def start_refusals(config: Config) -> list[str]:
    """What in ``config`` keeps a daemon from starting, each as a sentence with the fix."""
    refusals = []
    if config.sales_webhook_url and not config.webhook_secret:
        refusals.append("sales_webhook_url is set but NURTURE_WEBHOOK_SECRET is not: set it to the secret the "
                        "receiver uses to check the X-Nurture-Signature header")
    problem = base_url_problem(config.base_url)
    if problem:
        refusals.append(problem)
    return refusals


def settings_for(config: Config, *, worker: str | None = None, batch: int | None = None) -> DaemonSettings:
    """The daemon's settings from ``config``; ``batch`` overrides daemon_batch_size (the lab's runs)."""
    refuse = "; and ".join(start_refusals(config)) or None
    return DaemonSettings(worker or f"{socket.gethostname()}:{os.getpid()}", batch or config.daemon_batch_size,
                          CLAIM_PER_CONNECTION * config.smtp_concurrency,
                          dt.timedelta(seconds=config.lease_seconds), refuse,
                          tick_budget=dt.timedelta(seconds=config.tick_budget))


def daemon_for(nurture: Nurture, router: TransportRouter | None = None, *, composer: Compose | None = None,
               worker: str | None = None, batch: int | None = None, seed: int | None = None,
               budgeted: bool = True) -> Daemon:
    """The daemon over ``nurture``'s store, campaign and clock; transports and composer as configured unless
    given (the lab passes memory transports and a sampling composer). Without ``budgeted`` each tick works
    through all its backlog: a virtual run must not depend on how fast the machine is."""
    stop = threading.Event()
    settings = settings_for(nurture.config, worker=worker, batch=batch)
    budget = settings.tick_budget.total_seconds() if budgeted else None
    return Daemon(nurture.store, nurture, nurture.clock, router or router_for(nurture.config),
                  composer or delivery_composer(nurture), JourneyPhases(nurture, settings.batch, stop.is_set, budget),
                  settings, stop, seed=seed)
