"""The Claude models the sandbox lists at ``GET /v1/models``, and that list's paging.

A short, fixed list: the models the demo and tests send to the sandbox (which answers any
``claude-`` model). Ids are dated snapshots, as Anthropic lists them; retrieving a model by its
alias (``claude-haiku-4-5``) answers the snapshot it stands for, as the API resolves aliases.
Newest first, paged by ``after_id``/``before_id`` like the batch list
(docs/anthropic-batches.md#endpoints). Pure: no state, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from halfrate.sandbox.anthropic.wire import DEFAULT_LIMIT, invalid, not_found
from halfrate.sandbox.common.jsondata import JSON

LIFECYCLES = ("active", "deprecated", "retired")


@dataclass(frozen=True)
class ClaudeModel:
    id: str
    alias: str | None
    display_name: str
    created_at: str  # RFC 3339: about when the model came out (nothing relies on the day)
    line: str

    def to_wire(self) -> JSON:
        return {
            "type": "model",
            "id": self.id,
            "display_name": self.display_name,
            "created_at": self.created_at,
            "lifecycle": "active",
            "deprecated_at": None,
            "retires_at": None,
            "line": self.line,
        }


# Newest first, the order the API lists them in.
MODELS: tuple[ClaudeModel, ...] = (
    ClaudeModel("claude-sonnet-4-6", None, "Claude Sonnet 4.6", "2026-02-17T00:00:00Z", "sonnet"),
    ClaudeModel(
        "claude-opus-4-5-20251101",
        "claude-opus-4-5",
        "Claude Opus 4.5",
        "2025-11-24T00:00:00Z",
        "opus",
    ),
    ClaudeModel(
        "claude-haiku-4-5-20251001",
        "claude-haiku-4-5",
        "Claude Haiku 4.5",
        "2025-10-15T00:00:00Z",
        "haiku",
    ),
    ClaudeModel(
        "claude-sonnet-4-5-20250929",
        "claude-sonnet-4-5",
        "Claude Sonnet 4.5",
        "2025-09-29T00:00:00Z",
        "sonnet",
    ),
)


def retrieve(model_id: str) -> JSON:
    """One model by id or alias; 404 ``not_found_error`` for any other."""
    for model in MODELS:
        if model_id in (model.id, model.alias):
            return model.to_wire()
    raise not_found(f"model: {model_id}")


def list_page(
    *,
    limit: int = DEFAULT_LIMIT,
    after_id: str | None = None,
    before_id: str | None = None,
    lifecycles: list[str] | None = None,
) -> JSON:
    """A page of ``{"data", "has_more", "first_id", "last_id"}``, newest first.

    ``after_id``: the models after that one (older); ``before_id``: those just before it
    (newer). An unknown cursor has nothing beyond it. ``lifecycles`` filters by stage; every
    model here is ``active``.
    """
    if after_id is not None and before_id is not None:
        raise invalid("after_id and before_id cannot be used together")
    for stage in lifecycles or ():
        if stage not in LIFECYCLES:
            raise invalid("lifecycle: Input should be 'active', 'deprecated' or 'retired'")
    listed = list(MODELS) if not lifecycles or "active" in lifecycles else []
    ids = [model.id for model in listed]
    if before_id is not None:
        end = ids.index(before_id) if before_id in ids else 0
        chosen = listed[max(0, end - limit) : end]
        has_more = end > limit
    else:
        begin = (
            0 if after_id is None else (ids.index(after_id) + 1 if after_id in ids else len(ids))
        )
        chosen = listed[begin : begin + limit]
        has_more = begin + limit < len(listed)
    data = [model.to_wire() for model in chosen]
    return {
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
