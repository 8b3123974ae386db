"""``make add-form``: a new form's files, written from what Yida says the form is.

``python -m dd_refund_pipeline.forms.scaffold new --form-uuid FORM-… --name <name>`` reads the
app's form list and the form's field definitions through the project's client (the same token,
QPS limit and retries as a sync; three calls), then writes the form's folder
``dd_refund_pipeline/defs/<name>/``:

- ``defs.yaml``: the form's assets, job, schedule and sensors, and its spec: every component
  with its label and kind, choices, the serial rule's prefix; a proposed mapping in the shape of
  the refund form;
- ``<table>.sql``: the proposed table (the SQLite default's is derived from it);

and prints what a person must still decide. ``… table --name <name>`` writes the table's DDL
again from the edited spec. Without ``--form-uuid``, ``new`` lists the app's process forms.
Settings: ``DINGTALK_BASE_URL``, ``DINGTALK_APP_KEY``, ``DINGTALK_APP_SECRET``,
``YIDA_SYSTEM_TOKEN`` (the app's), as for a sync.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from dd_refund_pipeline.dingtalk.client import YidaClient
from dd_refund_pipeline.dingtalk.errors import DingTalkApiError
from dd_refund_pipeline.dingtalk.query import DEFAULT_BASE_URL, YidaCredentials
from dd_refund_pipeline.forms.proposal import Proposal, propose
from dd_refund_pipeline.forms.spec import (
    DEFS_DIR,
    FORM_FILE,
    FormSpec,
    SpecError,
    load_form_spec,
    read_form_file,
)
from dd_refund_pipeline.forms.table_ddl import WRITTEN_MARK, design, mysql_ddl
from dd_refund_pipeline.forms.yida_form import YidaForm, read_form, text_of

ROOT = DEFS_DIR.parent.parent
CREDENTIALS = ("DINGTALK_APP_KEY", "DINGTALK_APP_SECRET", "YIDA_SYSTEM_TOKEN")
# GetInstances reads process forms (流程表单) only; a receipt form (表单) is another API.
PROCESS = "process"


class ScaffoldError(RuntimeError):
    """What stops the scaffold, said in one line for the person at the terminal."""


def _client() -> YidaClient:
    missing = [name for name in CREDENTIALS if not os.environ.get(name)]
    if missing:
        raise ScaffoldError(
            f"set {', '.join(missing)} (the app's credentials, as for a sync; README, "
            "'Configuration'), and DINGTALK_BASE_URL for anything but api.dingtalk.com"
        )
    base_url = os.environ.get("DINGTALK_BASE_URL") or DEFAULT_BASE_URL
    credentials = YidaCredentials(*(os.environ[name] for name in CREDENTIALS))
    return YidaClient(credentials, base_url)


async def _read(like: FormSpec, form_uuid: str | None) -> tuple[list[dict[str, Any]], Any, int]:
    """The app's process forms, ``form_uuid``'s fields (if it is one), and the calls spent."""
    async with _client() as client:
        source = like.source
        forms = await client.list_forms(source.app_type, source.user_id)
        fields = None
        if form_uuid is not None and any(f.get("formUuid") == form_uuid for f in forms):
            fields = await client.form_fields(source.app_type, source.user_id, form_uuid)
        return forms, fields, sum(client.stats.calls.values())


def read_yida_form(like: FormSpec, form_uuid: str) -> tuple[YidaForm, int]:
    """The form ``form_uuid`` of ``like``'s app, read from Yida, and the API calls it took."""
    forms, fields, calls = asyncio.run(_read(like, form_uuid))
    summary = next((f for f in forms if f.get("formUuid") == form_uuid), None)
    if summary is None or fields is None:
        raise ScaffoldError(
            f"{form_uuid} is not a process form of app {like.source.app_type} "
            f"(it has {len(forms)}: make add-form without FORM_UUID lists them)"
        )
    form = read_form(summary, fields)
    if form.form_type and form.form_type != PROCESS:
        raise ScaffoldError(f"{form_uuid} is a {form.form_type} form; only process forms sync")
    return form, calls


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


def _folder(root: Path, name: str) -> Path:
    return root / DEFS_DIR.relative_to(ROOT) / name


def _targets(root: Path, name: str, table: str) -> dict[str, Path]:
    return {"defs": _folder(root, name) / FORM_FILE, "mysql": _folder(root, name) / f"{table}.sql"}


def _defs_text(proposal: Proposal, form: YidaForm, name: str, table: str) -> str:
    notes = [
        f"# {form.title} ({form.form_uuid}) into {table}: written by make add-form from Yida's "
        "field list.",
        "# The names of its assets, job, schedules and sensors are public: keep them once it runs.",
        "# Before the first run, decide (in spec):",
        *(f"#   - {decision}" for decision in proposal.decisions),
        "# Choice shares are equal until you know better (the demo emulator draws by them).",
        f"# After editing spec.target.columns: make form-table NAME={name}",
    ]
    if proposal.unmapped:
        notes += ["# Not mapped:", *(f"#   - {line}" for line in proposal.unmapped)]
    document = {**proposal.defs}
    document["attributes"] = {**proposal.defs["attributes"], "spec": proposal.spec}
    return "\n".join(notes) + "\n" + _dump(document)


