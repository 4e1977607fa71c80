"""The signed-in user's own settings: language (UI-11) and password (PERM-09)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.auth import identity
from guanxi.errors import GuanxiError
from guanxi.web.screen import Screen, screen
from guanxi.web_auth import safe_next


@screen
def switch_locale(s: Screen) -> Response:
    assert s.form is not None
    locale = str(s.form.get("locale") or "")
    identity.set_own_locale(s.platform.db, s.actor, locale)
    target = safe_next(s.form.get("next"))
    # ?lang= in the address would override the saved choice; drop it.
    path, _sep, query = target.partition("?")
    kept = "&".join(p for p in query.split("&") if p and not p.startswith("lang="))
    return s.redirect(path + (f"?{kept}" if kept else ""))


@screen
def password_page(s: Screen) -> Response:
    if s.request.method == "GET":
        return s.render("account/password.html", errors={})
    assert s.form is not None
    current = str(s.form.get("current_password") or "")
    new = str(s.form.get("new_password") or "")
    repeat = str(s.form.get("repeat_password") or "")
    if new != repeat:
        return s.render(
            "account/password.html",
            status=422,
            errors={"repeat_password": s.t("The two new passwords differ")},
        )
    try:
        s.platform.login.set_password(s.actor, s.actor.user_id, new, current)
    except GuanxiError as error:
        messages = {}
        for field_error in error.errors:
            key = field_error.field if field_error.field == "current_password" else "new_password"
            text = field_error.message.render(s.locale)
            messages[key] = f"{messages[key]}；{text}" if key in messages else text
        return s.render("account/password.html", status=error.status, errors=messages)
    # Every session of the user ended with the change, this one too: sign in again.
    return s.redirect("/login?changed=1")


def routes() -> list[BaseRoute]:
    return [
        Route("/me/locale", switch_locale, methods=["POST"]),
        Route("/me/password", password_page, methods=["GET", "POST"]),
    ]
