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

from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.emulator.generator import EmulatedInstance
from dd_refund_pipeline.emulator.server import EmulatorServer
from dd_refund_pipeline.forms.spec import FormSpec, TargetColumn, load_form_spec

if TYPE_CHECKING:
    import dagster as dg

REFUND_SPEC = load_form_spec("fktk_refund")


def day_bounds_ms(start_day: str, end_day: str) -> tuple[float, float]:
    """``[first day 00:00, day after the last 00:00)`` in China time, as epoch ms."""
    low = datetime.fromisoformat(start_day).replace(tzinfo=CHINA_TZ)
    high = datetime.fromisoformat(end_day).replace(tzinfo=CHINA_TZ) + timedelta(days=1)
    return low.timestamp() * 1000, high.timestamp() * 1000


def matches_filters(instance: EmulatedInstance, spec: FormSpec) -> bool:
    """The spec's filters as Yida documents them (yida-api.md §1.4), written out here rather
    than through our query code: status and result equal, a text field equal, a one-number list
    a lower bound."""
    if instance.deleted or instance.status != spec.filters.instance_status:
        return False
    if spec.filters.approved_result and instance.result != spec.filters.approved_result:
        return False
    for field, wanted in spec.filters.search_fields.items():
        value = instance.index.get(field)
        if isinstance(wanted, list):
            if value is None or value < wanted[0]:
                return False
        elif value != wanted:
            return False
    return True


def matches_seed_query(instance: EmulatedInstance) -> bool:
    """The seed's filters: completed, agreed, 是 + 借款核销, an amount of at least 0.0001."""
    return matches_filters(instance, REFUND_SPEC)


def matching(
    server: EmulatorServer, start_day: str, end_day: str, spec: FormSpec | None = None
) -> list[EmulatedInstance]:
    """Instances the API returns for the days, damaged ones included (the refund form's when no
    ``spec`` is given)."""
    spec = spec or REFUND_SPEC
    low, high = day_bounds_ms(start_day, end_day)
    return [
        i
        for i in server.state.stores[spec.source.form_uuid].instances
        if matches_filters(i, spec) and low <= i.create_ms < high
    ]


def _expected_value(spec: FormSpec, column: TargetColumn, payload: dict[str, Any]) -> Any:
    """One column of a row as the spec says it is made, from the payload Yida sent: each
    ``{field}`` as sent (dates as China wall-clock time, amounts to the table's places), literal
    text as it is, whole numbers as numbers."""
    pieces: list[Any] = []
    for part in column.parts:
        ref = part[1:-1] if part.startswith("{") and part.endswith("}") else None
        if ref is None:
            pieces.append(part)
            continue
        if ref.startswith("instance."):
            pieces.append(payload[ref.removeprefix("instance.")])
            continue
        rule = spec.format_for(ref)
        value = payload["data"][rule.old if rule else ref]
        fmt = column.format or (rule.format if rule else None)
        if fmt in ("date", "dateTime"):
            value = datetime.fromtimestamp(value / 1000, CHINA_TZ).replace(tzinfo=None)
        elif fmt == "amount":
            scale = column.table_column.params[1]
            value = Decimal(str(value)).quantize(Decimal(1).scaleb(-scale))
        pieces.append(value)
    if len(pieces) == 1 and not isinstance(pieces[0], str):
        return pieces[0]
    text = "".join(str(piece) for piece in pieces)
    return int(text) if column.table_column.family == "integer" else text


def _loadable(spec: FormSpec, payload: dict[str, Any]) -> bool:
    """Every field a NOT NULL column reads is in the form (one without its amount is rejected)."""
    data = payload.get("data") or {}
    for column in spec.target.columns:
        if column.table_column.nullable:
            continue
        for ref in column.refs:
            rule = spec.format_for(ref)
            field = rule.old if rule else ref
            if not ref.startswith("instance.") and data.get(field) in (None, ""):
                return False
    return True


def expected_form_rows(
    server: EmulatorServer, spec: FormSpec, start_day: str, end_day: str
) -> dict[str, tuple[Any, ...]]:
    """The rows ``spec``'s table must hold for the days: key → its other columns, in order."""
    others = [c for c in spec.target.columns if c.name != spec.target.key]
    rows = {}
    for instance in matching(server, start_day, end_day, spec):
        if instance.malformed or not _loadable(spec, instance.payload):
            continue  # damaged, or without a value a column must have: rejected with a reason
        rows[instance.payload["processInstanceId"]] = tuple(
            _expected_value(spec, column, instance.payload) for column in others
        )
    return rows


def form_table(engine: sa.Engine, spec: FormSpec) -> dict[str, tuple[Any, ...]]:
    """What ``spec``'s table holds, in the shape of ``expected_form_rows``."""
    names = [spec.target.key] + [c for c in spec.target.column_names if c != spec.target.key]
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT {', '.join(names)} FROM {spec.target.table}"))
        return {row[0]: tuple(row[1:]) for row in rows}


def expected_rows(
    server: EmulatorServer, start_day: str, end_day: str
) -> dict[str, tuple[Any, ...]]:
    """The rows hc_dd_fktk must hold for the days: key → the other six columns."""
    return expected_form_rows(server, REFUND_SPEC, start_day, end_day)


def table(engine: sa.Engine) -> dict[str, tuple[Any, ...]]:
    """What hc_dd_fktk holds, in the shape of ``expected_rows``."""
    return form_table(engine, REFUND_SPEC)


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
        # The tests' code location holds the worked example form too (as the demo's does).
        "DD_REFUND_EXAMPLE_FORMS": "on",
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
