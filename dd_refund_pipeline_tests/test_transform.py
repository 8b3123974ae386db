"""Raw Yida instances become exactly the seed's rows; everything else is a visible reject."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from dd_refund_pipeline.dingtalk import payload_json
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ
from dd_refund_pipeline.emulator.generator import MALFORMED_KINDS, generate_instances
from dd_refund_pipeline.forms.spec import FormSpec, load_form_spec
from dd_refund_pipeline.forms.table_sql import LINEAGE_COLUMNS
from dd_refund_pipeline.transform.instances import transform_instances

SPEC = load_form_spec("fktk_refund")
AS_OF = datetime(2026, 11, 20, 15, 0, tzinfo=CHINA_TZ)


def instance(**changes: Any) -> dict[str, Any]:
    """A well-formed refund instance; ``data_*`` keys change its form data."""
    base: dict[str, Any] = {
        "processInstanceId": "7d3f2a10-5b9c-4e21-9a6e-0c44e1b2f8a1",
        "instanceStatus": "COMPLETED",
        "approvedResult": "agree",
        "createTimeGMT": "2026-11-01T16:30Z",
        "modifiedTimeGMT": "2026-11-03T02:00Z",
        "version": 3,
        "data": {
            "dateField_lgkieplu": 1762012800000,  # 2025-11-02 00:00 China time
            "serialNumberField_lgk9jn2s": "FKTK20261102007",
            "numberField_lgkiepjv": 3200.5,
            "numberField_lgkiepjv_value": "3200.5",
        },
    }
    for key, value in changes.items():
        if key.startswith("data_"):
            field = key.removeprefix("data_")
            if value is None:
                base["data"].pop(field, None)
            else:
                base["data"][field] = value
        else:
            base[key] = value
    return base


def amount(text: str, value_text: str | None = None) -> dict[str, Any]:
    """The amount as Yida sends it: the JSON number (decoded exactly) and its ``_value`` text."""
    return {
        "data_numberField_lgkiepjv": payload_json.loads(text),
        "data_numberField_lgkiepjv_value": text if value_text is None else value_text,
    }


def expected_row(raw: dict[str, Any]) -> dict[str, Any]:
    """The seed's mapping, written out independently of the transform code."""
    data = raw["data"]
    return {
        "extend_processInstanceId": raw["processInstanceId"],
        "order_no_new": data["serialNumberField_lgk9jn2s"] + "(FKTK)",
        "datetime_new": datetime.fromtimestamp(data["dateField_lgkieplu"] / 1000, CHINA_TZ).replace(
            tzinfo=None
        ),
        "qty_count": 1,
        "sales_count": Decimal(str(data["numberField_lgkiepjv"])).quantize(Decimal("0.01")),
        "status": raw["instanceStatus"],
        "Document_Type": "付款退款",
    }


def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame[SPEC.target.column_names].astype(object).to_dict("records")
    for row in out:
        row["datetime_new"] = row["datetime_new"].to_pydatetime()
    return out


def test_generated_instances_map_exactly_to_the_seed_rows():
    _, generated = generate_instances(SPEC, 1500, seed=5, as_of=AS_OF)
    raw = [g.payload for g in generated]
    result = transform_instances(raw, SPEC)
    with_amount = [r for r in raw if r["data"]["numberField_lgkiepjv_value"]]
    assert len(with_amount) < len(raw)  # the generator leaves some amounts empty
    assert rows(result.clean) == [expected_row(r) for r in with_amount]
    assert list(result.clean.columns) == SPEC.target.column_names + LINEAGE_COLUMNS
    assert set(result.rejects["field"]) == {"numberField_lgkiepjv"}
    assert result.rejected_records == len(raw) - len(with_amount)


def test_types_of_the_clean_frame():
    clean = transform_instances([instance()], SPEC).clean
    assert clean["extend_processInstanceId"].map(type).eq(str).all()
    assert clean["order_no_new"].iloc[0] == "FKTK20261102007(FKTK)"
    assert str(clean["datetime_new"].dtype).startswith("datetime64")
    assert clean["datetime_new"].iloc[0] == pd.Timestamp("2025-11-02 00:00:00")
    assert str(clean["qty_count"].dtype) == "Int64" and clean["qty_count"].iloc[0] == 1
    assert clean["sales_count"].iloc[0] == Decimal("3200.50")
    assert clean["partition_date"].iloc[0] == "2026-11-02"  # 16:30Z is the next day in China
    assert clean["source_version"].iloc[0] == 3
    assert clean["source_modified_time"].iloc[0] == pd.Timestamp("2026-11-03T02:00Z")


