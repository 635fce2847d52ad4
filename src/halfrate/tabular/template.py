"""A prompt written over a table's columns: ``Summarise this ticket: {body}``.

``{name}`` is the row's value in column ``name`` (any text but braces, spaces included);
``{{`` and ``}}`` are literal braces. Nothing else is interpreted: unlike ``str.format`` there
are no attributes, indexes or conversions, so a prompt cannot reach anything but the row.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from halfrate.errors import InputError

MAX_PROMPT_CHARS = 100_000
SHOWN_COLUMNS = 12


@dataclass(frozen=True)
class Template:
    parts: tuple[str | None, ...]  # literal texts, and None where a column's value goes
    columns: tuple[str, ...]  # the column of each None, in order

    @classmethod
    def parse(cls, text: str, columns: Sequence[str]) -> Template:
        """The prompt ``text`` over ``columns``; a mistake is refused with where it is."""
        if not text.strip():
            raise InputError("--prompt is empty: write the instruction, with {column} for values")
        if len(text) > MAX_PROMPT_CHARS:
            raise InputError(f"--prompt is longer than {MAX_PROMPT_CHARS:,} characters")
        parts: list[str | None] = []
        used: list[str] = []
        literal: list[str] = []
        i = 0
        while i < len(text):
            char = text[i]
            if text.startswith("{{", i) or text.startswith("}}", i):
                literal.append(char)
                i += 2
                continue
            if char == "}":
                raise InputError(
                    f"--prompt, character {i + 1}: a '}}' without its '{{' (write }}}} for a "
                    "literal brace)"
                )
            if char != "{":
                literal.append(char)
                i += 1
                continue
            end = text.find("}", i + 1)
            inner = text[i + 1 : end] if end != -1 else ""
            if end == -1 or "{" in inner:
                raise InputError(
                    f"--prompt, character {i + 1}: a '{{' without its '}}' (write {{{{ for a "
                    "literal brace)"
                )
            name = inner.strip()
            if name not in columns:
                close = difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
                hint = f"did you mean {{{close[0]}}}? " if close else ""
                raise InputError(
                    f"--prompt, character {i + 1}: {{{inner}}} is not a column of the file "
                    f"({hint}its columns: {_listed(columns)})"
                )
            parts.extend(["".join(literal), None])
            used.append(name)
            literal = []
            i = end + 1
        parts.append("".join(literal))
        if not used:
            raise InputError(
                "--prompt names no column, so every row would ask the same: write {column} "
                f"where each row's value goes (the file's columns: {_listed(columns)})"
            )
        return cls(tuple(parts), tuple(used))

    def render(self, row: Mapping[str, str]) -> str:
        values = iter(self.columns)
        return "".join(part if part is not None else row[next(values)] for part in self.parts)


def _listed(columns: Sequence[str]) -> str:
    shown = ", ".join(columns[:SHOWN_COLUMNS])
    more = len(columns) - SHOWN_COLUMNS
    return shown + (f" and {more} more" if more > 0 else "") if columns else "none"
