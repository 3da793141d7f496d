"""The journey phases of a tick: journeys react to changed leads, sweep for what time alone made true,
run due steps, and turn stage-entry notifications into outbox rows.

Due work lives in indexed columns (signals, enrollments.due_at) and is taken in bounded batches. Each
phase is plain blocking store work; the tick runs it off the event loop.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from engine.delivery import webhook
from engine.delivery.context import email_context
from engine.ingest.rows import LeadIn
from engine.journeys import JourneyRuntime, LeadView, active_enrollments, load_lead, load_leads
from engine.service import Nurture
from engine.store.meta import set_meta
from engine.store.tables import ACTIONS, ENROLLMENTS, LEADS, META, OUTBOX, SIGNALS


class JourneyPhases:
    """The journey work of a tick, in batches of ``batch``; stops between batches once ``stop`` is set."""

    def __init__(self, nurture: Nurture, batch: int, stop: threading.Event) -> None:
        self.nurture = nurture
        self.batch = batch
        self._stop = stop

    @property
    def db(self):
        return self.nurture.db

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _runtime(self, conn, now: dt.datetime) -> JourneyRuntime:
        version_id, rules = self.nurture.rules()
        processor = self.nurture.processor()

        def set_attribute(lead: LeadView, name: str, value: Any) -> None:
            processor.update_leads(conn, [LeadIn(0, lead.email, {name: value})])

        return JourneyRuntime(conn, rules, version_id, now, set_attribute)

    def _claim(self, query, conn):
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return conn.execute(query.limit(self.batch)).all()

    def react(self, now: dt.datetime) -> int:
        """Journeys react to leads that changed: exits, goals, wake-ups, entries."""
        _, rules = self.nurture.rules()
        with self.db.begin() as conn:
            signals = self._claim(sa.select(SIGNALS).order_by(SIGNALS.c.id), conn)
            if not signals:
                return 0
            runtime = self._runtime(conn, now)
            by_lead: dict[int, list] = defaultdict(list)
            for signal in signals:
                by_lead[signal.lead_id].append(signal)
            # leads and their open enrolments read once per batch, not once per lead (reacting
            # changes neither, so reading them up front sees what reading them one by one did)
            leads = load_leads(conn, rules, list(by_lead), now)
            active = active_enrollments(conn, list(by_lead))
            for lead_id, items in by_lead.items():
                lead = leads[lead_id]
                lead.arrived = [tuple(e) for s in items for e in (s.props or {}).get("events", [])]
                stages = [st for s in items for st, _ in (s.props or {}).get("stages", [])]
                runtime.on_change(lead, stages, active[lead_id])
            conn.execute(SIGNALS.delete().where(SIGNALS.c.id.in_([s.id for s in signals])))
            return len(signals)

    def sweep_journeys(self, now: dt.datetime) -> int:
        """Look at every lead once per `journey_sweep_seconds`, a batch per tick.

        Conditions on scores and event windows can become true by time alone (a fading lead that
        stops engaging sends no signal), so journeys entered, exited or converted that way are found here.
        """
        _, rules = self.nurture.rules()
        if not any(t.stage is None for plan in rules.journeys.values()
                   for t in (*plan.entries, *plan.exits, *plan.goals)):
            return 0
        with self.db.begin() as conn:
            cursor, started = self._sweep_state(conn)
            if cursor is None:
                if started is not None and (now - started).total_seconds() < self.nurture.config.journey_sweep_seconds:
                    return 0
                cursor, started = 0, now
            ids = list(conn.execute(sa.select(LEADS.c.id).where(LEADS.c.id > cursor).order_by(LEADS.c.id)
                                    .limit(self.batch)).scalars())
            runtime = self._runtime(conn, now)
            leads, active = load_leads(conn, rules, ids, now), active_enrollments(conn, ids)  # once per batch
            for lead_id in ids:
                runtime.on_change(leads[lead_id], [], active[lead_id])
            done = len(ids) < self.batch
            set_meta(conn, {"journey_sweep_cursor": "" if done else str(ids[-1]),
                            "journey_sweep_started": started.isoformat()})
            return len(ids)

    def _sweep_state(self, conn) -> tuple[int | None, dt.datetime | None]:
        query = sa.select(META.c.key, META.c.value).where(META.c.key.in_(("journey_sweep_cursor",
                                                                          "journey_sweep_started")))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()  # one daemon advances the sweep at a time
        values = dict(conn.execute(query).all())
        cursor = values.get("journey_sweep_cursor") or None
        started = values.get("journey_sweep_started")
        return (int(cursor) if cursor else None), (dt.datetime.fromisoformat(started) if started else None)

    def run_steps(self, now: dt.datetime) -> int:
        _, rules = self.nurture.rules()
        done = 0
        while not self.stopping:
            with self.db.begin() as conn:
                rows = self._claim(sa.select(ENROLLMENTS).where(
                    ENROLLMENTS.c.status.in_(("active", "waiting")), ENROLLMENTS.c.due_at <= now)
                    .order_by(ENROLLMENTS.c.due_at, ENROLLMENTS.c.id), conn)
                if not rows:
                    return done
                runtime = self._runtime(conn, now)
                # Leads read in one query; a lead met again in the batch is read afresh, as a `set`
                # step of its earlier enrolment may have changed it.
                leads = load_leads(conn, rules, [row.lead_id for row in rows], now)
                for row in rows:
                    lead = leads.pop(row.lead_id, None) or load_lead(conn, rules, row.lead_id, now)
                    runtime.advance(row, lead)
                done += len(rows)
        return done

    def queue_notifications(self, now: dt.datetime) -> int:
        """Stage entry notifications become sales emails in the outbox, exactly once each."""
        _, rules = self.nurture.rules()
        with self.db.begin() as conn:
            actions = self._claim(sa.select(ACTIONS).where(ACTIONS.c.status == "pending", ACTIONS.c.kind == "notify")
                                  .order_by(ACTIONS.c.id), conn)
            runtime = self._runtime(conn, now)
            leads = load_leads(conn, rules, [action.lead_id for action in actions], now)  # one query
            for action in actions:
                lead = leads[action.lead_id]
                payload = action.payload
                to = runtime.recipient({"recipient": payload["recipient"], "address": payload["address"]}, lead)
                runtime.enqueue(f"action:{action.key}", lead, "sales", to, payload["template"], now,
                                journey=None, step=f"stage {payload['stage']}", enrollment_id=None)
                if self.nurture.config.sales_webhook_url:
                    self._queue_webhook(conn, runtime, rules, action, lead, now)
                conn.execute(ACTIONS.update().where(ACTIONS.c.id == action.id).values(status="done", done_at=now))
            return len(actions)

    def _queue_webhook(self, conn, runtime: JourneyRuntime, rules, action, lead: LeadView, now: dt.datetime) -> None:
        """The same notification as JSON, taken now (who the lead is and why it qualified) and sent later."""
        key = f"webhook:{action.key}"
        context = email_context(conn, rules, lead, now, "", None, sales=True)
        data = webhook.body({"event": "stage.entered", "stage": action.payload["stage"], "at": now.isoformat(),
                             "reason": action.payload.get("reason"), "lead": context["lead"],
                             "scores": context["scores"], "owner": context["owner"], "reasons": context["reasons"],
                             "activity": context["activity"], "journey": context["journey"]})
        runtime.enqueue(key, lead, "webhook", str(self.nurture.config.sales_webhook_url), action.payload["template"],
                        now, journey=None, step=f"stage {action.payload['stage']}", enrollment_id=None)
        conn.execute(OUTBOX.update().where(OUTBOX.c.key == key, OUTBOX.c.data.is_(None)).values(data=data))
