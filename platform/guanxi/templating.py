"""The Jinja2 environment every page renders with: the theme first, then plugin templates
(`templates/` inside each plugin package), then the core templates."""

from __future__ import annotations

from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, select_autoescape

THEME_DIR = Path(__file__).resolve().parents[2] / "themes" / "default"
CORE_TEMPLATE_DIR = Path(__file__).parent / "templates"

_plugin_loaders: dict[str, FileSystemLoader] = {}

TEMPLATES = Environment(
    loader=ChoiceLoader(
        [
            FileSystemLoader(THEME_DIR / "templates"),
            PrefixLoader(_plugin_loaders),  # "<plugin>/page.html" from that plugin's templates/
            FileSystemLoader(CORE_TEMPLATE_DIR),
        ]
    ),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def add_plugin_templates(plugin: str, directory: Path) -> None:
    """Let `{% include "<plugin>/x.html" %}` find a plugin's own templates (the theme can still
    override them under themes/default/templates/<plugin>/)."""
    if directory.is_dir():
        _plugin_loaders[plugin] = FileSystemLoader(directory)
