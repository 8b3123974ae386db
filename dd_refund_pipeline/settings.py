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
# The first day partition of every form (YYYY-MM-DD).
PARTITIONS_START_ENV = "DD_REFUND_PARTITIONS_START"
# ``on``: the worked example forms (made-up identifiers) join the code location: demo and tests.
EXAMPLE_FORMS_ENV = "DD_REFUND_EXAMPLE_FORMS"
# The address of one form in Yida, as a template: check samples link each form there.
YIDA_FORM_URL_ENV = "DD_REFUND_YIDA_FORM_URL"
YIDA_FORM_URL_EXAMPLE = (
    "https://<your-corp>.aliwork.com/{app_type}/processDetail?formInstId={process_instance_id}"
)
_FORM_URL_FIELDS = frozenset({"app_type", "form_uuid", "process_instance_id"})


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


def hours_setting(name: str, default: float) -> float:
    """A positive number of hours from ``name`` (``default`` when unset)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        hours = float(raw)
    except ValueError:
        hours = float("nan")
    if not 0 < hours < float("inf"):  # NaN too
        raise BadSettingError(
            f"{name}={raw!r}: give a number of hours greater than 0 (e.g. {name}={default:g}); "
            f"each sweep spends a list call of the monthly quota"
        )
    return hours


def day_setting(name: str, default: str) -> str:
    """A calendar day ``YYYY-MM-DD`` from ``name`` (``default`` when unset)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise BadSettingError(
            f"{name}={raw!r}: give a day as YYYY-MM-DD (e.g. {name}={default})"
        ) from None


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
