"""Shared answers: identical requests (same provider, endpoint and body) answered once.

At submit, :func:`link_identical` puts a request that has an identical one in the cache lane,
pointing at it (``answered_by``): an identical request answered recently (the response cache),
or one still in flight (dedup). Only requests doing their own work are pointed at, so there are
no chains. :meth:`AnswerQueries.settle` (each worker pass, and ``call()`` at once) then copies
the answer of each whose identical request has succeeded — a result, a $0 attempt whose
realtime cost is the saving, the sinks' outbox rows — or, when that one failed or was
cancelled, sends it back to its own route's lane to run by itself: nobody's failure or
cancellation is passed on to another request. A request whose guard time comes while the
identical one is still in flight goes back too, and the deadline guard takes it from there.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from halfrate.models import OPEN_REQUEST_STATES, CacheKind, Lane, RequestState
from halfrate.records import SettleCounts, Sharing
from halfrate.store.attempts import priced_requests
from halfrate.store.base import Database, id_in
from halfrate.store.cancels import cancelled_jobs
from halfrate.store.deliveries import enqueue_deliveries
from halfrate.store.request_bodies import body_of, request_bodies
from halfrate.store.request_hashes import request_hashes
from halfrate.store.response_cache import not_cleared
from halfrate.store.rollup import add_attempts
from halfrate.store.tables import attempts, request_state_is, requests, results, routes
from halfrate.store.transitions import move_requests

SETTLE_CHUNK = 2_000
_LIVE = sorted(s.value for s in OPEN_REQUEST_STATES)
_CACHE: sa.ColumnElement[str] = sa.literal_column(f"'{Lane.CACHE.value}'")
# How long each lane may keep a request waiting: a request only waits for an identical one in
# a lane at least as quick as its own (a person waiting never waits for a batch).
_FOLLOWER = requests.alias("follower")  # a cache-lane request, beside the one it waits for
_LANE_RANK = {Lane.REALTIME.value: 0, Lane.FLEX.value: 1, Lane.BATCH.value: 2}


def link_identical(
    conn: sa.Connection, job_id: str, created_at: float, sharing: Sharing, after_id: int
) -> int:
    """Point the requests just stored in ``job_id`` (at ``created_at``, after request
    ``after_id``) that have an identical request at it, putting them in the cache lane. Returns
    how many.

    The new requests are taken in classes: the same digest, provider, endpoint, lane and
    deadline. An older identical request is looked for once per class (by its first member),
    not once per request: a column of "Thanks!" repeated 10,000 times is one lookup, not 10,000
    scans of 10,000 rows. With no older one, the class's first member answers the rest
    (dedup). Bodies are compared in the update itself, so a digest collision links nothing.
    Called before the new requests' digests are recorded (request_hashes), so every digest
    found there is an older request's.
    """
    if not sharing.dedup and sharing.answered_since is None:
        return 0
    this = sa.and_(
        requests.c.job_id == job_id,
        requests.c.id > after_id,  # the job's earlier rows are not read again
        requests.c.created_at == created_at,
        requests.c.content_hash.is_not(None),
        requests.c.lane != _CACHE,
    )
    class_key = (
        requests.c.content_hash,
        requests.c.provider,
        requests.c.endpoint,
        requests.c.lane,
        requests.c.deadline,
    )
    # Only a class with an older request of the same digest, or with several members, can link
    # anything: find those digests in SQL first, so a submission of distinct requests (the usual
    # case) costs two index-backed queries instead of a lookup per request.
    # request_hashes holds the requests stored before these (their own are added after).
    seen_before = sa.exists().where(request_hashes.c.content_hash == requests.c.content_hash)
    candidates = sa.select(requests.c.content_hash).where(this, seen_before)
    if sharing.dedup:
        repeated = (
            sa.select(requests.c.content_hash)
            .where(this)
            .group_by(requests.c.content_hash)
            .having(sa.func.count() > 1)
        )
        candidates = sa.union(candidates, repeated)  # type: ignore[assignment]
    rows = conn.execute(
        sa.select(requests.c.id, *class_key)
        .where(this, requests.c.content_hash.in_(candidates.subquery().select()))
        .order_by(requests.c.id)
    )
    classes: dict[tuple[Any, ...], list[int]] = {}
    for rid, *key in rows:
        classes.setdefault(tuple(key), []).append(rid)
    firsts = [members[0] for members in classes.values()]
    earlier = _earlier_leaders(conn, sharing, firsts)
    pairs = []
    for members in classes.values():
        leader = earlier.get(members[0])
        if leader is not None:
            pairs += [{"rid": rid, "leader": leader} for rid in members]
        elif sharing.dedup:
            pairs += [{"rid": rid, "leader": members[0]} for rid in members[1:]]
    if not pairs:
        return 0
    same_body = body_of(sa.bindparam("leader")) == body_of(sa.bindparam("rid"))
    conn.execute(
        sa.update(requests)
        .where(requests.c.id == sa.bindparam("rid"), same_body)
        .values(lane=Lane.CACHE.value, answered_by=sa.bindparam("leader")),
        pairs,
    )
    linked = sa.select(sa.func.count()).where(
        requests.c.job_id == job_id,
        requests.c.id > after_id,
        requests.c.created_at == created_at,
        requests.c.lane == _CACHE,
        requests.c.answered_by.is_not(None),
    )
    return int(conn.execute(linked).scalar_one())


def _earlier_leaders(conn: sa.Connection, sharing: Sharing, firsts: list[int]) -> dict[int, int]:
    """For each of ``firsts`` (new requests), an identical request stored before this
    submission that may answer it: one answered recently (the response cache), else the
    earliest still in flight in a lane no slower (dedup). Found through request_hashes, which
    holds no request of this submission yet."""
    new, old = requests.alias("new"), requests.alias("old")
    whose: list[sa.ColumnElement[bool]] = []
    if sharing.answered_since is not None:
        whose.append(
            sa.and_(
                old.c.state == RequestState.SUCCEEDED.value,
                old.c.updated_at >= sharing.answered_since,
                not_cleared(old),  # `halfrate cache clear` took it out
            )
        )
    if sharing.dedup:
        whose.append(sa.and_(old.c.state.in_(_LIVE), old.c.id < new.c.id, _no_slower(old, new)))
    digest = request_hashes.alias("digest")
    old_body, new_body = request_bodies.alias("old_body"), request_bodies.alias("new_body")
    leader = (
        sa.select(old.c.id)
        .select_from(
            digest.join(old, old.c.id == digest.c.request_id).join(
                old_body, old_body.c.request_id == old.c.id
            )
        )
        .where(
            digest.c.content_hash == new.c.content_hash,
            old.c.lane != _CACHE,
            old.c.provider == new.c.provider,
            old.c.endpoint == new.c.endpoint,
            old_body.c.body == new_body.c.body,
            old.c.job_id.not_in(cancelled_jobs().scalar_subquery()),
            sa.or_(*whose),
        )
        # An answer in hand first; then the earliest.
        .order_by(sa.case((old.c.state == RequestState.SUCCEEDED.value, 0), else_=1), old.c.id)
        .limit(1)
        .correlate(new, new_body)
        .scalar_subquery()
    )
    found: dict[int, int] = {}
    for chunk in _chunks(firsts, SETTLE_CHUNK):
        rows = conn.execute(
            sa.select(new.c.id, leader)
            .select_from(new.join(new_body, new_body.c.request_id == new.c.id))
            .where(new.c.id.in_(chunk))
        )
        found.update({rid: lead for rid, lead in rows if lead is not None})
    return found


def _chunks(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _no_slower(old: Any, new: Any) -> sa.ColumnElement[bool]:
    """``old`` will be answered no later than ``new`` would be in its own lane: its lane is no
    slower, and unless it is realtime (flex may fall back to a batch), its deadline is no later
    than ``new``'s (if ``new`` has one)."""
    rank_old = sa.case(_LANE_RANK, value=old.c.lane, else_=len(_LANE_RANK))
    rank_new = sa.case(_LANE_RANK, value=new.c.lane, else_=len(_LANE_RANK))
    in_time = sa.or_(
        old.c.lane == Lane.REALTIME.value,
        new.c.deadline.is_(None),
        sa.and_(old.c.deadline.is_not(None), old.c.deadline <= new.c.deadline),
    )
    return sa.and_(rank_old <= rank_new, in_time)


class AnswerQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def settle(self, now: float, ids: list[int] | None = None) -> SettleCounts:
        """Settle cache-lane requests (all, or ``ids``) whose identical request has ended, and
        release those that can no longer wait for it: their own guard time has come (the
        deadline guard then takes them), or its job was cancelled."""
        counts = SettleCounts()
        with self._store.read() as conn:  # every worker pass asks: nothing to do takes no lock
            if conn.execute(self._due(conn, now, ids).limit(1)).first() is None:
                return counts
        while True:
            with self._store.write() as conn:
                done = self._settle_some(conn, now, ids, counts)
            if done < SETTLE_CHUNK:
                return counts

    def _due(self, conn: sa.Connection, now: float, ids: list[int] | None) -> sa.Select[Any]:
        """Cache-lane requests to settle: (id, submitted at, identical id, its state, when it
        ended), in id order."""
        follower, leader = _FOLLOWER, requests
        query = (
            sa.select(
                follower.c.id,
                follower.c.created_at,
                leader.c.id,
                leader.c.state,
                leader.c.updated_at,
            )
            .select_from(follower.join(leader, leader.c.id == follower.c.answered_by))
            .where(
                follower.c.state == sa.literal_column(f"'{RequestState.QUEUED.value}'"),
                follower.c.lane == _CACHE,
                sa.or_(
                    leader.c.state.not_in(_LIVE),
                    follower.c.guard_at <= now,
                    leader.c.job_id.in_(cancelled_jobs().scalar_subquery()),
                ),
            )
            .order_by(follower.c.id)
        )
        if ids is not None:
            query = query.where(id_in(conn, follower.c.id, ids))
        return query

    def _settle_some(
        self, conn: sa.Connection, now: float, ids: list[int] | None, counts: SettleCounts
    ) -> int:
        query = self._due(conn, now, ids).limit(SETTLE_CHUNK)
        if conn.dialect.name == "postgresql":
            # Two workers settling at once each take other rows.
            query = query.with_for_update(of=_FOLLOWER, skip_locked=True)
        rows = conn.execute(query).all()
        answered = [r for r in rows if r[3] == RequestState.SUCCEEDED.value]
        failed = [r[0] for r in rows if r[3] != RequestState.SUCCEEDED.value]
        if failed:
            counts.released += self._release(conn, failed, now)
        if answered:
            self._answer(conn, answered, now, counts)
        return len(rows)

    def _release(self, conn: sa.Connection, ids: list[int], now: float) -> int:
        """Back to the lane their route chose (batch for requests without a route)."""
        own_lane = (
            sa.select(routes.c.lane).where(routes.c.id == requests.c.route_id).scalar_subquery()
        )
        conn.execute(
            sa.update(requests)
            .where(id_in(conn, requests.c.id, ids), request_state_is(RequestState.QUEUED))
            .values(
                lane=sa.func.coalesce(own_lane, Lane.BATCH.value),
                answered_by=None,
                updated_at=now,
            )
        )
        return len(ids)

    def _answer(
        self, conn: sa.Connection, rows: list[Any], now: float, counts: SettleCounts
    ) -> None:
        leaders = sorted({r[2] for r in rows})
        answer = {
            rid: (code, response)
            for rid, code, response in conn.execute(
                sa.select(results.c.request_id, results.c.status_code, results.c.response).where(
                    id_in(conn, results.c.request_id, leaders)
                )
            )
        }
        # What the identical request's answer would have cost in realtime: the saving.
        paid = {
            rid: (realtime, source)
            for rid, realtime, source in conn.execute(
                sa.select(
                    attempts.c.request_id, attempts.c.realtime_cost_nano, attempts.c.price_source
                ).where(
                    id_in(conn, attempts.c.request_id, leaders),
                    attempts.c.outcome == RequestState.SUCCEEDED.value,
                )
            )
        }
        ids = [r[0] for r in rows]
        priced = priced_requests(conn, ids, Lane.BATCH)
        result_rows, attempt_rows, facts = [], [], []
        for rid, submitted, lead, _, answered_at in rows:
            kind = CacheKind.RESPONSE if answered_at < submitted else CacheKind.DEDUP
            status_code, response = answer[lead]
            realtime, source = paid.get(lead, (None, None))
            item = priced[rid]
            result_rows.append(
                {
                    "request_id": rid,
                    "status": RequestState.SUCCEEDED.value,
                    "status_code": status_code,
                    "response": response,
                    "error": None,
                    "created_at": now,
                }
            )
            row = {
                "request_id": rid,
                "batch_id": None,
                "lane": Lane.CACHE.value,
                "outcome": RequestState.SUCCEEDED.value,
                "status_code": status_code,
                "cost_nano": 0,
                "realtime_cost_nano": realtime,
                "route_cost_nano": 0,
                "price_source": source,
                "created_at": now,
                "provider": item.provider,
                "model": item.model,
                "feature": item.feature,
                "team": item.team,
                "cache_kind": kind.value,
            }
            attempt_rows.append(row)
            facts.append(item.fact_of_cache(now, realtime, kind))
            if kind is CacheKind.DEDUP:
                counts.dedup += 1
            else:
                counts.response += 1
        move_requests(
            conn,
            ids,
            RequestState.SUCCEEDED,
            values={"updated_at": now, "attempt_count": requests.c.attempt_count + 1},
        )
        conn.execute(results.insert(), result_rows)
        conn.execute(attempts.insert(), attempt_rows)
        enqueue_deliveries(conn, ids)
        add_attempts(conn, facts)
