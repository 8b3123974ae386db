"""The benchmark's baseline: the same job as a naive one-asset Dagster project.

What a team would write first from the seed (the 轻易云 scheme's shape) without this project:
one daily-partitioned asset with a single-run backfill policy; a token, then the pages one
after another; the fields renamed and formatted in a loop; one ``INSERT … ON DUPLICATE KEY
UPDATE`` per row with autocommit. No day files, no checks, no sync state, no metadata beyond
Dagster's own. It knows nothing of Yida's deep-paging cap (past 5,000 records it stops: the
benchmark compares it at 2,000) and imports nothing from ``dd_refund_pipeline``.

Run as users run ours: ``dagster asset materialize -m naive_dagster_project --select '*'
--partition-range A...B`` (``bench/`` on ``PYTHONPATH``), with the same settings.
"""

import json
import math
import os
from datetime import datetime, timedelta, timezone

import dagster as dg
import httpx
import pymysql
import sqlalchemy as sa

CHINA = timezone(timedelta(hours=8))
UPSERT = (
    "INSERT INTO hc_dd_fktk (extend_processInstanceId, order_no_new, datetime_new, qty_count, "
    "sales_count, status, Document_Type) VALUES (%s, %s, %s, %s, %s, %s, %s) "
    "ON DUPLICATE KEY UPDATE order_no_new = VALUES(order_no_new), "
    "datetime_new = VALUES(datetime_new), qty_count = VALUES(qty_count), "
    "sales_count = VALUES(sales_count), status = VALUES(status), "
    "Document_Type = VALUES(Document_Type)"
)


def _token(client: httpx.Client) -> str:
    reply = client.post(
        "/v1.0/oauth2/accessToken",
        json={
            "appKey": os.environ["DINGTALK_APP_KEY"],
            "appSecret": os.environ["DINGTALK_APP_SECRET"],
        },
    )
    reply.raise_for_status()
    return str(reply.json()["accessToken"])


def _pages(client: httpx.Client, token: str, start: str, end: str) -> list[dict]:
    body = {
        "appType": "APP_WTSCMZ1WOOHGIM5N28BQ",
        "systemToken": os.environ["YIDA_SYSTEM_TOKEN"],
        "userId": "16000443318138909",
        "language": "zh_CN",
        "formUuid": "FORM-0IA66C71A4V9JSAX6MEV45W77QOO2WI78EHGLQ",
        "searchFieldJson": json.dumps(
            {
                "selectField_lgkiepju": "是",
                "radioField_lgk9jn2v": "借款核销",
                "numberField_lgkiepjv": [0.0001],
            },
            ensure_ascii=False,
        ),
        "instanceStatus": "COMPLETED",
        "approvedResult": "agree",
        "createFromTimeGMT": start,
        "createToTimeGMT": end,
    }
    headers = {"x-acs-dingtalk-access-token": token}
    found: list[dict] = []
    page, pages = 1, 1
    while page <= pages:
        reply = client.post(
            "/v1.0/yida/processes/instances",
            params={"pageNumber": page, "pageSize": 100},
            json=body,
            headers=headers,
        )
        reply.raise_for_status()
        payload = reply.json()
        found += payload["data"]
        pages = math.ceil(payload["totalCount"] / 100)
        page += 1
    return found


def _row(instance: dict) -> tuple:
    data = instance["data"]
    day = datetime.fromtimestamp(data["dateField_lgkieplu"] / 1000, tz=CHINA).date()
    return (
        instance["processInstanceId"],
        f"{data['serialNumberField_lgk9jn2s']}(FKTK)",
        day.isoformat(),
        1,
        f"{float(data['numberField_lgkiepjv']):.2f}",
        instance["instanceStatus"],
        "付款退款",
    )


@dg.asset(
    partitions_def=dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="Asia/Shanghai"),
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def hc_dd_fktk(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Approved 付款退款 forms of the partition range, upserted into hc_dd_fktk."""
    window = context.partition_time_window
    start = window.start.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")
    end = (window.end.astimezone(CHINA) - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")
    with httpx.Client(base_url=os.environ["DINGTALK_BASE_URL"], timeout=30) as client:
        instances = _pages(client, _token(client), start, end)
    url = sa.make_url(os.environ["DD_REFUND_DATABASE_URL"])
    connection = pymysql.connect(
        host=url.host,
        port=url.port or 3306,
        user=url.username,
        password=url.password or "",
        database=url.database,
        autocommit=True,
        charset="utf8mb4",
    )
    with connection, connection.cursor() as cursor:
        for instance in instances:  # one request per record, as the platform writes
            cursor.execute(UPSERT, _row(instance))
    return dg.MaterializeResult(metadata={"rows": len(instances)})


defs = dg.Definitions(assets=[hc_dd_fktk])
