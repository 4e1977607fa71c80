"""What an admin copies to put a form on a website (API-04): an <iframe>, a plain HTML <form>
for sites that want their own styling, and a curl call of the JSON endpoint."""

from __future__ import annotations

import json
from typing import Any

from guanxi.defaults.webforms import intake, spam
from guanxi.defaults.webforms.service import WebForm
from guanxi.i18n import Message
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.templating import TEMPLATES
from guanxi.web.display import options_of

EXAMPLES = {
    "text": "张三", "textarea": "…", "phone": "13800000000", "email": "name@example.com",
    "url": "https://example.com", "number": 1, "money": 100, "percent": 10, "rating": 5,
    "date": "2024-05-31", "datetime": "2024-05-31T14:30", "checkbox": True,
}  # fmt: skip


def form_url(base_url: str, form: WebForm) -> str:
    return f"{base_url.rstrip('/')}/f/{form.key}"


def api_url(base_url: str, form: WebForm) -> str:
    return f"{base_url.rstrip('/')}/api/forms/{form.key}"


def iframe(base_url: str, form: WebForm) -> str:
    return TEMPLATES.get_template("webforms/snippet_iframe.html").render(
        url=form_url(base_url, form), title=form.name
    ).strip()  # fmt: skip


def html_form(platform: Any, base_url: str, form: WebForm, entity: EntityDef, locale: str) -> str:
    """A self-contained <form> posting to the public address. A page we do not render cannot
    carry a fresh "shown at" token, so it carries one signed now: the minimum fill time does
    not protect this variant; the honeypot and the per-IP limit still do."""
    fields = []
    for field in intake.shown_fields(platform, form, entity):
        fields.append({
            "key": field.key,
            "label": field.title(locale),
            "widget": platform.types.for_field(field).widget,
            "required": field.required,
            "options": options_of(field, locale),
        })  # fmt: skip
    return TEMPLATES.get_template("webforms/snippet_form.html").render(
        action=form_url(base_url, form),
        fields=fields,
        token_field=spam.TOKEN_FIELD,
        token=spam.fill_token(platform, form.key),
        honeypot=spam.honeypot_name(entity),
        submit=Message("Submit").render(locale),
    ).strip()  # fmt: skip


def curl(platform: Any, base_url: str, form: WebForm, entity: EntityDef) -> str:
    example = {
        field.key: _example(platform, field)
        for field in intake.shown_fields(platform, form, entity)
    }
    body = json.dumps(example, ensure_ascii=False).replace("'", "'\\''")
    return (
        f"curl -X POST '{api_url(base_url, form)}' \\\n"
        "  -H 'Content-Type: application/json' -H 'Accept-Language: zh-CN' \\\n"
        f"  -d '{body}'"
    )


def _example(platform: Any, field: FieldDef) -> Any:
    widget = platform.types.for_field(field).widget
    codes = [option.code for option in field.options]
    if widget == "select":
        return codes[0] if codes else ""
    if widget == "multiselect":
        return codes[:1]
    return EXAMPLES.get(widget, "…")
