"""Checking what callers pass to the Python API: tags, urgency, sinks and job names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from halfrate.errors import InputError, SinkUnavailable
from halfrate.routing.router import Urgency
from halfrate.sinks import SinkSpec, parse_sink
from halfrate.sinks.addresses import refused_host
from halfrate.sinks.spec import resolve_webhook_url
from halfrate.urgency import check_tags, checked_tag, deadline_of

MAX_JOB_NAME = 200


def urgency_of(
    feature: str | None,
    team: str | None,
    tags: Mapping[str, str] | None,
    waiting: bool,
    deadline: str | datetime | None,
    now: datetime,
    flag: str = "",
) -> Urgency:
    """What a submission says of its requests, checked; ``flag`` prefixes names in messages."""
    return Urgency(
        feature=checked_tag(feature, f"{flag}feature"),
        team=checked_tag(team, f"{flag}team"),
        tags=check_tags(tags, f"{flag}tag" if flag else "tags"),
        waiting=waiting,
        deadline=deadline_of(deadline, now, f"{flag}deadline"),
    )


def checked_sinks(given: Sequence[str | SinkSpec]) -> list[SinkSpec]:
    """Sink specs checked before anything is stored (a bad one stores nothing)."""
    if isinstance(given, str | SinkSpec):
        given = [given]
    checked: dict[str, SinkSpec] = {}
    for item in given:
        spec = item if isinstance(item, SinkSpec) else parse_sink(item)
        if spec.kind == "webhook":
            try:
                url = resolve_webhook_url(spec)
            except SinkUnavailable:
                url = None  # its variable is for the workers: they check it before each post
            refused = refused_host(url) if url is not None else None
            if refused is not None:
                raise InputError(f"--sink {spec.display()}: {refused}")
        checked.setdefault(spec.text, spec)
    return list(checked.values())


def checked_job_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InputError("the job name is empty")
    if len(name) > MAX_JOB_NAME:
        raise InputError(f"the job name is longer than {MAX_JOB_NAME} characters")
    return name
