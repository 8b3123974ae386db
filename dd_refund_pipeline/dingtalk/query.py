"""What a Yida call is made of: where, as whom, which forms, how hard; and what a page is.

The request side of ``GetInstances`` (the contract in ``shared/reference/yida-api.md``): the
credentials, the query with its filters and time windows as the body the API takes, one page of
its answer, and the client's tuning. No HTTP here: ``client`` sends, ``scan`` reads windows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ, format_request_time

DEFAULT_BASE_URL = "https://api.dingtalk.com"
TOKEN_PATH = "/v1.0/oauth2/accessToken"
INSTANCES_PATH = "/v1.0/yida/processes/instances"
TOKEN_ENDPOINT = "accessToken"
INSTANCES_ENDPOINT = "instances"
# What Yida says an app's forms and a form's fields are (GetFormListInApp, GetFieldDefByUuid):
# GETs, every parameter in the query string.
FORMS_PATH = "/v1.0/yida/forms"
FORM_FIELDS_PATH = "/v1.0/yida/forms/formFields"
FORMS_ENDPOINT = "forms"
FORM_FIELDS_ENDPOINT = "formFields"
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class YidaCredentials:
    """Secrets of one DingTalk app and Yida application (never logged, never in errors)."""

    app_key: str
    app_secret: str
    system_token: str

    def secrets(self) -> tuple[str, ...]:
        """The values that must never appear in logs, metadata or errors."""
        return (self.app_secret, self.system_token)


@dataclass(frozen=True)
class YidaQuery:
    """What to ask ``GetInstances`` for, apart from the create-time window and paging.

    Field names follow the official SDK's ``GetInstancesRequest``.
    """

    app_type: str
    user_id: str
    form_uuid: str
    language: str = "zh_CN"
    search_fields: Mapping[str, Any] | list[Any] | None = None
    instance_status: str | None = None
    approved_result: str | None = None
    originator_id: str | None = None
    task_id: str | None = None
    modified_from: datetime | None = None
    modified_to: datetime | None = None
    # Ascending modification order: a form approved or filed while pages are read gets the
    # newest modification time and lands after every page, so earlier offsets do not move (in
    # creation order it would push every later page back). ``pid`` breaks ties so that equal
    # times cannot swap places between pages.
    order_config: Mapping[str, str] = field(
        default_factory=lambda: {"gmt_modified": "+", "pid": "+"}
    )

    def body(
        self,
        system_token: str,
        create_from: datetime | None,
        create_to: datetime | None,
        zone: ZoneInfo,
    ) -> dict[str, str]:
        """The JSON body of one request; JSON-valued fields travel as strings, as Yida wants."""
        fields: dict[str, Any] = {
            "appType": self.app_type,
            "systemToken": system_token,
            "userId": self.user_id,
            "language": self.language,
            "formUuid": self.form_uuid,
            "searchFieldJson": _json_or_none(self.search_fields),
            "instanceStatus": self.instance_status,
            "approvedResult": self.approved_result,
            "createFromTimeGMT": _time_or_none(create_from, zone),
            "createToTimeGMT": _time_or_none(create_to, zone),
            "modifiedFromTimeGMT": _time_or_none(self.modified_from, zone),
            "modifiedToTimeGMT": _time_or_none(self.modified_to, zone),
            "originatorId": self.originator_id,
            "orderConfigJson": _json_or_none(self.order_config),
            "taskId": self.task_id,
        }
        return {key: value for key, value in fields.items() if value is not None}


def _json_or_none(value: Mapping[str, Any] | list[Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _time_or_none(value: datetime | None, zone: ZoneInfo) -> str | None:
    return None if value is None else format_request_time(value, zone)


@dataclass(frozen=True)
class Page:
    """One ``GetInstances`` answer."""

    total_count: int
    page_number: int
    items: list[dict[str, Any]]


@dataclass(frozen=True)
class ClientSettings:
    """Tuning of the client; the defaults suit the standard edition's limits."""

    qps: float = 20.0
    max_in_flight: int = 8
    page_size: int = MAX_PAGE_SIZE
    deep_paging_cap: int = 5000
    timeout_s: float = 20.0
    max_attempts: int = 6
    max_retry_wait_s: float = 120.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 16.0
    # A form modified this long before a read began may still be news to it (clock skew).
    drift_margin: timedelta = timedelta(minutes=2)
    # A read that keeps moving is split into parts this many times before the scan gives up.
    max_drift_rereads: int = 6
    # Fresh tokens rejected in a row, with no successful call between: wrong app or rights.
    hopeless_token_refreshes: int = 3
    zone: ZoneInfo = CHINA_TZ
