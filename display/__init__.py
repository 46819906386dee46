"""Electronic stop boards (电子站牌): registry, rendered frames for polling boards, MQTT push,
health and the bureau's board coverage.

The renderer (``render*.py``) is pure; ``frames`` caches frames per input change; ``http_*`` and
``mqtt`` are the edges.
"""

from display.health import BoardHealth, online_shares
from display.registry import Board, BoardRegistry, list_boards
from display.render import BoardMemory, BoardMessage, Frame, Layout, RenderParams, render_frame, select_page
from display.render_lines import BoardLine, LineParams, LineStatus, LineView

__all__ = [
    "Board", "BoardHealth", "BoardLine", "BoardMemory", "BoardMessage", "BoardRegistry", "Frame", "Layout",
    "LineParams", "LineStatus", "LineView", "RenderParams", "list_boards", "online_shares", "render_frame",
    "select_page",
]
