"""The new-job wizard, one progressive page: upload a spreadsheet, see its first rows, write the
prompt (a click on a column puts ``{column}`` in), the instructions, the answer's shape, the
model and when it is needed; see the price both ways; Run.

The whole table is read and checked before Run stores anything, exactly as `halfrate run`
does. Run twice (a double click) makes one job: a table and its question name their job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from halfrate.api import DEFAULT_MAX_TOKENS, Account, AnswerShape, TableOptions, TablePlan
from halfrate.errors import HalfrateError, InputError, NotFound
from halfrate.models import Lane
from halfrate.web import expected, pages
from halfrate.web.state import check_csrf, signed_in, web
from halfrate.web.uploads import Upload, shown_error

router = APIRouter()
MODELS = ("gpt-4o-mini", "gpt-4.1-mini", "gpt-4o", "claude-haiku-4-5", "claude-sonnet-4-5")
MAX_PROMPT_CHARS = 100_000
DEFAULT_FEATURE = "spreadsheet"
WHEN = {"now": "Now", "tomorrow": "By tomorrow"}


@dataclass
class Asked:
    """The wizard's form: what is asked of every row."""

    upload: str = ""
    sheet: str = ""
    prompt: str = ""
    system: str = ""
    answer: str = "text"  # text | columns
    columns: str = ""
    model: str = MODELS[0]
    when: str = "tomorrow"
    feature: str = DEFAULT_FEATURE

    def options(self) -> TableOptions:
        shape = AnswerShape.from_spec(self.columns) if self.answer == "columns" else None
        system = self.system.strip() or None
        return TableOptions(self.model, system, DEFAULT_MAX_TOKENS, None, self.sheet or None, shape)


def asked_form(
    upload: Annotated[str, Form(max_length=64)] = "",
    sheet: Annotated[str, Form(max_length=300)] = "",
    prompt: Annotated[str, Form(max_length=MAX_PROMPT_CHARS)] = "",
    system: Annotated[str, Form(max_length=MAX_PROMPT_CHARS)] = "",
    answer: Annotated[str, Form(pattern="^(text|columns)$")] = "text",
    columns: Annotated[str, Form(max_length=20_000)] = "",
    model: Annotated[str, Form(max_length=200)] = MODELS[0],
    when: Annotated[str, Form(pattern="^(now|tomorrow)$")] = "tomorrow",
    feature: Annotated[str, Form(max_length=200)] = DEFAULT_FEATURE,
) -> Asked:
    return Asked(upload, sheet, prompt, system, answer, columns, model, when, feature)


@router.get("/jobs/new")
def wizard(request: Request, upload: str = "", sheet: str = "") -> Response:
    account = signed_in(request)
    context: dict[str, Any] = {"account": account, "models": MODELS, "when_choices": WHEN}
    if not upload:
        return pages.render(request, "wizard.html", context)
    found = _upload(request, upload, account)
    asked = Asked(upload=found.id, sheet=sheet)
    return _wizard_page(request, found, asked, context)


@router.post("/uploads", dependencies=[Depends(check_csrf)])
def upload_table(request: Request, spreadsheet: UploadFile | None = None) -> Response:
    account = signed_in(request)
    context: dict[str, Any] = {"account": account, "models": MODELS, "when_choices": WHEN}
    if spreadsheet is None or not spreadsheet.filename:
        context["error"] = "Choose a spreadsheet to upload (.csv, .tsv or .xlsx)."
        return pages.render(request, "wizard.html", context, status_code=400)
    try:
        made = web(request).uploads.save(spreadsheet.file, spreadsheet.filename, account)
    except InputError as exc:
        context["error"] = str(exc)
        return pages.render(request, "wizard.html", context, status_code=400)
    try:  # a table halfrate cannot read is said now, and not kept
        preview = web(request).hr.preview_table(made.path)
        if not preview.total_rows:
            raise InputError(f"{made.name}: no rows with values under the first row")
    except InputError as exc:
        web(request).uploads.discard(made)
        context["error"] = shown_error(str(exc), made)
        return pages.render(request, "wizard.html", context, status_code=400)
    return RedirectResponse(f"/jobs/new?upload={made.id}", status_code=303)


