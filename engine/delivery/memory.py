"""Delivery to memory, for runs that must not send real email: the demo's readers, scenarios, simulations."""

from __future__ import annotations

import dataclasses

from engine.delivery.transport import Message, SendResult


class MemoryTransport:
    """Accepts every message and keeps it, oldest first.

    ``keep_data=False`` keeps who got what but not the bytes, which would not fit in memory for a
    simulation of thousands of leads over months.
    """

    def __init__(self, *, keep_data: bool = True) -> None:
        self.keep_data = keep_data
        self.messages: list[Message] = []

    async def send(self, message: Message) -> SendResult:
        self.messages.append(message if self.keep_data else dataclasses.replace(message, data=b""))
        return SendResult("sent", 250, "kept in memory")

    async def close(self) -> None:
        return None
