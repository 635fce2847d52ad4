"""The deadline guard: batched requests that would miss their deadline run in realtime instead.

Once a batched request's remaining time falls below the policy's safety margin:

- if it is still queued, it moves to the realtime lane at once;
- if it is in a provider batch, that batch is cancelled. What finished is kept when the
  cancelled batch is ingested; what never ran spends no attempt: urgent requests move to
  realtime, the others go back to the queue for the next batch. Cancelling rather than running
  the urgent requests beside their batch is what keeps a request from being paid twice;
- if the cancel has not ended by halfway from the guard time to the deadline, the urgent
  requests are taken out of the batch and run in realtime without waiting for it (a line the
  batch was already running may then be paid for twice: the deadline comes first);
- a batch not yet created gives its urgent requests up at once, unless a worker is submitting
  it or a create was tried (it may exist at the provider): then it is treated as above once
  submitted.

A line the batch still delivers for a request taken out of it is ignored, so a request lands
once; the realtime attempt is recorded against the rule that chose the batch lane.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from halfrate.errors import ProviderRejected, ProviderUnreachable, TransientProviderError
from halfrate.models import BatchState
from halfrate.providers.base import BatchProvider
from halfrate.records import UrgentBatch
from halfrate.store import Store

log = logging.getLogger(__name__)


@dataclass
class GuardReport:
    rerouted: int = 0  # queued requests moved to realtime
    detached: int = 0  # requests taken out of a batch
    cancelled: int = 0  # provider batches cancelled

    @property
    def moved(self) -> int:
        return self.rerouted + self.detached


def run_guard(store: Store, providers: Mapping[str, BatchProvider], now: float) -> GuardReport:
    report = GuardReport(rerouted=store.guard.reroute_queued(now))
    for batch in store.guard.urgent_batches(now):
        if batch.state == BatchState.SUBMITTED.value:
            if not batch.cancel_requested and _cancel(store, providers, batch, now):
                report.cancelled += 1
            report.detached += store.guard.detach(batch.batch_id, batch.overdue, now)
        elif batch.state == BatchState.PENDING.value:
            report.detached += store.guard.detach_pending(batch.batch_id, batch.urgent, now)
    if report.moved or report.cancelled:
        log.info(
            "deadline guard: %d queued and %d batched requests moved to realtime, "
            "%d batches cancelled",
            report.rerouted,
            report.detached,
            report.cancelled,
        )
    return report


def _cancel(
    store: Store, providers: Mapping[str, BatchProvider], batch: UrgentBatch, now: float
) -> bool:
    provider = providers.get(batch.provider)
    if provider is None or batch.provider_batch_id is None:
        return False
    try:
        provider.cancel(batch.provider_batch_id)
    except (TransientProviderError, ProviderUnreachable) as exc:
        log.warning("deadline guard: cancel of %s failed, will retry: %s", batch.batch_id, exc)
        return False
    except ProviderRejected as exc:
        # Typically: it ended meanwhile. Its next poll ingests it; stop asking.
        log.info("deadline guard: %s could not be cancelled: %s", batch.batch_id, exc)
        store.guard.cancel_requested(batch.batch_id, now)
        return False
    store.guard.cancel_requested(batch.batch_id, now)
    return True
