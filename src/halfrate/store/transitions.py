"""State changes, enforced at the lowest layer: every UPDATE names the states it may come from,
and a change that touches fewer rows than asked is a bug that rolls the transaction back."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from halfrate.errors import InvalidTransition
from halfrate.models import BatchState, RequestState, batch_sources, request_sources
from halfrate.store.base import id_in
from halfrate.store.tables import batches, requests


def move_requests(
    conn: sa.Connection,
    ids: list[int],
    target: RequestState,
    *,
    batch_id: str | None = None,
    values: dict[str, Any] | None = None,
    strict: bool = True,
) -> int:
    """Move ``ids`` to ``target``; with ``batch_id``, only requests of that batch. Returns rows."""
    if not ids:
        return 0
    sources = sorted(s.value for s in request_sources(target))
    stmt = (
        sa.update(requests)
        .where(id_in(conn, requests.c.id, ids), requests.c.state.in_(sources))
        .values(state=target.value, **(values or {}))
    )
    if batch_id is not None:
        stmt = stmt.where(requests.c.batch_id == batch_id)
    moved: int = conn.execute(stmt).rowcount
    if strict and moved != len(ids):
        raise InvalidTransition(
            f"{len(ids) - moved} of {len(ids)} requests could not move to {target.value}"
        )
    return moved


def move_batch(
    conn: sa.Connection,
    batch_id: str,
    target: BatchState,
    values: dict[str, Any] | None = None,
    *,
    strict: bool = True,
) -> bool:
    """Move the batch to ``target``. A batch not in a state it may come from raises, or with
    ``strict=False`` returns False (another worker got there first)."""
    sources = sorted(s.value for s in batch_sources(target))
    result = conn.execute(
        sa.update(batches)
        .where(batches.c.id == batch_id, batches.c.state.in_(sources))
        .values(state=target.value, **(values or {}))
    )
    if result.rowcount == 1:
        return True
    if strict:
        raise InvalidTransition(f"batch {batch_id} cannot move to {target.value}")
    return False