@router.post("/jobs/new/estimate", dependencies=[Depends(check_csrf)])
def estimate(request: Request, asked: Annotated[Asked, Depends(asked_form)]) -> Response:
    account = signed_in(request)
    found = _upload(request, asked.upload, account)
    return pages.render(request, "_estimate.html", _priced(request, found, asked))


@router.post("/jobs/new/run", dependencies=[Depends(check_csrf)])
def run(request: Request, asked: Annotated[Asked, Depends(asked_form)]) -> Response:
    account = signed_in(request)
    found = _upload(request, asked.upload, account)
    hr = web(request).hr
    try:
        plan = _plan(request, found, asked)
        hr.estimate_table(plan)  # every row read and checked before anything is stored
        outcome = hr.submit_table(
            plan, feature=asked.feature.strip() or DEFAULT_FEATURE, waiting=asked.when == "now"
        )
    except HalfrateError as exc:
        context = {"account": account, "models": MODELS, "when_choices": WHEN}
        context["error"] = shown_error(str(exc), found)
        return _wizard_page(request, found, asked, context, status_code=400)
    hr.own_job(outcome.job_id, account, found.name)
    return RedirectResponse(f"/jobs/{outcome.job_id}", status_code=303)


def _upload(request: Request, upload_id: str, account: Account) -> Upload:
    try:
        return web(request).uploads.find(upload_id, account)
    except NotFound:
        from fastapi import HTTPException

        raise HTTPException(404) from None


def _plan(request: Request, found: Upload, asked: Asked) -> TablePlan:
    if not asked.prompt.strip():
        raise InputError("Write the prompt: what to ask of each row, with {column} for its values")
    return web(request).hr.plan_table(found.path, asked.prompt, asked.options())


def _priced(request: Request, found: Upload, asked: Asked) -> dict[str, Any]:
    """The estimate fragment's context: three rendered prompts and the price both ways, or the
    one thing wrong with the form."""
    hr = web(request).hr
    try:
        plan = _plan(request, found, asked)
        samples = hr.sample_prompts(plan)
        made = hr.estimate_table(plan)
    except HalfrateError as exc:
        return {"problem": shown_error(str(exc), found)}
    realtime, batch = made.total(Lane.REALTIME), made.total(Lane.BATCH)
    now = time.time()
    now_end, batch_end = expected.before_start(made.requests, hr.settings.realtime_concurrency, now)
    return {
        "now_end": now_end,
        "now_takes": expected.about(now_end.at - now),
        "batch_end": batch_end,
        "concurrency": hr.settings.realtime_concurrency,
        "samples": samples,
        "requests": made.requests,
        "realtime": realtime,
        "batch": batch,
        "saved": realtime - batch,
        "saved_share": float((realtime - batch) / realtime) if realtime else None,
        "cache_read_tokens": made.cache_read_tokens,
        "realtime_cached": made.total_cached(Lane.REALTIME),
        "batch_cached": made.total_cached(Lane.BATCH),
        "ceiling": any(m.output_limited for m in made.models),
        "approximate": any(not m.input_exact for m in made.models),
        "when": asked.when,
    }


def _wizard_page(
    request: Request,
    found: Upload,
    asked: Asked,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> Response:
    try:
        preview = web(request).hr.preview_table(found.path, asked.sheet or None)
    except InputError as exc:
        context["error"] = shown_error(str(exc), found)
        return pages.render(request, "wizard.html", context, status_code=400)
    context.update(upload=found, preview=preview, asked=asked)
    return pages.render(request, "wizard.html", context, status_code=status_code)
