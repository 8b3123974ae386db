"""One bad record never stops a day: every record becomes a row or a reject whose reason fits.

Reproduced cases first (each stopped the load of the whole window, or the scan), then generated
ones: any JSON the API could send, as instances, through the transform and the load.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dd_refund_pipeline.dingtalk import payload_json
from dd_refund_pipeline.dingtalk.instance_set import InstanceSet
from dd_refund_pipeline.forms.spec import load_form_spec
from dd_refund_pipeline.load.loader import load_rows
from dd_refund_pipeline.transform.instances import transform_instances
from dd_refund_pipeline_tests.conftest import examples
from dd_refund_pipeline_tests.test_loader import table_rows
from dd_refund_pipeline_tests.test_transform import amount, fitted, instance

SPEC = load_form_spec("fktk_refund")
REASON_LIMIT = 255  # hc_dd_fktk_rejects.reason VARCHAR(255)


def rejects_of(engine) -> list[dict[str, Any]]:
    import sqlalchemy as sa

    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT record_key, field, reason FROM hc_dd_fktk_rejects"))
        return [dict(row._mapping) for row in rows]


def load_all(engine, raw: list[dict[str, Any]], spec=SPEC) -> Any:
    result = transform_instances(raw, spec)
    outcome = load_rows(engine, SPEC, result.clean, result.rejects, run_id="r")
    return result, outcome


GOOD = instance(processInstanceId="good-form")


@pytest.mark.parametrize(
    ("hostile", "field"),
    [
        (
            instance(processInstanceId="huge-exponent", **amount("1E+80000000")),
            "numberField_lgkiepjv",
        ),
        (
            instance(processInstanceId="tiny-exponent", **amount("1E-80000000")),
            "numberField_lgkiepjv",
        ),
        (instance(processInstanceId="overflow", **amount("1e309")), "numberField_lgkiepjv"),
        (
            instance(
                processInstanceId="long-text",
                data_numberField_lgkiepjv="1" * 3000 + "x",
                data_numberField_lgkiepjv_value="1" * 3000 + "x",
            ),
            "numberField_lgkiepjv",
        ),
        (instance(processInstanceId="x" * 100), "processInstanceId"),
        (
            instance(
                processInstanceId="surrogate-serial", data_serialNumberField_lgk9jn2s="FKTK\ud83d"
            ),
            "serialNumberField_lgk9jn2s",
        ),
    ],
    ids=["1E+80000000", "1E-80000000", "1e309", "3000 characters", "100-character id", "surrogate"],
)
def test_a_hostile_record_is_a_short_reject_and_the_others_load(engine, hostile, field):
    started = time.monotonic()
    _result, outcome = load_all(engine, [hostile, GOOD])
    assert time.monotonic() - started < 5  # no value is expanded into megabytes
    assert [row["extend_processInstanceId"] for row in table_rows(engine)] == ["good-form"]
    [reject] = rejects_of(engine)
    assert reject["field"] == field
    assert len(reject["reason"]) <= REASON_LIMIT
    assert outcome.rejects_recorded == 1


# Times no table can hold, or that are no Yida timestamp at all (CI found -1 parsed as the year
# -1, and 9999-12-31T23:59Z became the China day "10000-01-0").
UNREADABLE_TIMES = [-1, 0, 1.5, True, "9999-12-31T23:59Z", "0999-12-31T15:59Z", "-001-01-01T00:00Z"]


@pytest.mark.parametrize("sent", UNREADABLE_TIMES, ids=repr)
def test_a_creation_time_no_table_can_hold_is_a_reject_and_the_others_load(engine, sent):
    _result, outcome = load_all(
        engine, [instance(processInstanceId="odd-time", createTimeGMT=sent), GOOD]
    )
    assert [row["extend_processInstanceId"] for row in table_rows(engine)] == ["good-form"]
    [reject] = rejects_of(engine)
    assert (reject["record_key"], reject["field"]) == ("odd-time", "createTimeGMT")
    assert outcome.rejects_recorded == 1


@pytest.mark.parametrize("sent", UNREADABLE_TIMES, ids=repr)
def test_a_modified_time_no_table_can_hold_does_not_stop_the_form(engine, sent):
    load_all(engine, [instance(processInstanceId="odd-modified", modifiedTimeGMT=sent), GOOD])
    stored = {row["extend_processInstanceId"] for row in table_rows(engine)}
    assert stored == {"odd-modified", "good-form"}
    assert rejects_of(engine) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"title": "\ud83d发起的付款退款申请"},
        {"data_textField_notes": "\x00" * 10 + "a" * 2_000_000},
        {"data_textField_notes": "\udfff"},
    ],
    ids=["surrogate title", "NULs and megabytes", "lone low surrogate"],
)
def test_hostile_text_in_fields_we_do_not_map_does_not_stop_the_form(engine, changes):
    raw = instance(processInstanceId="unmapped-hostile", **changes)
    found = InstanceSet()
    found.add([raw])  # the spool re-encodes every payload
    [spooled] = found.read(found.rows().tolist())
    assert spooled == raw
    load_all(engine, [spooled])
    assert [row["extend_processInstanceId"] for row in table_rows(engine)] == ["unmapped-hostile"]
    assert rejects_of(engine) == []


@pytest.mark.parametrize("sql_type", ["DECIMAL(38,18)", "DECIMAL(38,10)", "DECIMAL(30,2)"])
def test_wide_adopted_decimal_columns_take_every_amount_exactly(sql_type):
    spec = fitted(SPEC, "sales_count", sql_type)
    scale = int(sql_type.split(",")[1].rstrip(")"))
    raw = [
        instance(processInstanceId=f"a{n}", **amount(text))
        for n, text in enumerate(["17832.68", "1000000000", "0.01", "12345678901234567.89"])
    ]
    result = transform_instances(raw, spec)
    assert result.rejects.empty
    amounts = list(result.clean["sales_count"])
    assert amounts == [
        Decimal(text) for text in ["17832.68", "1000000000", "0.01", "12345678901234567.89"]
    ]
    assert {value.as_tuple().exponent for value in amounts} == {-scale}


# -- generated instances --------------------------------------------------------------------------

# Any Unicode, lone surrogates included (valid JSON as escapes; no UTF-8).
any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=30)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.decimals(allow_nan=False, allow_infinity=False),
    any_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
# Yida-shaped times of any year Python knows, the edges of what a table holds among them.
yida_times = st.datetimes().map(
    lambda t: f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}Z"
)
numbers_as_sent = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False),
    st.builds(
        lambda mantissa, exponent: Decimal(f"{mantissa}E{exponent}"),
        st.integers(-(10**20), 10**20),
        st.integers(-400, 400),
    ),
    st.integers(),
)
FIELDS = [
    "dateField_lgkieplu",
    "serialNumberField_lgk9jn2s",
    "numberField_lgkiepjv",
    "numberField_lgkiepjv_value",
    "selectField_lgkiepju",
]
TOP = [
    "processInstanceId",
    "createTimeGMT",
    "modifiedTimeGMT",
    "version",
    "instanceStatus",
    "title",
]


@st.composite
def instances(draw: Any) -> dict[str, Any]:
    """A refund instance with any of its fields replaced by any JSON (or removed)."""
    raw = instance(processInstanceId=draw(st.one_of(any_text, st.uuids().map(str))))
    number = draw(numbers_as_sent)
    raw["data"]["numberField_lgkiepjv"] = number
    raw["data"]["numberField_lgkiepjv_value"] = draw(st.sampled_from([str(number), "x", None]))
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        raw["data"][name] = draw(json_values)
    for name in draw(st.lists(st.sampled_from(TOP), max_size=2)):
        raw[name] = draw(st.one_of(json_values, yida_times))
    if draw(st.booleans()):
        raw["data"]["textField_unmapped"] = draw(any_text)
    if draw(st.booleans()):
        raw["data"] = draw(json_values)
    return raw


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.lists(instances(), min_size=1, max_size=6))
def test_any_instance_becomes_a_row_or_a_reject_and_never_raises(raw):
    result = transform_instances(raw, SPEC)
    rows = set(result.clean[SPEC.target.key])
    rejected = set(result.rejects["record_key"])
    assert rows | rejected == {payload_json.record_key(r) for r in raw}
    assert (result.rejects["reason"].str.len() <= REASON_LIMIT).all()


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(raw=st.lists(instances(), min_size=1, max_size=6))
def test_a_load_of_any_instances_commits_with_every_good_row(mysql_engine, raw):
    import sqlalchemy as sa

    result = transform_instances(raw, SPEC)
    with mysql_engine.begin() as conn:
        for table in ("hc_dd_fktk", "hc_dd_fktk_rejects", "hc_dd_fktk_sync"):
            if sa.inspect(conn).has_table(table):
                conn.execute(sa.text(f"DELETE FROM {table}"))
    load_rows(mysql_engine, SPEC, result.clean, result.rejects, run_id="r")
    stored = {row["extend_processInstanceId"] for row in table_rows(mysql_engine)}
    assert stored == set(result.clean[SPEC.target.key])
    assert len(rejects_of(mysql_engine)) == len(
        result.rejects.drop_duplicates(["record_key", "field"])
    )


# -- a run over a window holding each hostile record ----------------------------------------------


def test_a_run_over_hostile_records_loads_every_other_form_and_names_the_rejects(
    mysql_url, tmp_path, monkeypatch
):
    """Through the emulator (it writes numbers exactly and surrogates as escapes, as Yida's
    JSON does), the real definitions and MariaDB."""
    from datetime import datetime

    from dd_refund_pipeline.checks.check_names import NO_REJECTS
    from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
    from dd_refund_pipeline.emulator.server import EmulatorServer
    from dd_refund_pipeline.emulator.state import EmulatorConfig
    from dd_refund_pipeline.lib.partitions import RANGE_END_TAG, RANGE_START_TAG
    from dd_refund_pipeline_tests.conftest import AS_OF
    from dd_refund_pipeline_tests.ground_truth import expected_rows, matching, table
    from dd_refund_pipeline_tests.test_table_follows_yida import pointed_at

    amount_field = "numberField_lgkiepjv"
    hostile: dict[str, Any] = {
        "huge exponent": {"data": {amount_field: Decimal("1E+80000000")}},
        "overflow": {"data": {amount_field: Decimal("1E+309")}},
        "long amount text": {"data": {amount_field: "9" * 3000 + "x"}},
        "100-character id": {"processInstanceId": "p" * 100},
        "padded id": {"processInstanceId": None},  # set below: the form's own id, padded
        "surrogate serial": {"data": {"serialNumberField_lgk9jn2s": "FKTK\ud83d"}},
    }
    harmless = {
        "surrogate title": {"title": "\ud83d发起的付款退款申请"},
        "NULs and a megabyte": {"data": {"textField_notes": "\x00" * 8 + "m" * 1_000_000}},
    }
    config = EmulatorConfig(instances=1500, seed=41, days=30)
    with (
        EmulatorServer(config, as_of=AS_OF) as server,
        pointed_at(server, mysql_url, tmp_path, monkeypatch) as world,
    ):
        days = ("2026-11-10", "2026-11-14")
        forms = [i for i in matching(server, *days) if not i.malformed]
        cases = {**hostile, **harmless}
        assert len(forms) > len(cases) + 5
        changed = dict(zip(cases, forms, strict=False))
        original_ids = {name: form.pid for name, form in changed.items()}
        # What the other forms' rows must be (before the hostile ones break the ground truth).
        untouched = expected_rows(server, *days)
        for name in hostile:
            untouched.pop(original_ids[name])
        for name, form in changed.items():
            change = cases[name]
            form.payload.update({k: v for k, v in change.items() if k != "data"})
            form.payload["data"].update(change.get("data", {}))
            if amount_field in change.get("data", {}):
                form.payload["data"][f"{amount_field}_value"] = str(change["data"][amount_field])
            if name == "padded id":
                form.payload["processInstanceId"] = f" {original_ids[name]} "
        server.state.store.changed()
        job = world["defs"].resolve_job_def("dd_refund_sync_job")
        result = job.execute_in_process(
            tags={RANGE_START_TAG: days[0], RANGE_END_TAG: days[1]}, instance=world["instance"]
        )
        assert result.success
        rows = table(world["engine"])
        assert {k: rows.get(k) for k in untouched} == untouched
        assert {original_ids[name] for name in harmless} <= set(rows)
        assert not {original_ids[name] for name in hostile} & set(rows)
        rejects = rejects_of(world["engine"])
        assert len({r["record_key"] for r in rejects}) == len(hostile)
        assert all(len(r["reason"]) <= REASON_LIMIT for r in rejects)
        failed_days = {
            e.partition
            for e in result.get_asset_check_evaluations()
            if e.check_name == NO_REJECTS and not e.passed
        }
        created = {
            datetime.fromtimestamp(changed[name].create_ms / 1000, CHINA_TZ).strftime("%Y-%m-%d")
            for name in hostile
        }
        assert failed_days == created
