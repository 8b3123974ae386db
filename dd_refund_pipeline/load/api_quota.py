"""Our share of DingTalk's monthly API quota: list calls counted per China month, and projected.

The standard edition allows 5,000 calls a month for the whole organisation, and every other
integration spends the same quota. Each scan adds its list calls to ``yida_api_calls`` in the
finance database (the runs and the late-change sensor alike), so the count survives runs and
processes. Throttled calls are not billed by DingTalk but are counted here: the count errs high.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.sqlfiles import ddl_for, read_sql, split_statements

QUOTA_ENV = "YIDA_MONTHLY_CALL_QUOTA"
SHARE_ENV = "YIDA_QUOTA_SHARE_PERCENT"
DEFAULT_QUOTA = 5000
DEFAULT_SHARE_PERCENT = 70.0
TABLE = "yida_api_calls"


@dataclass(frozen=True)
class QuotaSettings:
    """The organisation's monthly quota (0: not watched) and the share of it we may project."""

    monthly_quota: int = DEFAULT_QUOTA
    share_percent: float = DEFAULT_SHARE_PERCENT

    @classmethod
    def parse(cls, quota_text: str | None, share_text: str | None) -> QuotaSettings:
        """From the text of ``YIDA_MONTHLY_CALL_QUOTA`` and ``YIDA_QUOTA_SHARE_PERCENT``.

        Unset or blank: the default. Bad values raise ``ValueError`` naming the setting.
        """
        quota = _number(QUOTA_ENV, quota_text, DEFAULT_QUOTA)
        share = _number(SHARE_ENV, share_text, DEFAULT_SHARE_PERCENT)
        if quota < 0 or quota != int(quota):
            raise ValueError(f"{QUOTA_ENV} must be a whole number of calls (0 turns the check off)")
        if not 0 < share <= 100:
            raise ValueError(f"{SHARE_ENV} must be a percentage in (0, 100]")
        return cls(int(quota), share)

    @property
    def allowed(self) -> float:
        """Calls a month we may project before the check warns."""
        return self.monthly_quota * self.share_percent / 100


def _number(name: str, text: str | None, default: float) -> float:
    raw = (text or "").strip().rstrip("%")
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None


@dataclass(frozen=True)
class MonthCount:
    """The calls of one China month so far, by caller, and where the month is heading."""

    month: str
    by_caller: dict[str, int]
    at: datetime

    @property
    def calls(self) -> int:
        """List calls counted this month, all callers together."""
        return sum(self.by_caller.values())

    @property
    def projected(self) -> int:
        """The month's calls at the pace so far (at least one day of pace, so day one is sane)."""
        days = calendar.monthrange(self.at.year, self.at.month)[1]
        start = self.at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        elapsed_days = max((self.at - start).total_seconds() / 86400, 1.0)
        return math.ceil(self.calls * min(days / elapsed_days, days))

    def summary(self, settings: QuotaSettings) -> str:
        """``this month: N calls; projected: M`` and, when watched, the share of the quota."""
        text = f"this month ({self.month}): {self.calls} calls; projected: {self.projected}"
        if settings.monthly_quota:
            share = 100 * self.projected / settings.monthly_quota
            text += f" ({share:.0f}% of the organisation's {settings.monthly_quota})"
        return text

    def over(self, settings: QuotaSettings) -> bool:
        """True when the projection exceeds our share of a watched quota."""
        return bool(settings.monthly_quota) and self.projected > settings.allowed


def china_month(at: datetime) -> str:
    """The China calendar month of ``at``, as ``YYYY-MM`` (how the quota is counted)."""
    return at.astimezone(CHINA_TZ).strftime("%Y-%m")


def _dialect(engine: Engine) -> str:
    return "sqlite" if engine.dialect.name == "sqlite" else "mysql"


def _ensure_table(engine: Engine) -> None:
    with engine.begin() as conn:
        if sa.inspect(conn).has_table(TABLE):
            return
        ddl = ddl_for(read_sql(f"{TABLE}.sql"), _dialect(engine))
        for statement in split_statements(ddl):
            conn.execute(sa.text(statement))


def record_calls(engine: Engine, caller: str, calls: int, at: datetime | None = None) -> MonthCount:
    """Add ``calls`` list calls of ``caller`` to the current China month; the month so far."""
    at = (at or datetime.now(tz=CHINA_TZ)).astimezone(CHINA_TZ)
    month = china_month(at)
    _ensure_table(engine)
    with engine.begin() as conn:
        if calls:
            conn.execute(
                sa.text(read_sql(f"add_{TABLE}.{_dialect(engine)}.sql")),
                {"month": month, "caller": caller, "calls": calls, "at": _naive(at)},
            )
        rows = conn.execute(sa.text(read_sql(f"month_{TABLE}.sql")), {"month": month})
        by_caller = {str(caller): int(count) for caller, count in rows}
    return MonthCount(month, by_caller, at)


def _naive(at: datetime) -> str:
    # China wall-clock text: DATETIME on MySQL, comparable text on SQLite.
    return at.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
