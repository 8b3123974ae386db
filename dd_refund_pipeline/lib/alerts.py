"""What the data team reads in their DingTalk group when a sync fails or a check flags rows.

Plain text building (markdown for the custom robot), independent of Dagster so it can be tested
and reused; the sensors in ``defs/sensors.py`` collect the facts and call these.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from dd_refund_pipeline.dingtalk.errors import scrub

# Values that must never reach a chat message, whatever an error happened to contain.
SECRET_ENV_VARS = (
    "DINGTALK_APP_SECRET",
    "YIDA_SYSTEM_TOKEN",
    "DINGTALK_ROBOT_ACCESS_TOKEN",
    "DINGTALK_ROBOT_SECRET",
    "DD_REFUND_DATABASE_URL",
)
MAX_ERROR_CHARS = 600


@dataclass(frozen=True)
class StepError:
    """The root cause of one failed step."""

    step: str
    error: str


@dataclass(frozen=True)
class FailedCheck:
    """One asset check that did not pass."""

    asset: str
    check: str
    severity: str
    summary: str


def days_listed(days: Sequence[str], shown: int = 7) -> str:
    """Days as a person reads them in a line: the first ``shown``, then how many more."""
    more = f" … (+{len(days) - shown})" if len(days) > shown else ""
    return ", ".join(days[:shown]) + more


def _secret_values() -> list[str]:
    values = [os.environ.get(name) for name in SECRET_ENV_VARS]
    return [value for value in values if value]


def _clean(text: str) -> str:
    text = scrub(text, _secret_values()).strip()
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "…"


def _run_link(webserver_url: str | None, run_id: str) -> str:
    if not webserver_url:
        return f"run `{run_id[:8]}`"
    return f"[run {run_id[:8]}]({webserver_url.rstrip('/')}/runs/{run_id})"


def _check_lines(checks: Iterable[FailedCheck]) -> list[str]:
    return [f"- **{c.severity}** `{c.asset}` · `{c.check}`: {_clean(c.summary)}" for c in checks]


def _header(heading: str, window: str, run_id: str, webserver_url: str | None) -> list[str]:
    return [f"### {heading}", f"- 窗口 window: {window}", f"- {_run_link(webserver_url, run_id)}"]


def run_failure_message(
    form: str,
    subject: str,
    run_id: str,
    window: str,
    step_errors: Sequence[StepError],
    failed_checks: Sequence[FailedCheck],
    webserver_url: str | None,
) -> tuple[str, str]:
    """Title and markdown of the alert for a failed run: what failed, and why.

    ``form`` is the form as the team names it (``付款退款申请``); ``subject`` what the run
    worked on: our job, or the assets of a run launched from the asset pages (never Dagster's
    internal ``__ASSET_JOB``).
    """
    lines = _header(f"宜搭{form}同步失败 · {subject}", window, run_id, webserver_url)
    lines += [f"- 步骤 step `{step.step}`: {_clean(step.error)}" for step in step_errors]
    if failed_checks:
        lines.append("- 未通过的检查 failed checks:")
        lines += ["  " + line for line in _check_lines(failed_checks)]
    return f"宜搭{form}同步失败 {subject} {window}", "\n".join(lines)


def failed_checks_message(
    form: str,
    subject: str,
    run_id: str,
    window: str,
    failed_checks: Sequence[FailedCheck],
    webserver_url: str | None,
) -> tuple[str, str]:
    """Title and markdown of the one message for all failed checks of a successful run."""
    heading = f"宜搭{form}同步: {len(failed_checks)} 项检查未通过 · {subject}"
    lines = [*_header(heading, window, run_id, webserver_url), *_check_lines(failed_checks)]
    return f"宜搭{form}检查未通过 {len(failed_checks)} 项 {window}", "\n".join(lines)


def late_table_message(
    form: str,
    asset: str,
    day: str,
    deadline: str,
    failed_at: datetime,
    schedule: str,
    webserver_url: str | None,
) -> tuple[str, str]:
    """Title and markdown of the alert for a table that missed its daily deadline."""
    link = f" [资产 asset]({webserver_url.rstrip('/')}/assets/{asset})" if webserver_url else ""
    lines = [
        f"### 宜搭{form}未按时入库 · {asset}",
        f"- {day} 的{form}在 {deadline} (中国时间) 前未写入 `{asset}`: the day was not loaded "
        f"by {deadline} China time (failing since {failed_at:%Y-%m-%d %H:%M}).",
        f"- 请检查当日的定时运行 ({schedule}) 是否失败或未启动。" + link,
    ]
    return f"宜搭{form}未按时入库 {asset} {day}", "\n".join(lines)
