"""The providers' own batch line formats, checked one request at a time (no I/O).

OpenAI lines are ``{custom_id, method, url, body}``; Anthropic lines are ``{custom_id, params}``.
Each check raises one :class:`InputError` naming the field and the problem; the caller adds the
file and line. A caller's ``custom_id`` is kept as the request's key whatever its characters:
halfrate sends its own short ids to the provider, so a key the provider would refuse (longer
than Anthropic's 64 characters, say) is still fine here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from halfrate.catalog import families, provider_of_model
from halfrate.errors import InputError
from halfrate.intake.body_shapes import check_anthropic_params, check_openai_body
from halfrate.models import ANTHROPIC_MESSAGES, Provider, RequestSpec

# halfrate's own client-side list; the sandbox keeps its own copy on purpose (it stands in for
# the provider), and a test checks that the two agree.
OPENAI_BATCH_ENDPOINTS = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)
# Endpoints whose body must name a model (the others have a provider default).
MODEL_REQUIRED = frozenset(
    {"/v1/responses", "/v1/chat/completions", "/v1/embeddings", "/v1/completions"}
)
MAX_KEY_CHARS = 512
MAX_MODEL_CHARS = 200
OPENAI_LINE_FIELDS = frozenset({"custom_id", "method", "url", "body"})
ANTHROPIC_LINE_FIELDS = frozenset({"custom_id", "params"})
# Parameters a Message Batch refuses per request (docs/anthropic-batches.md#the-create-body).
ANTHROPIC_BATCH_REFUSED = ("stream", "speed")


@dataclass(frozen=True)
class LineRequest:
    """One request as a line describes it."""

    provider: Provider
    key: str
    endpoint: str
    model: str
    body: dict[str, Any]


def describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def line_provider(obj: Any, default: Provider = Provider.OPENAI) -> Provider:
    """Which provider's format a parsed line is written in, judged by its fields; ``default``
    for a line with neither's (it is then checked as one of those, and its error named)."""
    if not isinstance(obj, dict):
        return default
    openai_fields = "url" in obj or "body" in obj or "method" in obj
    if "params" in obj and not openai_fields:
        return Provider.ANTHROPIC
    return Provider.OPENAI if openai_fields else default


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise InputError(f"'custom_id' must be a non-empty string, got {describe(key)}")
    if len(key) > MAX_KEY_CHARS:
        raise InputError(f"'custom_id' is longer than {MAX_KEY_CHARS} characters")
    return key


def check_model(provider: Provider, model: Any, field: str) -> str:
    if not isinstance(model, str) or not model.strip():
        raise InputError(f"'{field}' must be a non-empty string, got {describe(model)}")
    if len(model) > MAX_MODEL_CHARS:
        raise InputError(f"'{field}' is longer than {MAX_MODEL_CHARS} characters")
    owner = provider_of_model(model)
    if owner is None:
        raise InputError(
            f"'{field}' {describe(model)} is not a model halfrate knows for {provider.value} "
            f"({families(provider)})"
        )
    if owner is not provider:
        fmt = (
            "an Anthropic batch line (custom_id, params)"
            if owner is Provider.ANTHROPIC
            else "an OpenAI batch line (custom_id, method, url, body)"
        )
        raise InputError(
            f"'{field}' {describe(model)} is an {_name(owner)} model, but this is "
            f"{_format_of(provider)}; write it as {fmt}"
        )
    return model


def _name(provider: Provider) -> str:
    return "OpenAI" if provider is Provider.OPENAI else "Anthropic"


def _format_of(provider: Provider) -> str:
    return f"an {_name(provider)} request"  # both names start with a vowel


def check_body(endpoint: str, body: Any) -> str:
    """Validate an OpenAI request body for ``endpoint``; returns its model ('' if none)."""
    if not isinstance(body, dict):
        raise InputError(f"'body' must be a JSON object, got {describe(body)}")
    if body.get("stream") is True:
        raise InputError("'body.stream' is true; the Batch API does not stream, remove it")
    model = body.get("model")
    if model is None:
        if endpoint in MODEL_REQUIRED:
            raise InputError(f"'body.model' is missing; {endpoint} needs a model")
        checked = ""
    else:
        checked = check_model(Provider.OPENAI, model, "body.model")
    check_openai_body(endpoint, body)
    return checked


