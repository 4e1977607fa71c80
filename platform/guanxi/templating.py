"""The Jinja2 environment every page renders with: the theme first, then the core templates."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Environment(
    loader=FileSystemLoader(
        [
            Path(__file__).resolve().parents[2] / "themes" / "default",
            Path(__file__).parent / "templates",
        ]
    ),
    autoescape=select_autoescape(default=True),
)
