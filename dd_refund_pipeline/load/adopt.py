"""``python -m dd_refund_pipeline.load.adopt [--form NAME]``: take over a form's existing table.

The 轻易云 scheme wrote the table with plain ``INSERT``s: it usually has no UNIQUE key on
the form's key (``processInstanceId``), may hold several copies of a form, and its types may
differ from
ours. Without ``--apply`` this prints a plan and changes nothing: the columns compared with ours
(what we write into as it is, what we cannot), the duplicate ids (count and a sample), which copy
of each is kept and why, and what ``--apply`` would do. It exits 0 only when the table is ready.

``--apply`` copies every copy it removes into ``hc_dd_fktk_adopt_backup`` with the reason, keeps
the newest copy of each id, adds the UNIQUE key, and creates our side tables. Each step is safe
to rerun after an interruption (each batch of ids moves in one transaction; finished steps are
seen as finished). It never drops or retypes a column the team owns, and refuses, saying why,
where it cannot proceed safely.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from dd_refund_pipeline.forms.spec import FormSpec
from dd_refund_pipeline.forms.table_sql import FormTables
from dd_refund_pipeline.load.command_line import add_target_arguments, open_target
from dd_refund_pipeline.load.existing_table import ColumnFinding, compare_columns
from dd_refund_pipeline.load.loader import DatabaseError, ensure_schema, safe_url, unique_on
from dd_refund_pipeline.settings import MissingSettingError
from dd_refund_pipeline.sqlfiles import read_sql

BATCH_IDS = 500
SAMPLE = 10
# Audit columns the 轻易云 table may have; the newest copy is the one updated last.
UPDATED_COLUMNS = ("updated_at", "update_time", "modified_at")


class AdoptionRefused(Exception):
    """``--apply`` cannot proceed safely; the message says why and what to do."""


@dataclass(frozen=True)
class CopyOrder:
    """How the copies of one id are ordered, oldest first: the last one is kept."""

    columns: tuple[str, ...]  # ORDER BY these; empty: the table's storage order
    description: str
    # The primary key, when there is one: removed copies are deleted by it.
    primary_key: str | None = None
    # Why copies that differ cannot be told apart (None: they can).
    unorderable: str | None = None


@dataclass
class Duplicates:
    """Ids stored more than once: how many, how many rows, and a sample."""

    ids: int = 0
    rows: int = 0
    sample: list[tuple[str, int]] = field(default_factory=list)

    @property
    def removable(self) -> int:
        """Copies that adoption would move to the backup table."""
        return self.rows - self.ids


@dataclass
class AdoptionPlan:
    """What the table is, next to what we need, and what ``--apply`` would do."""

    url: str
    table: str
    exists: bool
    key: str = ""
    rows: int = 0
    null_ids: int = 0
    empty_ids: int = 0
    findings: list[ColumnFinding] = field(default_factory=list)
    has_unique_key: bool = False
    key_type: str = ""
    duplicates: Duplicates = field(default_factory=Duplicates)
    order: CopyOrder | None = None
    backup_rows: int | None = None
    # What ``--apply`` did in this invocation, for its report.
    applied: list[str] = field(default_factory=list)

    @property
    def blocking(self) -> list[str]:
        """What ``--apply`` cannot fix: the team has to decide."""
        reasons = [
            f"column {f.name} is {f.theirs}: {f.reason} (we never retype a column the team owns)"
            for f in self.findings
            if f.verdict == "blocking"
        ]
        if self.exists and not self.has_unique_key and self.key_type.upper().endswith("TEXT"):
            reasons.append(
                f"{self.key} is {self.key_type}: a UNIQUE key needs a VARCHAR; "
                f"change it to VARCHAR(64) yourself, then rerun"
            )
        if self.empty_ids > 1 and not self.has_unique_key:
            reasons.append(
                f"{self.empty_ids} rows have an empty {self.key}: they match no "
                f"form and would break the UNIQUE key; set them to NULL (or remove them), rerun"
            )
        return reasons

    @property
    def ready(self) -> bool:
        """True when the pipeline can write into the table as it is."""
        if not self.exists:
            return True  # the loader creates it as sql/ declares it
        return not self.blocking and self.has_unique_key and not self.duplicates.ids

    def render(self) -> str:
        """The plan as the command prints it."""
        lines = [f"Adopting {self.table} in {self.url}"]
        lines += [f"  applied: {step}" for step in self.applied]
        if not self.exists:
            lines.append(f"  {self.table} does not exist: the first run creates it. Ready.")
            return "\n".join(lines)
        lines.append(
            f"  {self.rows} rows; {self.null_ids + self.empty_ids} without a processInstanceId "
            f"(kept as they are: no form matches them)"
        )
        lines.append("\nColumns (theirs → ours):")
        width = max(len(f.name) for f in self.findings)
        for f in self.findings:
            ours = f.ours or "(not written)"
            note = f" — {f.reason}" if f.reason else ""
            lines.append(f"  {f.name:<{width}}  {f.theirs:<22} {ours:<15} {f.verdict}{note}")
        lines.append("\nKey:")
        if self.has_unique_key:
            lines.append(f"  UNIQUE on {self.key}: present")
        else:
            lines.append(f"  no UNIQUE key on {self.key}: --apply adds it")
        lines += self._duplicate_lines()
        if self.backup_rows is not None:
            lines.append(
                f"\nBackup: {backup_table_name(self.table)} holds {self.backup_rows} rows "
                f"removed by earlier adoptions"
            )
        lines.append("")
        if self.ready:
            lines.append("Ready: the pipeline can write into this table.")
        elif self.blocking:
            lines.append("Not ready, and --apply cannot fix it:")
            lines += [f"  - {reason}" for reason in self.blocking]
        else:
            lines.append("Not ready. --apply would:")
            lines += [f"  {n}. {step}" for n, step in enumerate(self.steps(), 1)]
        return "\n".join(lines)

    def _duplicate_lines(self) -> list[str]:
        dup = self.duplicates
        if not dup.ids:
            return ["\nDuplicates: none"]
        lines = [
            f"\nDuplicates: {dup.ids} processInstanceIds stored more than once ({dup.rows} rows; "
            f"{dup.removable} copies to move to the backup)"
        ]
        lines += [f"  {key}  × {copies}" for key, copies in dup.sample]
        if dup.ids > len(dup.sample):
            lines.append(f"  … and {dup.ids - len(dup.sample)} more")
        if self.order is not None:
            lines.append(f"  kept per id: {self.order.description}")
            if self.order.unorderable:
                lines.append(f"  caution: {self.order.unorderable}")
        return lines

    def steps(self) -> list[str]:
        """What ``--apply`` would do, in order."""
        steps = []
        if self.duplicates.ids:
            steps.append(
                f"copy the {self.duplicates.removable} older copies into "
                f"{backup_table_name(self.table)} (with the reason) and remove them from "
                f"{self.table}, one transaction per {BATCH_IDS} ids"
            )
        if not self.has_unique_key:
            steps.append(f"add UNIQUE KEY uk_{self.table}_process_instance ({self.key})")
        steps.append(f"create {self.table}_rejects and {self.table}_sync if missing")
        return steps


def backup_table_name(table: str) -> str:
    """Where adoption keeps the copies it removes from ``table``."""
    return f"{table}_adopt_backup"


def _copy_order(
    conn: Connection, spec: FormSpec, columns: Sequence[Mapping[str, Any]]
) -> CopyOrder:
    """The newest copy of an id: updated last, else inserted last."""
    inspector = sa.inspect(conn)
    table = spec.target.table
    names = {column["name"]: column for column in columns}
    pk = inspector.get_pk_constraint(table).get("constrained_columns") or []
    primary_key = pk[0] if len(pk) == 1 else None
    serial = primary_key if primary_key and names[primary_key].get("autoincrement") else None
    updated = next(
        (name for name in UPDATED_COLUMNS if name in names and _is_time(names[name]["type"])), None
    )
    ordering = tuple(name for name in (updated, serial) if name)
    engine = _engine_of(conn, table)
    clustered = pk or _unique_not_null(inspector, table, names)
    insertion_ordered = engine == "INNODB" and not clustered
    if ordering:
        said = " then ".join(
            f"the latest {name}" if name == updated else f"the highest {name} (AUTO_INCREMENT)"
            for name in ordering
        )
        if serial or insertion_ordered:
            tie = "" if serial else ", then the last inserted"
            return CopyOrder(ordering, f"the newest: {said}{tie}", primary_key)
        return CopyOrder(
            ordering,
            f"the newest: {said}",
            primary_key,
            unorderable=f"copies with the same {updated} are stored in the order of "
            f"{', '.join(clustered)}, not inserted order: those that differ are refused by --apply",
        )
    if insertion_ordered:
        return CopyOrder(
            (),
            "the newest: the last inserted (no audit column or AUTO_INCREMENT key; InnoDB keeps "
            "a table without a primary or unique key in insertion order)",
            primary_key,
        )
    if clustered:
        why = (
            f"the key {', '.join(clustered)} is no AUTO_INCREMENT: the table is stored in its "
            f"order, not in the order rows were inserted, and there is no updated_at"
        )
    else:
        why = f"engine {engine or 'unknown'}, no AUTO_INCREMENT key, no updated_at"
    return CopyOrder(
        (),
        "any copy, when the copies are identical",
        primary_key,
        unorderable=f"nothing orders the copies ({why}): ids whose copies differ are refused "
        f"by --apply",
    )


def _unique_not_null(inspector: Any, table: str, names: Mapping[str, Any]) -> list[str]:
    """The first UNIQUE index whose columns are all NOT NULL: InnoDB's clustered index then."""
    for index in inspector.get_indexes(table):
        columns = [c for c in index["column_names"] if c]
        if index["unique"] and columns and not any(names[c]["nullable"] for c in columns):
            return columns
    return []


