"""One key rule: a form's id is its key exactly as Yida sent it, or the form is a reject.

The transform, the scan's spool and day files (record keys), the sync state and the checks all
ask ``payload_json.record_key`` / ``key_problem``; an id with surrounding whitespace, control
characters, no text or more characters than the key columns hold never becomes two spellings of
one form (the stripped row loaded, then removed as gone because the key file kept the original).
"""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dd_refund_pipeline.dingtalk import payload_json
from dd_refund_pipeline.forms.spec import load_form_spec
from dd_refund_pipeline.load.loader import load_rows
from dd_refund_pipeline.load.sync_state import SyncScope
from dd_refund_pipeline.transform.instances import transform_instances
from dd_refund_pipeline_tests.conftest import examples
from dd_refund_pipeline_tests.test_sync_state import DAY, amounts, next_scan
from dd_refund_pipeline_tests.test_transform import instance

SPEC = load_form_spec("fktk_refund")
CLEAN_ID = "7d3f2a10-5b9c-4e21-9a6e-0c44e1b2f8a1"

hostile_ids = st.one_of(
    # Any Unicode: control characters and lone surrogates too.
    st.text(alphabet=st.characters(exclude_categories=()), min_size=1, max_size=80),
    st.text(alphabet=string.ascii_letters + string.digits + "-_ \t\n\r\x00", max_size=80),
    st.builds(
        lambda core, pad: pad + core + pad[::-1],
        st.just(CLEAN_ID),
        st.sampled_from([" ", "\t", "\n", "\u3000", "\u00a0", " \r\n"]),
    ),
    st.integers(),
    st.none(),
    st.lists(st.text(max_size=3), max_size=2),
)


def sync_cycle(engine, raw: dict, policy: str = "delete") -> tuple[dict, object, object]:
    """Two runs over the day, as the table asset loads them: the day's record keys returned."""
    result = transform_instances([raw], SPEC)
    key = payload_json.record_key(raw)
    returned = set() if payload_json.is_anonymous(key) else {key}
    outcomes = [
        load_rows(
            engine,
            SPEC,
            result.clean,
            result.rejects,
            run_id=run,
            scope=SyncScope([DAY], returned, policy, next_scan()),
        )
        for run in ("r1", "r2")
    ]
    return result, *outcomes


@pytest.mark.parametrize("padded", [f" {CLEAN_ID}", f"{CLEAN_ID} ", f"\t{CLEAN_ID}\n"])
def test_an_id_with_surrounding_whitespace_is_a_reject_never_a_row_removed_as_gone(engine, padded):
    result, first, second = sync_cycle(engine, instance(processInstanceId=padded))
    assert result.clean.empty
    [reject] = result.rejects.to_dict("records")
    assert reject["field"] == "processInstanceId" and "whitespace" in reject["reason"]
    assert second.gone.newly_gone == second.gone.removed == 0
    assert amounts(engine) == {}
    assert first.rejects_recorded == 1


def test_a_clean_id_is_kept_exactly_as_sent_and_never_gone(engine):
    result, _first, second = sync_cycle(engine, instance(processInstanceId=CLEAN_ID))
    assert list(result.clean[SPEC.target.key]) == [CLEAN_ID]
    assert payload_json.record_key(instance(processInstanceId=CLEAN_ID)) == CLEAN_ID
    assert second.gone.newly_gone == 0 and set(amounts(engine)) == {CLEAN_ID}


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=hostile_ids)
def test_every_id_is_one_key_everywhere(value):
    """The row's key, the record key and the reject agree for any id Yida could send."""
    raw = instance(processInstanceId=value)
    result = transform_instances([raw], SPEC)
    key = payload_json.record_key(raw)
    problem = payload_json.key_problem(value)
    if problem is None:
        assert list(result.clean[SPEC.target.key]) == [value] == [key]
        assert result.rejects.empty
    else:
        assert result.clean.empty and payload_json.is_anonymous(key)
        id_rejects = result.rejects[result.rejects["field"] == "processInstanceId"]
        assert list(id_rejects["record_key"]) == [key]
        assert list(id_rejects["reason"]) == [problem]
        assert len(problem) <= 255 and len(key) <= 128
        assert id_rejects["process_instance_id"].isna().all()
    if value is not None and value != "":
        # The same form read again (a new version) keeps its key: one reject, updated, not two.
        assert payload_json.record_key({**raw, "version": 99}) == key
