"""The engine's errors. Each message is a sentence a user can act on."""

from __future__ import annotations


class EngineError(Exception):
    """Root of the engine's errors."""


class ConfigError(EngineError):
    """The configuration cannot be used."""


class CampaignError(EngineError):
    """The campaign has errors, or none has been applied yet."""


class LeadNotFound(EngineError, LookupError):
    def __init__(self, email: str) -> None:
        super().__init__(f"no lead with email {email!r}; list leads with `nurture leads list`")
        self.email = email


class StoreNotReady(EngineError):
    """There is no Nurture store at the URL, or its schema is not the one this version of Nurture uses."""