def write_new_form(
    form: YidaForm, name: str, table: str, like: FormSpec, root: Path, force: bool
) -> tuple[Proposal, dict[str, Path]]:
    """Write the new form's folder under ``root``; refuse to overwrite without ``force``."""
    proposal = propose(form, name, table, like)
    paths = _targets(root, name, table)
    existing = [str(p.relative_to(root)) for p in paths.values() if p.exists()]
    if existing and not force:
        raise ScaffoldError(f"{', '.join(existing)} exists already (--force writes it again)")
    texts = {"defs": _defs_text(proposal, form, name, table), "mysql": mysql_ddl(proposal.spec)}
    for part, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(texts[part], encoding="utf-8")
    load_form_spec(paths["defs"].parent)  # what was written loads, or this says why
    return proposal, paths


def write_table(name: str, root: Path) -> list[Path]:
    """Write the DDL of form ``name``'s table again from its (edited) spec."""
    defs_path = _folder(root, name) / FORM_FILE
    if not defs_path.is_file():
        raise ScaffoldError(f"no form {name}: {defs_path} does not exist")
    raw = read_form_file(defs_path)["spec"]
    try:
        table = str(raw["target"]["table"])
        text = mysql_ddl(raw)
    except (KeyError, TypeError):
        raise SpecError(f"{defs_path}: spec.target needs a table and its columns") from None
    path = _targets(root, name, table)["mysql"]
    if path.exists() and not path.read_text(encoding="utf-8").startswith(WRITTEN_MARK):
        raise ScaffoldError(
            f"{path} was not written by make add-form: an existing table is the team's "
            "(make adopt), not rewritten here"
        )
    # The edited spec and the table agree, or this says why, before anything is written.
    load_form_spec(defs_path.parent, text)
    path.write_text(text, encoding="utf-8")
    return [path]


def _report(
    form: YidaForm, calls: int, proposal: Proposal, paths: dict[str, Path], root: Path
) -> str:
    shown = {part: path.relative_to(root) for part, path in paths.items()}
    _, key, columns = design(proposal.spec)
    lines = [
        f"Read {form.title} ({form.form_uuid}): {len(form.components)} components "
        f"({calls} API calls).",
        "Wrote:",
        f"  {shown['defs']}  the spec, and its assets, job, schedule and sensors",
        f"  {shown['mysql']}  the proposed table",
        "Columns proposed:",
        *(
            f"  {c.name:<28} {c.sql_type:<14} {'NOT NULL' if c.not_null else 'NULL':<9}"
            f"{'key ' if c.name == key else ''}{c.label}"
            for c in columns
        ),
    ]
    if proposal.unmapped:
        lines += ["Not mapped:", *(f"  {line}" for line in proposal.unmapped)]
    lines += ["Decide (in the spec), then make form-table NAME=… and make check:"]
    lines += [f"  {n}. {d}" for n, d in enumerate(proposal.decisions, 1)]
    return "\n".join(lines)


def _list_forms(like: FormSpec) -> str:
    forms, _, _ = asyncio.run(_read(like, None))
    rows = [f"  {f.get('formUuid')}  {text_of(f.get('title'))}" for f in forms]
    return f"Process forms of app {like.source.app_type}:\n" + "\n".join(rows)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dd_refund_pipeline.forms.scaffold", description=__doc__
    )
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="write a new form's files from Yida")
    new.add_argument("--form-uuid", help="the form (without it: list the app's process forms)")
    new.add_argument("--name", help="the form's name in the project (lower_case)")
    new.add_argument("--table", help="the finance table (default: hc_dd_<name>)")
    new.add_argument(
        "--like",
        required=True,
        help="the form whose app and table shape to follow (make: LIKE=, default fktk_refund)",
    )
    new.add_argument("--force", action="store_true", help="write over existing files")
    table = commands.add_parser("table", help="write the table's DDL again from the spec")
    table.add_argument("--name", required=True)
    return parser


def main(argv: Sequence[str] | None = None, root: Path = ROOT) -> int:
    """Run the command; a problem is one line on stderr and exit status 2."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "table":
            written = write_table(args.name, root)
            print("Wrote", ", ".join(str(p.relative_to(root)) for p in written))
            return 0
        like = load_form_spec(args.like)
        if not args.form_uuid:
            print(_list_forms(like))
            return 0
        if not args.name:
            raise ScaffoldError("give the form a name: NAME=<lower_case> (e.g. fybx_expense)")
        form, calls = read_yida_form(like, args.form_uuid)
        table = args.table or f"hc_dd_{args.name}"
        proposal, paths = write_new_form(form, args.name, table, like, root, args.force)
        print(_report(form, calls, proposal, paths, root))
        return 0
    except (ScaffoldError, DingTalkApiError, ValueError) as exc:
        print(f"make add-form: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
