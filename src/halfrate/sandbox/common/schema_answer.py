"""Simulated structured answers: JSON text that fits a JSON Schema, or that breaks it on purpose.

It answers OpenAI's ``response_format`` / ``text.format`` and Anthropic's
``output_config.format``. Pure functions. Every choice comes from a digest keyed by the request's
seed and the place in the answer (``$.items[2].kind``), never ``random`` or ``hash()``: the same
body gives the same answer in every process.

How values are chosen, by the schema at each place:

- ``const``: that value. ``enum``: one of its values, picked by the digest.
- ``anyOf`` / ``oneOf``: one branch, picked by the digest (deep in a recursive schema, a
  ``null`` branch when there is one). ``allOf``: its parts merged. ``$ref``: the local
  definition it points to (``#/$defs/...``).
- ``type`` a list: one of its types, picked by the digest. No ``type``: guessed from the other
  keywords (``properties``: object, ``items``: array, ``minimum``: number, else string).
- ``string``: two to four words, drawn from the key words of the prompt (as
  :func:`~halfrate.sandbox.common.compose.keywords` finds them), else stock words. The formats
  ``date-time``, ``date``, ``time``, ``email``, ``uuid``, ``uri``, ``hostname``, ``ipv4``,
  ``ipv6`` and ``duration`` get a well-formed value. The result is padded or cut to ``minLength``
  and ``maxLength``. ``pattern`` is not followed.
- ``integer`` / ``number``: between ``minimum`` and ``maximum`` (also their exclusive forms; 0 to
  100 when no bound is given), and a multiple of ``multipleOf`` when that is given. Numbers have
  two decimals.
- ``boolean``: true or false. ``null``: null.
- ``array``: 1 to 3 items of ``items`` (``prefixItems`` first; one item once two references
  were followed, so a recursive schema stays small), within ``minItems`` and ``maxItems``, and
  distinct under ``uniqueItems``.
- ``object``: every property, in schema order (deep in a recursive schema, the required ones
  only). An object without properties that allows others
  gets a small free-form ``{"answer": ..., "keywords": [...]}``, which is the JSON-mode answer.

A broken answer (the ``line_schema_break`` fault) uses one of the breaks the schema allows,
picked by the digest: an ``enum`` field gets a value outside it, a required field is left out,
a number field gets a non-numeric string, or the text is not JSON at all (always possible). The
shallowest candidate places are used (a top-level field, which a reader checks first). A place
is a candidate only when the break there is sure to fail validation. So nothing inside an
``anyOf`` branch is a candidate when a sibling branch (other than ``null``) might accept the
changed value.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

import orjson

from halfrate.sandbox.common.compose import keywords, tokens
from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.common.schema_values import (
    FORMATS,
    fit_length,
    formatted,
    integer_in,
    is_integer,
    number_in,
)
from halfrate.tokens import truncate_to_tokens

# JSON mode (OpenAI ``json_object``) asks for any object: this is the schema it is answered by.
FREE_OBJECT: JSON = {"type": "object"}
# References followed along one path before answers get minimal (arrays at minItems, optional
# properties left out, null branches preferred), so recursive schemas end. Past the hard limit,
# null is given whatever the schema says, as a last resort for schemas no answer can end.
MAX_DEPTH = 6
HARD_DEPTH = 32
# Objects and arrays nested in one another past this are answered null: far deeper than any
# schema a provider takes, and short of Python's recursion limit.
MAX_NESTING = 100
BREAKS = ("enum", "missing", "number")  # plus "not_json", always available
_STOCK_WORDS = ("sample", "value", "placeholder", "detail", "entry", "note", "simulated")


class _Site(NamedTuple):
    """A place where the answer can be broken: ``container[key]`` (a dict or a list)."""

    kind: str  # "enum", "missing" or "number"
    container: Any
    key: Any
    allowed: list[Any]  # the enum's values, for an "enum" site
    level: int  # how deep in the answer: 1 for a top-level field, 0 for the answer itself


# What a leaf value can be broken into: its kind and (for an enum) the allowed values.
Leaf = tuple[str, list[Any]] | None


def _is_null(schema: Any) -> bool:
    """Whether ``schema`` accepts only null (the other half of an optional field)."""
    if not isinstance(schema, dict):
        return False
    return schema.get("type") == "null" or ("const" in schema and schema["const"] is None)


class _Maker:
    """Builds one answer; remembers the places it could break (when asked to)."""

    def __init__(self, root: JSON, seed: bytes, prompt: str) -> None:
        self.root = root
        self.key = seed[:64]  # blake2b keys are at most 64 bytes
        self.words = keywords(prompt) or list(_STOCK_WORDS)
        self.sites: list[_Site] = []
        self.nesting = 0  # objects and arrays open around the value being made

    def draw(self, path: str) -> int:
        """A 64-bit number fixed by the seed and ``path``: the dice of one choice."""
        raw = hashlib.blake2b(path.encode(), key=self.key, digest_size=8).digest()
        return int.from_bytes(raw, "big")

    def phrase(self, path: str) -> str:
        roll = self.draw(path)
        count = 2 + roll % 3
        picks = (self.words[(roll >> (8 * (i + 1))) % len(self.words)] for i in range(count))
        return " ".join(dict.fromkeys(picks))

    def resolve(self, schema: Any, depth: int) -> tuple[JSON, int]:
        """``schema`` with its local ``$ref`` chain followed; each hop counts as one more level."""
        hops = 0
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and hops < 16:
            schema = self.pointer(schema["$ref"])
            depth += 1
            hops += 1
        return (schema if isinstance(schema, dict) else {}), depth

    def pointer(self, ref: str) -> Any:
        """The part of the root schema a local reference (``#``, ``#/$defs/Name``) names."""
        if not ref.startswith("#"):
            return {}  # a remote reference: nothing to follow, so anything fits
        node: Any = self.root
        for part in ref[1:].split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict):
                node = node.get(part, {})
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return {}
        return node

    def merge(self, schema: JSON, depth: int) -> tuple[JSON, int]:
        """An ``allOf`` folded into one schema: properties joined, required lists unioned. The
        level is the deepest of its parts', so a part that refers back up still ends."""
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        given, listed = merged.get("properties"), merged.get("required")
        properties = dict(given) if isinstance(given, dict) else {}
        required = list(listed) if isinstance(listed, list) else []
        deepest = depth
        for raw in schema["allOf"]:
            part, level = self.resolve(raw, depth)
            if isinstance(part.get("allOf"), list) and level <= HARD_DEPTH:
                part, level = self.merge(part, level + 1)
            deepest = max(deepest, level)
            for key, value in part.items():
                if key == "properties" and isinstance(value, dict):
                    properties.update(value)
                elif key == "required" and isinstance(value, list):
                    required += [name for name in value if name not in required]
                else:
                    merged.setdefault(key, value)
        if properties:
            merged["properties"] = properties
        if required:
            merged["required"] = required
        return merged, deepest

    def make(self, raw: Any, path: str, depth: int, sure: bool) -> tuple[Any, Leaf]:
        """The value at ``path`` for schema ``raw``, and how it could be broken there.

        ``sure``: whether a break at or under this place is certain to fail validation.
        """
        schema, depth = self.resolve(raw, depth)
        if depth > HARD_DEPTH or self.nesting > MAX_NESTING:
            return None, None
        if isinstance(schema.get("allOf"), list):
            schema, depth = self.merge(schema, depth)
            if depth > HARD_DEPTH:
                return None, None
        if "const" in schema:
            return schema["const"], None
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[self.draw(path) % len(enum)], ("enum", enum)
        branches = schema.get("anyOf") or schema.get("oneOf")
        if isinstance(branches, list) and branches:
            index = self.branch(branches, path, depth)
            alone = all(_is_null(b) for i, b in enumerate(branches) if i != index)
            value, leaf = self.make(branches[index], f"{path}|{index}", depth, sure and alone)
            return value, leaf if alone else None
        kind, takes_text = self.pick_type(schema, path, depth)
        if kind == "null":
            return None, None
        if kind == "boolean":
            return self.draw(path) % 2 == 1, None
        if kind in ("integer", "number"):
            roll = self.draw(path)
            value = integer_in(schema, roll) if kind == "integer" else number_in(schema, roll)
            return value, None if takes_text else ("number", [])
        if kind in ("array", "object"):
            self.nesting += 1
            made = self.array if kind == "array" else self.object
            value = made(schema, path, depth, sure)
            self.nesting -= 1
            return value, None
        return self.string(schema, path), None

    def branch(self, branches: list[Any], path: str, depth: int) -> int:
        if depth >= MAX_DEPTH:
            for index, option in enumerate(branches):
                if _is_null(option):
                    return index
        return self.draw(path + "|") % len(branches)

    def pick_type(self, schema: JSON, path: str, depth: int) -> tuple[str, bool]:
        """The type to answer in, and whether a string would also fit here."""
        declared = schema.get("type")
        if isinstance(declared, list):
            names = [name for name in declared if isinstance(name, str)]
            if names:
                if depth >= MAX_DEPTH and "null" in names:
                    return "null", "string" in names
                return names[self.draw(path + ":") % len(names)], "string" in names
        if isinstance(declared, str):
            return declared, declared == "string"
        if any(k in schema for k in ("properties", "required", "additionalProperties")):
            return "object", True
        if "items" in schema or "prefixItems" in schema:
            return "array", True
        if any(k in schema for k in ("minimum", "maximum", "multipleOf")):
            return "number", True
        return "string", True

    def string(self, schema: JSON, path: str) -> str:
        fmt = schema.get("format")
        if fmt in FORMATS:
            roll = self.draw(path)
            text = formatted(fmt, roll, self.words[roll % len(self.words)])
        else:
            text = self.phrase(path)
        return fit_length(text, schema, lambda extra: self.phrase(f"{path}+{extra}"))

    def array(self, schema: JSON, path: str, depth: int, sure: bool) -> list[Any]:
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        items = schema.get("items", {})
        if isinstance(items, list):  # the older tuple form of prefixItems
            prefix, items = items, schema.get("additionalItems", {})
        fewest = schema.get("minItems")
        fewest = fewest if is_integer(fewest) and fewest > 0 else 0
        most = schema.get("maxItems")
        # 1 to 3 items; one once a reference was followed twice, so a recursive schema (a tree)
        # stays small; the fewest allowed once answers get minimal.
        count = (
            fewest if depth >= MAX_DEPTH else 1 + self.draw(path + "#") % (3 if depth < 2 else 1)
        )
        count = max(count, fewest)
        if is_integer(most):
            count = min(count, max(most, fewest))
        if items is False:
            count = min(count, len(prefix))
        unique = schema.get("uniqueItems") is True
        out: list[Any] = []
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else items
            for attempt in range(8 if unique else 1):
                mark = len(self.sites)
                where = f"{path}[{i}]" + (f"~{attempt}" if attempt else "")
                value, leaf = self.make(sub, where, depth, sure)
                if not unique or value not in out:
                    break
                del self.sites[mark:]  # its sites are in a value thrown away
            else:
                if len(out) >= fewest:
                    continue
            out.append(value)
            if sure and leaf is not None:
                self.sites.append(_Site(leaf[0], out, len(out) - 1, leaf[1], self.nesting))
        return out

    def object(self, schema: JSON, path: str, depth: int, sure: bool) -> dict[str, Any]:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = schema.get("required")
        required = [n for n in required if isinstance(n, str)] if isinstance(required, list) else []
        if not properties and not required:
            others = schema.get("additionalProperties", True)
            if others is False:
                return {}
            if isinstance(others, dict) and others:
                return {"answer": self.make(others, f"{path}.answer", depth, False)[0]}
            return {"answer": self.phrase(path), "keywords": self.words[:3]}
        out: dict[str, Any] = {}
        for name, sub in properties.items():
            if depth >= MAX_DEPTH and name not in required:
                continue
            value, leaf = self.make(sub, f"{path}.{name}", depth, sure)
            out[name] = value
            if sure and leaf is not None:
                self.sites.append(_Site(leaf[0], out, name, leaf[1], self.nesting))
        for name in required:
            if name not in out:  # required but not described: any value fits
                out[name] = self.phrase(f"{path}.{name}")
            if sure:
                self.sites.append(_Site("missing", out, name, [], self.nesting))
        return out


