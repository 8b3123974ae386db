"""Freshness: yesterday's refunds must be in ``hc_dd_fktk`` by 09:00 China time."""

import dagster as dg

from dd_refund_pipeline.defs.hc_dd_fktk import hc_dd_fktk
from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ

hc_dd_fktk_freshness_checks = dg.build_time_partition_freshness_checks(
    assets=[hc_dd_fktk],
    deadline_cron="0 9 * * *",
    timezone=CHINA_TZ.key,
    severity=dg.AssetCheckSeverity.WARN,
)

hc_dd_fktk_freshness_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=hc_dd_fktk_freshness_checks,
    name="hc_dd_fktk_freshness_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
