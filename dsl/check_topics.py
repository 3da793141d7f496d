"""Subscription topics: each declared once, every `topic` a journey, a send or a scenario names is declared,
and a journey names its topic at most once.

An email with no topic (its send names none, nor does its journey) is governed only by the global
unsubscribe and the suppression list; leaving a topic never stops it.
"""

from __future__ import annotations

from collections.abc import Iterator

from . import ast as a
from .check_context import Context
from .check_names import declare
from .diagnostics import Label, did_you_mean

#: the store keeps a topic's name with each email and each opt-out in at most this many characters
MAX_TOPIC_NAME = 100


def check_topics(ctx: Context, topics: a.Topics) -> None:
    for topic in topics.decls:
        declare(ctx, "topic", topic.name, topic.name.span, ("topic",))
        if len(topic.name) > MAX_TOPIC_NAME:
            ctx.report("E304", topic.name.span, what="topic name", reason=f"it is longer than {MAX_TOPIC_NAME} "
                       "characters", label="too long", help="give the topic a short name, and say more in its title")


def check_unsubscribe_leaves(ctx: Context, setting: a.UnsubscribeLeaves) -> None:
    declare(ctx, "setting", "unsubscribe leaves", setting.span, ("setting",))


def check_journey_topics(ctx: Context, journey: a.Journey) -> None:
    lines = [item for item in journey.items if isinstance(item, a.JourneyTopic)]
    for line in lines[1:]:
        ctx.report("E220", line.span, journey=journey.name, label="a second `topic` line",
                   notes=[Label(lines[0].span, "the journey's topic is named here")],
                   help="keep one `topic` line; give a single email another topic with `send \"...\" topic <name>`")
    if lines:
        known_topic(ctx, lines[0].topic)
    for send in _sends(journey.steps):
        if send.topic is not None:
            known_topic(ctx, send.topic)


def check_scenario_topics(ctx: Context, scenario: a.Scenario) -> None:
    for item in scenario.items:
        if isinstance(item, a.LeaveTopic):
            known_topic(ctx, item.topic)


def known_topic(ctx: Context, name: a.Name) -> bool:
    """Whether a topic of this name is declared; reports it when not (E120)."""
    if name in ctx.sym.topics:
        return True
    ctx.report("E120", name.span, name=name, label="no topic has this name",
               help=did_you_mean(name, ctx.sym.topics) or f'declare it: `topics {{ {name} "What it is about" }}`')
    return False


def _sends(steps: tuple[a.Step, ...]) -> Iterator[a.Send]:
    for step in steps:
        if isinstance(step.action, a.Send):
            yield step.action
        elif isinstance(step.action, a.Branch):
            yield from _sends(step.action.then)
            yield from _sends(step.action.otherwise)
