"""The resources' classes: Yida access, a form's database, the robot.

``defs/resources.py`` gives them their settings, every secret as an ``EnvVar``.
"""

from dataclasses import replace
from datetime import datetime

import dagster as dg
from pydantic import PrivateAttr, field_validator
from sqlalchemy.engine import Engine

from dd_refund_pipeline.dingtalk.query import DEFAULT_BASE_URL, ClientSettings, YidaCredentials
from dd_refund_pipeline.dingtalk.robot import RobotReply, RobotSender
from dd_refund_pipeline.dingtalk.scan import scan_instances
from dd_refund_pipeline.dingtalk.scan_stats import ScanResult, ScanStats
from dd_refund_pipeline.forms.query import yida_query
from dd_refund_pipeline.forms.spec import FormSpec
from dd_refund_pipeline.load.api_quota import MonthCount, QuotaSettings, record_calls
from dd_refund_pipeline.load.loader import (
    check_connection,
    fit_to_table,
    make_engine,
    tracked_forms,
)
from dd_refund_pipeline.load.sync_state import check_gone_policy

DEFAULT_ROBOT_URL = "https://oapi.dingtalk.com"
# The Yida app's systemToken: every form spec of this code location names this variable.
SYSTEM_TOKEN_ENV = "YIDA_SYSTEM_TOKEN"


def _http_url(value: str, setting: str) -> str:
    # At definition time the value is the EnvVar itself; it is checked again once resolved.
    if isinstance(value, dg.EnvVar):
        return value
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"{setting} must be an http(s) URL")
    return value.rstrip("/")


class YidaResource(dg.ConfigurableResource):
    """DingTalk Yida for one app: where it is, its credentials, and how hard we may call it."""

    base_url: str = DEFAULT_BASE_URL
    app_key: str
    app_secret: str
    system_token: str
    qps: float = 20.0
    max_in_flight: int = 8
    deep_paging_cap: int = 5000
    timeout_s: float = 20.0
    max_attempts: int = 6
    # The organisation's monthly list-call quota (0: not watched) and the share of it we may
    # project to spend: text, as the environment gives it (``YIDA_MONTHLY_CALL_QUOTA``,
    # ``YIDA_QUOTA_SHARE_PERCENT``); unset is the default (5000 calls, 70%).
    monthly_call_quota: str | None = None
    quota_share_percent: str | None = None

    @field_validator("base_url", mode="before")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url(value, "DINGTALK_BASE_URL")

    def quota(self) -> QuotaSettings:
        """The quota settings; a bad value fails before any call is made, naming the setting."""
        try:
            return QuotaSettings.parse(self.monthly_call_quota, self.quota_share_percent)
        except ValueError as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None

    def scan(
        self,
        spec: FormSpec,
        start: datetime,
        end: datetime,
        modified_since: datetime | None = None,
        stats: ScanStats | None = None,
    ) -> ScanResult:
        """Every instance of ``spec``'s query created in ``[start, end]``, once each.

        With ``modified_since``, only those modified since then: a sweep that is usually empty
        and then costs one call. ``stats`` counts the calls even when the scan fails.
        """
        query = yida_query(spec)
        if modified_since is not None:
            query = replace(query, modified_from=modified_since)
        return scan_instances(
            YidaCredentials(self.app_key, self.app_secret, self.system_token),
            query,
            start,
            end,
            base_url=self.base_url,
            settings=ClientSettings(
                qps=self.qps,
                max_in_flight=self.max_in_flight,
                deep_paging_cap=self.deep_paging_cap,
                timeout_s=self.timeout_s,
                max_attempts=self.max_attempts,
            ),
            expect_few=modified_since is not None,
            stats=stats,
        )


class FormDatabase(dg.ConfigurableResource):
    """The finance database holding every form's table (a SQLAlchemy URL, required).

    ``gone_upstream`` says what happens to rows of forms Yida stopped returning: ``flag`` keeps
    them and a check names them; ``delete`` removes them in the load's transaction.
    """

    url: str
    gone_upstream: str = "flag"

    @field_validator("gone_upstream", mode="before")
    @classmethod
    def _gone_upstream(cls, value: str) -> str:
        # At definition time the value is the EnvVar itself; it is checked again once resolved.
        return value if isinstance(value, dg.EnvVar) else check_gone_policy(str(value).strip())

    # One engine (one connection pool) for the run, or the sensor tick, that holds the resource.
    _engine: Engine | None = PrivateAttr(default=None)

    def engine(self) -> Engine:
        """The engine of this resource's lifetime (pre-ping on), made on first use."""
        if self._engine is None:
            self._engine = make_engine(self.url)
        return self._engine

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Close the pool's connections when the run (or the tick) is done with the resource."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def fitted(self, spec: FormSpec) -> FormSpec:
        """``spec`` with its amount columns as the existing target table declares them."""
        return fit_to_table(self.engine(), spec)

    def record_api_calls(self, caller: str, calls: int) -> MonthCount:
        """Add ``caller``'s list calls to this China month's count; the month so far."""
        return record_calls(self.engine(), caller, calls)

    def tracked_forms(self, spec: FormSpec, first: str, last: str) -> int:
        """Forms of ``spec`` created on ``first..last`` that Yida returned last time we looked."""
        return tracked_forms(self.engine(), spec, first, last)

    def check(self) -> None:
        """Raise ``DatabaseError`` (host and port, no password) unless the database answers."""
        check_connection(self.engine())


class DingTalkRobot(dg.ConfigurableResource):
    """The team's DingTalk group robot; without a token, alerts go to the log only."""

    base_url: str = DEFAULT_ROBOT_URL
    access_token: str | None = None
    secret: str | None = None
    webserver_url: str | None = None

    @field_validator("base_url", mode="before")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url(value, "DINGTALK_ROBOT_BASE_URL")

    def send_markdown(self, title: str, text: str) -> RobotReply:
        """Send a markdown message to the team's group (signed when a secret is set)."""
        if not self.access_token:
            return RobotReply(-3, "no robot configured (DINGTALK_ROBOT_ACCESS_TOKEN unset)")
        return RobotSender(self.base_url, self.access_token, self.secret).send_markdown(title, text)
