"""Where things live: the Dagster home, and the finance database (which must be named)."""

from __future__ import annotations

import os
import string
from collections.abc import Callable
from datetime import date
from pathlib import Path
from urllib.parse import quote

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL_ENV = "DD_REFUND_DATABASE_URL"
# Where the day files between the assets go (a folder or an fsspec URL).
STORAGE_URL_ENV = "DD_REFUND_STORAGE_URL"
# The first day partition of every form (YYYY-MM-DD).
PARTITIONS_START_ENV = "DD_REFUND_PARTITIONS_START"
# The environment variable each timing attribute of a form's component reads in the shipped
# ``defs.yaml`` files (and in those ``make add-form`` writes).
TIMING_ENV = {
    "partitions_start": PARTITIONS_START_ENV,
    "schedule_cron": "DD_REFUND_SCHEDULE_CRON",
    "late_changes_interval_hours": "DD_REFUND_LATE_CHANGES_INTERVAL_HOURS",
    "deep_reconcile_cron": "DD_REFUND_DEEP_RECONCILE_CRON",
    "deep_reconcile_days": "DD_REFUND_DEEP_RECONCILE_DAYS",
}
# ``on``: the worked example forms (made-up identifiers) join the code location: demo and tests.
EXAMPLE_FORMS_ENV = "DD_REFUND_EXAMPLE_FORMS"
# The address of one form in Yida, as a template: check samples link each form there.
YIDA_FORM_URL_ENV = "DD_REFUND_YIDA_FORM_URL"
YIDA_FORM_URL_EXAMPLE = (
    "https://<your-corp>.aliwork.com/{app_type}/processDetail?formInstId={process_instance_id}"
)
_FORM_URL_FIELDS = frozenset({"app_type", "form_uuid", "process_instance_id"})


def timing_templates() -> dict[str, str]:
    """The timing attributes of a ``defs.yaml``, each read from its variable by Dagster."""
    return {attribute: f"{{{{ env.{name} }}}}" for attribute, name in TIMING_ENV.items()}


def dagster_home() -> Path:
    """``$DAGSTER_HOME``, else ``.dagster_home`` in the project (what ``make`` sets up)."""
    return Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home")


def demo_database_url() -> str:
    """The demo's database (``make run``, ``make dev``): a SQLite file under the Dagster home.

    Only the demo uses it, and it says so by setting ``DD_REFUND_DATABASE_URL`` to it: anywhere
    else a run without that setting fails at start instead of filling a file nobody reads.
    """
    return f"sqlite:///{dagster_home() / 'dd_refund.db'}"


class MissingSettingError(RuntimeError):
    """A required setting is not set; the message names it."""


class BadSettingError(ValueError):
    """A setting holds a value we cannot use; the message names it and what is allowed."""


def hours_value(name: str, raw: str | None, default: float) -> float:
    """A positive number of hours (``default`` when ``raw`` is unset or blank).

    ``name`` says where the value came from, for the message when it is not one.
    """
    raw = _text(raw)
    if not raw:
        return default
    try:
        hours = float(raw)
    except ValueError:
        hours = float("nan")
    if not 0 < hours < float("inf"):  # NaN too
        raise BadSettingError(
            f"{name} is {raw!r}: give a number of hours greater than 0 (e.g. {default:g}); "
            f"each sweep spends a list call of the monthly quota"
        )
    return hours


def day_value(name: str, raw: str | None, default: str) -> str:
    """A calendar day ``YYYY-MM-DD`` (``default`` when ``raw`` is unset or blank)."""
    raw = _text(raw)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise BadSettingError(
            f"{name} is {raw!r}: give a day as YYYY-MM-DD (e.g. {default})"
        ) from None


def whole_days_value(name: str, raw: str | None, default: int) -> int:
    """A whole number of days, at least 1 (``default`` when ``raw`` is unset or blank)."""
    raw = _text(raw)
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise BadSettingError(f"{name} is {raw!r}: give a whole number of days (e.g. {default})")
    return int(raw)


def text_value(raw: str | None, default: str) -> str:
    """A text setting, ``default`` when unset or blank (a cron string: Dagster checks it)."""
    return _text(raw) or default


def _text(raw: object) -> str:
    # Dagster's templating hands a number over as one ("{{ env.X }}" with X=2 is the int 2).
    return "" if raw is None else str(raw).strip()


def database_url() -> str:
    """``DD_REFUND_DATABASE_URL``; there is no silent default outside the demo."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if not url:
        raise MissingSettingError(
            f"{DATABASE_URL_ENV} is not set: give the SQLAlchemy URL of the finance database "
            f"(e.g. mysql+pymysql://user:password@host:3306/finance); `make run` and `make dev` "
            f"set a demo SQLite file themselves"
        )
    return url


def _template_fields(template: str) -> set[str] | None:
    """The placeholders of ``template``, or None when it is not a valid format string."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError:
        return None


def yida_form_links(app_type: str, form_uuid: str) -> Callable[[str], str] | None:
    """The Yida address of each form of one app's form, from ``DD_REFUND_YIDA_FORM_URL``.

    None when the setting is unset (samples then show ids alone). The template names
    ``{process_instance_id}`` and may name ``{app_type}`` and ``{form_uuid}``.
    """
    template = os.environ.get(YIDA_FORM_URL_ENV, "").strip()
    if not template:
        return None
    fields = _template_fields(template)
    usable = (
        fields is not None
        and "process_instance_id" in fields
        and fields <= _FORM_URL_FIELDS
        and template.startswith(("https://", "http://"))
    )
    if not usable:
        raise BadSettingError(
            f"{YIDA_FORM_URL_ENV}={template!r}: give an http(s) address with "
            f"{{process_instance_id}} (and, if it needs them, {{app_type}} and {{form_uuid}}), "
            f"e.g. {YIDA_FORM_URL_ENV}='{YIDA_FORM_URL_EXAMPLE}'"
        )

    def url(process_instance_id: str) -> str:
        return template.format(
            app_type=quote(app_type, safe=""),
            form_uuid=quote(form_uuid, safe=""),
            process_instance_id=quote(process_instance_id, safe=""),
        )

    return url


def database_kind() -> str:
    """The kind of database ``DD_REFUND_DATABASE_URL`` names, for the table's badge in the UI.

    ``mysql`` or ``sqlite`` (the demo's); ``mysql``, production's, when unset or unreadable.
    """
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    backend = url.partition(":")[0].partition("+")[0].lower()
    return {"mariadb": "mysql", "": "mysql"}.get(backend, backend if backend.isalpha() else "mysql")


def example_forms_on() -> bool:
    """Whether ``DD_REFUND_EXAMPLE_FORMS`` turns the worked example forms on (``on``/``off``)."""
    raw = os.environ.get(EXAMPLE_FORMS_ENV, "").strip().lower()
    if raw in ("", "off", "0", "false", "no"):
        return False
    if raw in ("on", "1", "true", "yes"):
        return True
    raise BadSettingError(
        f"{EXAMPLE_FORMS_ENV}={raw!r}: give on or off (on only for the demo and the tests: the "
        f"example forms' identifiers are made up)"
    )
