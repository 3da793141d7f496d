"""The erasure salt is read once per store, and only as a committed transaction saw it."""

from __future__ import annotations

import datetime as dt

from engine.core.clock import VirtualClock
from engine.ingest.rows import Row
from engine.store import Store

from .helpers import make_nurture

NOW = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


def test_a_salt_from_a_rolled_back_erasure_is_never_used_and_a_committed_one_is(sqlite_url):
    nurture = make_nurture(sqlite_url, VirtualClock(NOW))
    nurture.processor().import_leads([Row(1, "", {"email": "ann@acme.example"}),
                                      Row(2, "", {"email": "bo@acme.example"})], "leads")
    store = nurture.store
    with store.transaction(dry_run=True) as tx:  # an erasure that is rolled back takes its new salt with it
        assert tx.privacy.erase("ann@acme.example", "test", NOW) is not None
        assert tx.privacy.erased_among(["ann@acme.example"]) == {"ann@acme.example"}
    assert store.salts.salt is None
    with store.transaction() as tx:
        assert tx.privacy.erased_among(["ann@acme.example"]) == set()
        assert tx.privacy.erase("bo@acme.example", "test", NOW) is not None
    kept = store.salts.salt
    assert kept is not None
    with store.transaction() as tx:
        assert tx.privacy.erased_among(["ann@acme.example", "bo@acme.example"]) == {"bo@acme.example"}
    other = Store.connect(sqlite_url)  # another process reads the same salt from the store
    with other.transaction() as tx:
        assert tx.privacy.erased_among(["bo@acme.example"]) == {"bo@acme.example"}
    assert other.salts.salt == kept
    other.dispose()
