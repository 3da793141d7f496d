"""Subscription topics: what a lead may leave one by one, which journeys and sends belong to them, and what
the one-click unsubscribe of an email leaves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar
from typing import Literal as L

from .nodes import Item, Name, Node

if TYPE_CHECKING:  # scenarios hold `LeaveTopic`, so they import this module
    from .scenarios import Moment

UnsubscribeScope = L["topic", "everything"]


@dataclass(frozen=True, slots=True)
class TopicDecl(Node):
    """``events "Events and webinars"``: a topic and the title its readers see on the preference page."""

    name: Name
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Topics(Item):
    kind: ClassVar[str] = "topics"
    decls: tuple[TopicDecl, ...]


@dataclass(frozen=True, slots=True)
class UnsubscribeLeaves(Node):
    """``unsubscribe leaves topic``: what an email's own unsubscribe link (and one-click header) takes the lead
    out of: the email's topic, or every marketing email (the default)."""

    scope: UnsubscribeScope


@dataclass(frozen=True, slots=True)
class JourneyTopic(Node):
    """``topic events`` at the head of a journey: every email it sends belongs to that topic unless the send
    names its own."""

    topic: Name


@dataclass(frozen=True, slots=True)
class LeaveTopic(Node):
    """``at 2d: unsubscribed from events`` in a scenario: the lead leaves a topic, as on the preference page."""

    at: Moment
    topic: Name
