"""Alert messages (``alerts.py``): what broke, for which days, with a link; never a secret."""

from __future__ import annotations

from dd_refund_pipeline.lib.alerts import (
    FailedCheck,
    StepError,
    failed_checks_message,
    run_failure_message,
)


def test_failure_message_names_job_window_step_cause_and_link(monkeypatch):
    monkeypatch.setenv("DINGTALK_APP_SECRET", "app-secret-SENTINEL")
    title, text = run_failure_message(
        "付款退款申请",
        "dd_refund_sync_job",
        "0123456789abcdef",
        "2026-11-01...2026-11-25",
        [
            StepError(
                "hc_dd_fktk",
                "DatabaseError: cannot use database 10.0.0.5:3306 (token app-secret-SENTINEL)",
            )
        ],
        [FailedCheck("refund_payments", "process_instance_id_unique", "ERROR", "duplicated_ids=1")],
        "http://dagster:3000",
    )
    assert "dd_refund_sync_job" in title and title.startswith("宜搭付款退款申请同步失败")
    assert "2026-11-01...2026-11-25" in text
    assert "`hc_dd_fktk`" in text and "cannot use database 10.0.0.5:3306" in text
    assert "process_instance_id_unique" in text
    assert "(http://dagster:3000/runs/0123456789abcdef)" in text
    assert "app-secret-SENTINEL" not in text


def test_failed_checks_message_is_one_aggregate():
    checks = [
        FailedCheck("hc_dd_fktk", "no_rejected_records", "WARN", "offending=3"),
        FailedCheck("hc_dd_fktk", "order_no_new_shaped", "WARN", "offending=1"),
    ]
    title, text = failed_checks_message("付款退款申请", "job", "abc", "2026-11-02", checks, None)
    assert title == "宜搭付款退款申请检查未通过 2 项 2026-11-02"
    assert text.count("\n- **WARN**") == 2
    assert "run `abc`" in text


def test_each_form_s_messages_name_that_form():
    """Reproduced before: the expense form's alerts said 退款 (宜搭退款检查未通过 … hc_dd_fybx)."""
    checks = [FailedCheck("hc_dd_fybx", "no_rejected_records", "WARN", "offending=1")]
    title, text = failed_checks_message(
        "费用报销申请", "dd_expense_sync_job", "r", "d", checks, None
    )
    assert title.startswith("宜搭费用报销申请检查未通过") and "退款" not in title + text
    title, text = run_failure_message("费用报销申请", "dd_expense_sync_job", "r", "d", [], [], None)
    assert title.startswith("宜搭费用报销申请同步失败") and "退款" not in title + text
