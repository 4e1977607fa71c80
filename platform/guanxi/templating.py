"""The Jinja2 environment every page renders with: the theme first, then plugin templates
(a `templates/` folder beside each plugin's module, holding `<plugin>/page.html`), then the
core templates."""

from __future__ import annotations

from pathlib import Path

from jinja2 import BaseLoader, ChoiceLoader, Environment, FileSystemLoader, select_autoescape

THEME_DIR = Path(__file__).resolve().parents[2] / "themes" / "default"
CORE_TEMPLATE_DIR = Path(__file__).parent / "templates"

_plugin_loaders: list[BaseLoader] = []  # filled at app start-up; ChoiceLoader reads the list
_plugin_dirs: set[Path] = set()

TEMPLATES = Environment(
    loader=ChoiceLoader(
        [
            FileSystemLoader(THEME_DIR / "templates"),
            ChoiceLoader(_plugin_loaders),
            FileSystemLoader(CORE_TEMPLATE_DIR),
        ]
    ),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def add_plugin_templates(directory: Path) -> None:
    """Let pages find a plugin's templates, `templates/<plugin>/x.html` beside its module, as
    "<plugin>/x.html" (the theme can still override them under templates/<plugin>/)."""
    directory = directory.resolve()
    if directory.is_dir() and directory not in _plugin_dirs:
        _plugin_dirs.add(directory)
        _plugin_loaders.append(FileSystemLoader(directory))
