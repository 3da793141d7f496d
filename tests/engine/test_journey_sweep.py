"""The periodic journey sweep: it looks only at journeys time alone can move, except right after a new
campaign version, when it looks at every journey so leads that already meet a new entry condition enter."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from pathlib import Path

import sqlalchemy as sa

from dsl.campaign import load_campaign
from engine.core.rules import compile_rules
from engine.store import Store
from engine.store.meta import SweepState
from engine.store.tables import ENROLLMENTS

from .daemon_helpers import ANN, CAMPAIGN, HOUR, T0, Harness, run
from .helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]

GOLD = """
journey gold "For gold plans" {
  enter when plan = "gold"
  hello: send "hello"
}
"""


def test_only_journeys_time_can_move_are_swept():
    rules = compile_rules(load_campaign([ROOT / "journeys"], ROOT / "templates"))
    swept = {name: plan.swept for name, plan in rules.journeys.items()}
    # reengagement enters on a decaying score and on no click within 30 days; the others enter on a
    # stage change or as an event arrives, which reach journeys as signals
    assert {"welcome", "pricing_followup", "webinar_followup", "recycled", "reengagement"} <= set(swept)
    assert {name for name, time_moves_it in swept.items() if time_moves_it} == {"reengagement"}


def test_a_new_version_looks_at_every_lead_at_once(tmp_path: Path, sqlite_url, capture):
    campaign = tmp_path / "campaign"
    shutil.copytree(CAMPAIGN, campaign)

    async def scenario():
        h = Harness(sqlite_url, capture.port, campaign)
        h.leads({**ANN, "plan": "gold"})
        await h.tick()
        assert h.query(sa.select(ENROLLMENTS)) == []

        # a journey whose entry the lead already meets: no event or change of the lead will ever signal it
        (campaign / "journeys" / "gold.nurture").write_text(GOLD)
        h.nurture.apply()
        await h.tick(T0 + HOUR)  # well before a day's sweep interval has passed
        [enrollment] = h.query(sa.select(ENROLLMENTS.c.journey, ENROLLMENTS.c.status))
        assert enrollment.journey == "gold"
        assert [m[1] for m in capture.messages] == [["ann@acme.example"]]
        await h.mailer.close()

    run(scenario())


def test_two_daemons_take_turns_at_the_very_first_sweep(postgres_url: str):
    """Before any sweep there is no state to lock. The first daemon to read it makes the rows and holds them;
    a second reading at the same time waits for it and then sees what it wrote, where it used to read no state
    too, sweep the same leads, and fail on the key the first had inserted."""
    store = Store.open(postgres_url)
    started = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    second_saw: list[SweepState] = []
    try:
        with store.transaction() as first:
            assert first.meta.journey_sweep() == SweepState(None, None, None, None)

            def second() -> None:
                with store.transaction() as tx:
                    second_saw.append(tx.meta.journey_sweep())

            thread = threading.Thread(target=second)
            thread.start()
            # wait until the second transaction waits for this one's lock: a readiness check, not a timing
            with store.engine.connect() as watcher:
                wait_for(lambda: watcher.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE '%%meta%%'").scalar_one(),
                    "the second transaction to wait for the sweep's lock")
            first.meta.set_journey_sweep(SweepState(500, started, None, 3))
        thread.join(timeout=60)
        assert second_saw == [SweepState(500, started, None, 3)]
    finally:
        store.dispose()
