"""Any order and batching of the same events gives the scores and stages of a from-scratch run."""

from __future__ import annotations

import datetime as dt
import itertools
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.clock import VirtualClock
from engine.ingest.rows import Row
from engine.store import reports as queries

from .helpers import event, make_nurture

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
LEADS = ["a@x.example", "b@gmail.com"]
KINDS = [("page.viewed", {"url": "/pricing"}), ("page.viewed", {"url": "/blog"}), ("email.opened", {}),
         ("content.downloaded", {"asset": "guide"}), ("demo.requested", {}), ("email.unsubscribed", {})]

event_specs = st.lists(st.tuples(st.sampled_from(LEADS), st.sampled_from(KINDS),
                                 st.integers(min_value=0, max_value=90 * 24)), min_size=1, max_size=25,
                       unique_by=lambda e: (e[0], e[2]))


def _outcome(rows: list[list[Row]]) -> dict:
    clock = VirtualClock(T0 + dt.timedelta(days=120))
    with tempfile.TemporaryDirectory() as tmp:
        nurture = make_nurture(f"sqlite:///{Path(tmp) / 'n.db'}", clock)
        processor = nurture.processor()
        processor.import_leads([Row(1, "", {"email": "a@x.example", "job_title": "VP Data",
                                            "company_size": 900})], "leads")
        for batch in rows:
            processor.ingest_events(batch, "events")
        processor.sweep()
        with nurture.store.engine.connect() as conn:
            result = {}
            for email in LEADS:
                try:
                    lead = queries.show_lead(conn, processor.rules, email, clock.now())
                except LookupError:
                    continue
                result[email] = (lead["stage"], lead["scores"], [(c["at"], c["to"]) for c in lead["stage_history"]])
        nurture.store.engine.dispose()
        return result


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=event_specs, order=st.randoms(use_true_random=False), cuts=st.lists(st.integers(1, 5), max_size=6))
def test_order_and_batching_do_not_change_the_outcome(specs, order, cuts):
    rows = [event(lead, kind, T0 + dt.timedelta(hours=hours), **props) for lead, (kind, props), hours in specs]
    expected = _outcome([sorted(rows, key=lambda r: r.data["at"])])
    shuffled = rows[:]
    order.shuffle(shuffled)
    batches, it = [], iter(shuffled)
    for size in itertools.chain(cuts, [len(rows)]):
        if batch := list(itertools.islice(it, size)):
            batches.append(batch)
    assert _outcome(batches) == expected
