"""Each stored request keeps exactly the body it was submitted with, in request_bodies, however
many submissions store requests at once: a submission gives its requests their ids itself
(store/request_bodies.py), on both databases."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import sqlalchemy as sa

import halfrate
from halfrate.store.request_bodies import request_bodies
from halfrate.store.tables import jobs, requests
from tests.helpers import chat_line, write_jsonl

SUBMISSIONS, LINES = 4, 6_000  # more lines than one insert chunk (5,000): ids go per chunk


def _file(tmp_path: Path, name: str) -> Path:
    lines = [chat_line(f"{name}-{i}", f"job {name}, line {i}") for i in range(LINES)]
    return write_jsonl(tmp_path / f"{name}.jsonl", lines)


def test_submissions_at_once_each_store_their_own_bodies(database_url: str, tmp_path: Path) -> None:
    names = [f"s{n}" for n in range(SUBMISSIONS)]
    files = {name: _file(tmp_path, name) for name in names}
    start = threading.Barrier(SUBMISSIONS)
    failures: list[BaseException] = []

    def submit(name: str) -> None:
        try:
            with halfrate.connect(database_url) as hr:
                start.wait()
                # Two calls into one job: the second adds the job's other half after the first.
                hr.submit_file(files[name], job=name)
                more = [chat_line(f"{name}-extra-{i}", f"job {name}, extra {i}") for i in range(50)]
                hr.submit_file(write_jsonl(tmp_path / f"{name}-more.jsonl", more), job=name)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=submit, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(jobs.c.name, requests.c.key, request_bodies.c.body)
                .select_from(
                    requests.join(jobs, jobs.c.id == requests.c.job_id).outerjoin(
                        request_bodies, request_bodies.c.request_id == requests.c.id
                    )
                )
                .order_by(requests.c.id)
            ).all()
            stored_bodies = conn.execute(sa.select(sa.func.count()).select_from(request_bodies))
            assert stored_bodies.scalar_one() == len(rows)
    finally:
        engine.dispose()
    assert len(rows) == SUBMISSIONS * (LINES + 50)
    for job, key, body in rows:
        assert body is not None, key
        content = orjson.loads(body)["messages"][0]["content"]
        number = key.rsplit("-", 1)[1]
        kind = "extra" if "-extra-" in key else "line"
        assert content == f"job {job}, {kind} {number}", (key, content)
