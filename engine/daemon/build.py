"""Building a daemon from the configuration: its transports, its composer and its settings."""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading

from engine.config import Config
from engine.daemon.journeys import JourneyPhases
from engine.daemon.tick import Daemon, DaemonSettings
from engine.delivery.compose import Compose, Composer
from engine.delivery.smtp import SmtpMailer
from engine.delivery.tokens import secret_key
from engine.delivery.transport import Transport, TransportRouter
from engine.delivery.webhook import WebhookTransport
from engine.service import Nurture

#: messages claimed at once per SMTP connection: enough to keep the pool busy, few enough to send well
#: within a lease
CLAIM_PER_CONNECTION = 8


def smtp_transport(config: Config) -> SmtpMailer:
    return SmtpMailer(config.smtp_host, config.smtp_port, tls=config.smtp_tls, username=config.smtp_username,
                      password=config.smtp_password, concurrency=config.smtp_concurrency,
                      rate_per_second=config.smtp_rate or None)


def router_for(config: Config, email: Transport | None = None) -> TransportRouter:
    """Email over ``email`` (SMTP as configured by default), sales webhooks signed with the configured secret."""
    return TransportRouter(email or smtp_transport(config), WebhookTransport(config.webhook_secret or ""))


def composer_for(nurture: Nurture) -> Composer:
    """Links to the configured base URL, signed with the configured key or the store's own."""
    return Composer(nurture.config.base_url, lambda: secret_key(nurture.store, nurture.config.secret_key))


def settings_for(config: Config, *, worker: str | None = None, batch: int = 500) -> DaemonSettings:
    refuse = None
    if config.sales_webhook_url and not config.webhook_secret:
        refuse = ("sales_webhook_url is set but NURTURE_WEBHOOK_SECRET is not: set it to the secret the receiver "
                  "uses to check the X-Nurture-Signature header")
    return DaemonSettings(worker or f"{socket.gethostname()}:{os.getpid()}", batch,
                          CLAIM_PER_CONNECTION * config.smtp_concurrency,
                          dt.timedelta(seconds=config.lease_seconds), refuse)


def daemon_for(nurture: Nurture, router: TransportRouter | None = None, *, composer: Compose | None = None,
               worker: str | None = None, batch: int = 500, seed: int | None = None) -> Daemon:
    """The daemon over ``nurture``'s store, campaign and clock; transports and composer as configured unless
    given (the lab passes memory transports and a sampling composer)."""
    stop = threading.Event()
    return Daemon(nurture.store, nurture, nurture.clock, router or router_for(nurture.config),
                  composer or composer_for(nurture), JourneyPhases(nurture, batch, stop.is_set),
                  settings_for(nurture.config, worker=worker, batch=batch), stop, seed=seed)