def _is_time(column_type: Any) -> bool:
    return isinstance(column_type, sa.DateTime)


def _engine_of(conn: Connection, table: str) -> str | None:
    if conn.dialect.name == "sqlite":
        return "INNODB"  # rowid order: SQLite, too, keeps insertion order without a key
    row = conn.execute(sa.text(read_sql("table_engine.sql")), {"table": table}).first()
    return str(row[0]).upper() if row and row[0] else None


def _scalar_row(conn: Connection, sql: str) -> Any:
    return conn.execute(sa.text(sql)).one()


def make_plan(engine: Engine, spec: FormSpec) -> AdoptionPlan:
    """Inspect the table; change nothing."""
    table = spec.target.table
    plan = AdoptionPlan(safe_url(engine.url), table, exists=False, key=spec.target.key)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            if not inspector.has_table(table):
                return plan
            plan.exists = True
            columns = inspector.get_columns(table)
            plan.findings = compare_columns(spec, columns)
            key = spec.target.key
            plan.key_type = next((str(c["type"]) for c in columns if c["name"] == key), "missing")
            plan.has_unique_key = unique_on(inspector, table, key)
            summary = _scalar_row(conn, FormTables.of(spec).sql("adopt_summary.sql"))
            plan.rows, plan.null_ids, plan.empty_ids = map(int, summary[:3])
            plan.duplicates = Duplicates(int(summary[3]), int(summary[4]))
            if plan.duplicates.ids:
                plan.duplicates.sample = _duplicate_ids(conn, FormTables.of(spec), SAMPLE)
                plan.order = _copy_order(conn, spec, columns)
            if inspector.has_table(backup_table_name(spec.target.table)):
                backup = sa.Table(
                    backup_table_name(spec.target.table), sa.MetaData(), autoload_with=conn
                )
                plan.backup_rows = conn.execute(
                    sa.select(sa.func.count()).select_from(backup)
                ).scalar_one()
    except (OperationalError, DBAPIError) as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise DatabaseError(f"cannot inspect {safe_url(engine.url)}: {reason}") from None
    return plan


