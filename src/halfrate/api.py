"""The Python API: ``halfrate.connect()`` and what it returns."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from halfrate.config import Settings, load_settings
from halfrate.dispatch import Dispatcher, RunMode, TickReport, Worker, WorkerSummary
from halfrate.errors import InputError
from halfrate.intake import (
    OPENAI_BATCH_ENDPOINTS,
    ParsedLine,
    check_spec,
    iter_jsonl,
    scan_jsonl,
)
from halfrate.models import JobStatus, RequestSpec, Result, SubmitOutcome
from halfrate.providers.base import BatchProvider, Limits
from halfrate.providers.openai_lines import line_overhead
from halfrate.store import Store

if TYPE_CHECKING:
    import openai

MAX_JOB_NAME = 200


class Halfrate:
    """A connection to one halfrate store: submit work, run workers, read results."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    # -- submitting -------------------------------------------------------------------------

    def submit_file(
        self,
        path: str | Path,
        *,
        job: str | None = None,
        feature: str | None = None,
        team: str | None = None,
    ) -> SubmitOutcome:
        """Validate every line of an OpenAI batch JSONL file, then store it as one job.

        Without ``job``, the job is named after the file and its content, so submitting the same
        file again creates nothing new.
        """
        file = Path(path)
        # Flags first: cheap to check, and a mistake should not wait for a big file's scan.
        feature, team = _tag(feature, "--feature"), _tag(team, "--team")
        chosen_name = _job_name(job) if job is not None else None
        limit = self.max_line_bytes
        summary = scan_jsonl(file, max_line_bytes=limit)
        # Without --job: the file's name and content, so the same file maps to the same job.
        name = chosen_name or f"{file.stem[:180]}-{summary.sha256[:8]}"
        lines = iter_jsonl(file, max_line_bytes=limit, expected_sha256=summary.sha256)
        return self.store.submissions.submit(
            job_name=name,
            source=str(file.resolve()),
            feature=feature,
            team=team,
            lines=lines,
            describe_line=f"{file}, line",
        )

    def submit(
        self,
        requests: Iterable[RequestSpec],
        *,
        job: str,
        feature: str | None = None,
        team: str | None = None,
    ) -> SubmitOutcome:
        """Store requests given from Python as (part of) the job named ``job``."""
        feature, team = _tag(feature, "feature"), _tag(team, "team")
        parsed: list[ParsedLine] = []
        seen: set[str] = set()
        for index, spec in enumerate(requests, start=1):
            try:
                check_spec(spec)
            except InputError as exc:
                raise InputError(f"request {index}: {exc}") from exc
            if spec.key in seen:
                raise InputError(f"request {index}: duplicate key {spec.key!r}")
            seen.add(spec.key)
            body_json = orjson.dumps(spec.body).decode()
            if len(body_json.encode()) > self.max_line_bytes:
                raise InputError(f"request {index}: larger than {self.max_line_bytes:,} bytes")
            parsed.append(
                ParsedLine(index, spec.key, spec.provider, spec.endpoint, spec.model, body_json)
            )
        if not parsed:
            raise InputError("no requests to submit")
        return self.store.submissions.submit(
            job_name=_job_name(job),
            source="python",
            feature=feature,
            team=team,
            lines=parsed,
            describe_line="request",
        )

    @property
    def max_line_bytes(self) -> int:
        # A line must fit a batch whatever its endpoint; the longest URL costs the most.
        return self.settings.openai_max_batch_bytes - max(
            map(line_overhead, OPENAI_BATCH_ENDPOINTS)
        )

    # -- reading ----------------------------------------------------------------------------

    def status(self, job: str) -> JobStatus:
        return self.store.reads.job_status(job)

    def jobs(self, limit: int = 20) -> list[JobStatus]:
        return [self.store.reads.job_status(j.id) for j in self.store.reads.recent_jobs(limit)]

    def results(self, job: str) -> Iterator[Result]:
        return self.store.reads.iter_results(self.store.reads.find_job(job).id)

    def export_results(self, job: str, out: TextIO, fmt: str = "jsonl") -> int:
        """Write the job's results to ``out`` as JSONL or CSV; returns the number of lines."""
        from halfrate.export import format_for, write_csv, write_jsonl_rows

        fmt = format_for(None, fmt)
        job_id = self.store.reads.find_job(job).id
        if fmt == "jsonl":
            return write_jsonl_rows(self.store.reads.iter_result_rows(job_id), out)
        return write_csv(self.store.reads.iter_results(job_id), out)

    # -- working ----------------------------------------------------------------------------

    def providers(self, openai_client: openai.OpenAI | None = None) -> dict[str, BatchProvider]:
        # Imported here: the SDK takes most of a second to import, and only workers need it.
        from halfrate.providers.openai import OpenAIBatchProvider, client_from_env

        client = openai_client if openai_client is not None else client_from_env()
        limits = Limits(self.settings.openai_max_batch_lines, self.settings.openai_max_batch_bytes)
        return {"openai": OpenAIBatchProvider(client, limits)}

    def worker(
        self,
        *,
        providers: Mapping[str, BatchProvider] | None = None,
        openai_client: openai.OpenAI | None = None,
        stop: threading.Event | None = None,
        on_tick: Callable[[TickReport], None] | None = None,
    ) -> Worker:
        chosen = providers if providers is not None else self.providers(openai_client)
        dispatcher = Dispatcher(self.store, chosen, self.settings)
        return Worker(
            dispatcher, idle_sleep=self.settings.worker_idle_seconds, stop=stop, on_tick=on_tick
        )

    def run_worker(
        self,
        mode: RunMode = RunMode.UNTIL_IDLE,
        *,
        openai_client: openai.OpenAI | None = None,
        stop: threading.Event | None = None,
        on_tick: Callable[[TickReport], None] | None = None,
    ) -> WorkerSummary:
        worker = self.worker(openai_client=openai_client, stop=stop, on_tick=on_tick)
        try:
            return worker.run(mode)
        finally:
            # A client the caller passed in stays theirs to close.
            worker.dispatcher.close(close_providers=openai_client is None)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Halfrate:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def connect(database_url: str | None = None, **settings: Any) -> Halfrate:
    """Open (and migrate) the store; settings follow flag > env > file > default."""
    resolved = load_settings(database_url=database_url, **settings)
    return Halfrate(resolved, Store.open(resolved.resolved_database_url))


MAX_TAG = 200


def _tag(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    cleaned = value.strip()
    if not cleaned:
        raise InputError(f"{what} is empty")
    if len(cleaned) > MAX_TAG:
        raise InputError(f"{what} is longer than {MAX_TAG} characters")
    return cleaned


def _job_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InputError("the job name is empty")
    if len(name) > MAX_JOB_NAME:
        raise InputError(f"the job name is longer than {MAX_JOB_NAME} characters")
    return name


__all__ = ["Halfrate", "TickReport", "connect"]
