"""What halfrate knows about models: which provider serves them, and which offer flex.

Model names are checked at submit so a request for the wrong provider (a Claude model in an
OpenAI batch file, a typo such as ``gtp-4o``) is refused before anything is stored or spent.
Flex support comes from the bundled ``genai-prices`` data: a model offers flex exactly when its
price table has a ``service_tier: flex`` variant (the same data halfrate prices flex calls with).
"""

from __future__ import annotations

import functools
import re

from halfrate.models import Provider

# Families OpenAI serves (fine-tunes are "ft:<base>:…"). A new family needs a line here.
_OPENAI_MODEL = re.compile(
    r"(gpt-|chatgpt-|text-embedding-|omni-moderation|text-moderation|dall-e|sora|davinci|"
    r"babbage|computer-use|codex|ft:|o\d(-|$))"
)
_ANTHROPIC_MODEL = re.compile(r"claude-")
# What a table job asks when the caller names no model, and how long each answer may be (every
# request says it: Anthropic requires it, and for OpenAI it bounds the price): room for a
# paragraph, which is what one cell of a spreadsheet holds. Here, not with the table jobs, so
# the command line's flags can show them without loading the machinery behind them.
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_MAX_TOKENS = 1024

OPENAI_FAMILIES = "gpt-…, o1/o3/o4…, chatgpt-…, text-embedding-…, omni-moderation…, ft:…"
ANTHROPIC_FAMILIES = "claude-…"


@functools.lru_cache(maxsize=1024)  # asked for every line of a file, which names few models
def provider_of_model(model: str) -> Provider | None:
    """The provider that serves ``model``, judged by its name; None when halfrate cannot tell."""
    name = model.strip().lower()
    if _OPENAI_MODEL.match(name):
        return Provider.OPENAI
    if _ANTHROPIC_MODEL.match(name):
        return Provider.ANTHROPIC
    return None


def families(provider: Provider) -> str:
    return OPENAI_FAMILIES if provider is Provider.OPENAI else ANTHROPIC_FAMILIES


@functools.lru_cache(maxsize=512)
def supports_flex(model: str) -> bool:
    """Whether OpenAI offers the flex tier (``service_tier: "flex"``) for ``model``."""
    if provider_of_model(model) is not Provider.OPENAI:
        return False
    # Imported on first use: the price data takes a third of a second to load.
    from genai_prices import data_snapshot

    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(model, None, "openai", None)
    except LookupError:
        return False
    variants = info.price_variants or []
    return any(variant.when.get("service_tier") == "flex" for variant in variants)
