"""`nurture demo`: weeks of a B2B funnel in seconds, through the real engine and daemon code.

A fresh store, the example campaign, synthetic leads and engagement on a virtual clock; every
email goes over SMTP to a local capture server that writes `.eml` files (or to a real server).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.delivery.smtp import SmtpMailer
from engine.errors import ConfigError
from engine.lab.synthetic import Population
from engine.lab.virtual import VirtualRun
from engine.service import Nurture

START = dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.UTC)  # a Monday
#: where the demo's links point when no base_url is configured: a made-up host, as the emails are only to look at
DEMO_BASE_URL = "https://nurture.acme-analytics.example"
TICK = dt.timedelta(hours=1)


@dataclass
class DemoResult:
    leads: int
    events: int
    days: int
    ticks: int
    sent: int
    failed: int
    outbox_dir: Path | None
    database_url: str
    per_step: list[tuple[str, str, str, int]] = field(default_factory=list)
    #: (lead, recipient, template) of every sales notification sent
    notifications: list[tuple[str, str, str]] = field(default_factory=list)
    #: where the links in the emails point
    base_url: str = DEMO_BASE_URL
    #: the console's demo admin: (email, password), made anew by every run
    console_user: tuple[str, str] | None = None


async def _play(run: VirtualRun, leads: int, days: int, seed: int, progress: Callable[[int], None]) -> int:
    """Days of engagement through the real engine; returns how many events went in."""
    population = Population(seed)
    run.processor.import_leads(population.lead_rows(population.make_leads(leads)), "demo leads")
    run.daemon.register()
    last_look = START

    def readers_react(now: dt.datetime) -> None:  # opens and clicks of what was just delivered; sales calls
        nonlocal last_look
        run.schedule(_reactions(run.nurture, population, last_look, now))
        run.schedule(_sales_follow_ups(run.nurture, population, last_look, now))
        last_look = now

    for day in range(days):
        today = START + dt.timedelta(days=day)
        run.schedule(population.day_of_activity(today.replace(hour=0), webinar_day=(day % 14 == 9)))
        if day % 7 == 0 and day:  # a new cohort arrives every week
            run.processor.import_leads(population.lead_rows(population.make_leads(max(1, leads // 10))), "demo leads")
        await run.advance(today + dt.timedelta(days=1), after_tick=readers_react)
        run.schedule(_sales_feedback(run.nurture, population, today))
        progress(1)
    run.daemon.unregister()
    with run.nurture.store.transaction() as tx:
        return tx.tallies.event_count()


def _reactions(nurture: Nurture, population: Population, since: dt.datetime, until: dt.datetime) -> list:
    """Readers open and click the marketing emails sent since the last look (not the whole outbox again)."""
    with nurture.store.transaction() as tx:
        sent = tx.tallies.marketing_sent_between(since, until)
    return [r for to, at in sent for r in population.reactions(to, at)]


def _sales_follow_ups(nurture: Nurture, population: Population, since: dt.datetime, until: dt.datetime) -> list:
    """Sales calls three in four of the leads it was just told about within the hour (`sales.contacted`, which
    meets the SQL stage's follow-up SLA); the others wait, and their owners are reminded."""
    with nurture.store.transaction() as tx:
        told = tx.tallies.sales_notified(since, until)
    return [population.event(population.by_email[email], "sales.contacted", until + dt.timedelta(hours=1))
            for email in dict.fromkeys(told) if email in population.by_email and population.rng.random() < 0.75]


def _sales_feedback(nurture: Nurture, population: Population, day: dt.datetime) -> list:
    """Sales turns down about a third of yesterday's SQLs (back to marketing); a quarter of last
    week's buy."""

    def qualified(days_ago: int) -> list[str]:
        with nurture.store.transaction() as tx:
            return tx.tallies.sales_notified(day - dt.timedelta(days=days_ago), day - dt.timedelta(days=days_ago - 1))

    rows = []
    for email in qualified(1):
        if email in population.by_email and population.rng.random() < 0.33:
            rows.append(population.event(population.by_email[email], "sales.rejected",
                                         day + dt.timedelta(hours=15), reason="no budget this quarter"))
    for email in qualified(7):
        if email in population.by_email and population.rng.random() < 0.25:
            rows.append(population.event(population.by_email[email], "subscription.started",
                                         day + dt.timedelta(hours=11), plan="business"))
    return rows


def run_demo(*, campaign_dir: Path, template_dir: Path, database_url: str | None, outbox_dir: Path,
             smtp_host: str | None, smtp_port: int | None, leads: int, days: int, seed: int,
             progress: Callable[[int], None], base_url: str | None = None) -> DemoResult:
    """The demo; the emails' links (unsubscribe, clicks, the open pixel) point at ``base_url`` when given, so a
    `nurture serve` there answers them."""
    base_url = base_url or DEMO_BASE_URL
    if database_url is None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"demo.db{suffix}").unlink(missing_ok=True)
        database_url = "sqlite:///demo.db"
    capture = None
    if smtp_host is None:
        try:
            from engine.lab.capture import CaptureServer
        except ImportError:
            raise ConfigError("the demo's local SMTP capture needs aiosmtpd: pip install 'nurture[demo]', or "
                              "give --smtp-host to send to a server of your own") from None
        shutil.rmtree(outbox_dir, ignore_errors=True)
        capture = CaptureServer(outbox_dir).start()
        smtp_host, smtp_port = "127.0.0.1", capture.port
    try:
        mailer = SmtpMailer(smtp_host, smtp_port or 25, concurrency=8)
        run = VirtualRun(campaign_dir, template_dir, START, database_url=database_url, transport=mailer, tick=TICK,
                         seed=seed, base_url=base_url,
                         journey_sweep_seconds=6 * 3600)

        async def play() -> int:
            async with mailer:
                return await _play(run, leads, days, seed, progress)

        events = asyncio.run(play())
    finally:
        if capture is not None:
            capture.stop()
    result = _summary(run.nurture, database_url, outbox_dir if capture else None, events, days, days * 24)
    result.base_url = base_url
    result.console_user = demo_admin(run.nurture)
    return result


#: who signs in to the console after the demo
DEMO_ADMIN = "admin@demo.example"


def demo_admin(nurture: Nurture) -> tuple[str, str]:
    """An admin for the console on the demo's store, with a fresh random password: (email, password)."""
    from engine.console.passwords import hash_password

    password = secrets.token_urlsafe(12)
    with nurture.store.transaction() as tx:
        tx.users.save(DEMO_ADMIN, "admin", hash_password(password), nurture.clock.now())
    return DEMO_ADMIN, password


def _summary(nurture: Nurture, url: str, outbox_dir: Path | None, events: int, days: int, ticks: int) -> DemoResult:
    with nurture.store.transaction() as tx:
        leads = tx.tallies.lead_count()
        status = tx.tallies.outbox_by_status()
        per_step = tx.tallies.sent_per_step()
        notes = tx.tallies.sales_notifications_sent()
    return DemoResult(leads, events, days, ticks, status.get("sent", 0), status.get("failed", 0), outbox_dir, url,
                      [(row.journey or "stage alerts", row.step or "", row.template, row.sent) for row in per_step],
                      notes)
