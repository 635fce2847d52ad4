"""The Python API: ``halfrate.connect()`` and what it returns."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from halfrate.api_checks import checked_job_name, checked_sinks, checked_tag, urgency_of
from halfrate.calling import CallAnswer, call_now, spec_of
from halfrate.clients import Providers, build_providers
from halfrate.config import Settings, config_file_path, load_settings, read_config_file
from halfrate.dispatch import Dispatcher, RunMode, TickReport, Worker, WorkerSummary
from halfrate.errors import InputError
from halfrate.intake import iter_jsonl, scan_jsonl
from halfrate.ledger.estimate import Estimate, check_assumed_output, estimate, line_cost
from halfrate.line_formats import OPENAI_BATCH_ENDPOINTS, check_spec
from halfrate.models import JobStatus, RequestSpec, Result, SubmitOutcome
from halfrate.policy import Policy, load_policy
from halfrate.pricing.budgets import budgets_of
from halfrate.pricing.prices import PriceBook
from halfrate.pricing.user_prices import user_prices_of
from halfrate.providers.openai_lines import line_overhead
from halfrate.records import Budget, ParsedLine, Reservation, Sharing
from halfrate.routing import Router, Urgency, check_tags, deadline_of
from halfrate.sinks import SinkSpec
from halfrate.store import Store
from halfrate.store.cancels import CancelOutcome

if TYPE_CHECKING:
    import anthropic
    import openai


class Halfrate:
    """A connection to one halfrate store: submit work, call now, run workers, read results.

    ``openai_client`` / ``anthropic_client``: SDK clients to use instead of ones made from the
    SDKs' environment variables. ``policy``: a routing policy (or its file) instead of
    ``$HALFRATE_POLICY`` or the built-in one. ``callbacks``: functions by name, for sinks
    ``callback:NAME`` (delivered by the workers this object runs).
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        openai_client: openai.OpenAI | None = None,
        anthropic_client: anthropic.Anthropic | None = None,
        policy: Policy | str | Path | None = None,
        callbacks: Mapping[str, Callable[[Result], None]] | None = None,
    ) -> None:
        self.settings = settings
        # Python functions that sinks `callback:NAME` deliver to, in workers this object runs.
        self.callbacks = dict(callbacks or {})
        self.store = store
        # The user's own price table, read now so a bad entry is refused at start.
        path = config_file_path()
        config = read_config_file(path)  # once, for the price table and the budgets
        store.prices = PriceBook(user_prices_of(config, path), str(path))
        self.budgets = budgets_of(config, path)
        self.openai_client = openai_client
        self.anthropic_client = anthropic_client
        # Read now, so an invalid policy file is refused at start, not at the first submit.
        self.policy = policy if isinstance(policy, Policy) else load_policy(policy)
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
        file = Path(path)
        now = datetime.now().astimezone()
        # Flags first: cheap to check, and a mistake should not wait for a big file's scan.
        urgency = urgency_of(feature, team, tags, waiting, deadline, now, flag="--")
        chosen_name = checked_job_name(job) if job is not None else None
        where_to = checked_sinks(sinks)
        limit = self.max_line_bytes
        summary = scan_jsonl(file, max_line_bytes=limit)
        # Without --job: the file's name and content, so the same file maps to the same job.
        name = chosen_name or f"{file.stem[:180]}-{summary.sha256[:8]}"
        return self._store_routed(
            lambda: iter_jsonl(file, max_line_bytes=limit, expected_sha256=summary.sha256),
            job=name,
            source=str(file.resolve()),
            describe_line=f"{file}, line",
            urgency=urgency,
            sinks=where_to,
            now=now,
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
        return self._store_routed(
            make_lines,
            job=checked_job_name(job),
            source=source,
            describe_line=describe_line,
            urgency=Urgency(),
            sinks=[],
            now=now,
        )

    def _store_routed(
        self,
        make_lines: Callable[[], Iterable[ParsedLine]],
        *,
        job: str,
        source: str,
        describe_line: str,
        urgency: Urgency,
        sinks: list[SinkSpec],
        now: datetime,
    ) -> SubmitOutcome:
        router = Router(self.policy, now)
        reservation = None
        if self.budgets.applying(urgency.feature, urgency.team):
            # One more pass over the lines, only when a budget applies: their estimate.
            routed = (router.apply(line, urgency) for line in make_lines())
            reservation = self._reservation(routed, urgency.feature, urgency.team, now)
        return self.store.submissions.submit(
            job_name=job,
            source=source,
            feature=urgency.feature,
            team=urgency.team,
            lines=(router.apply(line, urgency) for line in make_lines()),
            describe_line=describe_line,
            sinks=sinks,
            reservation=reservation,
            sharing=self.sharing(now),
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
        router = Router(self.policy, now)
        parsed = [
            router.apply(line, urgency)
            for line, urgency in self._checked(requests, base, now, "request")
        ]
        if not parsed:
            raise InputError("no requests to submit")
        return self.store.submissions.submit(
            job_name=checked_job_name(job),
            source="python",
            feature=base.feature,
            team=base.team,
            lines=parsed,
            describe_line="request",
            sinks=where_to,
            reservation=self._reservation(parsed, base.feature, base.team, now),
            sharing=self.sharing(now),
        )

    def sharing(self, now: datetime, *, dedup: bool = True) -> Sharing:
        """Which identical requests the policy lets new requests take answers from."""
        cache_for = self.policy.response_cache
        return Sharing(
            dedup=dedup and self.policy.dedup,
            answered_since=None if cache_for is None else (now - cache_for).timestamp(),
        )

    def _reservation(
        self,
        lines: Iterable[ParsedLine],
        feature: str | None,
        team: str | None,
        now: datetime,
    ) -> Reservation | None:
        """What the lines need of each monthly budget they count against; None when no budget
        applies."""
        if not self.budgets:
            return None
        needs: dict[Budget, int] = {}
        for line in lines:
            applying = self.budgets.applying(line.feature or feature, line.team or team)
            if not applying:
                continue
            cost = line_cost(line, self.store.prices)
            for budget in applying:
                needs[budget] = needs.get(budget, 0) + cost
        if not needs:
            return None
        return Reservation(list(needs.items()), now.timestamp())

    def add_sink(self, job: str, sink: str | SinkSpec) -> str:
        """Write the job's results to ``sink`` too (those already in, and every later one);
        returns the sink's id. Adding the same sink twice changes nothing."""
        spec = checked_sinks([sink])[0]
        job_id = self.store.reads.find_job(job).id
        return self.store.deliveries.add_sink(job_id, spec.text, spec.kind, time.time())

    def cancel(self, job: str) -> CancelOutcome:
        """Cancel the job: queued requests end cancelled now; its batches are cancelled at the
        provider by the next worker pass (or by :meth:`cancel_batches_now`); what finished is
        kept."""
        job_id = self.store.reads.find_job(job).id
        return self.store.cancels.cancel_job(job_id, time.time())

    def cancel_batches_now(self) -> int:
        """Ask the providers now to cancel the batches of cancelled jobs (what a worker does on
        its next pass). Needs provider clients or keys."""
        from halfrate.dispatch.cancelling import run_cancels

        return run_cancels(self.store, self.direct_providers().batch, time.time())

    def _checked(
        self, requests: Iterable[RequestSpec], base: Urgency, now: datetime, what: str
    ) -> Iterator[tuple[ParsedLine, Urgency]]:
        """Each request validated (all of them before anything is stored), with its urgency."""
        seen: set[str] = set()
        checked = []
        for index, spec in enumerate(requests, start=1):
            try:
                request = check_spec(spec)
                if spec.waiting is not None and not isinstance(spec.waiting, bool):
                    raise InputError(f"waiting must be True or False, got {spec.waiting!r}")
                urgency = base.merged(
                    feature=checked_tag(spec.feature, "feature"),
                    team=checked_tag(spec.team, "team"),
                    tags=check_tags(spec.tags),
                    waiting=spec.waiting,
                    deadline=deadline_of(spec.deadline, now),
                )
            except InputError as exc:
                raise InputError(f"{what} {index}: {exc}") from exc
            if spec.key in seen:
                raise InputError(f"{what} {index}: duplicate key {spec.key!r}")
            seen.add(spec.key)
            body_json = orjson.dumps(spec.body).decode()
            if len(body_json.encode()) > self.max_line_bytes:
                raise InputError(f"{what} {index}: larger than {self.max_line_bytes:,} bytes")
            line = ParsedLine(
                index, spec.key, request.provider, spec.endpoint, request.model, body_json
            )
            checked.append((line, urgency))
        return iter(checked)

    def estimate_file(self, path: str | Path, *, output_tokens: int | None = None) -> Estimate:
        """Tokens and price of a batch JSONL file in each lane, before anything is sent or
        stored: the file is checked whole, as ``submit_file`` checks it. ``output_tokens``:
        the output to assume for requests that set no limit of their own."""
        check_assumed_output(output_tokens)
        file = Path(path)
        limit = self.max_line_bytes
        summary = scan_jsonl(file, max_line_bytes=limit)
        lines = iter_jsonl(file, max_line_bytes=limit, expected_sha256=summary.sha256)
        return estimate(lines, self.store.prices, output_tokens)

    @property
    def max_line_bytes(self) -> int:
        # A line must fit a batch whatever its endpoint; the longest URL costs the most.
        return self.settings.openai_max_batch_bytes - max(
            map(line_overhead, OPENAI_BATCH_ENDPOINTS)
        )

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
        ((line, urgency),) = list(self._checked([spec], base, now, "the request"))
        routed = Router(self.policy, now).apply(line, urgency)
        sharing = self.sharing(now, dedup=False)  # a person waits for no request in flight
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
                )
            return self._direct

    # -- reading ----------------------------------------------------------------------------

    def status(self, job: str) -> JobStatus:
        return self.store.reads.job_status(job)

    def jobs(self, limit: int = 20) -> list[JobStatus]:
        return [self.store.reads.job_status(j.id) for j in self.store.reads.recent_jobs(limit)]

    def results(self, job: str) -> Iterator[Result]:
        return self.store.reads.iter_results(self.store.reads.find_job(job).id)

    def export_results(self, job: str, out: TextIO, fmt: str = "jsonl") -> int:
        """Write the job's results to ``out`` as JSONL or CSV; returns the number of lines."""
        from halfrate.tabular.results import format_for, write_csv, write_jsonl_rows

        fmt = format_for(None, fmt)
        job_id = self.store.reads.find_job(job).id
        if fmt == "jsonl":
            return write_jsonl_rows(self.store.reads.iter_result_rows(job_id), out)
        return write_csv(self.store.reads.iter_results(job_id), out)

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
        with self.worker(
            openai_client=openai_client,
            anthropic_client=anthropic_client,
            stop=stop,
            on_tick=on_tick,
        ) as worker:
            return worker.run(mode)

    def close(self) -> None:
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
    """Open (and migrate) the store; settings follow flag > env > file > default."""
    resolved = load_settings(database_url=database_url, **settings)
    # The policy before the store: a bad policy file should leave nothing behind.
    policy_read = policy if isinstance(policy, Policy) else load_policy(policy)
    return Halfrate(
        resolved,
        Store.open(resolved.resolved_database_url),
        openai_client=openai_client,
        anthropic_client=anthropic_client,
        policy=policy_read,
        callbacks=callbacks,
    )


__all__ = ["Halfrate", "TickReport", "connect"]
