"""Which routing policy is in effect, and `halfrate policy explain` as a use of it: what the
policy decides for a request like this one. Kept apart from the facade so that explaining loads
the rules and, where one exists, the store, and nothing of the dispatcher, the SDKs or the
spreadsheet readers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from halfrate.config import load_settings
from halfrate.routing.explain import Explained, explain_route
from halfrate.routing.policy_file import (
    DEFAULT_SOURCE,
    built_in_text,
    load_policy,
    parse_policy,
    policy_file_named,
    policy_file_text,
)
from halfrate.routing.rules import Policy
from halfrate.store import Store
from halfrate.store.policies import PolicyVersion


def saved_source(version: PolicyVersion) -> str:
    return f"policy version {version.id} (saved on the web page)"


def policy_for(store: Store, given: Policy | str | Path | None) -> Policy:
    """The policy a process routes by: ``given`` (a Policy or a file), else $HALFRATE_POLICY,
    else the active saved version, else the built-in one."""
    if isinstance(given, Policy):
        return given
    chosen = given if given is not None else policy_file_named()
    if chosen is not None:
        return parse_policy(policy_file_text(chosen), str(Path(chosen).expanduser()))
    active = store.policies.active()
    if active is not None:
        return parse_policy(active.text, saved_source(active))
    return parse_policy(built_in_text(), DEFAULT_SOURCE)


def explain(
    *,
    feature: str | None = None,
    team: str | None = None,
    tags: Mapping[str, str] | None = None,
    deadline: str | None = None,
    waiting: bool = False,
    model: str | None = None,
    policy: str | Path | None = None,
) -> Explained:
    """What the routing policy (``policy``, else ``$HALFRATE_POLICY``, else the version saved on
    the web page, else the built-in one) decides for a request like this: the lane, the model,
    the rule, whether it shares answers. Nothing is stored; a store that does not exist yet is
    not made."""
    return explain_route(
        _policy_to_explain(policy),
        datetime.now().astimezone(),
        feature=feature,
        team=team,
        tags=dict(tags or {}),
        deadline=deadline,
        waiting=waiting,
        model=model,
    )


def _policy_to_explain(policy: str | Path | None) -> Policy:
    if policy is not None or policy_file_named() is not None:
        return load_policy(policy)
    resolved = load_settings()
    url = sa.engine.make_url(resolved.resolved_database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
        return load_policy(None)  # no store yet: nothing saved in one
    store = Store.open(resolved.resolved_database_url)
    try:
        return policy_for(store, None)
    finally:
        store.close()