def test_amounts_are_the_json_numbers_read_exactly():
    """The seed maps the number; a binary float would turn the last one into ….80."""
    document = payload_json.loads(
        '[{"a": 0.1, "b": 0.2, "c": 1234567890123456.78, "d": 15000, "e": 12.340, "f": 1E+2}]'
    )[0]
    raw = [
        instance(processInstanceId=key, data_numberField_lgkiepjv=number)
        for key, number in document.items()
    ]
    for record in raw:
        del record["data"]["numberField_lgkiepjv_value"]  # no text to lean on
    amounts = transform_instances(raw, SPEC).clean.set_index("extend_processInstanceId")[
        "sales_count"
    ]
    assert amounts["a"] + amounts["b"] == Decimal("0.30")
    assert amounts["c"] == Decimal("1234567890123456.78")
    assert amounts["d"] == Decimal("15000.00")
    assert amounts["e"] == Decimal("12.34")
    assert amounts["f"] == Decimal("100.00")
    assert all(isinstance(v, Decimal) and v.as_tuple().exponent == -2 for v in amounts)


def test_the_value_text_only_cross_checks_the_number():
    raw = [
        instance(processInstanceId="same", **amount("1280.50", "1280.5")),
        instance(processInstanceId="differs", **amount("1280.5", "1208.5")),
        instance(processInstanceId="unreadable", **amount("99.9", "九十九")),
        instance(processInstanceId="no-text", **amount("7.25", "")),
    ]
    result = transform_instances(raw, SPEC)
    clean = result.clean.set_index("extend_processInstanceId")["sales_count"]
    assert clean.to_dict() == {"same": Decimal("1280.50"), "no-text": Decimal("7.25")}
    mismatches = result.rejects.set_index("process_instance_id")
    assert set(mismatches.index) == {"differs", "unreadable"}
    assert set(mismatches["reason"]) == {"amount_mismatch"}
    assert set(mismatches["field"]) == {"numberField_lgkiepjv"}
    assert mismatches.loc["differs", "raw_value"] == (
        "numberField_lgkiepjv=1280.5, numberField_lgkiepjv_value=1208.5"
    )


def test_an_amount_with_more_places_than_the_column_is_rejected_never_rounded():
    """0.005 passes the seed's [0.0001] filter; DECIMAL(18,2) cannot hold it, (18,4) can."""
    raw = [instance(processInstanceId="half-cent", **amount("0.005"))]
    result = transform_instances(raw, SPEC)
    assert result.clean.empty
    assert "has more than 2 decimal places" in result.rejects.iloc[0]["reason"]
    wider = fitted(SPEC, "sales_count", "DECIMAL(18,4)")
    assert list(transform_instances(raw, wider).clean["sales_count"]) == [Decimal("0.0050")]


