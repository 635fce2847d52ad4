"""Structured outputs through the real ``openai`` and ``anthropic`` SDKs: answers that parse and
fit their schema, synchronously and in batches, the ``line_schema_break`` fault, and the 400s a
bad format gets (docs/openai-batch.md#structured-outputs,
docs/anthropic-batches.md#structured-outputs)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final, Literal

import anthropic
import httpx2
import openai
import orjson
import pydantic
import pytest

from halfrate.sandbox import InProcessTransport, SandboxServer, create_app
from halfrate.sandbox import anthropic_client as make_anthropic_client
from halfrate.sandbox import openai_client as make_openai_client
from halfrate.tokens import count_text
from tests.unit.test_sandbox_schema_answer import schema_problems

GPT = "gpt-4o-mini"
CLAUDE = "claude-haiku-4-5"
CHAT: Final = "/v1/chat/completions"
ROOT = "http://sandbox.local"
MARKER = "[halfrate sandbox]"
SENTIMENTS = ["positive", "neutral", "negative"]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": SENTIMENTS},
        "product": {"type": "string"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "stars": {"type": "integer", "minimum": 1, "maximum": 5},
        "recommend": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["sentiment", "product", "score", "stars", "recommend", "tags"],
    "additionalProperties": False,
}
RESPONSE_FORMAT: Any = {
    "type": "json_schema",
    "json_schema": {"name": "review", "schema": SCHEMA, "strict": True},
}
OUTPUT_CONFIG: Any = {"format": {"type": "json_schema", "schema": SCHEMA}}


def ask(i: int) -> list[Any]:
    return [{"role": "user", "content": f"Review {i}: the kettle boils fast but leaks a little."}]


class Address(pydantic.BaseModel):
    city: str
    floor: int | None


class Review(pydantic.BaseModel):
    sentiment: Literal["positive", "neutral", "negative"]
    stars: int
    recommend: bool
    tags: list[str]
    address: Address


def fits(text: str | None, schema: dict[str, Any] = SCHEMA) -> dict[str, Any]:
    """The answer, parsed, after checking that it fits ``schema``."""
    assert text is not None
    value = orjson.loads(text)
    assert schema_problems(value, schema) == [], value
    assert isinstance(value, dict)
    return value


def breaks(text: str | None) -> bool:
    assert text is not None
    try:
        return bool(schema_problems(orjson.loads(text), SCHEMA))
    except orjson.JSONDecodeError:
        return True


@pytest.fixture
def oai() -> Iterator[openai.OpenAI]:
    with make_openai_client(create_app()) as client:
        yield client.with_options(max_retries=0)


@pytest.fixture
def claude() -> Iterator[anthropic.Anthropic]:
    with make_anthropic_client(create_app()) as client:
        yield client.with_options(max_retries=0)


@contextmanager
def faulty(faults: str) -> Iterator[tuple[openai.OpenAI, anthropic.Anthropic, httpx2.Client]]:
    """Both SDKs on one app with ``faults``, and a plain client for its ledger."""
    app = create_app(faults=faults)
    with (
        make_openai_client(app) as oai_client,
        make_anthropic_client(app) as claude_client,
        httpx2.Client(transport=InProcessTransport(app), base_url=ROOT) as http,
    ):
        yield (
            oai_client.with_options(max_retries=0),
            claude_client.with_options(max_retries=0),
            http,
        )


# -- OpenAI, synchronous ---------------------------------------------------------------------


def test_openai_chat_answer_fits_the_schema_and_repeats(oai: openai.OpenAI) -> None:
    made = [
        oai.chat.completions.create(model=GPT, messages=ask(i), response_format=RESPONSE_FORMAT)
        for i in range(12)
    ]
    values = []
    for completion in made:
        (choice,) = completion.choices
        assert choice.finish_reason == "stop"
        values.append(fits(choice.message.content))
        assert completion.usage is not None
        tokens = count_text(GPT, choice.message.content or "").tokens
        assert completion.usage.completion_tokens == tokens
    assert {v["sentiment"] for v in values} <= set(SENTIMENTS)
    assert len({v["sentiment"] for v in values}) > 1
    assert all(0 <= v["score"] <= 1 and 1 <= v["stars"] <= 5 for v in values)
    again = oai.chat.completions.create(model=GPT, messages=ask(3), response_format=RESPONSE_FORMAT)
    assert again.choices[0].message.content == made[3].choices[0].message.content


def test_openai_parse_with_a_pydantic_model(oai: openai.OpenAI) -> None:
    # The SDK makes the strict schema ($defs, nullable fields) and validates the answer.
    parsed = oai.chat.completions.parse(model=GPT, messages=ask(1), response_format=Review)
    review = parsed.choices[0].message.parsed
    assert isinstance(review, Review)
    assert review.sentiment in SENTIMENTS
    response = oai.responses.parse(model=GPT, input="Review the kettle.", text_format=Review)
    assert isinstance(response.output_parsed, Review)


def test_openai_streaming_gives_the_same_json(oai: openai.OpenAI) -> None:
    whole = oai.chat.completions.create(model=GPT, messages=ask(2), response_format=RESPONSE_FORMAT)
    stream = oai.chat.completions.create(
        model=GPT, messages=ask(2), response_format=RESPONSE_FORMAT, stream=True
    )
    pieces = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert pieces == whole.choices[0].message.content


def test_openai_cap_cuts_the_json(oai: openai.OpenAI) -> None:
    cut = oai.chat.completions.create(
        model=GPT, messages=ask(4), response_format=RESPONSE_FORMAT, max_completion_tokens=6
    )
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage is not None
    assert cut.usage.completion_tokens == 6
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(cut.choices[0].message.content or "")
    with pytest.raises(openai.LengthFinishReasonError):  # what the SDK does with a cut answer
        oai.chat.completions.parse(model=GPT, messages=ask(4), response_format=Review, max_tokens=6)


def test_openai_json_mode_and_plain_text(oai: openai.OpenAI) -> None:
    asked: Any = [{"role": "user", "content": "Describe the kettle as JSON."}]
    made = oai.chat.completions.create(
        model=GPT, messages=asked, response_format={"type": "json_object"}
    )
    assert isinstance(orjson.loads(made.choices[0].message.content or ""), dict)
    plain = oai.chat.completions.create(model=GPT, messages=asked, response_format={"type": "text"})
    assert (plain.choices[0].message.content or "").startswith(MARKER)
    loose: Any = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    made = oai.chat.completions.create(model=GPT, messages=ask(0), response_format=loose)
    assert isinstance(orjson.loads(made.choices[0].message.content or ""), dict)


def test_openai_responses_text_format(oai: openai.OpenAI) -> None:
    fmt: Any = {"type": "json_schema", "name": "review", "schema": SCHEMA, "strict": True}
    response = oai.responses.create(model=GPT, input="Review the kettle.", text={"format": fmt})
    fits(response.output_text)
    assert response.text is not None
    assert response.text.format is not None
    assert response.text.format.type == "json_schema"
    cut = oai.responses.create(
        model=GPT, input="Review the kettle.", text={"format": fmt}, max_output_tokens=16
    )
    assert cut.status == "incomplete"
    assert breaks(cut.output_text)


def _open(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != "additionalProperties"}


NESTED = SCHEMA | {
    "properties": SCHEMA["properties"] | {"where": {"type": "object", "properties": {}}},
    "required": [*SCHEMA["required"], "where"],
}
BAD_RESPONSE_FORMATS = [
    ("json_schema", "Invalid type for 'response_format': expected an object", "response_format"),
    (
        {"type": "xml"},
        "Invalid value: 'xml'. Supported values are: 'text', 'json_object', and 'json_schema'.",
        "response_format.type",
    ),
    (
        {"type": "json_schema"},
        "Missing required parameter: 'response_format.json_schema'.",
        "response_format.json_schema",
    ),
    (
        {"type": "json_schema", "json_schema": {"schema": SCHEMA}},
        "Missing required parameter: 'response_format.json_schema.name'.",
        "response_format.json_schema.name",
    ),
    (
        {"type": "json_schema", "json_schema": {"name": "a review", "schema": SCHEMA}},
        "string does not match pattern",
        "response_format.json_schema.name",
    ),
    (
        {"type": "json_schema", "json_schema": {"name": "review", "schema": ["x"]}},
        "Invalid type for 'response_format.json_schema.schema': expected an object, but got array",
        "response_format.json_schema.schema",
    ),
    (
        {
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": _open(SCHEMA), "strict": True},
        },
        "Invalid schema for response_format 'r': In context=(), 'additionalProperties' is "
        "required to be supplied and to be false.",
        "response_format",
    ),
    (
        {
            "type": "json_schema",
            "json_schema": {
                "name": "r",
                "schema": SCHEMA | {"required": ["sentiment"]},
                "strict": True,
            },
        },
        "'required' is required to be supplied and to be an array including every key in "
        "properties. Missing 'product'.",
        "response_format",
    ),
    (
        {"type": "json_schema", "json_schema": {"name": "r", "schema": NESTED, "strict": True}},
        "In context=('properties', 'where'), 'additionalProperties' is required",
        "response_format",
    ),
    (
        {
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": {"type": "array"}, "strict": True},
        },
        "schema must be a JSON Schema of 'type: \"object\"', got 'type: \"array\"'.",
        "response_format",
    ),
    (
        {"type": "json_object"},
        "'messages' must contain the word 'json' in some form",
        "messages",
    ),
]


@pytest.mark.parametrize(("value", "message", "param"), BAD_RESPONSE_FORMATS)
def test_openai_refuses_a_bad_response_format(
    oai: openai.OpenAI, value: Any, message: str, param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(
            model=GPT, messages=ask(0), extra_body={"response_format": value}
        )
    assert caught.value.status_code == 400
    assert message in caught.value.message
    assert caught.value.param == param
    assert caught.value.type == "invalid_request_error"


def test_openai_non_strict_schemas_are_not_held_to_strict_rules(oai: openai.OpenAI) -> None:
    loose = {"type": "json_schema", "json_schema": {"name": "r", "schema": _open(SCHEMA)}}
    made = oai.chat.completions.create(
        model=GPT, messages=ask(0), extra_body={"response_format": loose}
    )
    fits(made.choices[0].message.content)


def test_openai_responses_refuses_a_format_without_schema(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(
            model=GPT,
            input="x",
            extra_body={"text": {"format": {"type": "json_schema", "name": "r"}}},
        )
    assert caught.value.param == "text.format.schema"
    assert "Missing required parameter: 'text.format.schema'." in caught.value.message


# -- Anthropic, synchronous ------------------------------------------------------------------


def test_claude_answer_fits_the_schema_and_repeats(claude: anthropic.Anthropic) -> None:
    values = []
    for i in range(12):
        message = claude.messages.create(
            model=CLAUDE, max_tokens=400, messages=ask(i), output_config=OUTPUT_CONFIG
        )
        assert message.stop_reason == "end_turn"
        (block,) = message.content
        assert block.type == "text"
        values.append(fits(block.text))
        assert message.usage.output_tokens == count_text(CLAUDE, block.text).tokens
    assert {v["sentiment"] for v in values} <= set(SENTIMENTS)
    assert all(0 <= v["score"] <= 1 and 1 <= v["stars"] <= 5 for v in values)
    again = claude.messages.create(
        model=CLAUDE, max_tokens=400, messages=ask(5), output_config=OUTPUT_CONFIG
    )
    assert (
        again.content
        == claude.messages.create(
            model=CLAUDE, max_tokens=400, messages=ask(5), output_config=OUTPUT_CONFIG
        ).content
    )
    assert orjson.loads(again.content[0].text) == values[5]  # type: ignore[union-attr]


def test_claude_parse_stream_and_cap(claude: anthropic.Anthropic) -> None:
    parsed = claude.messages.parse(
        model=CLAUDE, max_tokens=400, messages=ask(1), output_format=Review
    )
    assert isinstance(parsed.parsed_output, Review)
    whole = claude.messages.create(
        model=CLAUDE, max_tokens=400, messages=ask(1), output_config=OUTPUT_CONFIG
    )
    with claude.messages.stream(
        model=CLAUDE, max_tokens=400, messages=ask(1), output_config=OUTPUT_CONFIG
    ) as stream:
        streamed = stream.get_final_message()
    assert [b.model_dump() for b in streamed.content] == [b.model_dump() for b in whole.content]
    cut = claude.messages.create(
        model=CLAUDE, max_tokens=5, messages=ask(1), output_config=OUTPUT_CONFIG
    )
    assert cut.stop_reason == "max_tokens"
    assert cut.usage.output_tokens == 5
    assert breaks(cut.content[0].text)  # type: ignore[union-attr]


BAD_OUTPUT_CONFIGS = [
    ("json", "output_config: Input should be a valid dictionary"),
    ({"format": "json"}, "output_config.format: Input should be a valid dictionary"),
    ({"format": {"schema": SCHEMA}}, "output_config.format.type: Field required"),
    (
        {"format": {"type": "json_object", "schema": SCHEMA}},
        "output_config.format.type: Input should be 'json_schema'",
    ),
    ({"format": {"type": "json_schema"}}, "output_config.format.schema: Field required"),
    (
        {"format": {"type": "json_schema", "schema": "{}"}},
        "output_config.format.schema: Input should be a valid dictionary",
    ),
]


@pytest.mark.parametrize(("value", "message"), BAD_OUTPUT_CONFIGS)
def test_claude_refuses_a_bad_output_config(
    claude: anthropic.Anthropic, value: Any, message: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model=CLAUDE, max_tokens=50, messages=ask(0), extra_body={"output_config": value}
        )
    body: Any = caught.value.body
    assert body["error"] == {"type": "invalid_request_error", "message": message}


# -- batches and the line_schema_break fault -------------------------------------------------


def openai_batch(client: openai.OpenAI, bodies: dict[str, Any]) -> dict[str, Any]:
    """Run one chat batch to its end; each line's response by custom_id (output and errors)."""
    data = b"".join(
        orjson.dumps({"custom_id": cid, "method": "POST", "url": CHAT, "body": body}) + b"\n"
        for cid, body in bodies.items()
    )
    file = client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch")
    batch = client.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h")
    done = client.batches.retrieve(batch.id)  # latency 0: the first read completes it
    assert done.status == "completed"
    lines = []
    for file_id in (done.output_file_id, done.error_file_id):
        if file_id is not None:
            lines += client.files.content(file_id).text.splitlines()
    return {x["custom_id"]: x["response"] for x in map(orjson.loads, lines)}


