"""A job's own page (progress, failed rows, downloads, re-run, cancel, receipt) and the list of
the jobs a person may see. Another team's job is "not found", exactly like a job that does not
exist, for its page, its progress and its downloads alike."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.background import BackgroundTask

from halfrate.api import Account, OwnedJob, TablePlan, is_rerun_name
from halfrate.errors import HalfrateError, NotFound
from halfrate.web import pages
from halfrate.web.job_view import FAILED, RunView, view_run
from halfrate.web.state import check_csrf, signed_in, web
from halfrate.web.uploads import for_the_page

router = APIRouter()
FAILED_SHOWN = 50


@router.get("/jobs")
def jobs_list(request: Request, status: str = "", q: str = "") -> Response:
    account = signed_in(request)
    state = web(request)
    owned = state.hr.jobs_for(account)
    names = {each.name for each in owned}
    rows = []
    for run in owned:
        if is_rerun_name(run.name, names):
            continue  # shown as part of its run
        if q and q.lower() not in f"{run.name} {run.upload_name or ''}".lower():
            continue
        view = view_run(state.hr, run, account, state.finished)
        shown = _state(run, view)
        if status and shown != status and not (status == "cancelled" and shown == "cancelling"):
            continue
        at = datetime.fromtimestamp(run.created_at, UTC)
        rows.append(
            {
                "job": run,
                "view": view,
                "state": shown,
                "started": at.strftime("%Y-%m-%d %H:%M UTC"),
                "started_iso": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
    context = {"account": account, "rows": rows, "status": status, "q": q}
    return pages.render(request, "jobs.html", context)


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str) -> Response:
    account = signed_in(request)
    return pages.render(request, "job.html", _job_context(request, account, job_id))


@router.get("/jobs/{job_id}/progress")
def job_progress(request: Request, job_id: str) -> Response:
    account = signed_in(request)
    return pages.render(request, "_progress.html", _job_context(request, account, job_id))


@router.get("/jobs/{job_id}/download.{kind}")
def download(request: Request, job_id: str, kind: str) -> Response:
    account = signed_in(request)
    if kind not in ("csv", "xlsx"):
        raise HTTPException(404)
    found = _visible(request, account, job_id)
    plan = _plan(request, found)
    folder = Path(tempfile.mkdtemp(prefix="halfrate-download-"))
    target = folder / f"answers.{kind}"
    web(request).hr.write_table_answers(plan, found.job_id, target)
    shown = Path(found.upload_name or "answers").stem
    filename = f"{shown}.answers.{kind}"
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    return FileResponse(
        target,
        headers={"Content-Disposition": disposition},
        background=BackgroundTask(_remove, folder),
    )


@router.post("/jobs/{job_id}/retry", dependencies=[Depends(check_csrf)])
def retry(request: Request, job_id: str) -> Response:
    account = signed_in(request)
    found = _visible(request, account, job_id)
    hr = web(request).hr
    try:
        plan = _plan(request, found)
        feature = hr.status(found.job_id).feature
        outcome = hr.submit_table(plan, job=found.name, retry_failed=True, feature=feature)
    except HalfrateError as exc:
        context = _job_context(request, account, job_id)
        context["error"] = for_the_page(str(exc).replace(str(plan.table.path), "the spreadsheet"))
        return pages.render(request, "job.html", context, status_code=400)
    hr.own_job(outcome.job_id, account, found.upload_name)
    return RedirectResponse(f"/jobs/{found.job_id}", status_code=303)


@router.post("/jobs/{job_id}/cancel", dependencies=[Depends(check_csrf)])
def cancel(request: Request, job_id: str) -> Response:
    account = signed_in(request)
    found = _visible(request, account, job_id)
    hr = web(request).hr
    for each in hr.run_jobs(found.job_id):
        hr.cancel(each)
    return RedirectResponse(f"/jobs/{found.job_id}", status_code=303)


def _visible(request: Request, account: Account, job_id: str) -> OwnedJob:
    try:
        return web(request).hr.owned_job_for(job_id, account)
    except NotFound:
        raise HTTPException(404) from None


def _plan(request: Request, found: OwnedJob) -> TablePlan:
    try:
        plan = web(request).hr.table_job_plan(found.job_id)
    except HalfrateError:
        plan = None
    if plan is None:
        raise HTTPException(404)
    return plan


def _state(run: OwnedJob, view: RunView) -> str:
    """running, done, cancelling (rows in a batch wait for the provider to cancel it) or
    cancelled."""
    if run.cancelled_at is not None:
        return "cancelled" if view.done else "cancelling"
    return "done" if view.done else "running"


def _job_context(request: Request, account: Account, job_id: str) -> dict[str, Any]:
    state = web(request)
    run = _visible(request, account, job_id)
    view = view_run(state.hr, run, account, state.finished)
    failed: list[dict[str, Any]] = []
    if view.done and view.failed:
        plan = _plan(request, run)
        width = len(plan.options.answer_columns)
        for number, cells in state.hr.table_answers(plan, run.job_id):
            if cells[width] == FAILED:
                failed.append({"row": number, "error": for_the_page(cells[width + 1])})
                if len(failed) >= min(view.failed, FAILED_SHOWN):
                    break
    return {
        "account": account,
        "job": run,
        "view": view,
        "name": run.upload_name or run.name,
        "state": _state(run, view),
        "failed": failed,
    }


def _remove(folder: Path) -> None:
    for path in folder.iterdir():
        path.unlink(missing_ok=True)
    folder.rmdir()
