"""Reading the routing policy from TOML: ``HALFRATE_POLICY`` names the file, else the built-in
one. An invalid file is refused with its line and the problem; nothing is guessed."""

from __future__ import annotations

import os
import re
import tomllib
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from halfrate.catalog import provider_of_model
from halfrate.errors import ConfigError, InputError
from halfrate.models import Lane, Provider
from halfrate.routing.rules import (
    FALLBACK_LANES,
    PROMPT_CACHE_TTLS,
    ROUTABLE_LANES,
    DeadlineCondition,
    Policy,
    Rule,
)
from halfrate.urgency import parse_duration

RULE_KEYS = frozenset(
    {"name", "when", "lane", "model", "fallback", "cache", "prompt_cache", "prompt_cache_ttl"}
)
WHEN_KEYS = frozenset({"feature", "team", "tags", "waiting", "deadline"})
SETTINGS_KEYS = frozenset({"batch_window", "safety_margin", "dedup", "response_cache"})
DEFAULT_RESPONSE_CACHE = "7d"
_DEADLINE = re.compile(r"(at least|under)\s+(window|\S+)|none", re.IGNORECASE)
DEFAULT_SOURCE = "the built-in policy"


# -- loading ----------------------------------------------------------------------------------


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy at ``path``, else ``$HALFRATE_POLICY``, else the built-in default."""
    chosen = path if path is not None else policy_file_named()
    if chosen is None:
        return parse_policy(built_in_text(), DEFAULT_SOURCE)
    return parse_policy(policy_file_text(chosen), str(Path(chosen).expanduser()))


def policy_file_named() -> str | None:
    """The file ``$HALFRATE_POLICY`` names, if it is set."""
    return os.environ.get("HALFRATE_POLICY") or None


def built_in_text() -> str:
    return resources.files("halfrate").joinpath("data", "default_policy.toml").read_text()


def policy_file_text(chosen: str | Path) -> str:
    file = Path(chosen).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"policy {file}: cannot read it: {exc}") from exc
    return text


def parse_policy(text: str, source: str) -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"policy {source}: not valid TOML: {exc}") from exc
    locate = _Locator(text)
    unknown = sorted(set(data) - {"settings", "rule"})
    if unknown:
        raise _error(source, locate.top(unknown[0]), f"unknown section {unknown[0]!r}")
    settings = data.get("settings", {})
    if not isinstance(settings, dict):
        raise _error(source, locate.top("settings"), "[settings] must be a table")
    for key in sorted(set(settings) - SETTINGS_KEYS):
        raise _error(source, locate.top(key), f"unknown setting {key!r}")
    window = _duration(settings.get("batch_window", "24h"), source, locate.top("batch_window"))
    margin = _duration(settings.get("safety_margin", "1h"), source, locate.top("safety_margin"))
    dedup = settings.get("dedup", True)
    if not isinstance(dedup, bool):
        raise _error(source, locate.top("dedup"), f"dedup must be true or false, got {dedup!r}")
    cache_for = _response_cache(settings.get("response_cache", DEFAULT_RESPONSE_CACHE))
    if isinstance(cache_for, str):
        raise _error(source, locate.top("response_cache"), cache_for)
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list) or not raw_rules:
        raise _error(source, None, "the policy has no [[rule]]: add at least one")
    rules = tuple(_rule(i, raw, source, locate) for i, raw in enumerate(raw_rules, start=1))
    return Policy(rules, window, margin, source, dedup, cache_for)


def _response_cache(value: Any) -> timedelta | str | None:
    """How long answers serve identical requests; None for "off"; a text: the problem."""
    if value is False or (isinstance(value, str) and value.strip().lower() == "off"):
        return None
    problem = f'response_cache must be a duration like "7d", or "off"; got {value!r}'
    if not isinstance(value, str):
        return problem
    try:
        return parse_duration(value)
    except InputError as exc:
        return f"response_cache: {exc}"


def _rule(number: int, raw: Any, source: str, locate: _Locator) -> Rule:
    line = locate.rule(number)
    if not isinstance(raw, dict):
        raise _error(source, line, f"rule {number} must be a table")

    def fail(key: str, problem: str) -> ConfigError:
        return _error(source, locate.rule_key(number, key), f"rule {number}: {problem}")

    for key in sorted(set(raw) - RULE_KEYS):
        raise fail(
            key,
            f"unknown key {key!r} (a rule has name, when, lane, model, fallback, cache, "
            "prompt_cache, prompt_cache_ttl)",
        )
    name = raw.get("name", f"rule {number}")
    if not isinstance(name, str) or not name.strip():
        raise fail("name", "'name' must be a non-empty text")
    lane_text = raw.get("lane")
    lanes = ", ".join(lane.value for lane in ROUTABLE_LANES)
    if lane_text not in {lane.value for lane in ROUTABLE_LANES}:
        shown = "missing" if lane_text is None else repr(lane_text)
        raise fail("lane", f"lane {shown} is not one of: {lanes}")
    when = raw.get("when", {})
    if not isinstance(when, dict):
        raise fail("when", "'when' must be a table, e.g. when = { feature = \"triage\" }")
    for key in sorted(set(when) - WHEN_KEYS):
        raise fail("when", f"unknown condition {key!r} (known: {', '.join(sorted(WHEN_KEYS))})")
    model_always, model_map = _models(raw.get("model"), fail)
    fallback = _fallback(raw.get("fallback"), Lane(lane_text), fail)
    cache = raw.get("cache", True)
    if not isinstance(cache, bool):
        raise fail("cache", f"'cache' must be true or false, got {cache!r}")
    prompt_cache = raw.get("prompt_cache", True)
    if not isinstance(prompt_cache, bool):
        raise fail("prompt_cache", f"'prompt_cache' must be true or false, got {prompt_cache!r}")
    ttl = raw.get("prompt_cache_ttl")
    if ttl is not None and ttl not in PROMPT_CACHE_TTLS:
        raise fail("prompt_cache_ttl", f'\'prompt_cache_ttl\' must be "5m" or "1h", got {ttl!r}')
    return Rule(
        number=number,
        name=name.strip(),
        line=line or 0,
        lane=Lane(lane_text),
        features=_names(when.get("feature"), "feature", fail),
        teams=_names(when.get("team"), "team", fail),
        tags=_tags(when.get("tags"), fail),
        waiting=_bool(when.get("waiting"), fail),
        deadline=_deadline(when.get("deadline"), fail),
        model_map=model_map,
        model_always=model_always,
        fallback=fallback,
        cache=cache,
        prompt_cache=prompt_cache,
        prompt_cache_ttl=ttl,
    )


def _fallback(value: Any, lane: Lane, fail: Any) -> Lane:
    if value is None:
        return Lane.REALTIME
    if lane is not Lane.FLEX:
        raise fail("fallback", "'fallback' only applies to lane \"flex\"")
    allowed = ", ".join(f.value for f in FALLBACK_LANES)
    if value not in {f.value for f in FALLBACK_LANES}:
        raise fail("fallback", f"fallback {value!r} is not one of: {allowed}")
    return Lane(value)


def _names(value: Any, key: str, fail: Any) -> frozenset[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise fail("when", f"'{key}' must be a text or a list of texts")
    return frozenset(items)


def _tags(value: Any, fail: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise fail("when", "'tags' must be a table of texts, e.g. tags = { env = \"prod\" }")
    return dict(value)


def _bool(value: Any, fail: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise fail("when", "'waiting' must be true or false")


def _deadline(value: Any, fail: Any) -> DeadlineCondition | None:
    if value is None:
        return None
    match = _DEADLINE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise fail(
            "when",
            f'deadline {value!r} must read "at least 26h", "at least window", "under 6h" or "none"',
        )
    if match.group(0).lower() == "none":
        return DeadlineCondition("none", None)
    kind, span = match.group(1).lower(), match.group(2)
    if span.lower() == "window":
        return DeadlineCondition(kind, None)
    try:
        return DeadlineCondition(kind, parse_duration(span))
    except InputError as exc:
        raise fail("when", f"deadline: {exc}") from None


def _models(value: Any, fail: Any) -> tuple[str | None, dict[str, str]]:
    if value is None:
        return None, {}
    if isinstance(value, str) and value.strip():
        _known_model(value.strip(), fail)
        return value.strip(), {}
    if (
        isinstance(value, dict)
        and value
        and all(isinstance(v, str) and v.strip() for v in value.values())
    ):
        pairs = {k: v.strip() for k, v in value.items()}
        for old, new in pairs.items():
            if _known_model(new, fail) != provider_of_model(old):
                raise fail("model", f"cannot send {old} to {new}: not the same provider's model")
        return None, pairs
    raise fail(
        "model", '\'model\' must be a model name or a table like { "gpt-4o" = "gpt-4o-mini" }'
    )


def _known_model(name: str, fail: Any) -> Provider:
    provider = provider_of_model(name)
    if provider is None:
        raise fail("model", f"{name!r} is not a model halfrate knows (gpt-…, o3…, claude-…)")
    return provider


def _duration(value: Any, source: str, line: int | None) -> timedelta:
    if not isinstance(value, str):
        raise _error(source, line, f'expected a duration like "24h", got {value!r}')
    try:
        return parse_duration(value)
    except InputError as exc:
        raise _error(source, line, str(exc)) from None


def _error(source: str, line: int | None, problem: str) -> ConfigError:
    where = f"policy {source}, line {line}" if line else f"policy {source}"
    return ConfigError(f"{where}: {problem}")


class _Locator:
    """Line numbers for keys tomllib has already parsed (it reports only syntax errors)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.rule_starts = [
            n for n, line in enumerate(self.lines, start=1) if line.strip().startswith("[[rule]]")
        ]

    def top(self, key: str) -> int | None:
        return self._find(key, 1, len(self.lines))

    def rule(self, number: int) -> int | None:
        return self.rule_starts[number - 1] if number <= len(self.rule_starts) else None

    def rule_key(self, number: int, key: str) -> int | None:
        start = self.rule(number)
        if start is None:
            return None
        end = self.rule_starts[number] - 1 if number < len(self.rule_starts) else len(self.lines)
        return self._find(key, start, end) or start

    def _find(self, key: str, first: int, last: int) -> int | None:
        pattern = re.compile(rf"\s*\[?\s*\"?{re.escape(key)}\"?\s*[\]=.]")
        for n in range(first, last + 1):
            if pattern.match(self.lines[n - 1]):
                return n
        return None
