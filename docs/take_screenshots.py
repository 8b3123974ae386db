"""Regenerate the README's screenshots from a real ``make dev`` and a real browser.

    .venv/bin/python docs/take_screenshots.py      # needs Debian's chromium (apt install chromium)

Starts ``make dev`` (dg dev + the Yida emulator) on free ports with a scratch Dagster home,
launches two backfills through the webserver's GraphQL API as a user's clicks would, waits for
the daemon to run them and for the failed-check alert to reach the emulator's DingTalk robot,
then takes headless-Chromium screenshots of the Checks tab and of the alert as the group shows it.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

from dd_refund_pipeline.demo import dev_command

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
ASSETS = ["yida_refund_instances", "refund_payments", "hc_dd_fktk"]
BACKFILLS = [
    ["2026-11-10", "2026-11-11", "2026-11-12", "2026-11-13", "2026-11-14"],
    ["2026-11-15", "2026-11-16", "2026-11-17"],
]
LAUNCH = """mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id)
  { ... on PartitionBackfill { status } } }"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait(what: str, probe: Any, timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(2)
    raise SystemExit(f"timed out waiting for {what}")


def graphql(port: int, query: str, **variables: Any) -> dict[str, Any]:
    reply = httpx.post(
        f"http://127.0.0.1:{port}/graphql", json={"query": query, "variables": variables}
    )
    reply.raise_for_status()
    return reply.json()["data"]


def backfill(port: int, days: list[str]) -> None:
    params = {"assetSelection": [{"path": [a]} for a in ASSETS], "partitionNames": days}
    launched = graphql(port, LAUNCH, params=params)["launchPartitionBackfill"]
    backfill_id = launched["backfillId"]
    wait(
        f"the backfill of {days[0]}...{days[-1]}",
        lambda: (
            graphql(port, STATUS, id=backfill_id)["partitionBackfillOrError"]["status"]
            in ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED")
        ),
    )


class Browser:
    """Headless Chromium driven over the DevTools protocol: open, click a tab, capture."""

    def __init__(self, chromium: str) -> None:
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        self.process = subprocess.Popen(
            [
                chromium,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--remote-debugging-port={self.port}",
                f"--user-data-dir={self.profile}",
                "--window-size=1500,1000",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        pages = wait(
            "chromium",
            lambda: [
                p
                for p in httpx.get(f"http://127.0.0.1:{self.port}/json").json()
                if p["type"] == "page"
            ],
        )
        self.socket = connect(pages[0]["webSocketDebuggerUrl"], max_size=None, legacy=True)
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.socket.recv())
            if reply.get("id") == self.next_id:
                return reply.get("result", {})

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def open(self, url: str, ready_text: str) -> None:
        self.call("Page.navigate", url=url)
        wait(
            f"{url} to show {ready_text!r}",
            lambda: self.js(
                f"document.body && document.body.innerText.includes({json.dumps(ready_text)})"
            ),
            timeout=60,
        )

    def click_text(self, text: str, prefix: bool = False) -> None:
        """Click the innermost element whose text is ``text`` (or starts with it)."""
        wanted = json.dumps(text)
        test = f"t.startsWith({wanted})" if prefix else f"t === {wanted}"
        clicked = self.js(
            "(() => { const all = [...document.querySelectorAll('button, a, div, span, label')];"
            f" const hit = all.reverse().find(e => {{ const t = (e.innerText || '').trim();"
            f" return {test}; }});"
            " if (hit) { hit.click(); return true; } return false; })()"
        )
        if not clicked:
            raise SystemExit(f"nothing to click labelled {text!r}")

    def hover_last(self, selector: str, text: str) -> None:
        """Move the mouse over the first ``selector`` element whose text is ``text``."""
        box = self.js(
            f"(() => {{ const hit = [...document.querySelectorAll({json.dumps(selector)})]"
            f".find(e => (e.innerText || '').trim() === {json.dumps(text)});"
            " if (!hit) return null; const span = hit.querySelector('span, div') || hit;"
            " const r = span.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        if not box:
            raise SystemExit(f"nothing to hover labelled {text!r}")
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=box[0], y=box[1])
        time.sleep(2)

    def capture(self, out: Path, width: int = 1500, height: int = 1000) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        time.sleep(2)  # let the page settle after the last click
        data = self.call("Page.captureScreenshot", format="png")["data"]
        out.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        self.socket.close()
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.profile, ignore_errors=True)


