"""State changes, enforced at the lowest layer: every UPDATE of a request's or a batch's state
is made here, names the states it may come from (:mod:`halfrate.models` holds the table), and a
change that touches fewer rows than asked is a bug that rolls the transaction back.

Two forms: :func:`move_requests` moves requests by id and insists they all move;
:func:`take_requests` moves whatever a condition selects and returns the ids it moved
(``RETURNING``), for claims and sweeps where another worker may have moved a row first.
See docs/state-machine.md."""

from __future__ import annotations

from collections.abc import Iterable
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


def take_requests(
    conn: sa.Connection,
    where: Iterable[sa.ColumnElement[bool]],
    target: RequestState,
    *,
    sources: Iterable[RequestState] | None = None,
    values: dict[str, Any] | None = None,
) -> list[int]:
    """Move the requests ``where`` selects to ``target``, those in a state they may come from
    (``sources`` narrows that; every one must be allowed); returns the ids moved."""
    allowed = request_sources(target)
    chosen = allowed if sources is None else frozenset(sources)
    if not chosen <= allowed:
        raise InvalidTransition(
            f"requests cannot move to {target.value} from {sorted(chosen - allowed)}"
        )
    stmt = (
        sa.update(requests)
        .where(*where, requests.c.state.in_(sorted(s.value for s in chosen)))
        .values(state=target.value, **(values or {}))
        .returning(requests.c.id)
    )
    return list(conn.execute(stmt).scalars())


def move_batch(
    conn: sa.Connection,
    batch_id: str,
    target: BatchState,
    values: dict[str, Any] | None = None,
    *,
    strict: bool = True,
    only_if: Iterable[sa.ColumnElement[bool]] = (),
) -> bool:
    """Move the batch to ``target``. A batch not in a state it may come from (or not meeting
    ``only_if``) raises, or with ``strict=False`` returns False (another worker got there
    first)."""
    sources = sorted(s.value for s in batch_sources(target))
    result = conn.execute(
        sa.update(batches)
        .where(batches.c.id == batch_id, batches.c.state.in_(sources), *only_if)
        .values(state=target.value, **(values or {}))
    )
    if result.rowcount == 1:
        return True
    if strict:
        raise InvalidTransition(f"batch {batch_id} cannot move to {target.value}")
    return False
