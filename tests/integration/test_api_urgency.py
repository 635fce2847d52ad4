"""Urgency from Python: per-request values win over the submission's; bad values are refused
with one message naming the request, and nothing of the call is stored."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from halfrate import InputError, RequestSpec
from halfrate.store.tables import requests, routes
from tests.helpers import CHAT, fast_halfrate


def chat(key: str, model: str = "gpt-4o-mini", **urgency: Any) -> RequestSpec:
    body = {"model": model, "messages": [{"role": "user", "content": key}]}
    return RequestSpec(key, CHAT, body, **urgency)


def test_each_request_is_routed_by_its_own_urgency(sqlite_url: str) -> None:
    hr = fast_halfrate(sqlite_url)
    try:
        soon = datetime.now().astimezone() + timedelta(hours=2)
        hr.submit(
            [
                chat("a"),  # the submission's: a 2 day deadline
                chat("b", waiting=True),
                chat("c", deadline=soon),
                chat("d", feature="other", tags={"env": "dev"}),
            ],
            job="urgency",
            feature="evals",
            tags={"team-size": "3"},
            deadline="2d",
        )
        with hr.store.read() as conn:
            rows = {
                key: (lane, feature, tags, rule)
                for key, lane, feature, tags, rule in conn.execute(
                    sa.select(
                        requests.c.key,
                        requests.c.lane,
                        requests.c.feature,
                        requests.c.tags,
                        routes.c.rule_number,
                    ).join(routes, routes.c.id == requests.c.route_id)
                )
            }
    finally:
        hr.close()
    assert rows == {
        "a": ("batch", "evals", '{"team-size":"3"}', 2),
        "b": ("realtime", "evals", '{"team-size":"3"}', 1),
        "c": ("realtime", "evals", '{"team-size":"3"}', 3),
        "d": ("batch", "other", '{"team-size":"3","env":"dev"}', 2),
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (RequestSpec("x", CHAT, {"model": "gpt-4o-mini"}, provider="google"), "unknown provider"),
        (chat("x", deadline="tomorrow-ish"), "request 2: deadline: cannot read"),
        (chat("x", deadline="2001-01-01"), "request 2: deadline: the deadline"),
        (chat("x", waiting="yes"), "waiting must be True or False"),
        (chat("x", tags={"k": 1}), "must be a name and a text"),
        (chat("x", feature=""), "feature is empty"),
        (chat("x", model="claude-haiku-4-5"), "is an Anthropic model"),
        (
            RequestSpec("x", "/v1/messages", {"model": "claude-haiku-4-5"}, provider="anthropic"),
            "max_tokens' is missing",
        ),
        (
            RequestSpec("x", CHAT, {"model": "claude-haiku-4-5"}, provider="anthropic"),
            "not an Anthropic batch endpoint",
        ),
    ],
)
def test_bad_urgency_or_provider_stores_nothing(
    sqlite_url: str, spec: RequestSpec, message: str
) -> None:
    hr = fast_halfrate(sqlite_url)
    try:
        with pytest.raises(InputError, match=message):
            hr.submit([chat("fine"), spec], job="bad")
        with hr.store.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar() == 0
    finally:
        hr.close()
