"""A job's own page (progress, failed rows, downloads, re-run, cancel, receipt) and the list of
the jobs a person may see. Another team's job is "not found", exactly like a job that does not
exist, for its page, its progress and its downloads alike."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.background import BackgroundTask

from halfrate.api import Account, TablePlan
from halfrate.errors import HalfrateError, NotFound
from halfrate.models import FINAL_REQUEST_STATES, JobStatus, RequestState
from halfrate.web import expected, pages
from halfrate.web.state import check_csrf, signed_in, web
from halfrate.web.uploads import for_the_page

router = APIRouter()
FAILED_SHOWN = 50


@router.get("/jobs")
def jobs_list(request: Request, status: str = "", q: str = "") -> Response:
    account = signed_in(request)
    hr = web(request).hr
    rows = []
    for owned in hr.jobs_for(account):
        names = f"{owned.name} {owned.upload_name or ''}".lower()
        if q and q.lower() not in names:
            continue
        found = hr.status(owned.job_id)
        state = _state(found)
        if status and state != status:
            continue
        paid, realtime = hr.job_costs(owned.job_id)
        started = datetime.fromtimestamp(owned.created_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        rows.append(
            {
                "job": owned,
                "status": found,
                "state": state,
                "paid": paid,
                "saved": realtime - paid,
                "started": started,
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
    web(request).hr.write_table_answers(plan, found.id, target)
    shown = Path(_upload_name(request, account, found) or "answers").stem
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
        outcome = hr.submit_table(plan, job=found.name, retry_failed=True, feature=found.feature)
    except HalfrateError as exc:
        context = _job_context(request, account, job_id)
        context["error"] = for_the_page(str(exc).replace(str(plan.table.path), "the spreadsheet"))
        return pages.render(request, "job.html", context, status_code=400)
    hr.own_job(outcome.job_id, account, _upload_name(request, account, found))
    return RedirectResponse(f"/jobs/{found.id}", status_code=303)


@router.post("/jobs/{job_id}/cancel", dependencies=[Depends(check_csrf)])
def cancel(request: Request, job_id: str) -> Response:
    account = signed_in(request)
    found = _visible(request, account, job_id)
    hr = web(request).hr
    for each in hr.run_jobs(found.id):
        hr.cancel(each)
    return RedirectResponse(f"/jobs/{found.id}", status_code=303)


def _visible(request: Request, account: Account, job_id: str) -> JobStatus:
    try:
        return web(request).hr.job_for(job_id, account)
    except NotFound:
        raise HTTPException(404) from None


def _plan(request: Request, found: JobStatus) -> TablePlan:
    try:
        plan = web(request).hr.table_job_plan(found.id)
    except HalfrateError:
        plan = None
    if plan is None:
        raise HTTPException(404)
    return plan


def _upload_name(request: Request, account: Account, found: JobStatus) -> str | None:
    for owned in web(request).hr.jobs_for(account):
        if owned.job_id == found.id:
            return owned.upload_name
    return None


def _state(found: JobStatus) -> str:
    if found.cancelled_at is not None:
        return "cancelled"
    return "done" if found.done else "running"


def _job_context(request: Request, account: Account, job_id: str) -> dict[str, Any]:
    hr = web(request).hr
    found = _visible(request, account, job_id)
    runs = hr.run_jobs(found.id)
    statuses = [found if each == found.id else hr.status(each) for each in runs]
    latest = statuses[-1]
    done = all(s.done for s in statuses)
    total = found.total
    # Rows asked again by a rerun have failed before; the rows failing now are the latest
    # run's: each rerun asks again every row whose latest answer failed.
    failed_count = latest.counts.get(RequestState.FAILED.value, 0)
    now = time.time()
    expected_end = None
    if done:
        answered = total
    else:
        moving = hr.progress([latest.id])  # the provider's counts move while a batch runs
        pending = moving.total - expected.answered(moving)
        pending += sum(s.total - _ended(s) for s in statuses[1:-1])
        answered = max(0, total - pending)
        batch = latest.lanes.get("batch", 0) >= latest.lanes.get("realtime", 0)
        expected_end = expected.while_running(moving, latest.created_at, now, batch=batch)
    failed: list[dict[str, Any]] = []
    if done and failed_count:
        plan = _plan(request, found)
        width = len(plan.options.answer_columns)
        for number, cells in hr.table_answers(plan, found.id):
            if cells[width] == "failed":
                failed.append({"row": number, "error": for_the_page(cells[width + 1])})
                if len(failed) >= min(failed_count, FAILED_SHOWN):
                    break
    # The receipt only once done: summing a running job's attempts on every poll would slow
    # the page while the worker writes them.
    costs = [hr.job_costs(s.id) for s in statuses] if done else []
    paid = sum(c[0] for c in costs)
    realtime = sum(c[1] for c in costs)
    return {
        "account": account,
        "job": found,
        "latest": latest,
        "name": _upload_name(request, account, found) or found.name,
        "state": _state(found),
        "done": done,
        "total": total,
        "answered": min(answered, total),
        "percent": _percent(answered, total),
        "succeeded": total - failed_count,
        "failed": failed,
        "failed_count": failed_count,
        "expected": expected_end,
        "paid": paid,
        "realtime": realtime,
        "saved": realtime - paid,
    }


def _percent(part: int, whole: int) -> int:
    """A whole percent that says 100 only when all is done, and 0 only when nothing is."""
    if not whole or part >= whole:
        return 100
    share = 100 * part / whole
    return max(1, min(99, round(share))) if part else 0


def _ended(status: JobStatus) -> int:
    return sum(status.counts.get(state, 0) for state in FINAL_REQUEST_STATES)


def _remove(folder: Path) -> None:
    for path in folder.iterdir():
        path.unlink(missing_ok=True)
    folder.rmdir()
