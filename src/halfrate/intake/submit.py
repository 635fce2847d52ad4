"""Submitting as a use case: check everything, route each request by the policy, reserve what
budgets it needs, then store the job in one transaction. A file or a list of requests is
accepted whole or refused whole; a refusal stores nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path

import orjson

from halfrate.errors import InputError
from halfrate.intake.checks import checked_job_name, checked_sinks, urgency_of
from halfrate.intake.file_sinks import check_file_sinks
from halfrate.intake.jsonl import checked_jsonl, file_sha256
from halfrate.intake.line_formats import check_spec
from halfrate.ledger.estimate import line_cost
from halfrate.models import RequestSpec, SubmitOutcome
from halfrate.prefixes import PrefixFinder
from halfrate.pricing.budgets import Budgets
from halfrate.records import Budget, ParsedLine, Reservation, Sharing
from halfrate.routing.router import Router, Urgency
from halfrate.routing.rules import Policy
from halfrate.sinks import SinkSpec
from halfrate.store import Store
from halfrate.urgency import check_tags, checked_tag, deadline_of


class Submitter:
    """Stores submissions into ``store``, routed by ``policy``, within the monthly budgets the
    store keeps; no request larger than ``max_line_bytes`` is accepted."""

    def __init__(self, store: Store, policy: Policy, max_line_bytes: int) -> None:
        self.store = store
        self.policy = policy
        self.max_line_bytes = max_line_bytes

    def sharing(self, now: datetime, *, dedup: bool = True, fresh: bool = False) -> Sharing:
        """Which identical requests the policy lets new requests take answers from (``fresh``:
        none answered before)."""
        cache_for = None if fresh else self.policy.response_cache
        return Sharing(
            dedup=dedup and self.policy.dedup,
            answered_since=None if cache_for is None else (now - cache_for).timestamp(),
        )

    def file(
        self,
        path: Path,
        *,
        job: str | None,
        feature: str | None,
        team: str | None,
        tags: Mapping[str, str] | None,
        deadline: str | datetime | None,
        waiting: bool,
        sinks: Sequence[str | SinkSpec],
    ) -> SubmitOutcome:
        """A batch JSONL file, stored only if every line passes its checks. Without ``job``
        the job is named after the file and its content, so the same file maps to the same
        job."""
        now = datetime.now().astimezone()
        # Flags first: cheap to check, and a mistake should not wait for a big file's scan.
        urgency = urgency_of(feature, team, tags, waiting, deadline, now, flag="--")
        chosen_name = checked_job_name(job) if job is not None else None
        where_to = checked_sinks(sinks)
        limit = self.max_line_bytes
        sha256 = file_sha256(path)
        name = chosen_name or f"{path.stem[:180]}-{sha256[:8]}"
        check_file_sinks(self.store, where_to, name, source=path)
        # Each line is checked as it is stored, in the one transaction of the submission: a
        # refused line rolls all of it back, so nothing of a refused file is kept.
        return self.routed(
            lambda: checked_jsonl(path, max_line_bytes=limit, expected_sha256=sha256),
            job=name,
            source=str(path.resolve()),
            describe_line=f"{path}, line",
            urgency=urgency,
            sinks=where_to,
            now=now,
        )

    def routed(
        self,
        make_lines: Callable[[], Iterable[ParsedLine]],
        *,
        job: str,
        source: str,
        describe_line: str,
        urgency: Urgency,
        sinks: list[SinkSpec],
        now: datetime,
        table_plan: str | None = None,
        fresh: bool = False,
    ) -> SubmitOutcome:
        """Lines already checked (``make_lines`` gives them, and again when a budget needs
        their estimate first), routed and stored as the job ``job``. ``fresh``: asked again
        because an earlier answer was not usable, so no earlier answer is taken (identical
        requests in flight still share one); ``table_plan``: kept with the job."""
        router = Router(self.policy, now)
        reservation = None
        budgets = Budgets.of(self.store.budget_caps.caps())
        if budgets.applying(urgency.feature, urgency.team):
            # One more pass over the lines, only when a budget applies: their estimate.
            routed = (router.apply(line, urgency) for line in make_lines())
            reservation = self.reservation(routed, urgency.feature, urgency.team, now, budgets)
        prefixes = self.prefix_finder()
        return self.store.submissions.submit(
            job_name=checked_job_name(job),
            source=source,
            feature=urgency.feature,
            team=urgency.team,
            lines=(prefixes.tag(router.apply(line, urgency)) for line in make_lines()),
            describe_line=describe_line,
            sinks=sinks,
            reservation=reservation,
            sharing=self.sharing(now, fresh=fresh),
            table_plan=table_plan,
            founders=prefixes.founders,
        )

    def prefix_finder(self) -> PrefixFinder:
        """Groups a submission's requests by shared prompt prefix, joining the groups still
        queued from earlier submissions."""
        return PrefixFinder(self.store.batch_input.queued_prefixes())

    def specs(
        self,
        requests: Iterable[RequestSpec],
        *,
        job: str,
        base: Urgency,
        sinks: list[SinkSpec],
        now: datetime,
    ) -> SubmitOutcome:
        """Requests given from Python, each checked and routed; a request's own feature, team,
        tags, deadline and waiting win over ``base``."""
        check_file_sinks(self.store, sinks, checked_job_name(job))
        router = Router(self.policy, now)
        prefixes = self.prefix_finder()
        parsed = [
            prefixes.tag(router.apply(line, urgency))
            for line, urgency in self.checked(requests, base, now, "request")
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
            sinks=sinks,
            reservation=self.reservation(
                parsed, base.feature, base.team, now, Budgets.of(self.store.budget_caps.caps())
            ),
            sharing=self.sharing(now),
            founders=prefixes.founders,
        )

    def checked(
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

    def reservation(
        self,
        lines: Iterable[ParsedLine],
        feature: str | None,
        team: str | None,
        now: datetime,
        budgets: Budgets,
    ) -> Reservation | None:
        """What the lines need of each monthly budget they count against; None when no budget
        applies."""
        if not budgets:
            return None
        needs: dict[Budget, int] = {}
        for line in lines:
            applying = budgets.applying(line.feature or feature, line.team or team)
            if not applying:
                continue
            cost = line_cost(line, self.store.prices)
            for budget in applying:
                needs[budget] = needs.get(budget, 0) + cost
        if not needs:
            return None
        return Reservation(list(needs.items()), now.timestamp())
