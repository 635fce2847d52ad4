"""``GET /v1/models`` and ``GET /v1/models/{id}``: the one path both providers serve.

Listing models is the cheapest call a key can make, so it is how a key is tested. OpenAI and
Anthropic both answer it at the same path, each in its own shape. The middleware decides whose
request it is by its headers (:func:`halfrate.sandbox.anthropic.wire.is_anthropic_request`);
these routes answer in that provider's shape (:func:`halfrate.sandbox.middleware.speaks_anthropic`).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from halfrate.sandbox.anthropic import model_list as claude
from halfrate.sandbox.anthropic.wire import MODELS_PATH, parse_limit
from halfrate.sandbox.common.responses import json_response
from halfrate.sandbox.middleware import speaks_anthropic
from halfrate.sandbox.openai import model_list as openai


def _lifecycles(request: Request) -> list[str] | None:
    # The SDK sends a list as lifecycle[]=a&lifecycle[]=b; a hand-made URL may drop the brackets.
    stages = request.query_params.getlist("lifecycle[]") + request.query_params.getlist("lifecycle")
    return stages or None


def models_router() -> APIRouter:
    router = APIRouter()

    @router.get(MODELS_PATH)
    async def list_models(request: Request) -> Response:
        if not speaks_anthropic(request):
            return json_response(openai.list_models())
        params = request.query_params
        page = claude.list_page(
            limit=parse_limit(params.get("limit")),
            after_id=params.get("after_id") or None,
            before_id=params.get("before_id") or None,
            lifecycles=_lifecycles(request),
        )
        return json_response(page)

    @router.get(MODELS_PATH + "/{model_id}")
    async def retrieve_model(model_id: str, request: Request) -> Response:
        if speaks_anthropic(request):
            return json_response(claude.retrieve(model_id))
        return json_response(openai.retrieve(model_id))

    return router