def _duplicate_ids(conn: Connection, tables: FormTables, limit: int) -> list[tuple[str, int]]:
    rows = conn.execute(sa.text(tables.sql("adopt_duplicate_ids.sql")), {"limit": limit})
    return [(str(key), int(copies)) for key, copies in rows]


def _backup_definition(table: sa.Table, name: str) -> sa.Table:
    """Their columns, all nullable and without keys, plus why and when each row was moved."""
    columns = [sa.Column(column.name, column.type, nullable=True) for column in table.columns]
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("adopt_backup_id", sa.BigInteger, primary_key=True, autoincrement=True),
        *columns,
        sa.Column("adopt_reason", sa.String(255), nullable=False),
        sa.Column("adopt_kept", sa.String(255), nullable=False),
        sa.Column("adopted_at", sa.DateTime, nullable=False),
    )


class _Mover:
    """Moves the older copies of a batch of ids into the backup, in one transaction."""

    def __init__(self, conn: Connection, spec: FormSpec, order: CopyOrder) -> None:
        self.spec, self.order = spec, order
        self.table = sa.Table(spec.target.table, sa.MetaData(), autoload_with=conn)
        self.backup = _backup_definition(self.table, backup_table_name(spec.target.table))
        self.key = self.table.c[spec.target.key]

    def copies(self, conn: Connection, key: str) -> list[dict[str, Any]]:
        """Every copy of ``key`` as the database compares it, oldest first, locked.

        The key's collation decides (``P1`` = ``p1`` = ``p1 `` in most): grouping the copies
        by exact text would leave variants out of the backup yet in the DELETE.
        """
        query = sa.select(self.table).where(self.key == key)
        if self.order.columns:
            query = query.order_by(*(self.table.c[name] for name in self.order.columns))
        if conn.dialect.name != "sqlite":
            query = query.with_for_update()
        # Without ORDER BY columns the rows come in storage (insertion) order.
        return [dict(row) for row in conn.execute(query).mappings()]

    def move(self, conn: Connection, keys: list[str], at: datetime) -> int:
        """Move the older copies of each id into the backup; checked before the batch commits."""
        moved = 0
        for key in keys:
            *older, kept = self.copies(conn, key)
            if not older:
                continue
            ignored = {self.order.primary_key}
            # Copies the order cannot tell from the kept one (all, without order columns).
            tied = [c for c in older if all(c[n] == kept[n] for n in self.order.columns)]
            if self.order.unorderable and any(_differs(c, kept, ignored) for c in tied):
                raise AdoptionRefused(
                    f"the copies of {key} differ and nothing says which is newest "
                    f"({self.order.unorderable}); keep the right one by hand, then rerun"
                )
            self._remove(conn, key, older, kept, at)
            left = len(self.copies(conn, key))
            if left != 1:
                raise AdoptionRefused(
                    f"moving the copies of {key} left {left} rows instead of 1; nothing of this "
                    f"batch was changed (rolled back)"
                )
            moved += len(older)
        return moved

    def _remove(
        self,
        conn: Connection,
        key: str,
        older: list[dict[str, Any]],
        kept: dict[str, Any],
        at: datetime,
    ) -> None:
        pk = self.order.primary_key
        kept_text = f"{pk}={kept[pk]}" if pk else "the last inserted copy"
        reason = (
            f"duplicate of {key} ({len(older) + 1} copies); kept {kept_text}, "
            f"chosen as {self.order.description.split(':')[0]}"
        )[:255]
        saved = conn.execute(
            self.backup.insert(),
            [
                {**copy, "adopt_reason": reason, "adopt_kept": kept_text[:255], "adopted_at": at}
                for copy in older
            ],
        ).rowcount
        if saved != len(older):
            raise AdoptionRefused(
                f"the backup took {saved} of the {len(older)} copies of {key}; nothing of this "
                f"batch was changed (rolled back)"
            )
        if pk:
            conn.execute(
                self.table.delete().where(self.table.c[pk].in_([copy[pk] for copy in older]))
            )
        else:
            # No key to name one copy by: remove them all and put the kept one back as it was.
            conn.execute(self.table.delete().where(self.key == key))
            conn.execute(self.table.insert(), [kept])


