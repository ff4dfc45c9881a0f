"""The demonstration town page and the web chat widget's files, served by the console (no cookie set here)."""

from __future__ import annotations

from pathlib import Path

import jinja2
from sanic import Blueprint, response
from sanic.request import Request

from bot.settings import Settings, get_settings
from bot.town.wording import of_town

CONSOLE_DIR = Path(__file__).resolve().parent
WIDGET_DIR = CONSOLE_DIR / "static" / "widget"
TEMPLATES_DIR = CONSOLE_DIR / "templates"


def demo_page_csp(rasa_url: str) -> str:
    """The strict policy of the demo page: the widget needs no inline code, only the rasa server's socket."""
    rasa_ws = rasa_url.replace("http", "ws", 1)
    return (
        f"default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' {rasa_url} {rasa_ws}; "
        f"img-src 'self' data: {rasa_url} https:; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )


def create_demo_blueprint(rasa_url: str, settings: Settings | None = None, name: str = "demo_page") -> Blueprint:
    """`/`: the demo town page embedding the widget with one script tag; `/widget/...`: the widget's files.

    The page and the widget's privacy notice name the town and the retention period of `settings` (TOWN_NAME,
    RETENTION_DAYS).
    """
    settings = settings or get_settings()
    html = (
        jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True)
        .get_template("demo.html")
        .render(
            rasa_url=rasa_url,
            widget_base="/widget",
            town_name=settings.town_name,
            of_town=of_town(settings.town_name),
            retention_days=settings.retention_days,
        )
    )
    blueprint = Blueprint(name)

    @blueprint.get("/")
    async def demo(_: Request) -> response.HTTPResponse:
        return response.html(html, headers={"Content-Security-Policy": demo_page_csp(rasa_url)})

    blueprint.static("/widget", str(WIDGET_DIR), name="widget")
    return blueprint
