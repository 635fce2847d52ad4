"""The facade: :func:`connect` opens a store and returns a :class:`Halfrate`, which submits,
calls now, runs workers and closes (its reading and spreadsheet methods live beside it)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from halfrate.api.accounts import Accounts
from halfrate.api.admin import Admin
from halfrate.api.cache_admin import CacheAdmin
from halfrate.api.explaining import policy_for
from halfrate.api.people import People
from halfrate.api.policy_admin import PolicyAdmin
from halfrate.api.provider_keys import ProviderKeys
from halfrate.api.reading import Reading
from halfrate.api.tables import Tables
from halfrate.calling import CallAnswer, call_now, spec_of
from halfrate.config import Settings, config_file_path, load_settings, read_config_file
from halfrate.dispatch import Dispatcher, RunMode, TickReport, Worker, WorkerSummary
from halfrate.dispatch.cancelling import run_cancels
from halfrate.intake.checks import checked_job_name, checked_sinks, urgency_of
from halfrate.intake.file_sinks import check_file_sinks
from halfrate.intake.jsonl import checked_jsonl
from halfrate.intake.line_formats import OPENAI_BATCH_ENDPOINTS
from halfrate.intake.submit import Submitter
from halfrate.ledger.estimate import Estimate, check_assumed_output, estimate
from halfrate.models import CancelOutcome, RequestSpec, Result, SubmitOutcome
from halfrate.pricing.budgets import refuse_config_budgets
from halfrate.pricing.prices import PriceBook
from halfrate.pricing.user_prices import user_prices_of
from halfrate.providers.clients import Providers, build_providers
from halfrate.providers.openai_lines import line_overhead
from halfrate.records import ParsedLine
from halfrate.routing.policy_file import load_policy, policy_file_named
from halfrate.routing.router import Router, Urgency
from halfrate.routing.rules import Policy
from halfrate.sinks import SinkSpec
from halfrate.store import Store

if TYPE_CHECKING:
    import anthropic
    import openai


class Halfrate(Reading, Tables, Accounts, Admin, PolicyAdmin, People, ProviderKeys, CacheAdmin):
    """A connection to one halfrate store: submit work, call now, run workers, read results.

    Made by :func:`connect`. ``openai_client`` / ``anthropic_client``: SDK clients to use
    instead of ones made from the SDKs' environment variables. ``policy``: the routing policy
    (monthly budget caps are kept in the store: :meth:`set_budget`). ``callbacks``:
    functions by name, for sinks ``callback:NAME`` (delivered by the workers this object runs).
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        policy: Policy,
        openai_client: openai.OpenAI | None = None,
        anthropic_client: anthropic.Anthropic | None = None,
        callbacks: Mapping[str, Callable[[Result], None]] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.policy = policy
        self.openai_client = openai_client
        self.anthropic_client = anthropic_client
        self.callbacks = dict(callbacks or {})
        self.submitter = Submitter(store, policy, self.max_line_bytes)
        self._direct: Providers | None = None
        self._direct_lock = threading.Lock()

    # -- submitting -------------------------------------------------------------------------

    def submit_file(
        self,
        path: str | Path,
        *,
        job: str | None = None,
        feature: str | None = None,
        team: str | None = None,
        tags: Mapping[str, str] | None = None,
        deadline: str | datetime | None = None,
        waiting: bool = False,
        sinks: Sequence[str | SinkSpec] = (),
    ) -> SubmitOutcome:
        """Validate every line of a batch JSONL file (OpenAI's or Anthropic's format), route
        each request by the policy, then store the file as one job.

        Without ``job``, the job is named after the file and its content, so submitting the same
        file again creates nothing new.
        """
        return self.submitter.file(
            Path(path),
            job=job,
            feature=feature,
            team=team,
            tags=tags,
            deadline=deadline,
            waiting=waiting,
            sinks=sinks,
        )

    def submit_parsed(
        self,
        make_lines: Callable[[], Iterable[ParsedLine]],
        *,
        job: str,
        source: str,
        describe_line: str,
    ) -> SubmitOutcome:
        """Store lines already built and checked (``make_lines`` gives them, and again if a
        budget needs their estimate first) as the job ``job``, routed by the policy."""
        now = datetime.now().astimezone()
        return self.submitter.routed(
            make_lines,
            job=job,
            source=source,
            describe_line=describe_line,
            urgency=Urgency(),
            sinks=[],
            now=now,
        )

    def submit(
        self,
        requests: Iterable[RequestSpec],
        *,
        job: str,
        feature: str | None = None,
        team: str | None = None,
        tags: Mapping[str, str] | None = None,
        deadline: str | datetime | None = None,
        waiting: bool = False,
        sinks: Sequence[str | SinkSpec] = (),
    ) -> SubmitOutcome:
        """Store requests given from Python as (part of) the job named ``job``, each routed by
        the policy; a request's own feature, team, tags, deadline and waiting win over these."""
        now = datetime.now().astimezone()
        base = urgency_of(feature, team, tags, waiting, deadline, now)
        where_to = checked_sinks(sinks)
        return self.submitter.specs(requests, job=job, base=base, sinks=where_to, now=now)

    def add_sink(self, job: str, sink: str | SinkSpec) -> str:
        """Write the job's results to ``sink`` too (those already in, and every later one);
        returns the sink's id. Adding the same sink twice changes nothing."""
        spec = checked_sinks([sink])[0]
        found = self.store.reads.find_job(job)
        check_file_sinks(self.store, [spec], found.name)
        return self.store.deliveries.add_sink(found.id, spec.text, spec.kind, time.time())

    def cancel(self, job: str) -> CancelOutcome:
        """Cancel the job: queued requests end cancelled now; its batches are cancelled at the
        provider by the next worker pass (or by :meth:`cancel_batches_now`); what finished is
        kept."""
        job_id = self.store.reads.find_job(job).id
        return self.store.cancels.cancel_job(job_id, time.time())

    def cancel_batches_now(self) -> int:
        """Ask the providers now to cancel the batches of cancelled jobs (what a worker does on
        its next pass). Needs provider clients or keys."""
        return run_cancels(self.store, self.direct_providers().batch, time.time())

    def estimate_file(self, path: str | Path, *, output_tokens: int | None = None) -> Estimate:
        """Tokens and price of a batch JSONL file in each lane, before anything is sent or
        stored: the file is checked whole, as ``submit_file`` checks it. ``output_tokens``:
        the output to assume for requests that set no limit of their own."""
        check_assumed_output(output_tokens)
        file = Path(path)
        limit = self.max_line_bytes
        return estimate(checked_jsonl(file, max_line_bytes=limit), self.store.prices, output_tokens)

    @property
    def max_line_bytes(self) -> int:
        """The largest request body accepted: the setting's, and never more than fits a batch
        whatever its endpoint. It bounds the memory one line takes (about five times its size
        while it is parsed, checked and stored)."""
        fits = self.settings.openai_max_batch_bytes - max(
            map(line_overhead, OPENAI_BATCH_ENDPOINTS)
        )
        return min(self.settings.max_request_bytes, fits)

    # -- calling now ------------------------------------------------------------------------

    def call(
        self,
        request: RequestSpec | Mapping[str, Any],
        *,
        job: str = "calls",
        endpoint: str | None = None,
        provider: str | None = None,
        key: str | None = None,
        feature: str | None = None,
        team: str | None = None,
        tags: Mapping[str, str] | None = None,
        deadline: str | datetime | None = None,
    ) -> CallAnswer:
        """Answer one request now: a person is waiting. Returns the provider's answer.

        ``request`` is a :class:`RequestSpec` or a request body (then ``endpoint`` defaults to
        chat completions, or Anthropic's messages for a Claude model). The call is recorded like
        any other request (job ``calls`` unless given); calling a ``key`` that already has an
        answer returns that answer without paying again. Raises :class:`CallFailed` when the
        provider refuses the request or cannot answer after the retries.
        """
        spec = spec_of(request, endpoint=endpoint, provider=provider, key=key)
        now = datetime.now().astimezone()
        base = urgency_of(feature, team, tags, True, deadline, now)
        ((line, urgency),) = list(self.submitter.checked([spec], base, now, "the request"))
        routed = Router(self.policy, now).apply(line, urgency)
        sharing = self.submitter.sharing(now, dedup=False)  # a person waits for nothing in flight
        callers = self.direct_providers().calls
        return call_now(self.store, callers, self.settings, sharing, checked_job_name(job), routed)

    def direct_providers(self) -> Providers:
        """The clients that ``call()`` uses, made on first use and kept until ``close()``."""
        with self._direct_lock:
            if self._direct is None:
                self._direct = build_providers(
                    self.settings,
                    openai_client=self.openai_client,
                    anthropic_client=self.anthropic_client,
                    keys=self.stored_provider_keys(),
                )
            return self._direct

    # -- reading ----------------------------------------------------------------------------

    # -- working ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def worker(
        self,
        *,
        openai_client: openai.OpenAI | None = None,
        anthropic_client: anthropic.Anthropic | None = None,
        stop: threading.Event | None = None,
        on_tick: Callable[[TickReport], None] | None = None,
    ) -> Iterator[Worker]:
        """A worker over this store; its providers' clients are closed after (those the caller
        passed in stay theirs to close)."""
        providers = build_providers(
            self.settings,
            openai_client=openai_client or self.openai_client,
            anthropic_client=anthropic_client or self.anthropic_client,
            keys=self.stored_provider_keys(),
        )
        dispatcher = Dispatcher(
            self.store, providers.batch, self.settings, providers.calls, self.callbacks
        )
        worker = Worker(
            dispatcher, idle_sleep=self.settings.worker_idle_seconds, stop=stop, on_tick=on_tick
        )
        try:
            yield worker
        finally:
            dispatcher.close(close_providers=False)
            providers.close()

    def run_worker(
        self,
        mode: RunMode = RunMode.UNTIL_IDLE,
        *,
        openai_client: openai.OpenAI | None = None,
        anthropic_client: anthropic.Anthropic | None = None,
        stop: threading.Event | None = None,
        on_tick: Callable[[TickReport], None] | None = None,
    ) -> WorkerSummary:
        """Run a worker until ``mode`` says to stop: pack, submit, poll, ingest, deliver."""
        with self.worker(
            openai_client=openai_client,
            anthropic_client=anthropic_client,
            stop=stop,
            on_tick=on_tick,
        ) as worker:
            return worker.run(mode)

    def close(self) -> None:
        """Close the clients ``call()`` made and the store."""
        with self._direct_lock:
            if self._direct is not None:
                self._direct.close()
                self._direct = None
        self.store.close()

    def __enter__(self) -> Halfrate:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def connect(
    database_url: str | None = None,
    *,
    openai_client: openai.OpenAI | None = None,
    anthropic_client: anthropic.Anthropic | None = None,
    policy: Policy | str | Path | None = None,
    callbacks: Mapping[str, Callable[[Result], None]] | None = None,
    **settings: Any,
) -> Halfrate:
    """Open (and migrate) the store; settings follow flag > env > file > default.

    The config file is read once: its ``[prices]`` table prices attempts (a bad entry is
    refused now); a ``[budgets]`` table is refused (the caps are kept in the store).
    """
    resolved = load_settings(database_url=database_url, **settings)
    # A policy file and the config before the store: a bad file should leave nothing behind.
    given = policy if isinstance(policy, Policy) else None
    if not isinstance(policy, Policy) and (policy is not None or policy_file_named()):
        given = load_policy(policy)
    path = config_file_path()
    config = read_config_file(path)
    prices = PriceBook(user_prices_of(config, path), str(path))
    refuse_config_budgets(config, path)
    store = Store.open(resolved.resolved_database_url, prices=prices)
    return Halfrate(
        resolved,
        store,
        policy=given if given is not None else policy_for(store, None),
        openai_client=openai_client,
        anthropic_client=anthropic_client,
        callbacks=callbacks,
    )
