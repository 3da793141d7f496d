"""The daemon: one tick applies due stage changes, lets journeys react, runs due steps, and sends.

Due work lives in indexed columns (signals, enrollments.due_at, outbox.due_at) and is taken in
bounded batches; a tick is the same code whether APScheduler calls it every few seconds or the
demo and the tests call it on a virtual clock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import logging
import os
import random
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from engine.delivery import webhook
from engine.delivery.context import email_context
from engine.delivery.message import build_message
from engine.delivery.render import Renderer, RenderError
from engine.delivery.smtp import SmtpMailer
from engine.delivery.tokens import secret_key, sign
from engine.errors import EngineError
from engine.ingest.rows import LeadIn
from engine.journeys import JourneyRuntime, LeadView, active_enrollments, load_lead, load_leads
from engine.service import Nurture
from engine.store import Tx
from engine.store.meta import set_meta
from engine.store.outbox import (
    DeliveryStats,
    claim,
    next_allowed,
    recent_sends,
    record,
    suppressed_among,
    update_leased,
)
from engine.store.tables import ACTIONS, DAEMONS, ENROLLMENTS, LEADS, META, OUTBOX, SIGNALS

log = logging.getLogger("nurture.daemon")


class AnotherDaemonRunning(EngineError):
    pass


@dataclass
class TickStats:
    stage_changes: int = 0
    signals: int = 0
    steps: int = 0
    notifications: int = 0
    delivery: DeliveryStats = field(default_factory=DeliveryStats)

    def as_dict(self) -> dict[str, Any]:
        d = self.delivery
        return {"stage_changes": self.stage_changes, "signals": self.signals, "steps": self.steps,
                "notifications": self.notifications, "sent": d.sent, "failed": d.failed, "retried": d.retried,
                "deferred": d.deferred, "suppressed": d.suppressed}


class Daemon:
    def __init__(self, nurture: Nurture, mailer: SmtpMailer, *, worker: str | None = None, batch: int = 500,
                 seed: int | None = None) -> None:
        self.nurture = nurture
        self.mailer = mailer
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.batch = batch
        self.rng = random.Random(seed)
        self._renderers: dict[int, Renderer] = {}
        self._key: str | None = None
        self._lock_file = None
        self.stopping = False

    @property
    def db(self):
        return self.nurture.db

    @property
    def key(self) -> str:
        if self._key is None:
            self._key = secret_key(self.db, self.nurture.config.secret_key)
        return self._key

    # ----- registration ------------------------------------------------------------------------

    def register(self) -> None:
        """Announce this daemon; on SQLite refuse when another one holds the store."""
        if self.nurture.config.sales_webhook_url and not self.nurture.config.webhook_secret:
            raise EngineError("sales_webhook_url is set but NURTURE_WEBHOOK_SECRET is not: set it to the secret "
                              "the receiver uses to check the X-Nurture-Signature header")
        if self.db.dialect.name == "sqlite":
            self._lock_sqlite()
        now = self.nurture.clock.now()
        with self.db.begin() as conn:
            conn.execute(DAEMONS.delete().where(DAEMONS.c.name == self.worker))
            conn.execute(DAEMONS.insert().values(name=self.worker, started_at=now, heartbeat_at=now))

    def _lock_sqlite(self) -> None:
        # An OS lock beside the database file: released by the kernel when the process dies, even by
        # kill -9, so a restarted daemon never waits for a stale heartbeat.
        database = self.db.url.database
        if not database or database == ":memory:":
            return
        path = f"{database}.daemon-lock"
        handle = open(path, "a+")  # noqa: SIM115 - held open for the daemon's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise AnotherDaemonRunning(
                f"another daemon ({holder}) is running on this SQLite database; stop it first, or use "
                "PostgreSQL (NURTURE_DATABASE_URL=postgresql+psycopg://...) to run several daemons") from None
        handle.truncate(0)
        handle.write(self.worker)
        handle.flush()
        self._lock_file = handle

    def heartbeat(self) -> None:
        with self.db.begin() as conn:
            conn.execute(DAEMONS.update().where(DAEMONS.c.name == self.worker)
                         .values(heartbeat_at=self.nurture.clock.now()))

    def unregister(self) -> None:
        with self.db.begin() as conn:
            conn.execute(DAEMONS.delete().where(DAEMONS.c.name == self.worker))
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the lock
            self._lock_file = None

    # ----- one tick ----------------------------------------------------------------------------

    async def tick(self) -> TickStats:
        stats = TickStats()
        now = self.nurture.clock.now()
        self.nurture.rules(refresh=True)  # a newly applied version takes over at a tick boundary
        _ = self.key  # read or create the signing key before any write transaction holds the lock
        processor = self.nurture.processor()
        stats.stage_changes = processor.sweep(now)
        stats.signals = self.react(now)
        stats.signals += self.sweep_journeys(now)
        stats.steps = self.run_steps(now)
        stats.notifications = self.queue_notifications(now)
        if not self.stopping:
            stats.delivery = await self.deliver(now)
        return stats

    def _runtime(self, conn, now: dt.datetime) -> JourneyRuntime:
        version_id, rules = self.nurture.rules()
        processor = self.nurture.processor()

        def set_attribute(lead: LeadView, name: str, value: Any) -> None:
            processor.update_leads(Tx(conn), [LeadIn(0, lead.email, {name: value})])

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

    # ----- delivery ----------------------------------------------------------------------------

    def renderer(self) -> Renderer:
        version_id, _ = self.nurture.rules()
        if version_id not in self._renderers:
            files = self.nurture.version_files
            self._renderers = {version_id: Renderer({k[len("templates/"):]: v for k, v in files.items()
                                                     if k.startswith("templates/")})}
        return self._renderers[version_id]

    def link(self, kind: str, lead_id: int, message_key: str, url: str | None = None) -> str:
        """A signed link to the HTTP side: `u` unsubscribe, `o` open pixel, `c` tracked click to ``url``."""
        payload = {"l": lead_id, "m": message_key, "k": kind} | ({"u": url} if url else {})
        path = {"u": "u", "o": "t/o", "c": "t/c"}[kind]
        return f"{self.nurture.config.base_url.rstrip('/')}/{path}/{sign(payload, self.key)}"

    def _prepare(self, conn, row, rules, now: dt.datetime, stats: DeliveryStats, going: dict[int, list],
                 batch: _Batch) -> bool:
        """Consent, pacing and rendering before a send; False when the message is not to go now."""
        if row.kind == "webhook":  # its body was taken when it was queued
            return True
        lead = batch.leads[row.lead_id]
        marketing = row.kind == "marketing"
        if marketing and (lead.unsubscribed or row.to_address in batch.suppressed):
            update_leased(conn, row.id, self.worker, status="suppressed", leased_by=None, leased_until=None,
                          last_error="unsubscribed or suppressed at send time")
            stats.suppressed += 1
            return False
        if marketing:
            allowed = next_allowed(conn, row, rules.symbols.settings, rules.symbols.frequency_caps,
                                   rules.symbols.quiet_hours, now, lead.attributes.get("timezone"),
                                   going=going.get(row.lead_id, []), sent=batch.sent.get(row.lead_id, []))
            if allowed > now:
                update_leased(conn, row.id, self.worker, due_at=allowed, deferrals=row.deferrals + 1, leased_by=None,
                              leased_until=None)
                stats.deferred += 1
                return False
        if row.data is None:
            try:
                data = self.compose(conn, row, rules, lead, now)
            except RenderError as err:
                update_leased(conn, row.id, self.worker, status="failed", last_error=f"render: {err}", leased_by=None,
                              leased_until=None)
                stats.failed += 1
                stats.errors.append(f"{row.to_address} {row.template}: {err}")
                return False
            update_leased(conn, row.id, self.worker, data=data)
        if marketing:
            going.setdefault(row.lead_id, []).append(now)
        return True

    def compose(self, conn, row, rules, lead: LeadView, now: dt.datetime) -> bytes:
        """The message's bytes: its template rendered for the lead, with signed links (RenderError if it cannot be)."""
        marketing = row.kind == "marketing"
        unsubscribe = self.link("u", lead.id, row.key)
        track = (lambda url: self.link("c", lead.id, row.key, url)) if marketing else None
        rendered = self.renderer().render(
            row.template, email_context(conn, rules, lead, now, unsubscribe, row.journey, not marketing),
            rewrite_link=track)
        settings = rules.symbols.settings
        sender = str(settings.get("sender address"))
        html = rendered.html
        if marketing:  # a 1x1 image that records the open when the reader's client loads it
            html = _with_pixel(html, self.link("o", lead.id, row.key))
        return build_message(
            sender_name=str(settings.get("sender name", "")), sender_address=sender, to=row.to_address,
            subject=rendered.subject, html=html, text=rendered.text, message_id=row.message_id,
            date=now, reply_to=settings.get("reply to"),  # type: ignore[arg-type]
            list_unsubscribe_url=unsubscribe if marketing else None,
            list_unsubscribe_mailto=f"mailto:{settings.get('reply to') or sender}?subject=unsubscribe"
            if marketing else None)

    async def _send(self, sender: str, row, stats: DeliveryStats) -> None:
        if row.kind == "webhook":
            result = await webhook.post(row.to_address, row.data, self.nurture.config.webhook_secret or "", row.key)
        else:
            result = await self.mailer.send(sender, [row.to_address], row.data)
        # Recorded the moment the server answers, message by message: a crash loses no outcome, and
        # only a kill in this very instant could make a message go out again after its lease expires.
        with self.db.begin() as conn:
            outcome = record(conn, row, result, self.nurture.clock.now(), self.worker, self.rng)
        if outcome == "sent":
            stats.sent += 1
        elif outcome == "retry":
            stats.retried += 1
        else:
            stats.failed += 1
            stats.errors.append(f"{row.to_address} {row.template}: {result.code} {result.reply}")

    def _batch(self, conn, rules, rows, now: dt.datetime) -> _Batch:
        """What consent and pacing checks read, for a whole claimed batch in three queries instead of
        three per message. Nothing the checks change is read here (sends are recorded afterwards)."""
        marketing = [row for row in rows if row.kind == "marketing"]
        caps = rules.symbols.frequency_caps
        since = now - dt.timedelta(days=7 if "week" in caps else 1)
        return _Batch(load_leads(conn, rules, [row.lead_id for row in rows], now),
                      suppressed_among(conn, [row.to_address for row in marketing]),
                      recent_sends(conn, [row.lead_id for row in marketing], since) if caps and marketing else {})

    async def deliver(self, now: dt.datetime) -> DeliveryStats:
        stats = DeliveryStats()
        _, rules = self.nurture.rules()
        sender = str(rules.symbols.settings.get("sender address"))
        while not self.stopping:
            # claim what the mailer can send well within the lease, not a whole batch
            ids = claim(self.db, self.worker, now, min(self.batch, 8 * self.nurture.config.smtp_concurrency),
                        dt.timedelta(seconds=self.nurture.config.lease_seconds))
            if not ids:
                return stats
            with self.db.begin() as conn:
                rows = conn.execute(sa.select(OUTBOX).where(OUTBOX.c.id.in_(ids)).order_by(OUTBOX.c.id)).all()
                going: dict[int, list] = {}  # marketing sends of this batch, per lead, for the caps
                batch = self._batch(conn, rules, rows, now)
                ready = [row.id for row in rows if self._prepare(conn, row, rules, now, stats, going, batch)]
            if not ready:
                continue
            with self.db.connect() as conn:
                rows = conn.execute(sa.select(OUTBOX).where(OUTBOX.c.id.in_(ready)).order_by(OUTBOX.c.id)).all()
            await asyncio.gather(*(self._send(sender, row, stats) for row in rows))
        return stats


@dataclass
class _Batch:
    leads: dict[int, LeadView]
    suppressed: set[str]
    #: lead -> marketing emails sent to it within the longest cap window
    sent: dict[int, list[dt.datetime]]


def _with_pixel(html: str, url: str) -> str:
    pixel = f'<img src="{url}" width="1" height="1" alt="" style="display:none">'
    at = html.lower().rfind("</body>")
    return html[:at] + pixel + html[at:] if at >= 0 else html + pixel
