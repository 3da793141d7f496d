"""Aggregates for the console and the reports, each computed by the database (GROUP BY), never by loading
every lead: the funnel by attribute and cohort, time between stages, journey steps and how each email does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from engine.store.base import Repository
from engine.store.tables import CHANGES, ENROLLMENTS, EVENTS, LEADS, OUTBOX, VERSIONS

#: the most groups a breakdown returns (the largest first): an attribute with a value per lead stays readable
MAX_GROUPS = 50
#: event types that say how a marketing email did, attributed to the email the lead got last before them
REACTIONS = ("email.opened", "email.clicked", "email.unsubscribed", "email.bounced", "email.complained")


class FunnelGroup(NamedTuple):
    """One group of leads (an attribute value, a cohort, or all), and per stage of the ladder: how many
    entered it, went beyond it (entered any later stage), and skipped it (went beyond without entering)."""

    key: tuple[str, ...]
    leads: int
    entered: tuple[int, ...]
    beyond: tuple[int, ...]
    skipped: tuple[int, ...]
    #: per consecutive pair (i, i+1): leads that entered both
    onward: tuple[int, ...]


class LeadRow(NamedTuple):
    id: int
    email: str
    stage: str
    owner: str | None
    source: str
    state: dict[str, Any]
    updated_at: dt.datetime


class VersionInfo(NamedTuple):
    id: int
    created_at: dt.datetime
    hash: str
    rules_hash: str
    author: str | None


class Duration(NamedTuple):
    """Time from entering one stage to entering the next, over the leads that entered both, in that order."""

    from_stage: str
    to_stage: str
    leads: int
    mean_seconds: float | None
    median_seconds: float | None


class StepCounts(NamedTuple):
    label: str
    entered: int
    waiting: int
    exited: int
    goal: int


class SendCounts(NamedTuple):
    journey: str | None
    step: str | None
    template: str
    sent: int
    failed: int
    opened: int
    clicked: int
    unsubscribed: int
    bounced: int


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class Insights(Repository):
    """Aggregates over every lead, computed by the database."""

    # ----- dialect helpers -----------------------------------------------------------------------

    def _seconds(self, at: Any) -> ColumnElement[Any]:
        """Seconds since the epoch of a timestamp column, in the database."""
        if self.postgres:
            return sa.func.extract("epoch", at)
        return (sa.func.julianday(at) - 2440587.5) * 86400.0

    def _cohort(self, at: Any, cohort: str) -> ColumnElement[Any]:
        """The month (2026-03) or the week, named by its Monday (2026-03-02), of a timestamp."""
        if cohort == "month":
            return sa.func.to_char(at, "YYYY-MM") if self.postgres else sa.func.strftime("%Y-%m", at)
        if self.postgres:
            return sa.func.to_char(sa.func.date_trunc("week", at), "YYYY-MM-DD")
        return sa.func.date(at, "weekday 0", "-6 days")

    def _attribute(self, name: str, default: Any) -> ColumnElement[Any]:
        value: ColumnElement[Any] = LEADS.c.attributes[name].as_string()
        if default is not None:
            value = sa.func.coalesce(value, _default_text(default))
        return sa.func.coalesce(value, "(none)")

    # ----- the funnel ----------------------------------------------------------------------------

    def _firsts(self, ladder: Sequence[str]) -> Any:
        """Per lead that changed stage: for each stage above the first, entered (0/1) and when first."""
        columns: list[Any] = [CHANGES.c.lead_id]
        for i, stage in enumerate(ladder[1:], start=1):
            hit = CHANGES.c.to_stage == stage
            columns.append(sa.func.max(sa.case((hit, 1), else_=0)).label(f"e{i}"))
            columns.append(sa.func.min(sa.case((hit, CHANGES.c.at), else_=None)).label(f"t{i}"))
        return sa.select(*columns).group_by(CHANGES.c.lead_id).subquery("firsts")

    def funnel(self, ladder: Sequence[str], attribute: tuple[str, Any] | None = None,
               cohort: str | None = None) -> list[FunnelGroup]:
        """Leads grouped by an attribute (its declared default standing in for a missing value) and/or the
        week or month they were first seen, with what each group entered, went beyond and skipped.
        Without a grouping: one group of every lead."""
        firsts = self._firsts(ladder)
        n = len(ladder)
        entered = [sa.literal(1)] + [sa.func.coalesce(firsts.c[f"e{i}"], 0) for i in range(1, n)]
        beyond = []
        for i in range(n):
            later = entered[i + 1:]
            beyond.append(sa.case((sum(later[1:], later[0]) > 0, 1), else_=0) if later else sa.literal(0))
        keys: list[ColumnElement[Any]] = []
        if attribute is not None:
            keys.append(self._attribute(*attribute).label("attr"))
        if cohort is not None:
            keys.append(self._cohort(LEADS.c.created_at, cohort).label("cohort"))
        measures = [sa.func.count().label("leads")]
        for i in range(n):
            measures.append(sa.func.sum(entered[i]).label(f"entered{i}"))
            measures.append(sa.func.sum(beyond[i]).label(f"beyond{i}"))
            skipped = sa.case((sa.and_(entered[i] == 0, beyond[i] == 1), 1), else_=0) if i else sa.literal(0)
            measures.append(sa.func.sum(skipped).label(f"skipped{i}"))
            if i + 1 < n:
                both = sa.case((sa.and_(entered[i] == 1, entered[i + 1] == 1), 1), else_=0)
                measures.append(sa.func.sum(both).label(f"onward{i}"))
        query = (sa.select(*keys, *measures).select_from(LEADS.outerjoin(firsts, firsts.c.lead_id == LEADS.c.id)))
        if keys:
            query = query.group_by(*keys).order_by(sa.func.count().desc(), *keys).limit(MAX_GROUPS)
        groups = []
        for row in self.conn.execute(query):
            m = row._mapping
            groups.append(FunnelGroup(
                tuple(_text(m[k.name]) for k in keys), int(m["leads"]),
                tuple(int(m[f"entered{i}"] or 0) for i in range(n)),
                tuple(int(m[f"beyond{i}"] or 0) for i in range(n)),
                tuple(int(m[f"skipped{i}"] or 0) for i in range(n)),
                tuple(int(m[f"onward{i}"] or 0) for i in range(n - 1))))
        if cohort is not None and attribute is None:
            groups.sort(key=lambda g: g.key)
        return groups

    def durations(self, ladder: Sequence[str]) -> list[Duration]:
        """Mean and median time between consecutive stages (the first stage counts from when the lead was
        first seen); the median is read with ORDER BY ... OFFSET, so no list of leads comes back."""
        firsts = self._firsts(ladder)
        found = []
        for i in range(1, len(ladder)):
            start = LEADS.c.created_at if i == 1 else firsts.c[f"t{i - 1}"]
            gap = (self._seconds(firsts.c[f"t{i}"]) - self._seconds(start)).label("gap")
            base = (sa.select(gap).select_from(LEADS.join(firsts, firsts.c.lead_id == LEADS.c.id))
                    .where(firsts.c[f"t{i}"].is_not(None), start.is_not(None), firsts.c[f"t{i}"] >= start))
            inner = base.subquery("gaps")
            count, mean = self.conn.execute(sa.select(sa.func.count(), sa.func.avg(inner.c.gap))).one()
            median = None
            if count:
                middle = list(self.conn.execute(sa.select(inner.c.gap).order_by(inner.c.gap)
                                                .offset((count - 1) // 2).limit(2 - count % 2)).scalars())
                median = sum(float(v) for v in middle) / len(middle)
            found.append(Duration(ladder[i - 1], ladder[i], int(count),
                                  None if mean is None else float(mean), median))
        return found

    # ----- journeys ------------------------------------------------------------------------------

    def journey_steps(self, journey: str, labels: Sequence[str]) -> dict[str, Any]:
        """Enrolments in ``journey``: in all, open now, exited and goal reached; and per step label how many
        entered it (the step ran), are at it now, and of those that entered it, how many exited the journey or
        reached its goal afterwards."""
        rows = ENROLLMENTS.c
        mine = rows.journey == journey
        open_now = rows.status.in_(("active", "waiting"))
        totals = self.conn.execute(sa.select(
            sa.func.count(), sa.func.sum(sa.case((open_now, 1), else_=0)),
            sa.func.sum(sa.case((rows.status == "exited", 1), else_=0)),
            sa.func.sum(sa.case((rows.goal_at.is_not(None), 1), else_=0))).where(mine)).one()
        steps = []
        if labels:
            # a step's mark is set when it runs, so every marked step came before the enrolment's end
            measures = []
            for label in labels:
                ran = rows.marks[label].as_float().is_not(None)
                measures += [sa.func.sum(sa.case((ran, 1), else_=0)),
                             sa.func.sum(sa.case((sa.and_(ran, rows.status == "exited"), 1), else_=0)),
                             sa.func.sum(sa.case((sa.and_(ran, rows.goal_at.is_not(None)), 1), else_=0))]
            values = [int(v or 0) for v in self.conn.execute(sa.select(*measures).where(mine)).one()]
            at_step = sa.select(rows.step, sa.func.count()).where(mine, open_now).group_by(rows.step)
            waiting: dict[str | None, int] = dict(self.conn.execute(at_step).all())
            for i, label in enumerate(labels):
                entered, exited, goal = values[3 * i: 3 * i + 3]
                steps.append(StepCounts(label, entered, int(waiting.get(label, 0)), exited, goal))
        return {"enrolled": int(totals[0] or 0), "open": int(totals[1] or 0), "exited": int(totals[2] or 0),
                "goal": int(totals[3] or 0), "steps": steps}

    def email_performance(self, journey: str | None = None) -> list[SendCounts]:
        """Per (journey, step, template) of marketing email: sent and failed, and the leads' reactions, each
        attributed to the email of that template (or, for events without one, any email) the lead got last
        before it; opens from prefetching scanners are left out."""
        o = OUTBOX.c
        scope = [o.kind == "marketing"] + ([o.journey == journey] if journey is not None else [])
        columns = (o.journey, o.step, o.template)
        counts = {(r.journey, r.step, r.template): [int(r.sent or 0), int(r.failed or 0), 0, 0, 0, 0]
                  for r in self.conn.execute(
                      sa.select(*columns, sa.func.sum(sa.case((o.status == "sent", 1), else_=0)).label("sent"),
                                sa.func.sum(sa.case((o.status == "failed", 1), else_=0)).label("failed"))
                      .where(*scope).group_by(*columns))}
        sent = OUTBOX.alias("sent")
        template = EVENTS.c.props["template"].as_string()
        last_before = (sa.select(sent.c.id)
                       .where(sent.c.lead_id == EVENTS.c.lead_id, sent.c.kind == "marketing",
                              sent.c.status == "sent", sent.c.sent_at <= EVENTS.c.at,
                              sa.or_(template.is_(None), sent.c.template == template))
                       .order_by(sent.c.sent_at.desc(), sent.c.id.desc()).limit(1).correlate(EVENTS)
                       .scalar_subquery())
        prefetched = sa.func.coalesce(EVENTS.c.props["prefetched"].as_boolean(), sa.false())
        reactions = (sa.select(EVENTS.c.type.label("type"), last_before.label("message_id"))
                     .where(EVENTS.c.type.in_(REACTIONS),
                            sa.or_(EVENTS.c.type != "email.opened", prefetched == sa.false()))
                     .subquery("reactions"))
        which = {"email.opened": 2, "email.clicked": 3, "email.unsubscribed": 4, "email.bounced": 5,
                 "email.complained": 4}
        query = (sa.select(*columns, reactions.c.type, sa.func.count(sa.distinct(reactions.c.message_id)))
                 .select_from(reactions.join(OUTBOX, OUTBOX.c.id == reactions.c.message_id))
                 .where(*scope).group_by(*columns, reactions.c.type))
        for j, step, tmpl, etype, n in self.conn.execute(query):
            counts.setdefault((j, step, tmpl), [0, 0, 0, 0, 0, 0])[which[etype]] += int(n)
        return [SendCounts(j, step, tmpl, *values)
                for (j, step, tmpl), values in sorted(counts.items(), key=lambda kv: tuple(map(_text, kv[0])))]

    # ----- campaign versions ---------------------------------------------------------------------

    def versions(self, limit: int = 200) -> list[VersionInfo]:
        """Applied campaign versions, newest first, without their files."""
        v = VERSIONS.c
        return [VersionInfo._make(row) for row in self.conn.execute(
            sa.select(v.id, v.created_at, v.hash, v.rules_hash, v.author).order_by(v.id.desc()).limit(limit))]

    # ----- finding leads ---------------------------------------------------------------------------

    def lead_batch(self, *, email: str | None = None, stage: str | None = None, owner: str | None = None,
                   after_id: int | None = None, limit: int = 500) -> list[LeadRow]:
        """Leads matching the filters in id order from ``after_id`` on, ``limit`` at a time (with their scoring
        state, so the caller can compute scores and filter on them batch by batch)."""
        query = (sa.select(LEADS.c.id, LEADS.c.email, LEADS.c.stage, LEADS.c.owner, LEADS.c.source, LEADS.c.state,
                           LEADS.c.updated_at).order_by(LEADS.c.id).limit(limit))
        if email:
            query = query.where(LEADS.c.email.contains(email.lower(), autoescape=True))
        if stage:
            query = query.where(LEADS.c.stage == stage)
        if owner:
            query = query.where(LEADS.c.owner.contains(owner, autoescape=True))
        if after_id is not None:
            query = query.where(LEADS.c.id > after_id)
        return [LeadRow._make(row) for row in self.conn.execute(query)]

    def lead_reactions(self, lead_id: int, limit: int = 1000) -> list[tuple[str, dt.datetime, dict[str, Any]]]:
        """The lead's opens, clicks, unsubscribes and bounces, newest first: (type, at, props)."""
        query = (sa.select(EVENTS.c.type, EVENTS.c.at, EVENTS.c.props)
                 .where(EVENTS.c.lead_id == lead_id, EVENTS.c.type.in_(REACTIONS))
                 .order_by(EVENTS.c.at.desc()).limit(limit))
        return [(t, at, props or {}) for t, at, props in self.conn.execute(query)]


def _default_text(value: Any) -> str:
    """A declared default as the database's JSON text would show it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