def claude_batch(client: anthropic.Anthropic, params: dict[str, Any]) -> dict[str, Any]:
    batch = client.messages.batches.create(
        requests=[{"custom_id": cid, "params": p} for cid, p in params.items()]
    )
    assert client.messages.batches.retrieve(batch.id).processing_status == "ended"
    return {x.custom_id: x.result for x in client.messages.batches.results(batch.id)}


def chat_body(i: int, **extra: Any) -> dict[str, Any]:
    return {"model": GPT, "messages": ask(i), **extra}


def claude_params(i: int, **extra: Any) -> dict[str, Any]:
    return {"model": CLAUDE, "max_tokens": 400, "messages": ask(i), **extra}


def test_openai_batch_lines_fit_and_match_the_sync_answer(oai: openai.OpenAI) -> None:
    bad = {
        "type": "json_schema",
        "json_schema": {"name": "r", "schema": _open(SCHEMA), "strict": True},
    }
    bodies = {f"s{i}": chat_body(i, response_format=RESPONSE_FORMAT) for i in range(6)}
    bodies |= {"plain": chat_body(9), "bad": chat_body(0, response_format=bad)}
    lines = openai_batch(oai, bodies)
    for i in range(6):
        assert lines[f"s{i}"]["status_code"] == 200
        content = lines[f"s{i}"]["body"]["choices"][0]["message"]["content"]
        fits(content)
        sync = oai.chat.completions.create(**bodies[f"s{i}"])
        assert sync.choices[0].message.content == content  # the same body, the same answer
    assert lines["plain"]["body"]["choices"][0]["message"]["content"].startswith(MARKER)
    assert lines["bad"]["status_code"] == 400
    assert "'additionalProperties' is required" in lines["bad"]["body"]["error"]["message"]


