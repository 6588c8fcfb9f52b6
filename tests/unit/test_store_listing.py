"""The store lists an instance's jobs a keyset page at a time, newest first or oldest first,
filtered in SQL: a page follows the ``(instance, seq)`` index from its keyset, whatever the
order, so its cost does not grow with the history before it."""

from __future__ import annotations

import pytest

from qsession.store.sqlite import ChangeRow, JobFilter, Store, StoredEvent

PROGRAMS = ("sampler", "estimator", "sampler")  # by seq % 3


@pytest.fixture
def store(tmp_path):
    """Twelve jobs, submitted in turn by "lab" and "student" (lab has the even seqs)."""
    store = Store(tmp_path / "q.db")
    rows = []
    for seq in range(1, 13):
        instance = "lab" if seq % 2 == 0 else "student"
        record = {
            "id": f"job-{seq}",
            "instance": instance,
            "seq": seq,
            "status": "DONE",
            "program": PROGRAMS[seq % 3],
            "backend": "ideal_24",
            "tags": [],
            "created": float(seq),
        }
        event = StoredEvent(revision=seq, kind="job", instance=instance, time=0.0, payload=b"e")
        rows.append(ChangeRow("job", record, event, new_job_request=b"request"))
    store.write(rows)
    yield store
    store.close()


def pages(store: Store, where: JobFilter, size: int, oldest_first: bool) -> list[list[int]]:
    """Every page of lab's jobs, each read from the last seq of the one before."""
    result: list[list[int]] = []
    start = None
    while True:
        page = [r["seq"] for r in store.list_jobs("lab", where, start, size, oldest_first)]
        if not page:
            return result
        result.append(page)
        start = page[-1]


def test_pages_follow_the_keyset_newest_first_by_default(store):
    assert pages(store, JobFilter(), 4, oldest_first=False) == [[12, 10, 8, 6], [4, 2]]


def test_pages_follow_the_keyset_oldest_first(store):
    assert pages(store, JobFilter(), 4, oldest_first=True) == [[2, 4, 6, 8], [10, 12]]


def test_the_program_filter_holds_in_either_order(store):
    samplers = JobFilter(program="sampler")  # lab's seqs with seq % 3 != 1
    assert pages(store, samplers, 2, oldest_first=True) == [[2, 6], [8, 12]]
    assert pages(store, samplers, 2, oldest_first=False) == [[12, 8], [6, 2]]


@pytest.mark.parametrize("oldest_first", [False, True])
def test_a_page_walks_the_instance_index_from_its_keyset_without_sorting(store, oldest_first):
    statements = []
    read = store._read

    def recording(sql, params=()):
        statements.append((sql, params))
        return read(sql, params)

    store._read = recording
    store.list_jobs("lab", JobFilter(program="sampler"), 6, 2, oldest_first)
    ((sql, params),) = statements
    plan = " | ".join(row[-1] for row in store._read(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "jobs_instance_seq (instance=? AND seq" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
