"""What a consumer must read back before a batch: offsets PostgreSQL has not stored."""

from infra.postgres.projection_store import gaps

EVENTS = "lead.events.v1"


def test_a_batch_that_follows_what_every_projection_stored_has_no_gap() -> None:
    stored = {("referrals", EVENTS, 0): 41, ("queue", EVENTS, 0): 41}
    assert gaps(stored, ["referrals", "queue"], {(EVENTS, 0): 42}) == {}


def test_a_redelivered_batch_has_no_gap() -> None:
    stored = {("referrals", EVENTS, 0): 41, ("queue", EVENTS, 0): 41}
    assert gaps(stored, ["referrals", "queue"], {(EVENTS, 0): 10}) == {}


def test_the_projection_furthest_behind_decides_where_to_read_from() -> None:
    stored = {("referrals", EVENTS, 0): 41, ("queue", EVENTS, 0): 29}
    assert gaps(stored, ["referrals", "queue"], {(EVENTS, 0): 42}) == {(EVENTS, 0): (30, 42)}


def test_a_projection_with_nothing_stored_reads_from_the_start() -> None:
    stored = {("referrals", EVENTS, 3): 99}
    assert gaps(stored, ["referrals", "agenda"], {(EVENTS, 3): 100}) == {(EVENTS, 3): (0, 100)}


def test_each_partition_is_judged_on_its_own() -> None:
    stored = {("referrals", EVENTS, 0): 5, ("referrals", EVENTS, 1): 3}
    first = {(EVENTS, 0): 6, (EVENTS, 1): 9, (EVENTS, 2): 0}
    assert gaps(stored, ["referrals"], first) == {(EVENTS, 1): (4, 9)}
