"""Adoption never loses a row: every row ``--apply`` removes is in the backup first.

Legacy tables are generated on MariaDB: keys that differ by case and trailing space (one id to
the database's collation), with or without a primary key, AUTO_INCREMENT or a UUID() default,
with or without ``updated_at``, duplicates with equal or different values. After ``--apply``
every original row is in the table or in the backup, and the kept copy is the one the README's
rule names (latest updated_at, then highest AUTO_INCREMENT id, else the last inserted on InnoDB
without a key; otherwise only identical copies are merged and differing ones refused).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dd_refund_pipeline.forms.spec import load_form_spec
from dd_refund_pipeline.load import adopt
from dd_refund_pipeline_tests.conftest import examples

SPEC = load_form_spec("fktk_refund")
KEYS = {
    "none": "",
    "auto_increment": "`id` INT AUTO_INCREMENT PRIMARY KEY,",
    "uuid": "`id` CHAR(36) NOT NULL DEFAULT (UUID()) PRIMARY KEY,",
}
COLUMNS = """
  `extend_processInstanceId` VARCHAR(64),
  `order_no_new` VARCHAR(255),
  `datetime_new` DATETIME,
  `qty_count` INT,
  `sales_count` DECIMAL(18,2),
  `status` VARCHAR(64),
  `Document_Type` VARCHAR(64)
"""
SPELLINGS = {"same": lambda key: key, "upper": str.upper, "padded": lambda key: key + " "}


def create(engine: sa.Engine, key: str, updated_at: bool) -> None:
    audit = ",\n  `updated_at` DATETIME" if updated_at else ""
    with engine.begin() as conn:
        for table in (
            "hc_dd_fktk",
            "hc_dd_fktk_adopt_backup",
            "hc_dd_fktk_rejects",
            "hc_dd_fktk_sync",
        ):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(
            sa.text(f"CREATE TABLE hc_dd_fktk ({KEYS[key]}{COLUMNS}{audit}) ENGINE=InnoDB")
        )


def insert(engine: sa.Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        for row in rows:  # one statement each: insertion order is the rows' order
            names = ", ".join(f"`{name}`" for name in row)
            values = ", ".join(f":{name}" for name in row)
            conn.execute(sa.text(f"INSERT INTO hc_dd_fktk ({names}) VALUES ({values})"), row)


FIELDS = ["extend_processInstanceId", "order_no_new", "sales_count", "updated_at"]


def contents(engine: sa.Engine, table: str, updated_at: bool) -> Counter[tuple[Any, ...]]:
    names = FIELDS if updated_at else FIELDS[:3]
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(table):
            return Counter()
        rows = conn.execute(sa.text(f"SELECT {', '.join(names)} FROM {table}"))
        return Counter(tuple(row) for row in rows)


legacy_rows = st.lists(
    st.tuples(
        st.sampled_from(["p1", "p2", "p3"]),
        st.sampled_from(sorted(SPELLINGS)),
        st.sampled_from(["10.00", "20.00"]),
        st.integers(0, 5),  # updated_at, in hours after a fixed time
    ),
    min_size=1,
    max_size=8,
)


def row(n: int, base: str, spelling: str, amount: str, hours: int, updated_at: bool) -> dict:
    values = {
        "extend_processInstanceId": SPELLINGS[spelling](base),
        # Copies of one id may be identical: nothing of ``n`` in them.
        "order_no_new": f"FKTK{base}{amount}(FKTK)",
        "datetime_new": datetime(2026, 11, 1),
        "qty_count": 1,
        "sales_count": Decimal(amount),
        "status": "COMPLETED",
        "Document_Type": "付款退款",
    }
    if updated_at:
        values["updated_at"] = datetime(2026, 11, 1) + timedelta(hours=hours)
    return values


def content(values: dict, updated_at: bool) -> tuple[Any, ...]:
    return tuple(values[name] for name in (FIELDS if updated_at else FIELDS[:3]))


def group_of(key: str) -> str:
    """The id as the test database's collation compares it (case- and trailing-space-blind)."""
    return key.lower().rstrip()


def expected_kept(rows: list[dict], key: str, updated_at: bool) -> dict | None:
    """Per id, the content of the copy the README's rule keeps; None when --apply must refuse
    (copies that differ and that nothing orders)."""
    groups: dict[str, list[dict]] = {}
    for values in rows:
        groups.setdefault(group_of(values["extend_processInstanceId"]), []).append(values)
    kept = {}
    for group, copies in groups.items():
        if updated_at:
            latest = max(c["updated_at"] for c in copies)
            copies = [c for c in copies if c["updated_at"] == latest]
        if key == "uuid" and len({content(c, updated_at) for c in copies}) > 1:
            return None  # stored in UUID order: nothing says which is newest
        kept[group] = content(copies[-1], updated_at)  # the last inserted: highest id too
    return kept


@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    key=st.sampled_from(sorted(KEYS)),
    updated_at=st.booleans(),
    drawn=legacy_rows,
)
def test_apply_keeps_every_row_in_the_table_or_the_backup(mysql_engine, key, updated_at, drawn):
    rows = [row(n, *values, updated_at) for n, values in enumerate(drawn)]
    create(mysql_engine, key, updated_at)
    insert(mysql_engine, rows)
    before = contents(mysql_engine, "hc_dd_fktk", updated_at)
    kept = expected_kept(rows, key, updated_at)
    try:
        adopt.apply(mysql_engine, SPEC, batch_ids=2)
    except adopt.AdoptionRefused:
        assert kept is None  # refused only when copies differ and nothing orders them
        after = contents(mysql_engine, "hc_dd_fktk", updated_at)
        backup = contents(mysql_engine, "hc_dd_fktk_adopt_backup", updated_at)
        assert after + backup == before  # batches before the refusal moved, none lost
        return
    assert kept is not None
    after = contents(mysql_engine, "hc_dd_fktk", updated_at)
    backup = contents(mysql_engine, "hc_dd_fktk_adopt_backup", updated_at)
    assert after + backup == before
    assert {group_of(values[0]): values for values in after} == kept
    assert sum(after.values()) == len(kept)  # one row per id


def test_a_uuid_primary_key_is_no_insertion_order(mysql_engine):
    """Copies that differ under a UUID() key: the plan claims no order, --apply refuses."""
    create(mysql_engine, "uuid", updated_at=False)
    rows = [row(0, "p1", "same", "10.00", 0, False), row(1, "p1", "same", "20.00", 0, False)]
    insert(mysql_engine, rows)
    plan = adopt.make_plan(mysql_engine, SPEC)
    assert plan.order is not None and plan.order.unorderable
    assert "insertion" not in plan.order.description
    with pytest.raises(adopt.AdoptionRefused, match="differ"):
        adopt.apply(mysql_engine, SPEC)


@pytest.mark.parametrize("key", ["none", "auto_increment"])
def test_variant_spellings_of_one_id_are_one_group_and_none_is_lost(mysql_engine, key):
    """P1, p1 and 'p1 ' are one id to the collation: all three copies are grouped, two backed up."""
    create(mysql_engine, key, updated_at=False)
    rows = [
        row(n, "p1", spelling, "10.00", 0, False)
        for n, spelling in enumerate(["upper", "same", "padded"])
    ]
    insert(mysql_engine, rows)
    before = contents(mysql_engine, "hc_dd_fktk", False)
    adopt.apply(mysql_engine, SPEC)  # terminates
    after = contents(mysql_engine, "hc_dd_fktk", False)
    assert after + contents(mysql_engine, "hc_dd_fktk_adopt_backup", False) == before
    assert [values[0] for values in after] == ["p1 "]  # the last inserted spelling
