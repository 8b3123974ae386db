"""Shared test helpers: what the pipeline must produce, computed from the emulator's own data
(not from our code), what the table holds, and the settings that point the pipeline at an
emulator."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dd_refund_pipeline.dingtalk.emulator.generator import EmulatedInstance
from dd_refund_pipeline.dingtalk.emulator.server import EmulatorServer
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ

if TYPE_CHECKING:
    import dagster as dg


def day_bounds_ms(start_day: str, end_day: str) -> tuple[float, float]:
    """``[first day 00:00, day after the last 00:00)`` in China time, as epoch ms."""
    low = datetime.fromisoformat(start_day).replace(tzinfo=CHINA_TZ)
    high = datetime.fromisoformat(end_day).replace(tzinfo=CHINA_TZ) + timedelta(days=1)
    return low.timestamp() * 1000, high.timestamp() * 1000


def matches_seed_query(instance: EmulatedInstance) -> bool:
    """The seed's filters: completed, agreed, 是 + 借款核销, an amount of at least 0.0001."""
    index = instance.index
    return (
        not instance.deleted
        and instance.status == "COMPLETED"
        and instance.result == "agree"
        and index["selectField_lgkiepju"] == "是"
        and index["radioField_lgk9jn2v"] == "借款核销"
        and index["numberField_lgkiepjv"] is not None
        and index["numberField_lgkiepjv"] >= 0.0001
    )


def matching(server: EmulatorServer, start_day: str, end_day: str) -> list[EmulatedInstance]:
    """Instances the API returns for the days, damaged ones included."""
    low, high = day_bounds_ms(start_day, end_day)
    return [
        i
        for i in server.state.store.instances
        if matches_seed_query(i) and low <= i.create_ms < high
    ]


def expected_rows(
    server: EmulatorServer, start_day: str, end_day: str
) -> dict[str, tuple[Any, ...]]:
    """The rows hc_dd_fktk must hold for the days: key → the other six columns."""
    rows = {}
    for instance in matching(server, start_day, end_day):
        if instance.malformed:
            continue
        payload = instance.payload
        data = payload["data"]
        when = datetime.fromtimestamp(data["dateField_lgkieplu"] / 1000, CHINA_TZ)
        rows[payload["processInstanceId"]] = (
            data["serialNumberField_lgk9jn2s"] + "(FKTK)",
            when.replace(tzinfo=None),
            1,
            # The seed maps the number itself; as JSON carries it (shortest round-trip text).
            Decimal(str(data["numberField_lgkiepjv"])).quantize(Decimal("0.01")),
            payload["instanceStatus"],
            "付款退款",
        )
    return rows


def table(engine: sa.Engine) -> dict[str, tuple[Any, ...]]:
    """What hc_dd_fktk holds, in the shape of ``expected_rows``."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT extend_processInstanceId, order_no_new, datetime_new, qty_count, "
                "sales_count, status, Document_Type FROM hc_dd_fktk"
            )
        )
        return {row[0]: tuple(row[1:]) for row in rows}


ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def without_pipeline_settings() -> dict[str, str]:
    """This process's environment minus every setting of the pipeline, as on a fresh machine."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("DINGTALK_", "DD_", "YIDA_"))}


def pipeline_env(
    server: EmulatorServer, database_url: str, storage: Path, *, robot: bool = False
) -> dict[str, str]:
    """The environment variables that point the real definitions at ``server`` and a database."""
    config = server.state.config
    env = {
        "DINGTALK_BASE_URL": server.base_url,
        "DINGTALK_APP_KEY": config.app_key,
        "DINGTALK_APP_SECRET": config.app_secret,
        "YIDA_SYSTEM_TOKEN": config.system_token,
        "DD_REFUND_DATABASE_URL": database_url,
        "DD_REFUND_STORAGE_URL": str(storage),
    }
    if robot:
        env.update(
            DINGTALK_ROBOT_BASE_URL=server.base_url,
            DINGTALK_ROBOT_ACCESS_TOKEN=config.robot_access_token,
            DINGTALK_ROBOT_SECRET=config.robot_secret or "",
        )
    return env


def materialize_command(days: str, select: str = "*") -> list[str]:
    """``dagster asset materialize`` over ``days`` (``A...B``), as a user runs it.

    ``select`` is Dagster's selection: every asset of every form by default; the refund form
    alone is ``yida_refund_instances*`` (its raw asset and everything downstream).
    """
    return [
        str(Path(sys.executable).parent / "dagster"),
        "asset",
        "materialize",
        "-m",
        "dd_refund_pipeline.definitions",
        "--select",
        select,
        "--partition-range",
        days,
    ]


def dg_launch_command(days: str) -> list[str]:
    """``dg launch`` of every asset over ``days``: the command Dagster's own docs now teach."""
    return [
        str(Path(sys.executable).parent / "dg"),
        "launch",
        "--assets",
        "*",
        "--partition-range",
        days,
    ]


def validate_definitions(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``dagster definitions validate -w workspace.yaml`` as a user would run it."""
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@functools.cache
def form_defs(folder: str = "fktk_refund") -> dg.Definitions:
    """One form's definitions, built by its component from its ``defs.yaml`` (as the code
    location builds them), without loading the whole code location."""
    # Imported here: the benchmark's core variant imports this module and must not pay for
    # Dagster (its peak memory is measured).
    import dagster as dg

    from dd_refund_pipeline.components.form_sync import build_form_defs, project_forms
    from dd_refund_pipeline.defs.resources import resources

    [form] = [form for form in project_forms() if form.spec.name == folder]
    return dg.Definitions.merge(build_form_defs(form), resources())


def refund_asset(name: str) -> dg.AssetsDefinition:
    """An asset of the refund form (``yida_refund_instances``, ``refund_payments``, …)."""
    return form_defs().get_assets_def(name)