def _dumps(value: Any) -> str:
    """Compact JSON text, as models write structured answers."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits (from huge bounds): the stdlib can write it
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _outside(allowed: list[Any]) -> str:
    """A string that is not one of ``allowed``: a near miss, as a model would write it."""
    base = next((v for v in allowed if isinstance(v, str) and v), "value")
    candidate = f"not {base}"
    while candidate in allowed:
        candidate += "!"
    return candidate


def fitting_value(schema: JSON, seed: bytes, prompt: str) -> Any:
    """The value of the answer to ``prompt`` in ``schema`` (see the module doc for choices)."""
    return _Maker(schema, seed, prompt).make(schema, "$", 0, False)[0]


def answer_text(schema: JSON, seed: bytes, prompt: str, *, broken: bool = False) -> str:
    """The JSON text of the answer; ``broken``: an answer that breaks ``schema`` instead."""
    maker = _Maker(schema, seed, prompt)
    box: list[Any] = [None]  # the root's container, so a root leaf can be broken like any
    box[0], leaf = maker.make(schema, "$", 0, broken)
    if not broken:
        return _dumps(box[0])
    if leaf is not None:
        maker.sites.append(_Site(leaf[0], box, 0, leaf[1], 0))
    modes = [kind for kind in BREAKS if any(site.kind == kind for site in maker.sites)]
    modes.append("not_json")
    mode = modes[maker.draw("$break") % len(modes)]
    if mode == "not_json":
        return f"Here is my answer in plain words rather than JSON: {maker.phrase('$prose')}."
    sites = [site for site in maker.sites if site.kind == mode]
    # The shallowest places first: a top-level field is what a reader checks (and a column).
    top = min(site.level for site in sites)
    sites = [site for site in sites if site.level == top]
    site = sites[maker.draw("$break-site") % len(sites)]
    if mode == "missing":
        del site.container[site.key]
    elif mode == "number":
        site.container[site.key] = f"about {site.container[site.key]}"
    else:
        site.container[site.key] = _outside(site.allowed)
    return _dumps(box[0])


def structured_reply(
    model: str, schema: JSON, prompt: str, seed: bytes, cap: int | None, *, broken: bool = False
) -> tuple[str, int, bool]:
    """The structured answer cut to ``cap`` tokens: (text, tokens, whether cut), like
    :func:`~halfrate.sandbox.common.compose.reply`. A cut answer is cut JSON, as a real one is."""
    text = answer_text(schema, seed, prompt, broken=broken)
    count = tokens(model, text)
    if cap is None or count <= cap:
        return text, count, False
    cut, count = truncate_to_tokens(model, text, cap)
    return cut, count, True
