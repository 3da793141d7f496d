"""The periodic journey sweep: it looks only at journeys time alone can move, except right after a new
campaign version, when it looks at every journey so leads that already meet a new entry condition enter."""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa

from dsl.campaign import load_campaign
from engine.core.rules import compile_rules
from engine.store.tables import ENROLLMENTS

from .daemon_helpers import ANN, CAMPAIGN, HOUR, T0, Harness, run

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
