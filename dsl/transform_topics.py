"""Builds the AST of subscription topics: the `topics` block, `unsubscribe leaves`, a journey's `topic` line,
a send's own topic and a scenario lead leaving a topic. Mixed into `ToAst`, which supplies the helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lark import Token, v_args

from . import ast as a
from .source import Span


class TopicsToAst:
    """One method per topic grammar alias; ``ToAst`` inherits them. Each carries its own ``v_args``, as
    ``ToAst``'s class decorator wraps only the methods it defines itself."""

    path: str

    if TYPE_CHECKING:  # supplied by ToAst
        def _span(self, meta: Any) -> Span: ...
        def _name(self, token: Token) -> a.Name: ...
        def _string_name(self, token: Token) -> a.Name: ...

    @v_args(meta=True)
    def topics(self, meta, c):
        return a.Topics(tuple(c), span=self._span(meta))

    @v_args(meta=True)
    def topic_decl(self, meta, c):
        title = str(self._string_name(c[1])) if c[1] is not None else None
        return a.TopicDecl(self._name(c[0]), title, span=self._span(meta))

    @v_args(meta=True)
    def unsubscribe_leaves_topic(self, meta, c):
        return a.UnsubscribeLeaves("topic", span=self._span(meta))

    @v_args(meta=True)
    def unsubscribe_leaves_everything(self, meta, c):
        return a.UnsubscribeLeaves("everything", span=self._span(meta))

    @v_args(meta=True)
    def journey_topic(self, meta, c):
        return a.JourneyTopic(self._name(c[0]), span=self._span(meta))

    @v_args(meta=True)
    def send_in_topic(self, meta, c):
        return a.Send(self._string_name(c[0]), c[1], self._name(c[2]), span=self._span(meta))

    @v_args(meta=True)
    def scenario_leave_topic(self, meta, c):
        return a.LeaveTopic(c[0], self._name(c[1]), span=self._span(meta))
