"""The resources every form shares, configured from the environment (``lib/resources``).

Secrets reach them only as ``dg.EnvVar``: the UI and the run snapshot show the variable's name,
never its value, and a missing one fails the run at start with the variable's name.
"""

import os
from typing import Any

import dagster as dg

from dd_refund_pipeline.dingtalk.query import DEFAULT_BASE_URL
from dd_refund_pipeline.lib.file_storage import FormFileStorage
from dd_refund_pipeline.lib.resources import (
    DEFAULT_ROBOT_URL,
    SYSTEM_TOKEN_ENV,
    DingTalkRobot,
    FormDatabase,
    YidaResource,
)
from dd_refund_pipeline.load.api_quota import QUOTA_ENV, SHARE_ENV
from dd_refund_pipeline.load.sync_state import GONE_POLICY_ENV
from dd_refund_pipeline.settings import DATABASE_URL_ENV, STORAGE_URL_ENV


def _env(name: str, default: Any = None) -> Any:
    """``EnvVar(name)`` when the variable is set, else ``default``.

    Optional settings stay optional, and set ones are still resolved (and hidden) the ``EnvVar``
    way.
    """
    return dg.EnvVar(name) if os.environ.get(name) else default


@dg.definitions
def resources() -> dg.Definitions:
    """The resources every form shares, each secret an ``EnvVar``."""
    return dg.Definitions(
        resources={
            "yida": YidaResource(
                base_url=_env("DINGTALK_BASE_URL", DEFAULT_BASE_URL),
                app_key=dg.EnvVar("DINGTALK_APP_KEY"),
                app_secret=dg.EnvVar("DINGTALK_APP_SECRET"),
                system_token=dg.EnvVar(SYSTEM_TOKEN_ENV),
                monthly_call_quota=_env(QUOTA_ENV),
                quota_share_percent=_env(SHARE_ENV),
            ),
            "refund_database": FormDatabase(
                # Required: a run without it fails at start naming it, rather than writing a
                # SQLite file while the finance database is never touched.
                url=dg.EnvVar(DATABASE_URL_ENV),
                gone_upstream=_env(GONE_POLICY_ENV, "flag"),
            ),
            "refund_storage": FormFileStorage(base_url=_env(STORAGE_URL_ENV)),
            "dingtalk_robot": DingTalkRobot(
                base_url=_env("DINGTALK_ROBOT_BASE_URL", DEFAULT_ROBOT_URL),
                access_token=_env("DINGTALK_ROBOT_ACCESS_TOKEN"),
                secret=_env("DINGTALK_ROBOT_SECRET"),
                webserver_url=_env("DAGSTER_WEBSERVER_URL"),
            ),
        }
    )
