"""Delegation periods read from successive snapshots, against a reference written from their
documented meaning (docs/formats.md, "Delegation snapshots"): each distinct ``as_of`` of an
operator is the complete list of its delegations in force then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import largest_intermediate_rows
from delegation_reports import warehouse
from delegation_reports.analysis.config import load_config
from delegation_reports.analysis.models import build_core, sql_text

START = datetime(2026, 1, 5, 8, tzinfo=UTC)
STATES = [
    ("secretary", ["read"], None, None),
    ("secretary", ["read", "send"], None, None),
    ("replacement", ["read", "send"], START, START + timedelta(days=40)),
]

# One operator's snapshots: which days it took, and for each (mailbox, delegate) pair the
# state it listed that day (None: not listed).
pairs = st.sampled_from([("m1", "d1"), ("m1", "d2"), ("m2", "d1")])
listing = st.lists(
    st.one_of(st.none(), st.sampled_from(range(len(STATES)))), min_size=8, max_size=8
)
operator_snapshots = st.tuples(
    st.sets(st.integers(0, 7), min_size=1), st.dictionaries(pairs, listing, max_size=3)
)


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    connection = warehouse.connect(tmp_path_factory.mktemp("snapshots") / "w.duckdb")
    yield connection
    connection.close()


def _key_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def reference(snapshots: dict[str, tuple[set[int], dict]]) -> set[tuple]:
    """The periods the snapshots mean: a run of consecutive snapshots listing a pair with the
    same state is one period, started between the snapshot before and the first listing it,
    ended between its last listing and the next snapshot, revoked when that next snapshot
    does not list the pair; a run of consecutive listings, whatever the states, is one
    delegation."""
    periods = set()
    for operator, (days, listed) in snapshots.items():
        # A snapshot that lists nothing leaves no row: the warehouse cannot know of it.
        days = sorted(d for d in days if any(states[d] is not None for states in listed.values()))
        times = [START + timedelta(days=d) for d in days]
        for (mailbox, delegate), states in listed.items():
            at = {
                t: STATES[states[d]]
                for d, t in zip(days, times, strict=True)
                if states[d] is not None
            }
            i, listing_from = 0, None
            while i < len(times):
                if times[i] not in at:
                    i, listing_from = i + 1, None
                    continue
                listing_from = listing_from or times[i]
                j = i
                while j + 1 < len(times) and at.get(times[j + 1]) == at[times[i]]:
                    j += 1
                role, rights, valid_from, valid_until = at[times[i]]
                after = times[j + 1] if j + 1 < len(times) else None
                periods.add(
                    (
                        mailbox,
                        delegate,
                        role,
                        tuple(rights),
                        valid_from,
                        valid_until,
                        times[i - 1] if i else None,
                        times[i],
                        times[j],
                        after,
                        after if after is not None and after not in at else None,
                        f"snapshot:{operator}:{mailbox}:{delegate}:{_key_time(listing_from)}",
                    )
                )
                i = j + 1
    return periods


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.dictionaries(st.sampled_from(["Op A", "Op B"]), operator_snapshots, min_size=1))
def test_periods_from_snapshots_are_what_the_snapshots_mean(con, snapshots):
    con.execute("DELETE FROM delegation_snapshot")
    rows = []
    for operator, (days, listed) in snapshots.items():
        for (mailbox, delegate), states in listed.items():
            for day in days:
                if states[day] is not None:
                    role, rights, valid_from, valid_until = STATES[states[day]]
                    at = START + timedelta(days=day)
                    rows.append(
                        (
                            operator,
                            at,
                            mailbox,
                            delegate,
                            "N",
                            role,
                            rights,
                            valid_from,
                            valid_until,
                        )
                    )
    if rows:
        con.executemany(
            "INSERT INTO delegation_snapshot VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)", rows
        )
    build_core(con, load_config(), force=True)
    built = con.execute(
        "SELECT mailbox, delegate, delegate_role, rights, valid_from_at, valid_until_at, "
        "started_earliest_at, started_latest_at, ended_earliest_at, ended_latest_at, revoked_at, "
        "delegation_key FROM delegation_period WHERE source = 'snapshots'"
    ).fetchall()
    periods = [(*row[:3], tuple(row[3]), *row[4:]) for row in built]
    assert len(periods) == len(set(periods))
    assert set(periods) == reference(snapshots)


def test_periods_from_snapshots_cost_what_the_snapshots_list(tmp_path):
    """Rows listed at many instants (one per row, as an export that stamps each row with its
    own time would give) must not be crossed with every pair: the model's largest
    intermediate result stays proportional to the rows, where every pair at every snapshot
    would be their square (here 4 million rows, minutes of work and gigabytes)."""
    n = 2_000
    con = warehouse.connect(tmp_path / "w.duckdb")
    con.execute(
        "INSERT INTO delegation_snapshot SELECT 'Op A', $start + to_minutes(i), 'm' || i, "
        "'d' || i, NULL, 'secretary', ['read'], NULL, NULL, 1 FROM range($n) AS t(i)",
        {"start": START, "n": n},
    )
    build_core(con, load_config(), force=True)
    assert con.execute(
        "SELECT count(*), count(revoked_at) FROM delegation_period WHERE source = 'snapshots'"
    ).fetchone() == (n, n - 1)  # each listed once, gone from the next snapshot but the last
    largest = largest_intermediate_rows(con, sql_text("models/core/delegation_period.sql"))
    assert n <= largest <= 10 * n
    con.close()