def fitted(spec: FormSpec, column: str, sql_type: str) -> FormSpec:
    """``spec`` as ``fit_to_table`` makes it for a table whose ``column`` is ``sql_type``."""
    columns = [
        replace(c, table_column=replace(c.table_column, sql_type=sql_type))
        if c.name == column
        else c
        for c in spec.target.columns
    ]
    return replace(spec, target=replace(spec.target, columns=columns))


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"processInstanceId": ""}, "processInstanceId", "no processInstanceId"),
        ({"data": None}, "data", "no form data map"),
        (
            {"data_numberField_lgkiepjv": None, "data_numberField_lgkiepjv_value": ""},
            "numberField_lgkiepjv",
            "金额 (sales_count) is missing",
        ),
        (
            {"data_numberField_lgkiepjv": "abc", "data_numberField_lgkiepjv_value": "abc"},
            "numberField_lgkiepjv",
            "'abc' is not a number",
        ),
        (
            amount("0"),
            "numberField_lgkiepjv",
            "must be greater than 0",
        ),
        (
            amount("-5.5"),
            "numberField_lgkiepjv",
            "must be greater than 0",
        ),
        (
            amount("12.345"),
            "numberField_lgkiepjv",
            "more than 2 decimal places",
        ),
        (
            amount("12345678901234567.5"),
            "numberField_lgkiepjv",
            "does not fit DECIMAL(18,2)",
        ),
        ({"data_dateField_lgkieplu": None}, "dateField_lgkieplu", "时间 (datetime_new) is missing"),
        ({"data_dateField_lgkieplu": 10**17}, "dateField_lgkieplu", "not a possible date"),
        ({"data_dateField_lgkieplu": "soon"}, "dateField_lgkieplu", "not a possible date"),
        (
            {"data_serialNumberField_lgk9jn2s": None},
            "serialNumberField_lgk9jn2s",
            "单号 (order_no_new) is missing",
        ),
        (
            {"data_serialNumberField_lgk9jn2s": "FKTK" + "9" * 496},
            "serialNumberField_lgk9jn2s",
            "is 506 characters, longer than the column's 64",
        ),
        ({"createTimeGMT": None}, "createTimeGMT", "createTimeGMT is missing"),
    ],
)
def test_unmappable_records_are_rejected_with_field_and_reason(changes, field, reason):
    good = instance(processInstanceId="good")
    bad = instance(**changes) if "data" not in changes else {**instance(), "data": None}
    result = transform_instances([good, bad], SPEC)
    assert list(result.clean["extend_processInstanceId"]) == ["good"]
    assert len(result.rejects) == 1, result.rejects.to_dict("records")
    reject = result.rejects.iloc[0]
    assert reject["field"] == field
    assert reason in reject["reason"]
    assert reject["record_key"]


def test_every_malformed_kind_of_the_emulator_is_rejected_once():
    _, generated = generate_instances(SPEC, 3000, seed=9, as_of=AS_OF, malformed_rate=0.05)
    malformed = [g for g in generated if g.malformed]
    assert {g.malformed for g in malformed} == set(MALFORMED_KINDS)
    result = transform_instances([g.payload for g in generated], SPEC)
    rejected_keys = set(result.rejects["record_key"])
    for g in malformed:
        key = g.payload["processInstanceId"]
        if key:
            assert key in rejected_keys, g.malformed
    assert not set(result.clean["extend_processInstanceId"]) & rejected_keys
    # Nothing vanishes: every record is a row or a reject.
    assert len(result.clean) + result.rejected_records == len(generated)


def test_the_newest_copy_of_an_instance_wins():
    old = instance(version=3, **amount("100"))
    newer = instance(version=4, **amount("200"))
    same_version_later = instance(version=4, modifiedTimeGMT="2026-11-04T02:00Z", **amount("300"))
    result = transform_instances([newer, same_version_later, old], SPEC)
    assert list(result.clean["sales_count"]) == [Decimal("300.00")]
    assert result.duplicates_dropped == 2


def test_chinese_and_odd_text_is_untouched():
    odd = "FKTK'; DROP TABLE hc_dd_fktk;--\\ 退款🙂"
    result = transform_instances(
        [instance(data_serialNumberField_lgk9jn2s=odd, instanceStatus="已完成")], SPEC
    )
    assert result.clean["order_no_new"].iloc[0] == odd + "(FKTK)"
    assert result.clean["status"].iloc[0] == "已完成"


def test_input_is_not_modified():
    raw = [instance()]
    before = copy.deepcopy(raw)
    transform_instances(raw, SPEC)
    assert raw == before


def test_a_rejected_record_without_an_id_can_be_traced_in_yida():
    """The sample names what a person can look up: 单号, title, originator, creation time."""
    raw = instance(
        processInstanceId="",
        title="曾萱发起的付款退款申请",
        originator={"userId": "0367628513060869757", "name": {"nameInChinese": "曾萱"}},
    )
    [reject] = transform_instances([raw], SPEC).rejects.to_dict("records")
    assert reject["process_instance_id"] is None
    assert reject["record_key"].startswith("sha1:")
    assert reject["serial_number"] == "FKTK20261102007"
    assert reject["title"] == "曾萱发起的付款退款申请"
    assert reject["originator"] == "曾萱 (0367628513060869757)"
    assert reject["created_at"] == "2026-11-02 00:30"  # 16:30 UTC is 00:30 the next day
