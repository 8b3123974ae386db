"""The emulator speaks api.dingtalk.com's wire protocol, proven with the official SDK and raw HTTP.

If these fail, the client could pass every other test and still break against real DingTalk.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote_plus

import httpx
import pytest
from alibabacloud_dingtalk.oauth2_1_0 import client as oauth_client
from alibabacloud_dingtalk.oauth2_1_0 import models as oauth_models
from alibabacloud_dingtalk.yida_1_0 import client as yida_client
from alibabacloud_dingtalk.yida_1_0 import models as yida_models
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_util import models as util_models

from dd_refund_pipeline.dingtalk.robot import robot_signature, signed_params
from dd_refund_pipeline_tests.conftest import SEED_FILTERS, expected_seed_ids, window


def sdk_config(base_url: str) -> open_api_models.Config:
    return open_api_models.Config(
        protocol="http", endpoint=base_url.removeprefix("http://"), region_id="central"
    )


def test_official_sdk_gets_a_token_and_pages_through_instances(shared_emulator):
    config = shared_emulator.state.config
    oauth = oauth_client.Client(sdk_config(shared_emulator.base_url))
    token = oauth.get_access_token(
        oauth_models.GetAccessTokenRequest(app_key=config.app_key, app_secret=config.app_secret)
    ).body
    assert token.access_token and token.expire_in == 7200

    yida = yida_client.Client(sdk_config(shared_emulator.base_url))
    headers = yida_models.GetInstancesHeaders(x_acs_dingtalk_access_token=token.access_token)
    start, end = window(60)
    seen: list[str] = []
    page, total = 1, None
    while total is None or len(seen) < total:
        request = yida_models.GetInstancesRequest(
            app_type=config.app_type,
            system_token=config.system_token,
            user_id=config.user_id,
            form_uuid=config.form_uuid,
            language="zh_CN",
            page_number=page,
            page_size=100,
            search_field_json=json.dumps(SEED_FILTERS, ensure_ascii=False),
            instance_status="COMPLETED",
            approved_result="agree",
            create_from_time_gmt=start.strftime("%Y-%m-%d %H:%M:%S"),
            create_to_time_gmt=end.strftime("%Y-%m-%d %H:%M:%S"),
            order_config_json=json.dumps({"gmt_create": "+"}),
        )
        body = yida.get_instances_with_options(request, headers, util_models.RuntimeOptions()).body
        total = body.total_count
        seen.extend(item.process_instance_id for item in body.data)
        assert body.page_number == page
        page += 1
    assert set(seen) == expected_seed_ids(shared_emulator, start, end)
    assert body.data == [] or body.data[0].data  # typed model parsed the component map


def test_official_sdk_sees_dingtalk_error_shape(shared_emulator):
    oauth = oauth_client.Client(sdk_config(shared_emulator.base_url))
    with pytest.raises(Exception) as raised:
        oauth.get_access_token(oauth_models.GetAccessTokenRequest(app_key="x", app_secret="y"))
    assert getattr(raised.value, "code", None) == "invalidClientIdOrSecret"


def _post(base: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.post(base + path, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_instances_endpoint_validates_like_yida(shared_emulator):
    base, config = shared_emulator.base_url, shared_emulator.state.config
    token = _post(
        base,
        "/v1.0/oauth2/accessToken",
        json={"appKey": config.app_key, "appSecret": config.app_secret},
    ).json()
    headers = {"x-acs-dingtalk-access-token": token["accessToken"]}
    body = {
        "appType": config.app_type,
        "systemToken": config.system_token,
        "userId": config.user_id,
        "formUuid": config.form_uuid,
    }
    path = "/v1.0/yida/processes/instances"

    def call(params: dict[str, object], payload: object, hdrs: dict[str, str] = headers):
        return _post(base, path, params=params, json=payload, headers=hdrs)

    too_big = call({"pageNumber": 1, "pageSize": 101}, body)
    assert (
        too_big.status_code == 400 and too_big.json()["code"] == "invalidParameter.parameter.error"
    )
    deep = call({"pageNumber": 51, "pageSize": 100}, body)
    assert deep.json()["code"] == "invalidState.openSearch.cursorExceedFiveThousand"
    assert call({}, {**body, "systemToken": "nope"}).json()["code"] == (
        "invalidParameter.parameter.accessKeyNotMatch"
    )
    assert (
        call({}, {**body, "formUuid": "FORM-X"}).json()["code"] == "invalidState.form.formNotExist"
    )
    missing = call({}, {k: v for k, v in body.items() if k != "userId"})
    assert missing.json()["code"] == "invalidParameter.parameter.parameterIsEmpty"
    assert call({}, body, {"x-acs-dingtalk-access-token": "bad"}).json()["code"] == (
        "InvalidAuthentication"
    )
    bad_time = call({}, {**body, "createFromTimeGMT": "yesterday"})
    assert bad_time.status_code == 400
    unknown = _post(base, "/v1.0/yida/nothing", json={})
    assert unknown.status_code == 404 and unknown.json()["code"] == "InvalidAction.NotFound"
    ok = call({"pageNumber": 1, "pageSize": 5}, body)
    payload = ok.json()
    assert ok.status_code == 200 and set(payload) == {"totalCount", "pageNumber", "data"}
    assert ok.headers["x-acs-request-id"]
    # Newest first when no order is asked for.
    created = [item["createTimeGMT"] for item in payload["data"]]
    assert created == sorted(created, reverse=True)
    first = payload["data"][0]
    assert first["createTimeGMT"].endswith("Z") and len(first["createTimeGMT"]) == 17
    assert isinstance(first["data"]["dateField_lgkieplu"], int)


def test_date_only_upper_bound_means_the_whole_day(shared_emulator):
    base, config = shared_emulator.base_url, shared_emulator.state.config
    token = _post(
        base,
        "/v1.0/oauth2/accessToken",
        json={"appKey": config.app_key, "appSecret": config.app_secret},
    ).json()
    body = {
        "appType": config.app_type,
        "systemToken": config.system_token,
        "userId": config.user_id,
        "formUuid": config.form_uuid,
    }
    headers = {"x-acs-dingtalk-access-token": token["accessToken"]}
    whole = _post(
        base,
        "/v1.0/yida/processes/instances",
        headers=headers,
        json={**body, "createFromTimeGMT": "2026-11-02", "createToTimeGMT": "2026-11-02"},
    )
    explicit = _post(
        base,
        "/v1.0/yida/processes/instances",
        headers=headers,
        json={
            **body,
            "createFromTimeGMT": "2026-11-02 00:00:00",
            "createToTimeGMT": "2026-11-02 23:59:59",
        },
    )
    assert whole.json()["totalCount"] == explicit.json()["totalCount"] > 0


def test_token_is_the_same_while_valid(shared_emulator):
    config = shared_emulator.state.config
    body = {"appKey": config.app_key, "appSecret": config.app_secret}
    first = _post(shared_emulator.base_url, "/v1.0/oauth2/accessToken", json=body).json()
    second = _post(shared_emulator.base_url, "/v1.0/oauth2/accessToken", json=body).json()
    assert first["accessToken"] == second["accessToken"]


def _send_robot(server, params: dict[str, str], text: str = "hello") -> dict[str, object]:
    message = {"msgtype": "markdown", "markdown": {"title": "t", "text": text}}
    return httpx.post(server.base_url + "/robot/send", params=params, json=message).json()


def test_robot_checks_signature_skew_and_rate(make_emulator):
    server = make_emulator(instances=1, robot_per_minute=3)
    config = server.state.config
    good = signed_params(config.robot_access_token, config.robot_secret)
    assert _send_robot(server, good) == {"errcode": 0, "errmsg": "ok"}
    wrong = {**good, "sign": robot_signature(good["timestamp"], "SECwrong")}
    assert _send_robot(server, wrong)["errcode"] == 310000
    stale = signed_params(config.robot_access_token, config.robot_secret, time.time() - 3700)
    assert _send_robot(server, stale)["errcode"] == 310000
    assert _send_robot(server, {"access_token": "nope"})["errcode"] != 0
    assert _send_robot(server, good, "two")["errcode"] == 0
    assert _send_robot(server, good, "three")["errcode"] == 0
    assert _send_robot(server, good, "four")["errcode"] == 410100
    assert [m["markdown"]["text"] for m in server.state.robot.messages] == ["hello", "two", "three"]


def test_robot_signature_matches_the_documented_example():
    # The worked example in the contract notes (secret SECexample…, timestamp 1700100000000).
    sign = robot_signature("1700100000000", "SECexample0123456789abcdef")
    assert quote_plus(sign) == "tKmlVUowdmFYXdTgpn%2F9FKUQ4Nh7sLOFV1szQhFc154%3D"


def _sdk_token(server) -> str:
    config = server.state.config
    oauth = oauth_client.Client(sdk_config(server.base_url))
    request = oauth_models.GetAccessTokenRequest(
        app_key=config.app_key, app_secret=config.app_secret
    )
    return oauth.get_access_token(request).body.access_token


def test_official_sdk_lists_the_app_s_forms_and_a_form_s_fields(shared_emulator):
    """GetFormListInApp and GetFieldDefByUuid, read by the SDK's own models."""
    config = shared_emulator.state.config
    yida = yida_client.Client(sdk_config(shared_emulator.base_url))
    token = _sdk_token(shared_emulator)
    listed = yida.get_form_list_in_app_with_options(
        yida_models.GetFormListInAppRequest(
            app_type=config.app_type,
            system_token=config.system_token,
            user_id=config.user_id,
            page_number=1,
            page_size=10,
            form_types="process",
        ),
        yida_models.GetFormListInAppHeaders(x_acs_dingtalk_access_token=token),
        util_models.RuntimeOptions(),
    ).body
    forms = {form.form_uuid: form for form in listed.result.data}
    assert listed.success and listed.result.total_count == len(shared_emulator.state.stores)
    assert forms[config.form_uuid].title.zh_cn == "付款退款申请"
    assert forms[config.form_uuid].form_type == "process"

    fields = yida.get_field_def_by_uuid_with_options(
        yida_models.GetFieldDefByUuidRequest(
            app_type=config.app_type,
            system_token=config.system_token,
            user_id=config.user_id,
            form_uuid=config.form_uuid,
        ),
        yida_models.GetFieldDefByUuidHeaders(x_acs_dingtalk_access_token=token),
        util_models.RuntimeOptions(),
    ).body.result
    by_id = {field.field_id: field for field in fields}
    amount = by_id["numberField_lgkiepjv"]
    assert amount.component_name == "NumberField" and amount.behavior == "NORMAL"
    assert by_id["serialNumberField_lgk9jn2s"].component_name == "SerialNumberField"
    refund = by_id["selectField_lgkiepju"]
    assert {o["value"] for o in refund.props["dataSource"]} >= {"是", "否"}
    [table] = [f for f in fields if f.component_name == "TableField"]
    assert [child["componentName"] for child in json.loads(table.children)] == [
        "TextField",
        "NumberField",
    ]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"formUuid": "FORM-NOT-THERE"}, "invalidState.form.formNotExist"),
        ({"systemToken": "wrong"}, "invalidParameter.parameter.accessKeyNotMatch"),
        ({"userId": "someone-else"}, "failure.user.userNotExist"),
    ],
)
def test_form_metadata_errors_are_yida_s(shared_emulator, change, code):
    config = shared_emulator.state.config
    params = {
        "appType": config.app_type,
        "systemToken": config.system_token,
        "userId": config.user_id,
        "formUuid": config.form_uuid,
        **change,
    }
    headers = {"x-acs-dingtalk-access-token": _sdk_token(shared_emulator)}
    reply = httpx.get(
        f"{shared_emulator.base_url}/v1.0/yida/forms/formFields", params=params, headers=headers
    )
    assert reply.status_code == 400 and reply.json()["code"] == code
    assert config.system_token not in reply.text
    unauthorised = httpx.get(f"{shared_emulator.base_url}/v1.0/yida/forms", params=params)
    assert unauthorised.json()["code"] == "InvalidAuthentication"
