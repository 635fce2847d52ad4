"""What goes into a batch's input: its lines in order, and the prompt-prefix groups they form
(docs/prompt-caching.md)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from halfrate.models import RequestState
from halfrate.store.base import Database
from halfrate.store.request_bodies import request_bodies
from halfrate.store.tables import request_state_is, requests

# The order of a batch's input lines: requests sharing a prompt prefix side by side, the first
# of each group (the one that writes the provider's cache) first, then by id
# (docs/prompt-caching.md). Line N of the file is the N-th unreported request in this order,
# which is how a provider's line-numbered validation errors map back to requests.
BATCH_LINE_ORDER = (sa.func.coalesce(requests.c.prefix_key, ""), requests.c.id)


@dataclass(frozen=True, slots=True)
class BatchLine:
    """One request as its batch's input line: the body as stored, and its shared prefix."""

    request_id: int
    endpoint: str
    body_json: str
    prefix_key: str | None
    prefix_parts: int | None  # where halfrate may mark the prefix (None: send the body as is)


class BatchInputQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def iter_lines(self, batch_id: str, chunk: int = 2_000) -> Iterator[BatchLine]:
        """A batch's live requests, streamed in :data:`BATCH_LINE_ORDER`."""
        with self._store.read() as conn:
            rows = conn.execution_options(yield_per=chunk).execute(
                sa.select(
                    requests.c.id,
                    requests.c.endpoint,
                    request_bodies.c.body,
                    requests.c.prefix_key,
                    requests.c.prefix_parts,
                )
                .select_from(
                    requests.join(request_bodies, request_bodies.c.request_id == requests.c.id)
                )
                .where(requests.c.batch_id == batch_id, request_state_is(RequestState.IN_BATCH))
                .order_by(*BATCH_LINE_ORDER)
            )
            for row in rows:
                yield BatchLine(*row)

    def shared_prefixes(self, batch_id: str, at_least: int = 2) -> set[str]:
        """The prefix groups with at least ``at_least`` live requests in the batch that halfrate
        may mark: only those are worth a cache write (a lone request would pay for a write
        nobody reads)."""
        with self._store.read() as conn:
            return set(
                conn.execute(
                    sa.select(requests.c.prefix_key)
                    .where(
                        requests.c.batch_id == batch_id,
                        request_state_is(RequestState.IN_BATCH),
                        requests.c.prefix_key.is_not(None),
                        requests.c.prefix_parts.is_not(None),
                    )
                    .group_by(requests.c.prefix_key)
                    .having(sa.func.count() >= at_least)
                ).scalars()
            )

    def queued_prefixes(self) -> set[str]:
        """The prefix groups queued requests (of any job) form: a new submission joins them. A
        partial index holds exactly these rows, and there are few groups however many
        requests."""
        with self._store.read() as conn:
            return set(
                conn.execute(
                    sa.select(requests.c.prefix_key)
                    .where(
                        request_state_is(RequestState.QUEUED), requests.c.prefix_key.is_not(None)
                    )
                    .distinct()
                ).scalars()
            )
