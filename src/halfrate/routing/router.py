"""Applying the routing policy to requests as they are submitted.

Each request gets a lane, maybe a cheaper model, and a record of the rule that decided; a
request with a deadline also gets the moment from which the deadline guard may take it out of a
batch (the deadline minus the policy's safety margin). Workers read these from the store and
never need the policy file themselves.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import orjson

from halfrate.models import Provider
from halfrate.records import ParsedLine, RouteChoice
from halfrate.routing.rules import Decision, Policy, Route, decide


@dataclass(frozen=True)
class Urgency:
    """What the caller says about a request's urgency and who it is for."""

    feature: str | None = None
    team: str | None = None
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    waiting: bool = False
    deadline: datetime | None = None

    def merged(
        self,
        *,
        feature: str | None,
        team: str | None,
        tags: Mapping[str, str] | None,
        waiting: bool | None,
        deadline: datetime | None,
    ) -> Urgency:
        """This urgency with a request's own values taking precedence."""
        return Urgency(
            feature=feature if feature is not None else self.feature,
            team=team if team is not None else self.team,
            tags={**self.tags, **(tags or {})},
            waiting=waiting if waiting is not None else self.waiting,
            deadline=deadline if deadline is not None else self.deadline,
        )


def content_hash(provider: Provider, endpoint: str, body_json: str) -> int:
    """What a request asks, as a signed 64-bit digest: equal for identical requests. Only a
    lookup key: requests are shared only when their bodies are equal too."""
    digest = _digest_of(provider, endpoint).copy()
    digest.update(body_json.encode())
    return int.from_bytes(digest.digest(), "big", signed=True)


@functools.lru_cache(maxsize=64)  # one per provider and endpoint, copied for each request
def _digest_of(provider: Provider, endpoint: str) -> hashlib.blake2b:
    digest = hashlib.blake2b(digest_size=8)
    digest.update(f"{provider.value}\n{endpoint}\n".encode())
    return digest


class Router:
    """Routes requests for one submission; decisions are computed once per kind of request."""

    def __init__(self, policy: Policy, now: datetime) -> None:
        self.policy = policy
        self.now = now
        self._choices: dict[tuple[object, ...], RouteChoice] = {}
        self._last_stamp: tuple[Urgency, tuple[float | None, float | None, str | None]] | None
        self._last_stamp = None
        self._recent_urgency: Urgency | None = None
        self._recent: dict[tuple[Provider, str], RouteChoice] = {}

    def choose(self, provider: Provider, model: str, urgency: Urgency) -> RouteChoice:
        # A file's lines share one urgency: look them up by model alone.
        if urgency is not self._recent_urgency:
            self._recent_urgency, self._recent = urgency, {}
        recent = self._recent.get((provider, model))
        if recent is not None:
            return recent
        key = (
            provider,
            model,
            urgency.feature,
            urgency.team,
            tuple(sorted(urgency.tags.items())),
            urgency.waiting,
            urgency.deadline,
        )
        found = self._choices.get(key)
        if found is None:
            route = Route(
                now=self.now,
                feature=urgency.feature,
                team=urgency.team,
                tags=urgency.tags,
                waiting=urgency.waiting,
                deadline=urgency.deadline,
                model=model or None,
            )
            decision = decide(self.policy, route)
            found = _choice_of(decision, decision.model or model, urgency.waiting)
            self._choices[key] = found
        self._recent[(provider, model)] = found
        return found

    def guard_at(self, deadline: datetime | None) -> float | None:
        """From when the deadline guard moves the request to realtime, should it be waiting in
        the batch lane then (it may also get there later, by a flex fallback)."""
        if deadline is None:
            return None
        return (deadline - self.policy.safety_margin).timestamp()

    def apply(self, line: ParsedLine, urgency: Urgency) -> ParsedLine:
        """``line`` with its route, deadline and tags, and the policy's model if it changed."""
        choice = self.choose(line.provider, line.model, urgency)
        body_json, requested = line.body_json, None
        if choice.model and line.model and choice.model != line.model:
            body = orjson.loads(body_json)
            body["model"] = choice.model
            body_json, requested = orjson.dumps(body).decode(), line.model
        deadline, guard_at, tags_json = self._stamp(urgency)
        # Built directly, not with dataclasses.replace: this runs once per line of a file.
        return ParsedLine(
            line.line_no,
            line.key,
            line.provider,
            line.endpoint,
            choice.model or line.model,
            body_json,
            choice,
            requested,
            deadline,
            guard_at,
            tags_json,
            urgency.feature,
            urgency.team,
            content_hash(line.provider, line.endpoint, body_json) if choice.cache else None,
        )

    def _stamp(self, urgency: Urgency) -> tuple[float | None, float | None, str | None]:
        """The stored deadline, guard time and tags of an urgency (the same for a whole file)."""
        if self._last_stamp is not None and self._last_stamp[0] is urgency:
            return self._last_stamp[1]
        deadline = urgency.deadline
        stamp = (
            deadline.timestamp() if deadline else None,
            self.guard_at(deadline),
            orjson.dumps(dict(urgency.tags)).decode() if urgency.tags else None,
        )
        self._last_stamp = (urgency, stamp)
        return stamp


def _choice_of(decision: Decision, model: str, waiting: bool) -> RouteChoice:
    """What is stored of a decision: its lane and model, and the rule that made it."""
    rule = decision.rule
    return RouteChoice(
        lane=decision.lane,
        model=model,
        rule_number=rule.number if rule else None,
        rule_name=rule.name if rule else None,
        source=decision.source,
        line=rule.line if rule else None,
        explanation=decision.explain(),
        fallback=decision.fallback,
        waiting=waiting,
        cache=decision.cache,
        prompt_cache=decision.prompt_cache,
        prompt_cache_ttl=decision.prompt_cache_ttl,
    )
