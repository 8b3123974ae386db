"""Check samples a person can read: every value on one screen, each form one click from Yida.

Reproduced before: a 506-character serial pushed every column off the check's sample modal, and
samples named a form only by its id.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dd_refund_pipeline.lib.run_metadata import MAX_SHOWN_CHARS, preview
from dd_refund_pipeline.settings import YIDA_FORM_URL_ENV, BadSettingError, yida_form_links
from dd_refund_pipeline_tests.conftest import examples

LINK = "https://corp.aliwork.com/{app_type}/processDetail?formInstId={process_instance_id}"


def _cells(markdown: str) -> list[str]:
    rows = [line for line in markdown.splitlines()[2:]]
    return [cell.strip() for row in rows for cell in row.strip("|").split("|")]


def test_a_long_value_is_cut_with_a_marker_saying_how_long_it_was():
    serial = "FKTK" + "9" * 502
    shown = preview(pd.DataFrame({"serial_number": [serial], "reason": ["too long"]})).value
    [cell, reason] = _cells(shown)
    assert len(cell) <= MAX_SHOWN_CHARS + 20
    assert cell.startswith("FKTK999") and "506 characters" in cell
    assert reason == "too long"


@settings(max_examples=examples(200), deadline=None)
@given(st.text(max_size=2000))
def test_no_value_makes_a_cell_longer_than_the_bound_or_breaks_the_table(value):
    shown = preview(pd.DataFrame({"a": [value], "b": ["after"]})).value
    lines = shown.splitlines()
    assert len(lines) == 3  # header, rule, one row: no line break escapes the cell
    assert lines[2].rstrip().endswith("after |") or lines[2].rstrip().endswith("after|")
    assert all(len(line) <= 2 * MAX_SHOWN_CHARS + 40 for line in lines)


def test_a_short_value_is_shown_whole_and_money_as_stored():
    shown = preview(pd.DataFrame({"sales_count": ["17832.68"], "id": ["a-b"]})).value
    assert _cells(shown) == ["17832.68", "a-b"]


def test_samples_link_each_form_to_yida_when_the_template_is_set(monkeypatch):
    monkeypatch.setenv(YIDA_FORM_URL_ENV, LINK)
    links = yida_form_links("APP_X", "FORM-Y")
    assert links is not None
    frame = pd.DataFrame({"process_instance_id": ["pid-1"], "reason": ["missing"]})
    shown = preview(frame, links=links).value
    assert "[pid-1](https://corp.aliwork.com/APP_X/processDetail?formInstId=pid-1)" in shown


def test_no_template_no_links(monkeypatch):
    monkeypatch.delenv(YIDA_FORM_URL_ENV, raising=False)
    assert yida_form_links("APP_X", "FORM-Y") is None


@pytest.mark.parametrize(
    "template",
    ["https://corp.aliwork.com/{app}/processDetail", "ftp://x/{process_instance_id}", "{", "x"],
)
def test_a_template_that_cannot_make_a_link_is_refused_naming_the_setting(monkeypatch, template):
    monkeypatch.setenv(YIDA_FORM_URL_ENV, template)
    with pytest.raises(BadSettingError, match=re.escape(YIDA_FORM_URL_ENV)):
        yida_form_links("APP_X", "FORM-Y")


def test_a_missing_value_is_an_empty_cell_not_an_error():
    frame = pd.DataFrame({"a": [None, float("nan"), "x"], "b": [1.5, None, "y"]}, dtype=object)
    assert _cells(preview(frame).value) == ["", "1.5", "", "", "x", "y"]


def test_a_reject_s_reason_is_shown_whole():
    reason = "单号 (order_no_new) is 506 characters, longer than its column's 64: " + "x" * 60
    shown = preview(pd.DataFrame({"serial_number": ["F" * 506], "reason": [reason]})).value
    [serial, cell] = _cells(shown)
    assert cell == reason and "(506 characters)" in serial
