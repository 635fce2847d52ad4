"""OpenAI service tiers the sandbox enforces: which models offer flex processing.

See docs/openai-batch.md#pricing-and-flex-processing.

Only some models take ``service_tier: "flex"``; any other model answers 400. Flex can also be
out of capacity (the ``flex_unavailable`` fault), which OpenAI answers with 429
``resource_unavailable``. Batch lines are not checked: the Batch API has its own price and
ignores the synchronous tier.
"""

from __future__ import annotations

import re

from halfrate.sandbox.openai.wire import ApiError

# The models with a flex price in genai-prices 0.2.3's data (the price list halfrate bills
# with), checked against it on 2026-11-22. Keep it in step with that data when it moves.
FLEX_MODELS = frozenset(
    {
        "gpt-5",
        "gpt-5-mini",
        "gpt-5-nano",
        "gpt-5.1",
        "gpt-5.2",
        "gpt-5.4",
        "gpt-5.4-mini",
        "gpt-5.4-nano",
        "gpt-5.4-pro",
        "gpt-5.5",
        "gpt-5.5-pro",
        "gpt-5.6-luna",
        "gpt-5.6-sol",
        "gpt-5.6-terra",
        "gpt-6-astra",
        "gpt-6-luna",
        "gpt-6-sol",
        "gpt-6.1-sol",
        "gpt-6.1-terra",
        "o3",
        "o4-mini",
    }
)
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # a dated snapshot, e.g. gpt-5-mini-2025-08-07

FLEX_UNAVAILABLE_MESSAGE = (
    "Resource unavailable: there is no flex capacity right now. Retry later, or send the "
    'request without service_tier "flex".'
)


def offers_flex(model: str) -> bool:
    """Whether ``model`` (or the model it is a dated snapshot of) offers flex processing."""
    return _SNAPSHOT.sub("", model) in FLEX_MODELS


def flex_refused(model: str) -> ApiError:
    return ApiError(
        400,
        f"Flex processing is not available for model '{model}'. Use a model that offers flex "
        'processing, or send the request without service_tier "flex".',
        param="service_tier",
        code="unsupported_value",
    )


def flex_unavailable() -> ApiError:
    """The 429 of a flex call when there is no capacity: no Retry-After, not charged."""
    return ApiError(
        429, FLEX_UNAVAILABLE_MESSAGE, code="resource_unavailable", kind="resource_unavailable"
    )
