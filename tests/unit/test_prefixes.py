"""Shared prompt prefixes (docs/prompt-caching.md), as pure logic: a request body is read as
its parts in the provider's prompt order; boundaries never cover the whole request, skip
thinking blocks, are at most eight, and are named by digests that also cover the model and the
caller's own ``prompt_cache_key``; token counts use tiktoken for OpenAI and the four-characters
approximation for Claude; ``mark_prefix`` adds exactly one marker (or the group's cache key) and
changes nothing else; and ``PrefixFinder`` groups different requests at the deepest shared
prefix of at least 1,024 tokens, tags the founder once the group forms, leaves bodies with
their own markers (or a rule's ``prompt_cache = false``) unmarked, and asks the queue once per
digest."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from halfrate.models import Lane, Provider
from halfrate.prefixes import (
    MIN_CACHEABLE_TOKENS,
    PrefixFinder,
    mark_prefix,
    read_prompt,
    smallest_group,
)
from halfrate.prefixes.parts import MAX_BOUNDARIES, TOKENS_PER_PART, Prompt
from halfrate.records import ParsedLine, PrefixTag, RouteChoice
from halfrate.tokens import approximate, count_text

CLAUDE = "claude-haiku-4-5"
GPT = "gpt-4o-mini"
MESSAGES = "/v1/messages"
CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
SYSTEM = "The keeper logs the tides. " * 450  # 12,150 characters: about 3,040 tokens
SHORT_SYSTEM = "The keeper logs the tides. " * 100  # 2,700 characters: under 1,024 tokens
FEW_SHOT = "Example: the tide came in at dawn and left the harbour dry by noon. " * 40
MARKER_1H = {"type": "ephemeral", "ttl": "1h"}
TOOL_A = {"name": "lookup", "description": "Look a tide up.", "input_schema": {"type": "object"}}
TOOL_B = {"name": "record", "description": "Record a tide.", "input_schema": {"type": "object"}}


def claude_body(
    question: str, system: Any = SYSTEM, *, few_shot: bool = False, **extra: Any
) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if few_shot:
        messages += [
            {"role": "user", "content": FEW_SHOT},
            {"role": "assistant", "content": "Dawn, then dry by noon."},
        ]
    messages.append({"role": "user", "content": question})
    return {"model": CLAUDE, "max_tokens": 200, "system": system, "messages": messages, **extra}


def chat_body(question: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": GPT,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": question},
        ],
        **extra,
    }


def prompt_of(
    body: dict[str, Any],
    provider: Provider = Provider.ANTHROPIC,
    endpoint: str = MESSAGES,
    model: str = CLAUDE,
) -> Prompt:
    prompt = read_prompt(provider, endpoint, model, body)
    assert prompt is not None
    return prompt


def digests(prompt: Prompt) -> dict[int, str]:
    return dict(prompt.boundaries)


def line(
    number: int,
    body: dict[str, Any],
    *,
    route: RouteChoice | None = None,
    provider: Provider = Provider.ANTHROPIC,
    endpoint: str = MESSAGES,
    model: str = CLAUDE,
) -> ParsedLine:
    return ParsedLine(
        number, f"key-{number}", provider, endpoint, model, orjson.dumps(body).decode(), route
    )


def route(*, prompt_cache: bool) -> RouteChoice:
    return RouteChoice(
        lane=Lane.BATCH,
        model=CLAUDE,
        rule_number=1,
        rule_name="tides",
        source="test",
        line=None,
        explanation="a rule for the test",
        fallback=None,
        waiting=False,
        prompt_cache=prompt_cache,
    )


def count_markers(value: Any) -> int:
    if isinstance(value, dict):
        return ("cache_control" in value) + sum(count_markers(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_markers(v) for v in value)
    return 0


def claude_tokens(text: str) -> int:
    return approximate(text) + TOKENS_PER_PART


# -- reading a prompt: Anthropic ----------------------------------------------------------------


def test_anthropic_parts_are_tools_then_system_blocks_then_each_message_block() -> None:
    body = {
        "model": CLAUDE,
        "max_tokens": 100,
        "tools": [TOOL_A, TOOL_B],
        "system": [{"type": "text", "text": "Rule one."}, {"type": "text", "text": "Rule two."}],
        "messages": [
            {"role": "user", "content": "When is high tide?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "t1", "name": "lookup", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "6am"}],
            },
        ],
    }
    prompt = prompt_of(body)
    assert [part.where for part in prompt.parts] == [
        ("tools", 0, None),
        ("tools", 1, None),
        ("system", 0, None),
        ("system", 1, None),
        ("messages", 0, None),
        ("messages", 1, 0),
        ("messages", 1, 1),
        ("messages", 2, 0),
    ]
    assert [part.value for part in prompt.parts][:2] == [TOOL_A, TOOL_B]
    # Every boundary but the whole request (8 parts: boundaries after 1..7).
    assert [count for count, _ in prompt.boundaries] == [1, 2, 3, 4, 5, 6, 7]
    assert prompt.whole not in digests(prompt).values()
    assert not prompt.own_marks


def test_anthropic_system_string_is_one_part_and_string_content_is_one_part() -> None:
    prompt = prompt_of(claude_body("Why?", system="Be brief.", few_shot=True))
    assert [part.where for part in prompt.parts] == [
        ("system", None, None),
        ("messages", 0, None),
        ("messages", 1, None),
        ("messages", 2, None),
    ]
    assert prompt.parts[0].value == "Be brief."
    assert prompt.parts[1].value == FEW_SHOT
    assert [count for count, _ in prompt.boundaries] == [1, 2, 3]


def test_a_single_part_request_offers_no_boundary() -> None:
    body = {"model": CLAUDE, "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]}
    prompt = prompt_of(body)
    assert len(prompt.parts) == 1
    assert prompt.boundaries == []


def test_bodies_differing_only_in_the_last_message_share_every_boundary_but_not_whole() -> None:
    first = prompt_of(claude_body("When is high tide?", tools=[TOOL_A]))
    second = prompt_of(claude_body("When is low tide?", tools=[TOOL_A]))
    # tools (1), system (2), question (3): the boundary after the system part is shared.
    assert [count for count, _ in first.boundaries] == [1, 2]
    assert digests(first)[2] == digests(second)[2]
    assert digests(first) == digests(second)
    assert first.whole != second.whole
    # Identical bodies have identical digests throughout.
    again = prompt_of(claude_body("When is high tide?", tools=[TOOL_A]))
    assert again.whole == first.whole
    assert again.boundaries == first.boundaries


def test_a_different_model_gives_different_digests() -> None:
    body = claude_body("When is high tide?", few_shot=True)
    haiku = prompt_of(body, model=CLAUDE)
    sonnet = prompt_of(body, model="claude-sonnet-4-5")
    assert [count for count, _ in haiku.boundaries] == [count for count, _ in sonnet.boundaries]
    assert set(digests(haiku).values()).isdisjoint(digests(sonnet).values())
    assert haiku.whole != sonnet.whole


def test_the_same_text_from_a_different_role_is_a_different_prefix() -> None:
    def body(role: str) -> dict[str, Any]:
        messages = [{"role": role, "content": "Tides."}, {"role": "user", "content": "Why?"}]
        return {"model": CLAUDE, "max_tokens": 10, "system": "S", "messages": messages}

    as_user, as_assistant = prompt_of(body("user")), prompt_of(body("assistant"))
    assert digests(as_user)[1] == digests(as_assistant)[1]
    assert digests(as_user)[2] != digests(as_assistant)[2]


def test_a_thinking_block_ending_a_prefix_is_not_a_boundary() -> None:
    body = claude_body("And low tide?", system="Be brief.")
    body["messages"] = [
        {"role": "user", "content": "When is high tide?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Look it up.", "signature": "sig"},
                {"type": "text", "text": "At 6am."},
            ],
        },
        {"role": "user", "content": "And low tide?"},
    ]
    prompt = prompt_of(body)
    # system (1), question (2), thinking (3), text (4), question (5)
    assert prompt.parts[2].value["type"] == "thinking"
    assert [count for count, _ in prompt.boundaries] == [1, 2, 4]


def test_an_empty_text_block_ending_a_prefix_is_not_a_boundary() -> None:
    system = [{"type": "text", "text": "Rule one."}, {"type": "text", "text": ""}]
    prompt = prompt_of(claude_body("Why?", system=system))
    assert [count for count, _ in prompt.boundaries] == [1]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            claude_body("Why?", tools=[{**TOOL_A, "cache_control": {"type": "ephemeral"}}]),
            id="tool",
        ),
        pytest.param(
            claude_body(
                "Why?",
                system=[{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
            ),
            id="system-block",
        ),
        pytest.param(
            {
                "model": CLAUDE,
                "max_tokens": 10,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "Q", "cache_control": {"type": "ephemeral"}}
                        ],
                    }
                ],
            },
            id="message-block",
        ),
        pytest.param(claude_body("Why?", cache_control={"type": "ephemeral"}), id="top-level"),
    ],
)
def test_anthropic_own_marks_anywhere_are_noticed(body: dict[str, Any]) -> None:
    assert prompt_of(body).own_marks


def test_anthropic_body_without_markers_has_no_own_marks() -> None:
    body = claude_body("Why?", tools=[TOOL_A], few_shot=True)
    body["messages"][-1]["content"] = [{"type": "text", "text": "Why?"}]
    assert not prompt_of(body).own_marks


def test_a_marker_inside_a_tool_result_counts_as_the_callers_own() -> None:
    # Anthropic accepts cache_control on the text blocks inside a tool_result's content (they
    # count toward the four-marker limit), so halfrate must leave such a body as sent.
    body = claude_body("Why?")
    body["messages"] = [
        {"role": "user", "content": "Look the tide up."},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": [
                        {"type": "text", "text": "6am", "cache_control": {"type": "ephemeral"}}
                    ],
                },
                {"type": "text", "text": "Why?"},
            ],
        },
    ]
    assert prompt_of(body).own_marks


def test_other_anthropic_endpoints_have_no_prompt() -> None:
    body = claude_body("Why?")
    assert read_prompt(Provider.ANTHROPIC, "/v1/messages/count_tokens", CLAUDE, body) is None
    assert read_prompt(Provider.ANTHROPIC, "/v1/complete", CLAUDE, body) is None


# -- reading a prompt: OpenAI -------------------------------------------------------------------


def test_chat_parts_are_each_tool_then_each_message() -> None:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {}}}
    body = chat_body("When is high tide?", tools=[tool])
    prompt = prompt_of(body, Provider.OPENAI, CHAT, GPT)
    assert [part.where for part in prompt.parts] == [
        ("tools", 0, None),
        ("messages", 0, None),
        ("messages", 1, None),
    ]
    assert prompt.parts[0].value == tool
    assert prompt.parts[1].value == body["messages"][0]  # the whole message is one part
    assert [count for count, _ in prompt.boundaries] == [1, 2]
    assert not prompt.own_marks


def test_chat_bodies_differing_in_the_last_message_share_the_system_boundary() -> None:
    first = prompt_of(chat_body("When is high tide?"), Provider.OPENAI, CHAT, GPT)
    second = prompt_of(chat_body("When is low tide?"), Provider.OPENAI, CHAT, GPT)
    assert first.boundaries == second.boundaries
    assert first.whole != second.whole


def test_responses_parts_are_instructions_tools_then_input_string_or_items() -> None:
    tool = {"type": "function", "name": "lookup", "parameters": {}}
    as_string = {"model": GPT, "instructions": SYSTEM, "tools": [tool], "input": "Why?"}
    prompt = prompt_of(as_string, Provider.OPENAI, RESPONSES, GPT)
    assert [part.where for part in prompt.parts] == [
        ("instructions", None, None),
        ("tools", 0, None),
        ("input", None, None),
    ]
    assert [part.value for part in prompt.parts] == [SYSTEM, tool, "Why?"]
    assert [count for count, _ in prompt.boundaries] == [1, 2]

    items = [
        {"role": "user", "content": "When is high tide?"},
        {"role": "assistant", "content": "At 6am."},
        {"role": "user", "content": "Why?"},
    ]
    as_items = {"model": GPT, "instructions": SYSTEM, "input": items}
    prompt = prompt_of(as_items, Provider.OPENAI, RESPONSES, GPT)
    assert [part.where for part in prompt.parts] == [
        ("instructions", None, None),
        ("input", 0, None),
        ("input", 1, None),
        ("input", 2, None),
    ]
    assert [count for count, _ in prompt.boundaries] == [1, 2, 3]


def test_embeddings_have_no_prompt() -> None:
    body = {"model": "text-embedding-3-small", "input": SYSTEM}
    assert read_prompt(Provider.OPENAI, "/v1/embeddings", "text-embedding-3-small", body) is None


@pytest.mark.parametrize("endpoint", [CHAT, RESPONSES])
def test_openai_own_cache_key_is_own_marks_and_changes_every_digest(endpoint: str) -> None:
    def body(**extra: Any) -> dict[str, Any]:
        if endpoint == CHAT:
            return chat_body("Why?", **extra)
        return {"model": GPT, "instructions": SYSTEM, "input": ["a", "b"], **extra}

    plain = prompt_of(body(), Provider.OPENAI, endpoint, GPT)
    key_a = prompt_of(body(prompt_cache_key="a"), Provider.OPENAI, endpoint, GPT)
    key_b = prompt_of(body(prompt_cache_key="b"), Provider.OPENAI, endpoint, GPT)
    assert not plain.own_marks
    assert key_a.own_marks
    assert key_b.own_marks
    assert plain.boundaries
    assert [count for count, _ in key_a.boundaries] == [count for count, _ in plain.boundaries]
    assert [count for count, _ in key_b.boundaries] == [count for count, _ in plain.boundaries]
    sets = [set(digests(p).values()) for p in (plain, key_a, key_b)]
    assert sets[0].isdisjoint(sets[1])
    assert sets[0].isdisjoint(sets[2])
    assert sets[1].isdisjoint(sets[2])


def test_openai_output_format_is_part_of_the_digest() -> None:
    plain = prompt_of(chat_body("Why?"), Provider.OPENAI, CHAT, GPT)
    json_out = prompt_of(
        chat_body("Why?", response_format={"type": "json_object"}), Provider.OPENAI, CHAT, GPT
    )
    assert digests(plain)[1] != digests(json_out)[1]


# -- boundaries and tokens ----------------------------------------------------------------------


def test_a_long_request_offers_its_first_four_and_last_four_boundaries() -> None:
    messages = [
        {"role": "user" if n % 2 == 0 else "assistant", "content": f"Turn {n}."} for n in range(40)
    ]
    chat = prompt_of({"model": GPT, "messages": messages}, Provider.OPENAI, CHAT, GPT)
    assert len(chat.parts) == 40
    assert [count for count, _ in chat.boundaries] == [1, 2, 3, 4, 36, 37, 38, 39]
    assert len(chat.boundaries) == MAX_BOUNDARIES

    claude = prompt_of({"model": CLAUDE, "max_tokens": 10, "system": "S", "messages": messages})
    assert len(claude.parts) == 41
    assert [count for count, _ in claude.boundaries] == [1, 2, 3, 4, 37, 38, 39, 40]


def test_tokens_before_uses_tiktoken_for_openai_models() -> None:
    body = chat_body("When is high tide?")
    prompt = prompt_of(body, Provider.OPENAI, CHAT, GPT)
    system_tokens = count_text(GPT, SYSTEM).tokens + TOKENS_PER_PART
    question_tokens = count_text(GPT, "When is high tide?").tokens + TOKENS_PER_PART
    assert count_text(GPT, SYSTEM).exact
    assert prompt.tokens_before(0) == 0
    assert prompt.tokens_before(1) == system_tokens
    assert prompt.tokens_before(2) == system_tokens + question_tokens
    assert system_tokens != claude_tokens(SYSTEM)  # not the approximation
    assert prompt.tokens_before(1) >= MIN_CACHEABLE_TOKENS


def test_tokens_before_uses_four_characters_a_token_for_claude() -> None:
    prompt = prompt_of(claude_body("When is high tide?", few_shot=True))
    counts = [prompt.tokens_before(n) for n in range(5)]
    assert counts == [
        0,
        claude_tokens(SYSTEM),
        claude_tokens(SYSTEM) + claude_tokens(FEW_SHOT),
        claude_tokens(SYSTEM) + claude_tokens(FEW_SHOT) + claude_tokens("Dawn, then dry by noon."),
        counts[3] + claude_tokens("When is high tide?"),
    ]
    assert counts == sorted(counts)
    assert len(set(counts)) == len(counts)  # each part adds tokens
    assert claude_tokens(SYSTEM) == 3041


def test_tokens_of_a_text_block_count_its_text_and_a_tool_its_json() -> None:
    system = [{"type": "text", "text": SYSTEM}]
    prompt = prompt_of(claude_body("Why?", system=system, tools=[TOOL_A]))
    assert prompt.tokens_before(1) == claude_tokens(orjson.dumps(TOOL_A).decode())
    assert prompt.tokens_before(2) - prompt.tokens_before(1) == claude_tokens(SYSTEM)


# -- marking a prefix ---------------------------------------------------------------------------


def marked(body: dict[str, Any], parts: int, ttl: str = "1h") -> dict[str, Any]:
    out = mark_prefix(Provider.ANTHROPIC, MESSAGES, orjson.dumps(body).decode(), "g1", parts, ttl)
    result: dict[str, Any] = orjson.loads(out)
    assert count_markers(result) == 1
    return result


def without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def test_mark_turns_a_system_string_into_one_marked_text_block() -> None:
    body = claude_body("Why?", temperature=0.2, metadata={"user_id": "u1"})
    result = marked(body, 1)
    assert result["system"] == [{"type": "text", "text": SYSTEM, "cache_control": MARKER_1H}]
    assert without(result, "system") == without(body, "system")


def test_mark_puts_the_marker_on_the_right_system_block() -> None:
    system = [{"type": "text", "text": "Rule one."}, {"type": "text", "text": "Rule two."}]
    body = claude_body("Why?", system=system, tools=[TOOL_A, TOOL_B])
    # tools (1, 2), system blocks (3, 4), question (5)
    result = marked(body, 3, ttl="5m")
    expected = copy.deepcopy(body)
    expected["system"][0]["cache_control"] = {"type": "ephemeral", "ttl": "5m"}
    assert result == expected

    result = marked(body, 4)
    expected = copy.deepcopy(body)
    expected["system"][1]["cache_control"] = MARKER_1H
    assert result == expected


def test_mark_puts_the_marker_on_a_tool() -> None:
    body = claude_body("Why?", tools=[TOOL_A, TOOL_B])
    result = marked(body, 2)
    assert result["tools"] == [TOOL_A, {**TOOL_B, "cache_control": MARKER_1H}]
    assert without(result, "tools") == without(body, "tools")


def test_mark_turns_string_message_content_into_one_marked_text_block() -> None:
    body = claude_body("Why?", few_shot=True)
    # system (1), few-shot question (2), few-shot answer (3), question (4)
    result = marked(body, 2)
    expected = copy.deepcopy(body)
    expected["messages"][0]["content"] = [
        {"type": "text", "text": FEW_SHOT, "cache_control": MARKER_1H}
    ]
    assert result == expected
    assert result["messages"][0]["role"] == "user"


def test_mark_puts_the_marker_on_the_right_message_block() -> None:
    body = claude_body("Why?", system="S")
    body["messages"] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Block one."},
                {"type": "text", "text": "Block two."},
            ],
        },
        {"role": "user", "content": "Why?"},
    ]
    result = marked(body, 3)  # system (1), block one (2), block two (3)
    expected = copy.deepcopy(body)
    expected["messages"][0]["content"][1]["cache_control"] = MARKER_1H
    assert result == expected


@pytest.mark.parametrize("parts", [0, -1, 4, 99])
def test_mark_with_parts_out_of_range_returns_the_body_unchanged(parts: int) -> None:
    body_json = orjson.dumps(claude_body("Why?", tools=[TOOL_A])).decode()  # 3 parts
    out = mark_prefix(Provider.ANTHROPIC, MESSAGES, body_json, "g1", parts, "1h")
    assert out == body_json


def test_mark_never_puts_a_marker_on_a_thinking_block() -> None:
    body = claude_body("And low tide?", system="Be brief.")
    body["messages"] = [
        {"role": "user", "content": "When?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Hmm.", "signature": "sig"},
                {"type": "text", "text": "At 6am."},
            ],
        },
        {"role": "user", "content": "And low tide?"},
    ]
    body_json = orjson.dumps(body).decode()
    assert mark_prefix(Provider.ANTHROPIC, MESSAGES, body_json, "g1", 3, "1h") == body_json


@pytest.mark.parametrize("endpoint", [CHAT, RESPONSES])
def test_mark_adds_the_groups_cache_key_for_openai(endpoint: str) -> None:
    body = chat_body("Why?", temperature=0)
    out = mark_prefix(Provider.OPENAI, endpoint, orjson.dumps(body).decode(), "ab12", 1, "1h")
    result = orjson.loads(out)
    assert result["prompt_cache_key"] == "halfrate-ab12"
    assert without(result, "prompt_cache_key") == body
    assert count_markers(result) == 0


def test_mark_leaves_a_callers_own_openai_cache_key_alone() -> None:
    body_json = orjson.dumps(chat_body("Why?", prompt_cache_key="mine")).decode()
    out = mark_prefix(Provider.OPENAI, CHAT, body_json, "ab12", 1, "1h")
    assert orjson.loads(out) == orjson.loads(body_json)


# -- finding groups -----------------------------------------------------------------------------


def test_the_second_request_forms_a_group_and_the_first_becomes_its_founder() -> None:
    finder = PrefixFinder()
    first = line(1, claude_body("When is high tide?"))
    assert finder.tag(first) == first
    assert finder.tag(first).prefix is None
    assert finder.founders() == []

    second = finder.tag(line(2, claude_body("When is low tide?")))
    assert second.prefix is not None
    assert second.prefix.parts == 1  # the system prompt is part 1 when there are no tools
    assert second.prefix.tokens >= MIN_CACHEABLE_TOKENS
    assert second.prefix.tokens == claude_tokens(SYSTEM)
    assert second.prefix.key == digests(prompt_of(claude_body("x")))[1]
    assert finder.founders() == [("key-1", second.prefix)]

    third = finder.tag(line(3, claude_body("Who keeps the light?")))
    assert third.prefix == second.prefix
    assert finder.founders() == [("key-1", second.prefix)]
    # The line is otherwise unchanged.
    assert third.body_json == orjson.dumps(claude_body("Who keeps the light?")).decode()
    assert third.key == "key-3"


def test_identical_requests_alone_form_no_group() -> None:
    finder = PrefixFinder()
    body = claude_body("When is high tide?")
    assert finder.tag(line(1, body)).prefix is None
    assert finder.tag(line(2, body)).prefix is None
    assert finder.founders() == []
    # A different request later still finds the first one to group with.
    third = finder.tag(line(3, claude_body("When is low tide?")))
    assert third.prefix is not None
    assert finder.founders() == [("key-1", third.prefix)]


def test_a_prefix_under_1024_tokens_never_forms_a_group() -> None:
    assert claude_tokens(SHORT_SYSTEM) < MIN_CACHEABLE_TOKENS
    finder = PrefixFinder()
    for number in range(1, 6):
        body = claude_body(f"Question {number}?", system=SHORT_SYSTEM)
        assert len(orjson.dumps(body)) >= 1024  # long enough to be read at all
        assert finder.tag(line(number, body)).prefix is None
    assert finder.founders() == []


def test_the_deepest_shared_prefix_wins() -> None:
    finder = PrefixFinder()
    a = finder.tag(line(1, claude_body("A?", few_shot=True)))
    b = finder.tag(line(2, claude_body("B?", few_shot=True)))
    c = finder.tag(line(3, claude_body("C?")))
    d = finder.tag(line(4, claude_body("D?")))
    e = finder.tag(line(5, claude_body("E?", few_shot=True)))
    assert a.prefix is None
    assert c.prefix is None
    assert b.prefix is not None
    assert d.prefix is not None

    # A and B share system + few-shot question + answer: three parts.
    few_shot = prompt_of(claude_body("x", few_shot=True))
    assert b.prefix == PrefixTag(digests(few_shot)[3], few_shot.tokens_before(3), 3)
    # C and D share only the system prompt: a group of its own.
    assert d.prefix == PrefixTag(digests(few_shot)[1], claude_tokens(SYSTEM), 1)
    assert b.prefix.key != d.prefix.key
    assert b.prefix.tokens > d.prefix.tokens
    assert finder.founders() == [("key-1", b.prefix), ("key-3", d.prefix)]
    # A later few-shot request joins the deeper group.
    assert e.prefix == b.prefix


def test_a_rule_that_turns_prompt_caching_off_keeps_the_group_but_not_the_mark() -> None:
    finder = PrefixFinder()
    finder.tag(line(1, claude_body("When is high tide?")))
    second = finder.tag(line(2, claude_body("Low?"), route=route(prompt_cache=False)))
    assert second.prefix is not None
    assert second.prefix.parts is None
    assert second.prefix.tokens >= MIN_CACHEABLE_TOKENS
    assert finder.founders() == [("key-1", PrefixTag(second.prefix.key, second.prefix.tokens, 1))]

    finder = PrefixFinder()
    finder.tag(line(1, claude_body("When is high tide?"), route=route(prompt_cache=False)))
    second = finder.tag(line(2, claude_body("Low?"), route=route(prompt_cache=True)))
    assert second.prefix is not None
    assert second.prefix.parts == 1
    assert finder.founders() == [
        ("key-1", PrefixTag(second.prefix.key, second.prefix.tokens, None))
    ]


def test_a_body_with_its_own_markers_joins_its_group_unmarked() -> None:
    finder = PrefixFinder()
    finder.tag(line(1, claude_body("When is high tide?")))
    top_level = finder.tag(line(2, claude_body("Low?", cache_control={"type": "ephemeral"})))
    assert top_level.prefix is not None
    assert top_level.prefix.parts is None

    own_block = claude_body("x")
    own_block["messages"][0]["content"] = [
        {"type": "text", "text": "Who?", "cache_control": {"type": "ephemeral"}}
    ]
    on_last_block = finder.tag(line(3, own_block))
    assert on_last_block.prefix is not None
    assert on_last_block.prefix.parts is None
    assert on_last_block.prefix.key == top_level.prefix.key
    assert finder.founders() == [
        ("key-1", PrefixTag(top_level.prefix.key, top_level.prefix.tokens, 1))
    ]


def test_openai_requests_with_different_own_keys_never_share() -> None:
    finder = PrefixFinder()

    def openai(number: int, body: dict[str, Any]) -> ParsedLine:
        return line(number, body, provider=Provider.OPENAI, endpoint=CHAT, model=GPT)

    first = finder.tag(openai(1, chat_body("High?", prompt_cache_key="a")))
    other_key = finder.tag(openai(2, chat_body("Low?", prompt_cache_key="b")))
    no_key = finder.tag(openai(3, chat_body("Mid?")))
    assert first.prefix is None
    assert other_key.prefix is None
    assert no_key.prefix is None
    assert finder.founders() == []

    same_key = finder.tag(openai(4, chat_body("Slack?", prompt_cache_key="a")))
    assert same_key.prefix is not None
    assert same_key.prefix.parts is None  # the caller's own key: body stays as sent
    assert same_key.prefix.tokens == count_text(GPT, SYSTEM).tokens + TOKENS_PER_PART
    assert finder.founders() == [("key-1", same_key.prefix)]

    plain = finder.tag(openai(5, chat_body("Ebb?")))
    assert plain.prefix is not None
    assert plain.prefix.parts == 1
    assert plain.prefix.key != same_key.prefix.key
    assert finder.founders()[1] == ("key-3", plain.prefix)


def test_a_queued_group_is_joined_by_the_first_request() -> None:
    system_digest = digests(prompt_of(claude_body("x")))[1]
    finder = PrefixFinder(frozenset({system_digest}))
    first = finder.tag(line(1, claude_body("When is high tide?")))
    assert first.prefix == PrefixTag(system_digest, claude_tokens(SYSTEM), 1)
    second = finder.tag(line(2, claude_body("When is low tide?")))
    assert second.prefix == first.prefix
    assert finder.founders() == []  # the group was founded in an earlier submission


def test_the_deepest_queued_group_is_joined() -> None:
    few_shot = digests(prompt_of(claude_body("x", few_shot=True)))
    finder = PrefixFinder(frozenset({few_shot[1], few_shot[3]}))
    tagged = finder.tag(line(1, claude_body("Q?", few_shot=True)))
    assert tagged.prefix is not None
    assert tagged.prefix.key == few_shot[3]
    assert tagged.prefix.parts == 3
    assert finder.founders() == []


def test_without_queued_groups_the_first_request_stays_untagged() -> None:
    finder = PrefixFinder()
    assert finder.tag(line(1, claude_body("When is high tide?"))).prefix is None


def test_a_short_body_is_not_even_parsed() -> None:
    finder = PrefixFinder()
    broken = ParsedLine(1, "key-1", Provider.ANTHROPIC, MESSAGES, CLAUDE, "{not json")
    assert finder.tag(broken) is broken
    assert finder.founders() == []


def test_a_body_without_a_cacheable_prompt_is_returned_as_is() -> None:
    finder = PrefixFinder()
    body = {"model": "text-embedding-3-small", "input": SYSTEM}
    for number in (1, 2):
        embedding = line(
            number,
            body,
            provider=Provider.OPENAI,
            endpoint="/v1/embeddings",
            model="text-embedding-3-small",
        )
        assert finder.tag(embedding) is embedding
    assert finder.founders() == []


def test_boundaries_too_short_to_hold_the_minimum_are_not_offered_to_the_finder() -> None:
    few_shot = claude_body("Why?", system="Be brief.", few_shot=True)
    every = prompt_of(few_shot)
    # Without a bound: after the system prompt, the example, and the example's answer.
    assert [parts for parts, _ in every.boundaries] == [1, 2, 3]
    bounded = read_prompt(Provider.ANTHROPIC, MESSAGES, CLAUDE, few_shot, MIN_CACHEABLE_TOKENS)
    assert bounded is not None
    # "Be brief." alone can never be 1,024 tokens; the example (2,760 characters) can.
    assert [parts for parts, _ in bounded.boundaries] == [2, 3]
    assert dict(bounded.boundaries) == {k: v for k, v in every.boundaries if k >= 2}


def test_a_marker_deep_inside_a_document_or_a_fetched_page_counts_as_the_callers_own() -> None:
    document = {
        "type": "document",
        "source": {
            "type": "content",
            "content": [{"type": "text", "text": "6am", "cache_control": {"type": "ephemeral"}}],
        },
    }
    fetched = {
        "type": "web_fetch_tool_result",
        "tool_use_id": "t1",
        "content": {"type": "document", "cache_control": {"type": "ephemeral"}},
    }
    for block in (document, fetched):
        body = claude_body("Why?")
        body["messages"][0]["content"] = [block, {"type": "text", "text": "Why?"}]
        assert prompt_of(body).own_marks
    # The words "cache_control" inside a text are text, not a marker.
    quoted = claude_body('Explain "cache_control": {"type": "ephemeral"} to me.')
    quoted["messages"][0]["content"] = [{"type": "text", "text": quoted["messages"][0]["content"]}]
    assert not prompt_of(quoted).own_marks


def test_a_tool_that_is_not_an_object_is_never_marked() -> None:
    body = claude_body("Why?", tools=["x" * 5_000, TOOL_A])
    prompt = prompt_of(body)
    assert 1 not in dict(prompt.boundaries)  # the text "tool" ends no prefix
    # Whatever is asked, marking never breaks on it: the body comes back as given.
    assert mark_prefix(Provider.ANTHROPIC, MESSAGES, orjson.dumps(body).decode(), "k", 1, "1h") == (
        orjson.dumps(body).decode()
    )


def test_marking_pays_from_three_requests_in_a_batch_and_two_in_five_minutes() -> None:
    # One-hour write 2x + reads 0.1x against plain 1x each: 2.1 >= 2, 2.2 < 3.
    assert smallest_group(Provider.ANTHROPIC, "1h") == 3
    # Five-minute write 1.25x: 1.35 < 2.
    assert smallest_group(Provider.ANTHROPIC, "5m") == 2
    assert smallest_group(Provider.OPENAI, "1h") == 2  # a cache key costs nothing


def test_the_long_text_memo_keeps_no_text() -> None:
    from halfrate.prefixes import parts

    prompt_of(claude_body("Why?", system="A long shared document. " * 2_000))
    assert parts._text_digests
    for key in parts._text_digests:
        role, length, digest = key
        assert isinstance(role, str)
        assert len(role) < 20
        assert isinstance(length, int)
        assert isinstance(digest, int)
