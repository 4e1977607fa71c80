"""Import screens (DATA-09): upload, column mapping, progress (polled with htmx), cancel,
"run for real" after a dry run, the error workbook and the templates. The service checks
every permission again; these screens only choose what to show."""

from __future__ import annotations

import io
import secrets
from typing import Any

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from guanxi.errors import FieldError, GuanxiError, NotFound, ValidationFailed
from guanxi.i18n import _
from guanxi.imports import mapping as mappings
from guanxi.imports import service, workbooks
from guanxi.imports.service import ImportRun
from guanxi.web.attachments import content_disposition
from guanxi.web.screen import Screen, login_redirect, screen
from guanxi.web.upload_limits import BodyTooLarge, limited
from guanxi.web_auth import request_locale

FORM_OVERHEAD = 64 * 1024  # multipart headers, the CSRF token, the policy and dry-run fields
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
POLL_SECONDS = 1


# -- upload ---------------------------------------------------------------------------------------


@screen
def upload_page(s: Screen) -> Response:
    entity = service.importable_entity(s.platform, s.actor, s.path_params["entity"])
    return _upload_page(s, entity)


def _upload_page(
    s: Screen, entity: Any, *, error: str | None = None, status: int = 200
) -> Response:
    recent = service.list_imports(s.platform, s.actor, entity=entity.name, limit=10)
    return s.render(
        "imports/upload.html",
        status=status,
        entity=entity,
        error=error,
        recent=recent,
        max_mb=s.platform.settings.import_max_mb,
        policy=s.form.get("policy") if s.form is not None else "skip",
    )


async def upload(request: Request) -> Response:
    """Not a plain @screen: the body is read here with a byte budget, so a file over
    import_max_mb is refused with 413 while it streams in, before anything is stored."""
    actor = request.state.actor
    if actor is None:
        return login_redirect(request)
    s = Screen(request, actor, request_locale(request, actor))
    budget = service.max_bytes(s.platform) + FORM_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > budget:
        return await run_in_threadpool(_refused, s, service.too_large(s.platform))
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await run_in_threadpool(_refused, s, _no_file())
    try:
        form = await MultiPartParser(
            request.headers, limited(request, budget), max_files=1, max_fields=20
        ).parse()
    except BodyTooLarge:
        return await run_in_threadpool(_refused, s, service.too_large(s.platform))
    except MultiPartException:
        return await run_in_threadpool(_refused, s, _no_file())
    s.form = form
    try:
        return await run_in_threadpool(_store, s)
    finally:
        await form.close()


def _no_file() -> ValidationFailed:
    return ValidationFailed([FieldError("file", "required", _("Choose a file to upload"))])


def _store(s: Screen) -> Response:
    try:
        entity = service.importable_entity(s.platform, s.actor, s.path_params["entity"])
    except GuanxiError as error:
        return s.error_page(error)
    assert s.form is not None
    file = s.form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return _upload_page(s, entity, error=_message(s, _no_file()), status=422)
    try:
        run = service.upload(
            s.platform,
            s.actor,
            entity.name,
            file.filename,
            file.file,
            policy=str(s.form.get("policy") or "skip"),
            dry_run=s.form.get("dry_run") in ("on", "1", "true"),
        )
    except GuanxiError as error:
        return _upload_page(s, entity, error=_message(s, error), status=error.status)
    return s.redirect(f"/import/{run.id}/mapping")


def _refused(s: Screen, error: GuanxiError) -> Response:
    try:
        entity = service.importable_entity(s.platform, s.actor, s.path_params["entity"])
    except GuanxiError as denied:
        return s.error_page(denied)
    return _upload_page(s, entity, error=_message(s, error), status=error.status)


def _message(s: Screen, error: GuanxiError) -> str:
    return "；".join(e.message.render(s.locale) for e in error.errors)


# -- mapping ------------------------------------------------------------------------------------


@screen
def mapping_page(s: Screen) -> Response:
    run = service.get(s.platform, s.actor, _id(s))
    if run.status != "draft":
        return s.redirect(f"/import/{run.id}")
    entity = service.importable_entity(s.platform, s.actor, run.entity)
    if s.request.method == "GET":
        return _mapping_page(s, run, entity, run.mapping or [], {})
    assert s.form is not None
    chosen = [str(s.form.get(f"map.{index}") or "") or None for index in range(len(run.header))]
    policy = str(s.form.get("policy") or run.policy)
    try:
        started = service.start(
            s.platform,
            s.actor,
            run.id,
            chosen,
            policy=policy,
            dry_run=s.form.get("dry_run") in ("on", "1", "true"),
            save_mapping=s.form.get("save_mapping") in ("on", "1", "true"),
        )
    except ValidationFailed as failed:
        errors = [e.message.render(s.locale) for e in failed.errors]
        return _mapping_page(s, run, entity, chosen, {"_form": "；".join(errors)}, status=422)
    return s.redirect(f"/import/{started.id}")


def _mapping_page(
    s: Screen,
    run: ImportRun,
    entity: Any,
    chosen: list[str | None],
    errors: dict[str, str],
    *,
    status: int = 200,
) -> Response:
    fields = service.fields_for(s.platform, s.actor, entity)
    samples = service.samples(s.platform, run)
    columns = [
        {"index": index, "header": header, "samples": samples[index], "key": key or ""}
        for index, (header, key) in enumerate(zip(run.header, chosen, strict=False))
    ]
    missing = [f.title(s.locale) for f in mappings.missing_required(entity, chosen)]
    return s.render(
        "imports/mapping.html",
        status=status,
        run=run,
        entity=entity,
        columns=columns,
        choices=mappings.describe(fields, s.locale),
        missing=missing,
        errors=errors,
    )


