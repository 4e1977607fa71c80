"""Attachment screens (DATA-14): upload into a record's timeline, download, delete.

The upload is not a plain @screen: the body is parsed here with a byte budget, so a file over
the limit is refused with 413 while it streams in (nothing reaches storage), instead of being
spooled to a temporary file whole before anyone looks at its size.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from guanxi import attachments
from guanxi.errors import GuanxiError
from guanxi.web.screen import Screen, login_redirect, screen
from guanxi.web.upload_limits import BodyTooLarge, limited
from guanxi.web_auth import request_locale

FORM_OVERHEAD = 64 * 1024  # multipart headers, the CSRF token and other small fields


async def upload(request: Request) -> Response:
    actor = request.state.actor
    if actor is None:
        return login_redirect(request)
    s = Screen(request, actor, request_locale(request, actor))
    platform = s.platform
    budget = attachments.max_bytes(platform) + FORM_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > budget:
        return await run_in_threadpool(_refuse_large, s)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await run_in_threadpool(_failed, s, s.t("Choose a file to upload"), 422)
    try:
        form = await MultiPartParser(
            request.headers, limited(request, budget), max_files=1, max_fields=20
        ).parse()
    except BodyTooLarge:
        return await run_in_threadpool(_refuse_large, s)
    except MultiPartException:
        return await run_in_threadpool(_failed, s, s.t("The upload could not be read"), 400)
    s.form = form
    try:
        return await run_in_threadpool(_store, s)
    finally:
        await form.close()


def _store(s: Screen) -> Response:
    from guanxi.web.timeline import load_record, render_timeline

    try:
        entity, record = load_record(s, s.path_params["entity"], s.path_params["record_id"])
        assert s.form is not None
        file = s.form.get("file")
        if not isinstance(file, UploadFile) or not file.filename:
            return render_timeline(s, entity, record, status=422,
                                   upload_error=s.t("Choose a file to upload"))  # fmt: skip
        try:
            attachments.save(
                s.platform, s.actor, entity.name, record["id"], file.filename,
                file.content_type, file.file,
            )  # fmt: skip
        except attachments.TooLarge as error:
            return render_timeline(s, entity, record, status=413,
                                   upload_error=error.message.render(s.locale))  # fmt: skip
        if not s.is_htmx:
            return s.redirect(f"/r/{entity.name}/{record['id']}#timeline")
        return render_timeline(s, entity, record, notice=s.t("File uploaded"))
    except GuanxiError as error:
        return s.error_page(error)


def _refuse_large(s: Screen) -> Response:
    error = attachments.too_large(s.platform)
    return s.error_page(error)


def _failed(s: Screen, message: str, status: int) -> Response:
    if s.is_htmx:
        return s.toast(message, status=status)
    return s.render("error_page.html", status=status, message=message, error=None)


@screen
def download(s: Screen) -> Response:
    row, path = attachments.open_for(s.platform, s.actor, s.path_params["attachment_id"])
    return StreamingResponse(
        attachments.read_chunks(path),
        media_type="application/octet-stream",  # never rendered by the browser: no stored XSS
        headers={
            "Content-Disposition": content_disposition(row["filename"]),
            "Content-Length": str(row["size"]),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


def content_disposition(filename: str) -> str:
    """attachment; an ASCII fallback name, and the real one as RFC 5987 filename*."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback or 'file'}\"; filename*=UTF-8''{quote(filename)}"


@screen
def remove(s: Screen) -> Response:
    row = attachments.delete(s.platform, s.actor, s.path_params["attachment_id"])
    target = f"/r/{row['entity']}/{row['record_id']}"
    if not s.is_htmx:
        return s.redirect(f"{target}#timeline")
    from guanxi.web.timeline import load_record, render_timeline

    entity, record = load_record(s, row["entity"], row["record_id"])
    return render_timeline(s, entity, record, kind=str(s.params.get("kind") or "all"),
                           notice=s.t("File deleted"))  # fmt: skip


def routes() -> list[BaseRoute]:
    return [
        Route("/r/{entity:str}/{record_id:int}/attachments", upload, methods=["POST"]),
        Route("/attachments/{attachment_id:int}", download),
        Route("/attachments/{attachment_id:int}/delete", remove, methods=["POST"]),
    ]