def test_claude_batch_results_fit(claude: anthropic.Anthropic) -> None:
    params = {f"s{i}": claude_params(i, output_config=OUTPUT_CONFIG) for i in range(6)}
    params |= {"plain": claude_params(9), "bad": claude_params(0, output_config={"format": {}})}
    results = claude_batch(claude, params)
    for i in range(6):
        result = results[f"s{i}"]
        assert result.type == "succeeded"
        fits(result.message.content[0].text)
    assert results["plain"].message.content[0].text.startswith(MARKER)
    assert results["bad"].type == "errored"
    assert results["bad"].error.error.message == "output_config.format.type: Field required"


def test_line_schema_break_breaks_every_structured_line_but_no_plain_one() -> None:
    with faulty("line_schema_break=1,seed=5") as (oai, claude, http):
        bodies = {f"s{i}": chat_body(i, response_format=RESPONSE_FORMAT) for i in range(12)}
        bodies |= {
            "plain": chat_body(9),
            "mode": chat_body(7, response_format={"type": "json_object"}),
        }
        bodies["mode"]["messages"] = [{"role": "user", "content": "Answer in JSON."}]
        lines = openai_batch(oai, bodies)
        params = {f"s{i}": claude_params(i, output_config=OUTPUT_CONFIG) for i in range(12)}
        params["plain"] = claude_params(9)
        results = claude_batch(claude, params)
        sync = oai.chat.completions.create(**chat_body(0, response_format=RESPONSE_FORMAT))
        ledger = http.get("/_sandbox/ledger").json()["entries"]
    assert all(line["status_code"] == 200 for line in lines.values())  # broken, yet succeeded
    contents = {
        cid: line["body"]["choices"][0]["message"]["content"] for cid, line in lines.items()
    }
    texts = {cid: r.message.content[0].text for cid, r in results.items() if r.type == "succeeded"}
    assert len(texts) == len(params)
    for cid in bodies.keys() - {"plain", "mode"}:
        assert breaks(contents[cid]), contents[cid]
        assert breaks(texts[cid]), texts[cid]
    with pytest.raises(orjson.JSONDecodeError):  # JSON mode has no schema: only prose breaks it
        orjson.loads(contents["mode"])
    assert contents["plain"].startswith(MARKER)
    assert texts["plain"].startswith(MARKER)
    fits(sync.choices[0].message.content)  # a line fault: synchronous calls are not touched
    batch_entries = [e for e in ledger if e["kind"] == "batch"]
    assert all(e["charged"] for e in batch_entries)
    faults = {(e["provider"], e["custom_id"]): e["fault"] for e in batch_entries}
    assert faults.pop(("openai", "plain")) is None
    assert faults.pop(("anthropic", "plain")) is None
    assert set(faults.values()) == {"line_schema_break"}


