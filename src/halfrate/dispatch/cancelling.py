"""The worker's part of `halfrate cancel`: end the cancelled jobs' queued requests, and cancel
their batches at the provider (or never create them)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from halfrate.errors import ProviderRejected, ProviderUnreachable, TransientProviderError
from halfrate.models import BatchState
from halfrate.providers.base import BatchProvider
from halfrate.store import Store

log = logging.getLogger(__name__)


def run_cancels(store: Store, providers: Mapping[str, BatchProvider], now: float) -> int:
    """Returns the number of requests and batches acted on (0: nothing to do)."""
    done = store.cancels.sweep(now)
    for batch in store.cancels.batches_to_cancel():
        if batch.state == BatchState.PENDING.value:
            # Not created yet: drop it (unless a create was tried; then cancel once submitted).
            done += int(store.cancels.drop_pending(batch.batch_id, now))
            continue
        provider = providers.get(batch.provider)
        if provider is None or batch.provider_batch_id is None:
            continue
        try:
            provider.cancel(batch.provider_batch_id)
        except (TransientProviderError, ProviderUnreachable) as exc:
            log.warning("cancel of batch %s failed, will retry: %s", batch.batch_id, exc)
            continue
        except ProviderRejected as exc:
            log.info("batch %s could not be cancelled (it may have ended): %s", batch.batch_id, exc)
        store.cancels.cancel_sent(batch.batch_id, now)
        done += 1
    return done
