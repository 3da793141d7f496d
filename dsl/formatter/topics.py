"""The canonical text of subscription topics: the `topics` block, `unsubscribe leaves`, a journey's `topic`
line and a scenario lead leaving a topic. Importing this module registers them with the formatter."""

from __future__ import annotations

from .. import ast as a
from .expressions import quote, text_of
from .layout import Writer, emit
from .layout import _block as block  # the shared block layout: `name {`, items, `}`


@emit.register
def _topics(node: a.Topics, out: Writer, depth: int) -> None:
    block(out, depth, "topics", node, node.decls)


@text_of.register
def _topic_decl(node: a.TopicDecl) -> str:
    return str(node.name) + ("" if node.title is None else f" {quote(node.title)}")


@text_of.register
def _unsubscribe_leaves(node: a.UnsubscribeLeaves) -> str:
    return f"unsubscribe leaves {node.scope}"


@text_of.register
def _journey_topic(node: a.JourneyTopic) -> str:
    return f"topic {node.topic}"


@text_of.register
def _leave_topic(node: a.LeaveTopic) -> str:
    return f"at {node.at}: unsubscribed from {node.topic}"
