"""/bureau in a real headless Chromium, against the demo running as a real server.

Checks what an official would see: the four indicators rendered with figures computed from the
demo's data, the trend chart and the coverage map drawn, no error in the browser console, and no
request leaving the machine.  Also opens a report saved with ``--format html`` from disk.

Needs Debian's Chromium: ``apt-get install -y chromium`` (the test skips without it).  Playwright
drives it through ``executable_path``; ``playwright install`` is never needed.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import asyncpg
import pytest
from aiohttp import ClientSession, web

from tests.conftest import ADMIN_TOKEN
from transit.app.services import Services
from transit.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed: run `apt-get install -y chromium` "
                                                     "(Debian's package; /usr/bin/chromium) to run the browser tests"),
    pytest.mark.timeout(600),
]


class Watch:
    """Every request the page makes and every console error it logs."""

    def __init__(self, page: Any) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def off_machine(self) -> list[str]:
        out = []
        for url in self.requests:
            parsed = urlparse(url)
            if parsed.scheme in ("data", "blob", "about", "file"):
                continue
            if parsed.hostname not in LOCAL_HOSTS:
                out.append(url)
        return out


async def ready(page: Any, watch: Watch, state: str = "1", timeout_ms: int = 90_000) -> None:
    """Wait until the page has finished (rendered, asked for a token, or failed) and check how."""
    await page.wait_for_selector("body[data-ready]", timeout=timeout_ms)
    got = await page.get_attribute("body", "data-ready")
    if got != state:
        text = await page.locator("#app").inner_text()
        raise AssertionError(f"page ended as {got!r}, not {state!r}: {text[:300]!r}; errors: {watch.errors}")


async def _browser() -> tuple[Any, Any]:
    from playwright.async_api import async_playwright

    pw = await async_playwright().start()
    browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
    return pw, browser


async def _wait_for_fares(base: str, headers: dict[str, str], deadline_s: float = 180.0) -> dict[str, Any]:
    """The demo fills two months of fares in the background: wait until the report sees them."""
    started = time.monotonic()
    async with ClientSession() as session:
        while True:
            async with session.get(f"{base}/api/v1/reports/indicators", headers=headers) as resp:
                body = await resp.json()
                assert resp.status == 200, body
            payment = next(i for i in body["indicators"] if i["id"] == "8")
            if payment["denominator"] > 0:
                return body
            if time.monotonic() - started > deadline_s:
                raise AssertionError("the demo's fares never reached the report")
            await asyncio.sleep(1.0)


async def test_bureau_page_on_the_running_demo(settings: Settings, pool: asyncpg.Pool, tmp_path: Path) -> None:
    from transit.demo.command import DemoOptions, build_demo_app

    services = Services(settings=settings, pool=pool)
    demo = await build_demo_app(services, DemoOptions(vehicles=6))
    runner = web.AppRunner(demo.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    pw = browser = None
    try:
        assert any("/bureau#token=" in note for note in demo.notes)
        expected = await _wait_for_fares(base, {"Authorization": f"Bearer {ADMIN_TOKEN}"})
        pw, browser = await _browser()
        page = await browser.new_page()
        watch = Watch(page)

        # Without a token the page asks for one; with it, the dashboard renders.
        await page.goto(f"{base}/bureau")
        await ready(page, watch, "login")
        await page.fill("input[type=password]", ADMIN_TOKEN)
        await page.click("form button[type=submit]")
        await ready(page, watch)

        cards = page.locator("article.indicator")
        assert await cards.count() == 5  # indicator 2 has two parts
        ids = [await cards.nth(i).get_attribute("data-id") for i in range(5)]
        assert ids == ["2a", "2b", "7", "8", "30"]
        for number in ("2", "7", "8", "30"):
            assert await page.locator(f".rating[data-number='{number}']").count() == 1
        # The demo keeps importing fares, so check the card against its own counts.
        shown = await page.locator("article.indicator[data-id='8'] .value").inner_text()
        fraction = await page.locator("article.indicator[data-id='8'] .fraction").inner_text()
        numerator, denominator = (int(x.replace(",", "")) for x in fraction.split(" ")[0:3:2])
        assert denominator >= next(i for i in expected["indicators"] if i["id"] == "8")["denominator"] > 0
        assert shown == f"{numerator / denominator * 100:.1f}%"
        assert "公共交通电子支付使用率" in await page.locator("article.indicator[data-id='8'] h3").inner_text()
        assert await page.locator(".trend .chart").count() == 5
        assert await page.locator(".chart[data-id='8'] svg circle").count() >= 1  # this month at least
        assert await page.locator(".mapbox svg circle[data-stop]").count() == expected["feed"]["stops"]
        assert await page.locator("details.table[data-id='2b']").count() == 1
        assert await page.locator("section.definitions dt").count() == 5

        # Another period through the controls: a single day.
        await page.select_option("#controls select", "day")
        await page.click("#controls button:has-text('查询')")
        await ready(page, watch)
        assert "日" in await page.locator("section.summary h2").inner_text()

        # A reload keeps the token for the session (no prompt again).
        await page.reload()
        await ready(page, watch)

        assert watch.errors == []
        assert watch.off_machine() == []
        assert any(u.startswith(f"{base}/api/v1/reports/indicators") for u in watch.requests)

        # The same report saved as one HTML file opens from disk, offline.
        async with ClientSession() as session:
            async with session.get(f"{base}/api/v1/reports/indicators?format=html",
                                   headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as resp:
                assert resp.status == 200
                saved = tmp_path / "report.html"
                saved.write_text(await resp.text(), encoding="utf-8")
        offline = await browser.new_page()
        watch_offline = Watch(offline)
        await offline.goto(saved.as_uri())
        await ready(offline, watch_offline)
        assert await offline.locator("article.indicator").count() == 5
        assert await offline.locator(".offline").count() == 1
        assert watch_offline.errors == []
        assert [u for u in watch_offline.requests if not u.startswith("file:")] == []
        embedded = json.loads(await offline.locator("#report-data").text_content() or "{}")
        assert embedded["report"]["indicators"][3]["denominator"] > 0
    finally:
        if browser is not None:
            await browser.close()
        if pw is not None:
            await pw.stop()
        await runner.cleanup()