# -- progress and results -----------------------------------------------------------------------


@screen
def import_page(s: Screen) -> Response:
    run = service.get(s.platform, s.actor, _id(s))
    if run.status == "draft":
        return s.redirect(f"/import/{run.id}/mapping")
    return s.render("imports/progress.html", **_progress_context(s, run))


@screen
def progress_fragment(s: Screen) -> Response:
    run = service.get(s.platform, s.actor, _id(s))
    return s.render("imports/_progress.html", **_progress_context(s, run))


def _progress_context(s: Screen, run: ImportRun) -> dict[str, Any]:
    entity = s.platform.registry.snapshot().entities.get(run.entity)
    failures = service.issue_rows(s.platform, run.id, "failed") if run.failed else []
    return {
        "run": run,
        "entity": entity,
        "entity_title": entity.title(s.locale) if entity else run.entity,
        "failures": failures,
        "poll": POLL_SECONDS,
        "may_repeat": run.dry_run
        and run.status == "done"
        and run.storage_key is not None
        and run.user_id == s.actor.user_id,
    }


@screen
def cancel(s: Screen) -> Response:
    run = service.cancel(s.platform, s.actor, _id(s))
    if s.is_htmx:
        return s.render("imports/_progress.html", **_progress_context(s, run))
    return s.redirect(f"/import/{run.id}")


@screen
def resume(s: Screen) -> Response:
    run = service.resume(s.platform, s.actor, _id(s))
    return s.redirect(f"/import/{run.id}")


@screen
def run_for_real(s: Screen) -> Response:
    run = service.repeat_for_real(s.platform, s.actor, _id(s))
    return s.redirect(f"/import/{run.id}")


@screen
def error_workbook(s: Screen) -> Response:
    run = service.get(s.platform, s.actor, _id(s))
    if not run.failed:
        raise NotFound(_("This import has no failed rows"))
    folder = service.imports_dir(s.platform)
    folder.mkdir(parents=True, exist_ok=True)
    # Built per download, deleted once sent: the rows (mobiles included) rest only sealed.
    target = folder / f"errors-{run.id}-{secrets.token_hex(8)}.xlsx"
    workbooks.write_error_workbook(s.platform, run.id, run.header, target, s.locale)
    stem = run.filename.rsplit(".", 1)[0]
    return FileResponse(
        target,
        media_type=XLSX_TYPE,
        headers={
            "Content-Disposition": content_disposition(f"{stem}-errors.xlsx"),
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
        background=BackgroundTask(target.unlink, missing_ok=True),
    )


@screen
def import_list(s: Screen) -> Response:
    runs = service.list_imports(s.platform, s.actor, limit=100)
    snapshot = s.platform.registry.snapshot()
    titles = {name: e.title(s.locale) for name, e in snapshot.entities.items()}
    access = s.platform.records.access(s.actor)
    importable = sorted(
        (e for e in snapshot.entities.values() if access.allows(e.name, "create")),
        key=lambda e: e.title(s.locale),
    )
    return s.render(
        "imports/list.html",
        runs=runs,
        titles=titles,
        importable=importable,
        is_admin=access.is_admin,
    )


# -- templates ----------------------------------------------------------------------------------


@screen
def template_xlsx(s: Screen) -> Response:
    entity = service.importable_entity(s.platform, s.actor, s.path_params["entity"])
    buffer = io.BytesIO()
    workbooks.write_template_xlsx(entity, service.fields_for(s.platform, s.actor, entity), buffer)
    return Response(
        buffer.getvalue(),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": content_disposition(_template_name(s, entity, "xlsx"))},
    )


@screen
def template_csv(s: Screen) -> Response:
    entity = service.importable_entity(s.platform, s.actor, s.path_params["entity"])
    body = workbooks.template_csv(service.fields_for(s.platform, s.actor, entity))
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": content_disposition(_template_name(s, entity, "csv"))},
    )


def _template_name(s: Screen, entity: Any, suffix: str) -> str:
    word = "导入模板" if s.locale == "zh-CN" else "import-template"
    return f"{entity.title(s.locale)}-{word}.{suffix}"


def _id(s: Screen) -> int:
    return int(s.path_params["id"])


def routes() -> list[BaseRoute]:
    return [
        Route("/import", import_list),
        Route("/import/{id:int}", import_page),
        Route("/import/{id:int}/progress", progress_fragment),
        Route("/import/{id:int}/mapping", mapping_page, methods=["GET", "POST"]),
        Route("/import/{id:int}/cancel", cancel, methods=["POST"]),
        Route("/import/{id:int}/resume", resume, methods=["POST"]),
        Route("/import/{id:int}/run", run_for_real, methods=["POST"]),
        Route("/import/{id:int}/errors.xlsx", error_workbook),
        Route("/import/{entity:str}/template.xlsx", template_xlsx),
        Route("/import/{entity:str}/template.csv", template_csv),
        Route("/import/{entity:str}", upload_page),
        Route("/import/{entity:str}", upload, methods=["POST"]),
    ]
