"""What every transport shares: the message handed to it, the result it gives back, and the router by kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from engine.delivery.retry import Status, concerns_recipient


@dataclass(frozen=True, slots=True)
class Message:
    """One message ready to go: an email's bytes, or a webhook's JSON body."""

    #: the outbox kind: "marketing", "sales" or "webhook"
    kind: str
    #: stays the same on every retry of this message, so a receiver can drop repeats
    key: str
    sender: str
    #: email addresses; for a webhook, the URL it is posted to
    recipients: tuple[str, ...]
    data: bytes


@dataclass(frozen=True)
class SendResult:
    status: Status
    code: int | None
    reply: str
    #: where a refusal happened: "mail" (our sender), "rcpt" or "data" (this recipient or message)
    stage: str | None = None

    @property
    def about_recipient(self) -> bool:
        """A permanent refusal that says something about the recipient, so the address should be suppressed."""
        return concerns_recipient(self.status, self.stage, self.code, self.reply)


class Transport(Protocol):
    """Delivers messages; a result says what became of each, and a transport never raises for an outcome."""

    async def send(self, message: Message) -> SendResult: ...

    async def close(self) -> None: ...


class TransportRouter:
    """The transport for each kind of outbox row, chosen once when the daemon is built."""

    def __init__(self, email: Transport, webhook: Transport | None = None) -> None:
        self.email = email
        self.webhook = webhook

    def for_kind(self, kind: str) -> Transport:
        if kind != "webhook":
            return self.email
        if self.webhook is None:
            raise LookupError("a webhook is queued but no webhook transport is configured")
        return self.webhook

    async def close(self) -> None:
        """Close every transport (in the loop their connections belong to)."""
        await self.email.close()
        if self.webhook is not None and self.webhook is not self.email:
            await self.webhook.close()
