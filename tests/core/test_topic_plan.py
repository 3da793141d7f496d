"""A journey's plan knows the topic of each email it sends, and the decision to send carries it to the outbox."""

from __future__ import annotations

from engine.core.journey_plan import SendStep

from .helpers import rules_of

CAMPAIGN = """
topics { product "Product news"  events "Events" }
journey webinar {
  topic events
  enter when stage becomes lead
  send "welcome"
  send "reminder" topic product
  if email.clicked { send "case_study" }
}
journey plain {
  enter when stage becomes lead
  send "greeting"
}
"""


def test_each_send_step_carries_its_emails_topic() -> None:
    rules = rules_of(CAMPAIGN)
    topics = {label: step.topic for name in ("webinar", "plain")
              for label, step in rules.journeys[name].program.items() if isinstance(step, SendStep)}
    assert topics == {"send_welcome": "events", "send_reminder": "product", "send_case_study": "events",
                      "send_greeting": None}
    assert rules.symbols.unsubscribe_leaves == "everything"