def check_params(params: Any, field: str = "params") -> str:
    """Validate Anthropic Messages parameters the way a Message Batch would; returns the model."""
    if not isinstance(params, dict):
        raise InputError(f"'{field}' must be a JSON object, got {describe(params)}")
    for refused in ANTHROPIC_BATCH_REFUSED:
        if params.get(refused) not in (None, False):
            raise InputError(f"'{field}.{refused}' is not allowed in a Message Batch; remove it")
    if "model" not in params:
        raise InputError(f"'{field}.model' is missing")
    model = check_model(Provider.ANTHROPIC, params["model"], f"{field}.model")
    max_tokens = params.get("max_tokens")
    if max_tokens is None:
        raise InputError(f"'{field}.max_tokens' is missing; Anthropic needs it on every request")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise InputError(f"'{field}.max_tokens' must be a whole number ≥ 1, got {max_tokens!r}")
    check_anthropic_params(params, field)
    return model


def parse_openai_line(obj: Any) -> LineRequest:
    if not isinstance(obj, dict):
        raise InputError(f"a line must be a JSON object, got {describe(obj)}")
    for name in ("custom_id", "method", "url", "body"):
        if name not in obj:
            raise InputError(f"missing field '{name}'")
    # With the four present, a line of four fields has no other (most lines: no set to build).
    unknown = sorted(set(obj) - OPENAI_LINE_FIELDS) if len(obj) != 4 else None
    if unknown:
        raise InputError(f"unknown field '{unknown[0]}' (a line has custom_id, method, url, body)")
    key = check_key(obj["custom_id"])
    if obj["method"] != "POST":
        raise InputError(f"'method' must be \"POST\", got {describe(obj['method'])}")
    url = obj["url"]
    if url not in OPENAI_BATCH_ENDPOINTS:
        allowed = ", ".join(OPENAI_BATCH_ENDPOINTS)
        raise InputError(f"'url' {describe(url)} is not a Batch API endpoint ({allowed})")
    body = obj["body"]
    model = check_body(url, body)
    return LineRequest(Provider.OPENAI, key, url, model, body)


def parse_anthropic_line(obj: Any) -> LineRequest:
    if not isinstance(obj, dict):
        raise InputError(f"a line must be a JSON object, got {describe(obj)}")
    for name in ("custom_id", "params"):
        if name not in obj:
            raise InputError(f"missing field '{name}'")
    unknown = sorted(set(obj) - ANTHROPIC_LINE_FIELDS)
    if unknown:
        raise InputError(f"unknown field '{unknown[0]}' (an Anthropic line has custom_id, params)")
    key = check_key(obj["custom_id"])
    params = obj["params"]
    model = check_params(params)
    return LineRequest(Provider.ANTHROPIC, key, ANTHROPIC_MESSAGES, model, params)


def parse_line(obj: Any, expected: Provider | None) -> LineRequest:
    """Check one line; ``expected`` is the format of the file's first request (None: this is it).

    One file holds one provider's format: a line in the other format is refused by name.
    """
    provider = line_provider(obj, expected or Provider.OPENAI)
    if expected is not None and provider is not expected:
        raise InputError(
            f"this is {_format_of(provider)} line in a file of {_name(expected)} lines; "
            "put each provider's requests in a file of their own"
        )
    if provider is Provider.ANTHROPIC:
        return parse_anthropic_line(obj)
    if isinstance(obj, dict) and "params" in obj:
        raise InputError(
            "a line has either Anthropic's 'params' or OpenAI's 'url' and 'body', not both"
        )
    return parse_openai_line(obj)


def spec_provider(value: Provider | str) -> Provider:
    try:
        return Provider(value)
    except ValueError:
        known = ", ".join(p.value for p in Provider)
        raise InputError(f"unknown provider {describe(value)} (halfrate knows {known})") from None


def check_spec(spec: RequestSpec) -> LineRequest:
    """Validate a request given from Python, with the same rules as a file line."""
    key = check_key(spec.key)
    provider = spec_provider(spec.provider)
    if provider is Provider.ANTHROPIC:
        if spec.endpoint != ANTHROPIC_MESSAGES:
            raise InputError(
                f"endpoint {describe(spec.endpoint)} is not an Anthropic batch endpoint "
                f"(use {ANTHROPIC_MESSAGES})"
            )
        model = check_params(spec.body, "body")
        return LineRequest(provider, key, spec.endpoint, model, spec.body)
    if spec.endpoint not in OPENAI_BATCH_ENDPOINTS:
        raise InputError(f"endpoint {describe(spec.endpoint)} is not a Batch API endpoint")
    model = check_body(spec.endpoint, spec.body)
    return LineRequest(provider, key, spec.endpoint, model, spec.body)
