"""How each journey email does: sent, delivered, opened (prefetches excluded), clicked, unsubscribed and
bounced, with rates, per journey step and template; and which send loses the most readers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.store import Tx

#: sends with fewer deliveries than this are not singled out as losing readers: too few to tell
MIN_DELIVERED = 10


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def email_report(tx: Tx, journey: str | None = None) -> dict[str, Any]:
    """Every marketing send (of ``journey`` when given) with its counts and rates."""
    sends = []
    for row in tx.insights.email_performance(journey):
        delivered = max(0, row.sent - row.bounced)
        sends.append({"journey": row.journey, "step": row.step, "template": row.template, "sent": row.sent,
                      "failed": row.failed, "delivered": delivered, "opened": row.opened, "clicked": row.clicked,
                      "unsubscribed": row.unsubscribed, "bounced": row.bounced,
                      "open_rate": _rate(row.opened, delivered), "click_rate": _rate(row.clicked, delivered),
                      "unsubscribe_rate": _rate(row.unsubscribed, delivered),
                      "bounce_rate": _rate(row.bounced, row.sent)})
    return {"journey": journey, "sends": sends, "loses_most_readers": loses_most_readers(sends)}


def loses_most_readers(sends: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The send whose readers most often leave (unsubscribe or bounce) or never open it: the highest share
    of delivered emails not opened, unsubscribes counted twice; among sends with enough deliveries."""
    def loss(send: dict[str, Any]) -> float:
        delivered = send["delivered"]
        return (delivered - send["opened"] + send["unsubscribed"] + send["bounced"]) / delivered

    candidates = [s for s in sends if s["delivered"] >= MIN_DELIVERED]
    if not candidates:
        return None
    worst = max(candidates, key=loss)
    return {"journey": worst["journey"], "step": worst["step"], "template": worst["template"],
            "lost_share": round(loss(worst), 4)}