def test_line_schema_break_uses_every_kind_of_break() -> None:
    with faulty("line_schema_break=1") as (oai, _claude, _http):
        bodies = {f"s{i}": chat_body(i, response_format=RESPONSE_FORMAT) for i in range(40)}
        lines = openai_batch(oai, bodies)
    kinds = set()
    for line in lines.values():
        text = line["body"]["choices"][0]["message"]["content"]
        try:
            problems = " ".join(schema_problems(orjson.loads(text), SCHEMA))
        except orjson.JSONDecodeError:
            kinds.add("not_json")
            continue
        kinds.add(
            "missing"
            if "is missing" in problems
            else "enum"
            if "is not one of" in problems
            else "number"
        )
    assert kinds == {"not_json", "missing", "enum", "number"}


def test_structured_answers_over_loopback() -> None:
    with (
        SandboxServer(latency=0.0) as server,
        make_openai_client(server) as oai,
        make_anthropic_client(server) as claude,
    ):
        made = oai.chat.completions.create(
            model=GPT, messages=ask(1), response_format=RESPONSE_FORMAT
        )
        fits(made.choices[0].message.content)
        message = claude.messages.create(
            model=CLAUDE, max_tokens=400, messages=ask(1), output_config=OUTPUT_CONFIG
        )
        fits(message.content[0].text)  # type: ignore[union-attr]
