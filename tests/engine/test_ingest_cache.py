"""Lead state kept between batches is used only while the store holds what it was saved as."""

from __future__ import annotations

import datetime as dt

from engine.core.evaluator import LeadRecord
from engine.core.scoring import LeadState
from engine.ingest.cache import LeadCache
from engine.ingest.processor import Processor
from engine.ingest.rows import Row
from engine.store import reports as queries
from engine.store.leads import Revision

from .helpers import event, make_nurture

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
LEADS = ["ann@acme.example", "bob@acme.example"]


def _events(start: int, count: int) -> list[Row]:
    return [event(LEADS[i % 2], "page.viewed", T0 + dt.timedelta(hours=i), url="/pricing") for i in
            range(start, start + count)]


def _state(url: str, clock) -> dict[str, tuple]:
    nurture = make_nurture(url, clock)
    _, rules = nurture.rules()
    with nurture.store.engine.connect() as conn:
        shown = {email: queries.show_lead(conn, rules, email, clock.now()) for email in LEADS}
    nurture.store.dispose()
    return {email: (lead["stage"], lead["scores"], lead["owner"], [c["to"] for c in lead["stage_history"]])
            for email, lead in shown.items()}


def _processor(url: str, clock) -> Processor:
    base = make_nurture(url, clock).processor()
    return Processor(base.store, base.rules, base.version_id, clock, batch_size=3)


def test_writes_by_another_processor_are_seen(db_url, clock, tmp_path):
    """Two processors take turns on the same leads, and attributes change between their batches: each
    reads back what the other wrote instead of its own older copy, so the outcome is that of one run."""
    clock.set(T0 + dt.timedelta(days=30))
    one, other = _processor(db_url, clock), _processor(db_url, clock)
    one.ingest_events(_events(0, 6), "events")
    other.ingest_events(_events(6, 6), "events")
    other.import_leads([Row(1, "", {"email": LEADS[0], "job_title": "VP Data", "company_size": 900})], "leads")
    hits, misses = one.cache.hits, one.cache.misses
    one.ingest_events(_events(12, 3), "events")  # one batch
    assert (one.cache.hits, one.cache.misses) == (hits, misses + 2)  # its kept copies were both out of date
    one.ingest_events(_events(15, 9), "events")
    assert one.cache.hits > hits  # and then its own saves are current
    outcome = _state(db_url, clock)

    alone = str(tmp_path / "alone.db")
    single = _processor(f"sqlite:///{alone}", clock)
    single.ingest_events(_events(0, 12), "events")
    single.import_leads([Row(1, "", {"email": LEADS[0], "job_title": "VP Data", "company_size": 900})], "leads")
    single.ingest_events(_events(12, 12), "events")
    assert outcome == _state(f"sqlite:///{alone}", clock)
    assert outcome[LEADS[0]][0] != "lead"  # the pricing visits made a difference worth comparing


def _lead(lead_id: int) -> LeadRecord:
    return LeadRecord(lead_id, f"l{lead_id}@acme.example", {}, "lead", 1.0000004, None, LeadState(), created_at=1.0)


def test_a_lead_is_kept_only_after_its_batch_commits_and_at_the_revision_its_save_made():
    cache = LeadCache(size=2)
    assert cache.take({1: Revision(0, "l1@acme.example")}) == {}
    cache.hold([_lead(1)], {1: Revision(0, "l1@acme.example")})
    cache.rollback()
    assert cache.take({1: Revision(1, "l1@acme.example")}) == {}  # its batch rolled back: read it again

    cache.hold([_lead(1), _lead(2), _lead(3)], {i: Revision(4, f"l{i}@acme.example") for i in (1, 2, 3)})
    cache.commit()
    assert len(cache) == 2  # the least recently used beyond the size are dropped
    assert cache.take({2: Revision(4, "l2@acme.example")}) == {}  # the store holds an older or newer write
    kept = cache.take({3: Revision(5, "l3@acme.example")})
    assert list(kept) == [3]
    assert kept[3].stage_since == 1.0  # as the store gives it back: to the microsecond
    assert cache.take({3: Revision(5, "l3@acme.example")}) == {}  # taken leads leave until saved again
    assert (cache.hits, cache.misses) == (1, 4)


def test_an_id_given_to_another_address_is_not_taken_for_the_kept_lead():
    cache = LeadCache()
    cache.hold([_lead(7)], {7: Revision(0, "l7@acme.example")})
    cache.commit()
    assert cache.take({7: Revision(1, "someone.else@acme.example")}) == {}
