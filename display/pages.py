"""Admin pages: ``/boards`` (every board and its state) and ``/boards/{board_id}/preview``.

The preview draws the frame the way the LED board shows it: amber dots on black, one box per
half-width cell, a Chinese character across two boxes, the board's real number of rows and
cells.  It renders afresh from the board's memory without changing it (a preview is not a poll).
"""

from __future__ import annotations

import datetime as dt
import html
from urllib.parse import quote

from aiohttp import web

from display.boards import BOARDS, Boards
from display.http_admin import require_admin_page
from display.registry import Board
from display.render import Frame
from display.render_text import char_cells
from transit.app.errors import not_found

CELL_PX = 12
ROW_PX = 24

_STYLE = f"""
body{{font-family:system-ui,sans-serif;margin:1.5rem;background:#f4f4f4;color:#222}}
table{{border-collapse:collapse;background:#fff}}td,th{{padding:.3rem .6rem;border-bottom:1px solid #ddd;
text-align:left;font-size:.9rem}}.on{{color:#080;font-weight:600}}.off{{color:#b00;font-weight:600}}
.led{{display:inline-block;background:#0b0b0b;padding:10px;border-radius:6px;margin:.4rem 1rem .8rem 0;
box-shadow:0 0 0 3px #333}}
.led.current{{box-shadow:0 0 0 3px #f0a000}}
.row{{display:flex;height:{ROW_PX}px}}
.c{{display:inline-block;height:{ROW_PX}px;overflow:hidden;text-align:center;line-height:{ROW_PX}px;
font-family:"WenQuanYi Bitmap Song","SimSun","Noto Sans Mono CJK SC",monospace;font-size:20px;color:#ffb000;
text-shadow:0 0 4px #ff8c00;background-image:radial-gradient(circle,#2a1a00 1px,transparent 1.3px);
background-size:4px 4px}}
.c1{{width:{CELL_PX}px}}.c2{{width:{2 * CELL_PX}px}}
small{{color:#666}}
"""


def led_html(rows: tuple[str, ...], current: bool = False) -> str:
    out = [f'<div class="led{" current" if current else ""}">']
    for row in rows:
        cells = "".join(
            f'<span class="c c{char_cells(ch)}">{html.escape(ch) if ch != " " else "&nbsp;"}</span>' for ch in row)
        out.append(f'<div class="row">{cells}</div>')
    out.append("</div>")
    return "".join(out)


def _when(ts: float | None, tz: dt.tzinfo) -> str:
    return dt.datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S") if ts is not None else "—"


def preview_html(board: Board, frame: Frame, shown_page: int | None, online: bool, last_seen: str,
                 token_q: str) -> str:
    pages = "".join(
        f"<div><small>第 {i + 1}/{len(frame.pages)} 页 page{' · 当前显示 on the board now' if i == shown_page else ''}"
        f"</small><br>{led_html(rows, i == shown_page)}</div>"
        for i, rows in enumerate(frame.pages))
    state = '<span class="on">在线 online</span>' if online else '<span class="off">离线 offline</span>'
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{max(5, int(board.poll_interval_s))}">
<title>站牌预览 {html.escape(board.board_id)}</title><style>{_STYLE}</style></head><body>
<p><a href="/boards{token_q}">← 全部站牌 all boards</a></p>
<h1>站牌预览 <small>board preview</small> {html.escape(board.board_id)}</h1>
<p>{html.escape(board.location)} · {board.rows} 行 rows × {board.cols} 格 cells · {board.encoding} ·
{html.escape(board.languages)} · {state} · last seen {html.escape(last_seen)}</p>
{pages}
<p><small>Stops {html.escape(", ".join(board.stop_ids))} · lines
{html.escape(", ".join(board.route_ids) or "all")} · polls every {board.poll_interval_s:g} s ·
delivery {html.escape(board.delivery)}</small></p></body></html>"""


def _token_query(request: web.Request) -> str:
    token = request.query.get("token")
    return f"?token={quote(token)}" if token else ""


async def preview(request: web.Request) -> web.Response:
    require_admin_page(request)
    boards: Boards = request.app[BOARDS]  # type: ignore[assignment]
    board_id = request.match_info["board_id"]
    board = boards.registry.get(board_id)
    if board is None:
        raise not_found("board", board_id)
    now = boards.clock.now()
    frame = boards.frames.preview(board, now)
    shown = boards.frames.peek(board)
    st = boards.health.status(board, now)
    page = preview_html(board, frame, shown.page if shown is not None else None, st.online,
                        _when(st.last_seen_ts, boards.frames.tz), _token_query(request))
    return web.Response(text=page, content_type="text/html")


async def index(request: web.Request) -> web.Response:
    require_admin_page(request)
    boards: Boards = request.app[BOARDS]  # type: ignore[assignment]
    now = boards.clock.now()
    tz = boards.frames.tz
    schedule = boards.services.schedule.current()
    token_q = _token_query(request)
    rows = []
    all_boards = sorted(boards.registry.list(), key=lambda b: b.board_id)
    n_online = 0
    for b in all_boards:
        st = boards.health.status(b, now)
        n_online += st.online
        names = []
        for s in b.stop_ids:
            pos = schedule.find_stop(s) if schedule is not None else None
            names.append(f"{schedule.stop_name[pos]} ({s})" if schedule is not None and pos is not None else s)
        state = '<span class="on">在线 online</span>' if st.online else (
            f'<span class="off">离线 offline</span><br><small>since {_when(st.offline_since_ts, tz)}</small>')
        rows.append(
            f'<tr><td><a href="/boards/{quote(b.board_id)}/preview{token_q}">{html.escape(b.board_id)}</a></td>'
            f"<td>{state}</td><td>{_when(st.last_seen_ts, tz)}<br><small>{html.escape(st.via or '')} "
            f"{html.escape(st.ip or '')} {html.escape(st.firmware or '')}</small></td>"
            f"<td>{html.escape('; '.join(names))}</td><td>{html.escape(', '.join(b.route_ids) or 'all')}</td>"
            f"<td>{b.rows}×{b.cols} {b.encoding} {html.escape(b.languages)}</td>"
            f"<td>{html.escape(b.delivery)}</td><td>{html.escape(b.location)}</td></tr>")
    page = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="15"><title>电子站牌 Stop boards</title><style>{_STYLE}</style></head><body>
<h1>电子站牌 <small>Stop boards</small></h1>
<p>{len(all_boards)} boards · {n_online} online · {len(all_boards) - n_online} offline ·
messages active: {sum(m.active(now) for m in boards.messages.list())}</p>
<table><tr><th>Board</th><th>State</th><th>Last seen</th><th>Stops</th><th>Lines</th><th>Layout</th>
<th>Delivery</th><th>Location</th></tr>{"".join(rows)}</table></body></html>"""
    return web.Response(text=page, content_type="text/html")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/boards", index)
    app.router.add_get("/boards/{board_id}/preview", preview)