def _differs(copy: dict[str, Any], kept: dict[str, Any], ignored: set[str | None]) -> bool:
    return any(copy[name] != kept[name] for name in kept if name not in ignored)


def apply(engine: Engine, spec: FormSpec, batch_ids: int = BATCH_IDS) -> AdoptionPlan:
    """Carry out the plan; every step can be rerun after an interruption."""
    plan = make_plan(engine, spec)
    if plan.exists and plan.blocking:
        raise AdoptionRefused("; ".join(plan.blocking))
    applied = []
    if plan.duplicates.ids:
        moved = _move_duplicates(engine, spec, batch_ids)
        applied.append(f"moved {moved} older copies into {backup_table_name(plan.table)}")
    if plan.exists and not plan.has_unique_key:
        _add_unique_key(engine, spec)
        applied.append(f"added UNIQUE KEY uk_{plan.table}_process_instance")
    created = ensure_schema(engine, spec)
    if created:
        applied.append(f"created {', '.join(created)}")
    after = make_plan(engine, spec)
    after.applied = applied or ["nothing: the table was already adopted"]
    return after


def _move_duplicates(engine: Engine, spec: FormSpec, batch_ids: int) -> int:
    table = spec.target.table
    with engine.begin() as conn:
        order = _copy_order(conn, spec, sa.inspect(conn).get_columns(table))
        mover = _Mover(conn, spec, order)
        mover.backup.create(conn, checkfirst=True)
    moved = 0
    while True:
        # Each batch in its own transaction: an interruption loses at most the batch in flight,
        # which a rerun finds still duplicated and moves then.
        with engine.begin() as conn:
            keys = [key for key, _ in _duplicate_ids(conn, FormTables.of(spec), batch_ids)]
            if not keys:
                return moved
            batch = mover.move(conn, keys, datetime.now().replace(microsecond=0))
            if not batch:
                # The database still sees duplicates that its own comparison cannot find:
                # stop rather than loop.
                raise AdoptionRefused(
                    f"{len(keys)} ids are reported duplicated but no copy of them could be "
                    f"moved (first: {keys[0]!r}); check {table}'s collation"
                )
            moved += batch


def _add_unique_key(engine: Engine, spec: FormSpec) -> None:
    table = spec.target.table
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(FormTables.of(spec).sql("adopt_unique_key.sql")))
    except DBAPIError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise AdoptionRefused(
            f"adding the UNIQUE key failed ({reason}). If new duplicates arrived, something still "
            f"inserts into {table} (the 轻易云 scheme?): stop it, then rerun --apply"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """The ``adopt`` command; exit 0 only when the table is ready."""
    parser = argparse.ArgumentParser(
        prog="python -m dd_refund_pipeline.load.adopt",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--apply", action="store_true", help="carry out the plan")
    add_target_arguments(parser)
    args = parser.parse_args(argv)
    try:
        _url, spec, engine = open_target(args)
    except MissingSettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        plan = apply(engine, spec) if args.apply else make_plan(engine, spec)
    except AdoptionRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 3
    except DatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(plan.render())
    return 0 if plan.ready else 1


if __name__ == "__main__":
    sys.exit(main())
