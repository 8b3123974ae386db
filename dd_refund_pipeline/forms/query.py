"""The Yida query a form spec describes."""

from __future__ import annotations

from dd_refund_pipeline.dingtalk.query import YidaQuery
from dd_refund_pipeline.forms.spec import FormSpec


def yida_query(spec: FormSpec) -> YidaQuery:
    """``GetInstances`` parameters for ``spec`` (the create-time window comes from the run)."""
    source, filters = spec.source, spec.filters
    return YidaQuery(
        app_type=source.app_type,
        user_id=source.user_id,
        form_uuid=source.form_uuid,
        language=source.language,
        search_fields=filters.search_fields or None,
        instance_status=filters.instance_status,
        approved_result=filters.approved_result,
    )