def screenshot(chromium: str, url: str, out: Path, size: str = "1500,1000") -> None:
    profile = tempfile.mkdtemp(prefix="chromium-")
    subprocess.run(
        [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={size}",
            "--virtual-time-budget=20000",
            f"--screenshot={out}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    shutil.rmtree(profile, ignore_errors=True)


def alert_page(message: dict[str, Any]) -> str:
    """The robot's markdown as a DingTalk group shows a markdown card (headings, bullets)."""
    body = []
    for line in message["markdown"]["text"].splitlines():
        text = html.escape(line.lstrip("#- ").strip())
        text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
        text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
        text = re.sub(r"\[(.+?)\]\((.+?)\)", r'<a href="\2">\1</a>', text)
        tag = "h3" if line.startswith("###") else "li" if line.lstrip().startswith("-") else "p"
        body.append(f"<{tag}>{text}</{tag}>")
    return (
        "<html><head><meta charset='utf-8'><style>body{font-family:sans-serif;background:#eef1f5;"
        "padding:24px}.card{background:#fff;border-radius:8px;padding:16px 20px;width:760px;"
        "box-shadow:0 1px 3px #0002}code{background:#f2f2f2;padding:1px 4px}li{margin:4px 0}"
        ".who{color:#888;font-size:13px;margin-bottom:6px}</style></head><body>"
        "<div class='who'>宜搭同步 robot · DingTalk group</div><div class='card'>"
        + "".join(body)
        + "</div></body></html>"
    )


def start_dev(port: int, emulator_port: int, **extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    """``make dev`` on its own scratch home, once its webserver answers and the code loaded."""
    home = Path(tempfile.mkdtemp(prefix="dd-refund-docs-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DINGTALK_", "DD_", "YIDA_"))}
    dev = subprocess.Popen(
        dev_command(port, emulator_port),
        cwd=ROOT,
        env={**env, "DAGSTER_HOME": str(home), **extra},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait("make dev", lambda: httpx.get(f"http://127.0.0.1:{port}/server_info").is_success)
    time.sleep(10)  # the code location loads
    return dev, home


TICKS = """query($name: String!) { sensorOrError(sensorSelector: {
  repositoryName: "__repository__", repositoryLocationName: "dd_refund_pipeline",
  sensorName: $name}) { ... on Sensor { sensorState {
    ticks(limit: 5) { status skipReason } } } } }"""


def unsent_alert_tick(chromium: str) -> None:
    """The failed-check sensor's tick list when no robot is configured (a visible skip)."""
    port, emulator_port = free_port(), free_port()
    dev, _home = start_dev(port, emulator_port, DD_REFUND_DEMO_ROBOT="off")
    try:
        graphql(port, "mutation { setNuxSeen }")
        backfill(port, BACKFILLS[0])
        name = "dingtalk_on_failed_checks"
        wait(
            "the skipped alert tick",
            lambda: any(
                "NOT SENT" in (tick["skipReason"] or "")
                for tick in graphql(port, TICKS, name=name)["sensorOrError"]["sensorState"]["ticks"]
            ),
        )
        browser = Browser(chromium)
        try:
            location = "__repository__@dd_refund_pipeline"
            url = f"http://127.0.0.1:{port}/locations/{location}/sensors/{name}"
            browser.open(url, name)
            time.sleep(5)  # the tick list loads after the page
            # The UI shows a skip's reason over the tick's status: hover the newest tick's.
            browser.hover_last("td", "0 runs requested")
            browser.capture(DOCS / "alert-tick-without-robot.png", height=700)
        finally:
            browser.close()
    finally:
        dev.send_signal(signal.SIGTERM)
        dev.wait(timeout=60)


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("needs Debian's chromium: apt install chromium")
    port, emulator_port = free_port(), free_port()
    dev, home = start_dev(port, emulator_port)
    try:
        for days in BACKFILLS:
            backfill(port, days)
        robot = f"http://127.0.0.1:{emulator_port}/_emulator/robot"
        messages = wait("the failed-check alert", lambda: httpx.get(robot).json()["messages"])
        # The UI's welcome dialog is for a first visit, not for a screenshot.
        graphql(port, "mutation { setNuxSeen }")
        browser = Browser(chromium)
        try:
            check = "no_rejected_records"
            browser.open(
                f"http://127.0.0.1:{port}/assets/hc_dd_fktk?view=checks&checkDetail={check}",
                "Execution history",
            )
            browser.click_text("Partitions")
            time.sleep(3)
            # Only the days that have a verdict: the rest of the two years were never loaded.
            browser.click_text("Missing (", prefix=True)
            time.sleep(2)
            browser.capture(DOCS / "checks-per-day.png")
            browser.click_text("Execution history")
            time.sleep(3)
            browser.capture(DOCS / "checks-history.png")
            # A failed evaluation's metadata (its sample), as the dialog shows it.
            opened = browser.js(
                "(() => { const row = [...document.querySelectorAll('tr')].find(r =>"
                " r.innerText.includes('FAILED') && r.querySelector('button'));"
                " if (!row) return false; [...row.querySelectorAll('button')].pop().click();"
                " return true; })()"
            )
            if not opened:
                raise SystemExit("no failed evaluation with metadata to open")
            time.sleep(2)
            browser.click_text("[Show Markdown]")
            time.sleep(3)
            browser.capture(DOCS / "check-sample.png")
        finally:
            browser.close()
        page = home / "alert.html"
        page.write_text(alert_page(messages[-1]), encoding="utf-8")
        screenshot(chromium, page.as_uri(), DOCS / "alert-failed-checks.png", "820,420")
    finally:
        dev.send_signal(signal.SIGTERM)
        dev.wait(timeout=60)
    unsent_alert_tick(chromium)
    print(f"wrote the screenshots in {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
