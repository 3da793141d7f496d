"""Configuration: `nurture.toml`, overridden key by key by `NURTURE_*` environment variables."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConfigError


@dataclass(frozen=True)
class Config:
    database_url: str = "sqlite:///nurture.db"
    campaign_dir: Path = Path("journeys")
    template_dir: Path = Path("templates")
    base_url: str = "http://127.0.0.1:8000"
    #: events and leads are processed in batches of this many rows
    batch_size: int = 5000
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_tls: str = "none"
    #: a PEM file of certificate authorities to trust for the SMTP server (default: the system's)
    smtp_ca_file: str | None = None
    #: open SMTP connections (and messages in flight) at most
    smtp_concurrency: int = 8
    #: messages per second at most (0: no limit)
    smtp_rate: float = 0.0
    #: processes that render email beside the daemon's own (0: it renders them itself); 1 lets a daemon that
    #: sends as fast as it can use a second core
    render_workers: int = 0
    secret_key: str | None = field(default=None, repr=False)
    api_token: str | None = field(default=None, repr=False)
    tick_seconds: float = 1.0
    #: signals, journey steps and notifications the daemon takes per batch (and the most messages it claims at once)
    daemon_batch_size: int = 500
    #: how long one tick's phases may keep taking batches before leaving the rest to the next tick
    #: (None: 0.8 x tick_seconds)
    tick_budget_seconds: float | None = None
    #: also POST each sales notification, signed, to this URL (needs NURTURE_WEBHOOK_SECRET)
    sales_webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    #: how long a daemon may hold claimed email before another daemon takes it over
    lease_seconds: float = 120.0
    #: how often every lead is looked at for journey conditions that time alone can make true
    journey_sweep_seconds: float = 3600.0
    #: temporary delivery failures a relay reports for one address before it is suppressed
    soft_bounce_limit: int = 3
    #: the key Mailgun signs its webhooks with (HMAC-SHA256); /v1/feedback/mailgun answers 503 without it
    mailgun_signing_key: str | None = field(default=None, repr=False)
    #: SendGrid's signed event webhook verification key (base64 DER, as its settings page shows it)
    sendgrid_public_key: str | None = field(default=None, repr=False)
    #: the shared secret Postmark sends (basic auth password or X-Nurture-Token header)
    postmark_token: str | None = field(default=None, repr=False)
    #: SNS topics (comma-separated ARNs) whose SES notifications /v1/feedback/ses takes; none: the endpoint is off
    sns_topic_arns: str | None = None
    #: confirm an SNS subscription request from one of those topics by fetching its SubscribeURL
    sns_confirm_subscriptions: bool = False
    #: the settings the file or the environment gave (the rest are defaults); not a setting itself
    given: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    @property
    def tick_budget(self) -> float:
        """Seconds a tick's phases may spend taking batches: tick_budget_seconds, else 0.8 x tick_seconds."""
        return self.tick_budget_seconds if self.tick_budget_seconds is not None else 0.8 * self.tick_seconds


#: settings whose default is None, and the type of a value given for them
_OPTIONAL: dict[str, type] = {"tick_budget_seconds": float}

#: keys that may only come from the environment, never from a file in the repository
SECRETS = {"smtp_password", "secret_key", "api_token", "webhook_secret", "mailgun_signing_key",
           "sendgrid_public_key", "postmark_token"}


#: settings that must be above zero: a batch of none, or a tick of no time, would never get anything done
POSITIVE = {"batch_size", "daemon_batch_size", "tick_seconds", "tick_budget_seconds", "lease_seconds",
            "soft_bounce_limit"}


#: settings that count or limit something, where 0 means none (or no limit) and below 0 means nothing
NOT_NEGATIVE = {"smtp_rate", "render_workers"}


def _coerce(name: str, raw: object, default: object) -> Any:
    kind: type = type(default) if default is not None else _OPTIONAL.get(name, str)
    value = _convert(name, raw, default, kind)
    if name in POSITIVE and value is not None and value <= 0:
        raise ConfigError(f"setting `{name}` must be more than 0, got {raw!r}")
    if name in NOT_NEGATIVE and value < 0:
        raise ConfigError(f"setting `{name}` must be 0 or more, got {raw!r}")
    return value


def _convert(name: str, raw: object, default: object, kind: type) -> Any:
    try:
        if isinstance(default, Path):
            return Path(str(raw))
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            if str(raw).strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                return str(raw).strip().lower() in ("1", "true", "yes", "on")
            raise ValueError(raw)
        if kind is int:
            return int(raw) if isinstance(raw, int | float) else int(str(raw))
        if kind is float:
            return float(raw) if isinstance(raw, int | float) else float(str(raw))
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"setting `{name}` must be {_KINDS.get(kind, 'text')}, got {raw!r}") from None


#: how an error names the kind of value a setting takes
_KINDS: dict[type, str] = {int: "a whole number", float: "a number", bool: "true or false"}


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (or ./nurture.toml when present), then apply NURTURE_<KEY> overrides."""
    environment: Mapping[str, str] = os.environ if env is None else env
    values: dict[str, object] = {}
    file = path or (Path("nurture.toml") if Path("nurture.toml").is_file() else None)
    if path is not None and not path.is_file():
        raise ConfigError(f"config file {path} not found")
    if file is not None:
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"{file}: {err}") from None
        smtp = data.pop("smtp", {})  # [smtp] host = ... is smtp_host = ...
        data.update({f"smtp_{k}": v for k, v in smtp.items()})
        for key, raw in data.items():
            if key in SECRETS:
                raise ConfigError(f"{file}: `{key}` is a secret; set NURTURE_{key.upper()} in the "
                                  "environment instead of writing it in a file")
            values[key] = raw
    defaults = Config()
    known = {f.name for f in dataclasses.fields(Config)} - {"given"}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown setting(s) in {file}: {', '.join(sorted(unknown))}; "
                          f"known settings are {', '.join(sorted(known - SECRETS))}")
    for key in known:
        if f"NURTURE_{key.upper()}" in environment:
            values[key] = environment[f"NURTURE_{key.upper()}"]
    return dataclasses.replace(defaults, **{k: _coerce(k, v, getattr(defaults, k)) for k, v in values.items()},
                               given=frozenset(values))
