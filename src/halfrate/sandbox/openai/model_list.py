"""The OpenAI models the sandbox lists at ``GET /v1/models``.

A short, fixed list: the models the demo sends, a few that offer flex
(:data:`halfrate.sandbox.openai.tiers.FLEX_MODELS`) and the embedding and moderation models the
checks know. The sandbox answers other model names too; this is only what it lists. OpenAI's
list is not paged: ``{"object": "list", "data": [...]}``. Pure: no state, no I/O.
"""

from __future__ import annotations

from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.openai.wire import ApiError

# (id, created): created is Unix seconds, about when the model came out (nothing relies on it).
MODELS: tuple[tuple[str, int], ...] = (
    ("gpt-4o-mini", 1_721_260_800),  # 2024-07-18
    ("gpt-4.1-mini", 1_744_588_800),  # 2025-04-14
    ("o4-mini", 1_744_761_600),  # 2025-04-16
    ("gpt-5", 1_754_524_800),  # 2025-08-07
    ("gpt-5-mini", 1_754_524_800),
    ("gpt-5-nano", 1_754_524_800),
    ("gpt-6-cyber", 1_780_272_000),  # 2026: bills prompt-cache writes
    ("text-embedding-3-small", 1_706_140_800),  # 2024-01-25
    ("text-embedding-3-large", 1_706_140_800),
    ("omni-moderation-latest", 1_727_308_800),  # 2024-09-26
)
OWNER = "system"  # what OpenAI's own models show; fine-tunes show the organization


def model_object(model_id: str, created: int) -> JSON:
    return {"id": model_id, "object": "model", "created": created, "owned_by": OWNER}


def list_models() -> JSON:
    return {"object": "list", "data": [model_object(*model) for model in MODELS]}


def model_not_found(model_id: str) -> ApiError:
    return ApiError(
        404,
        f"The model '{model_id}' does not exist",
        param="model",
        code="model_not_found",
    )


def retrieve(model_id: str) -> JSON:
    """One model object; 404 ``model_not_found`` for a model not in the list."""
    for known, created in MODELS:
        if known == model_id:
            return model_object(known, created)
    raise model_not_found(model_id)
