"""The boards component: ``setup(app, services)`` adds the routes, pages and background work."""

from __future__ import annotations

from aiohttp import web

from display import http_admin, http_poll, pages
from display.boards import BOARDS, Boards
from transit.app.health import add_link
from transit.app.services import Services


def setup(app: web.Application, services: Services) -> None:
    boards = Boards(services)
    app[BOARDS] = boards
    services.extras["boards"] = boards
    http_poll.add_routes(app)
    http_admin.add_routes(app)
    pages.add_routes(app)
    add_link(app, "/boards", "电子站牌 Stop boards (admin)", "operators")
    app.cleanup_ctx.append(boards.lifecycle)
