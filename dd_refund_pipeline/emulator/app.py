"""The emulator's HTTP surface: api.dingtalk.com's token and Yida endpoints, oapi's robot.

Errors follow the contract: ``{code, message, requestid}`` with the documented HTTP status on
api.dingtalk.com; ``{errcode, errmsg}`` with HTTP 200 on the robot. Routes under ``/_emulator``
let tests and demos read what happened and change limits and faults while it runs.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dd_refund_pipeline.dingtalk import payload_json
from dd_refund_pipeline.dingtalk.robot import EMULATED_ROBOT_HEADER, robot_signature
from dd_refund_pipeline.dingtalk.timefmt import parse_request_time
from dd_refund_pipeline.emulator.form_metadata import FORM_TYPE, form_fields, form_summary
from dd_refund_pipeline.emulator.state import (
    EmulatedInstance,
    EmulatorState,
    SearchError,
    matches_search,
    sort_instances,
    validate_search,
)

INSTANCES_API = "yida.GetInstances"
FORM_LIST_API = "yida.GetFormListInApp"
FORM_FIELDS_API = "yida.GetFieldDefByUuid"
TOKEN_API = "oauth2.GetAccessToken"


class ApiError(Exception):
    """An error answer of api.dingtalk.com."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> JSONResponse:
    requestid = str(uuid.uuid4()).upper()
    return JSONResponse(
        {"code": code, "message": message, "requestid": requestid},
        status_code=status,
        headers={"x-acs-request-id": requestid},
    )


def _ok(payload: dict[str, Any]) -> Response:
    # Written as Yida's Java service writes JSON: a number exactly as held (Decimal), a lone
    # surrogate as an escape; Starlette's JSONResponse can do neither.
    return Response(
        payload_json.dumps(payload),
        media_type="application/json",
        headers={"x-acs-request-id": str(uuid.uuid4()).upper()},
    )


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        raise ApiError(400, "Missingbody", "body is mandatory for this action.")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "Missingbody", "body is mandatory for this action.") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "invalidParameter.parameter.error", "参数错误:body")
    return body


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


async def access_token(request: Request) -> Response:
    """``POST /v1.0/oauth2/accessToken``: an app token for appKey + appSecret."""
    state = _state(request)
    state.stats.calls["accessToken"] += 1
    if not state.admit(TOKEN_API):
        return _error(
            403,
            "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
            "您的企业应用调用钉钉开放平台当前接口的所有请求都被暂时禁用了",
        )
    try:
        body = await _json_body(request)
    except ApiError as err:
        return _error(err.status, err.code, err.message)
    config = state.config
    if body.get("appKey") != config.app_key or body.get("appSecret") != config.app_secret:
        return _error(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
    token, ttl = state.issue_token()
    return _ok({"accessToken": token, "expireIn": ttl})


def _check_identity(state: EmulatorState, body: dict[str, Any], form: bool = True) -> None:
    for name in ("appType", "systemToken", "userId", "formUuid")[: 4 if form else 3]:
        if not body.get(name):
            raise ApiError(400, "invalidParameter.parameter.parameterIsEmpty", f"不能为空:{name}")
    config = state.config
    if body["appType"] != config.app_type:
        raise ApiError(400, "applicationNotExist.application.notExits", "应用不存在")
    if body["systemToken"] != config.system_token:
        # Unlike some real messages, never echo the token that was sent.
        raise ApiError(400, "invalidParameter.parameter.accessKeyNotMatch", "接入秘钥不匹配")
    if body["userId"] != config.user_id:
        raise ApiError(400, "failure.user.userNotExist", "用户不存在")
    if form and body["formUuid"] not in state.stores:
        raise ApiError(400, "invalidState.form.formNotExist", "表单不存在")


def _paging(request: Request, body: dict[str, Any], state: EmulatorState) -> tuple[int, int]:
    def number(name: str, default: int) -> int:
        raw = request.query_params.get(name, body.get(name, default))
        try:
            return int(raw)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "invalidParameter.parameter.error", f"参数错误:{name}") from exc

    page_number, page_size = number("pageNumber", 1), number("pageSize", 10)
    if page_number < 1:
        raise ApiError(400, "invalidParameter.parameter.error", "参数错误:pageNumber")
    if not 1 <= page_size <= state.config.max_page_size:
        raise ApiError(400, "invalidParameter.parameter.error", "参数错误:pageSize")
    if page_number * page_size > state.config.deep_paging_cap:
        raise ApiError(
            400,
            "invalidState.openSearch.cursorExceedFiveThousand",
            "搜索接口翻页不能超过5000，请细化过滤条件缩小查询范围:",
        )
    return page_number, page_size


def _window_ms(body: dict[str, Any], prefix: str, zone: ZoneInfo) -> tuple[int | None, int | None]:
    bounds: list[int | None] = []
    for suffix, end in (("FromTimeGMT", False), ("ToTimeGMT", True)):
        raw = body.get(prefix + suffix)
        if raw in (None, ""):
            bounds.append(None)
            continue
        try:
            moment = parse_request_time(str(raw), zone, end=end)
        except ValueError as exc:
            raise ApiError(
                400, "invalidParameter.parameter.error", f"参数错误:{prefix}{suffix}"
            ) from exc
        bounds.append(int(moment.timestamp() * 1000))
    return bounds[0], bounds[1]


def _json_field(body: dict[str, Any], name: str, default: Any) -> Any:
    raw = body.get(name)
    if raw in (None, ""):
        return default
    if not isinstance(raw, str):
        # The real service wants a JSON *string*; an object has no effect there.
        return default
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "invalidParameter.parameter.error", f"参数错误:{name}") from exc


def _query(state: EmulatorState, body: dict[str, Any]) -> list[EmulatedInstance]:
    zone = ZoneInfo(state.config.zone)
    create_from, create_to = _window_ms(body, "create", zone)
    modified_from, modified_to = _window_ms(body, "modified", zone)
    search = _json_field(body, "searchFieldJson", {})
    order = _json_field(body, "orderConfigJson", {})
    if not isinstance(order, dict):
        raise ApiError(400, "invalidParameter.parameter.error", "参数错误:orderConfigJson")
    try:
        validate_search(search)
    except SearchError as err:
        raise ApiError(400, str(err), "搜索条件错误") from err
    status, result = body.get("instanceStatus"), body.get("approvedResult")
    originator, store = body.get("originatorId"), state.stores[body["formUuid"]]

    def within(value: int, low: int | None, high: int | None) -> bool:
        return (low is None or value >= low) and (high is None or value <= high)

    def compute() -> list[EmulatedInstance]:
        found = [
            i
            for i in store.created_between(create_from, create_to)
            if not i.deleted
            and within(i.modified_ms, modified_from, modified_to)
            and (not status or i.status == status)
            and (not result or i.result == result)
            and (not originator or i.payload["originator"]["userId"] == originator)
            and matches_search(i, search)
        ]
        return sort_instances(found, order)

    key = json.dumps(
        [
            create_from,
            create_to,
            modified_from,
            modified_to,
            status,
            result,
            originator,
            search,
            order,
        ],
        ensure_ascii=False,
        sort_keys=True,
    )
    try:
        return store.cached(key, compute)
    except SearchError as err:
        raise ApiError(400, str(err), "搜索条件错误") from err


class _DropConnection(Exception):
    """Raised after the response started, so that the server cuts the connection."""


async def instances(request: Request) -> Response:
    """``POST /v1.0/yida/processes/instances``: one page of a form's instances."""
    state = _state(request)
    config = state.config
    state.stats.calls["instances"] += 1
    if not state.admit(INSTANCES_API):
        return _error(
            403,
            "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
            "您的企业应用调用钉钉开放平台当前接口的所有请求都被暂时禁用了",
        )
    call = state.stats.calls["instances"]
    if config.invalidate_token_at_call == call:
        state.revoke_tokens()
    if not state.spend_token(request.headers.get("x-acs-dingtalk-access-token")):
        state.stats.auth_failures += 1
        return _error(400, "InvalidAuthentication", "不合法的access_token")
    quota = config.monthly_call_quota
    if quota is not None and state.stats.billed_calls >= quota:
        return _error(403, "Forbidden.AccessDenied.ApiCountLimitForOrg", "企业调用次数超过限制")
    state.stats.billed_calls += 1
    await asyncio.sleep(state.latency())
    fault = state.draw_fault()
    if fault == "error":
        status = state.fault_rng.choice((500, 502, 503))
        return _error(status, "innerError" if status == 500 else "ServiceUnavailable", "系统繁忙")
    if fault == "hang":
        await asyncio.sleep(config.hang_s)
    try:
        body = await _json_body(request)
        _check_identity(state, body)
        page_number, page_size = _paging(request, body, state)
        state.advance_live()
        scripted_status = state.run_scripted(call)
        found = _query(state, body)
    except ApiError as err:
        return _error(err.status, err.code, err.message)
    if scripted_status is not None:
        return _error(scripted_status, "ServiceUnavailable", "系统繁忙")
    offset = (page_number - 1) * page_size
    payload = {
        "totalCount": len(found),
        "pageNumber": page_number,
        "data": [i.payload for i in found[offset : offset + page_size]],
    }
    if fault == "bad_body":
        text = json.dumps(payload, ensure_ascii=False)
        return Response(text[: max(1, len(text) // 3)], media_type="application/json")
    if fault == "drop":
        return _DroppingResponse(payload)
    return _ok(payload)


class _DroppingResponse(JSONResponse):
    """Starts the answer, then fails: the client sees the connection cut mid-response."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self.body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self.body[:10], "more_body": True})
        raise _DropConnection


def _robot_reply(errcode: int, errmsg: str) -> JSONResponse:
    return JSONResponse(
        {"errcode": errcode, "errmsg": errmsg}, headers={EMULATED_ROBOT_HEADER: "robot"}
    )


def _robot_check(state: EmulatorState, request: Request) -> tuple[int, str] | None:
    config, params = state.config, request.query_params
    if params.get("access_token") != config.robot_access_token:
        return 300001, "token is not exist"
    if config.robot_secret:
        timestamp, sign = params.get("timestamp", ""), params.get("sign", "")
        if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > 3_600_000:
            return 310000, "invalid timestamp"
        expected = robot_signature(timestamp, config.robot_secret)
        # Starlette already URL-decodes query values; decode once more for double-encoded signs.
        if not hmac.compare_digest(sign, expected) and unquote_plus(sign) != expected:
            return 310000, "sign not match"
    return None


def _robot_validate(message: Any) -> tuple[int, str] | None:
    if not isinstance(message, dict):
        return 40035, "缺少参数 json"
    msgtype = message.get("msgtype")
    if msgtype not in ("text", "markdown", "link", "actionCard", "feedCard"):
        return 400105, "不支持的消息类型"
    content = message.get(msgtype)
    if not isinstance(content, dict):
        return 400202, f"miss param : {msgtype}"
    if msgtype == "text" and not content.get("content"):
        return 400202, "miss param : text->content"
    if msgtype == "markdown" and not content.get("title"):
        return 400402, "miss param : markdown->title"
    if msgtype == "markdown" and not content.get("text"):
        return 400202, "miss param : markdown->text"
    return None


async def robot_send(request: Request) -> Response:
    """``POST /robot/send``: a custom robot message, signed and rate-limited."""
    state = _state(request)
    state.stats.calls["robot"] += 1
    inbox, config = state.robot, state.config
    problem = _robot_check(state, request)
    try:
        message = json.loads(await request.body() or b"null")
    except ValueError:
        message = None
    problem = problem or _robot_validate(message)
    if problem:
        with inbox.lock:
            inbox.rejected.append({"errcode": problem[0], "errmsg": problem[1]})
        return _robot_reply(*problem)
    with inbox.lock:
        now = time.monotonic()
        while inbox.sent_at and now - inbox.sent_at[0] >= 60:
            inbox.sent_at.popleft()
        if now < inbox.throttled_until or len(inbox.sent_at) >= config.robot_per_minute:
            if now >= inbox.throttled_until:
                inbox.throttled_until = now + config.robot_throttle_s
            inbox.rejected.append({"errcode": 410100, "errmsg": "send too fast"})
            return _robot_reply(410100, "发送速度太快而限流")
        inbox.sent_at.append(now)
        inbox.messages.append(message)
    return _robot_reply(0, "ok")


async def admin_state(request: Request) -> Response:
    """``GET /_emulator/state``: what the emulator saw (calls, faults, forms)."""
    state = _state(request)
    return JSONResponse(
        {
            "config": state.config.public(),
            "stats": state.stats.as_dict(),
            "instances": len(state.store.instances),
            # Every form the emulator serves: its spec and how many instances it holds.
            "forms": {
                uuid: {"spec": store.spec.name, "instances": len(store.instances)}
                for uuid, store in state.stores.items()
            },
        }
    )


async def admin_config(request: Request) -> Response:
    """``POST /_emulator/config``: change the fault knobs while it runs."""
    state = _state(request)
    try:
        state.update(await request.json())
    except (KeyError, ValueError) as err:
        return JSONResponse({"error": f"not a runtime setting: {err}"}, status_code=400)
    return JSONResponse({"config": state.config.public()})


async def admin_robot(request: Request) -> Response:
    """``GET /_emulator/robot``: the robot messages received and rejected."""
    inbox = _state(request).robot
    with inbox.lock:
        return JSONResponse({"messages": inbox.messages, "rejected": inbox.rejected})


async def not_found(request: Request, exc: Exception) -> Response:
    """DingTalk's answer to an unknown path."""
    return _error(
        404,
        "InvalidAction.NotFound",
        "specified api is not found, please check your url and method.",
    )


async def _metadata_call(
    request: Request, api: str, answer: Callable[[EmulatorState, dict[str, Any]], Any]
) -> Response:
    """A form-metadata GET, checked as GetInstances is.

    The same QPS limit, token, quota and identity checks; its parameters in the query string.
    """
    state = _state(request)
    state.stats.calls[api] += 1
    if not state.admit(api):
        return _error(
            403,
            "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
            "您的企业应用调用钉钉开放平台当前接口的所有请求都被暂时禁用了",
        )
    if not state.spend_token(request.headers.get("x-acs-dingtalk-access-token")):
        state.stats.auth_failures += 1
        return _error(400, "InvalidAuthentication", "不合法的access_token")
    quota = state.config.monthly_call_quota
    if quota is not None and state.stats.billed_calls >= quota:
        return _error(403, "Forbidden.AccessDenied.ApiCountLimitForOrg", "企业调用次数超过限制")
    state.stats.billed_calls += 1
    params = dict(request.query_params)
    try:
        _check_identity(state, params, form=api == FORM_FIELDS_API)
        return _ok({"result": answer(state, params), "success": True})
    except ApiError as err:
        return _error(err.status, err.code, err.message)


def _form_list(state: EmulatorState, params: dict[str, Any]) -> dict[str, Any]:
    wanted = {t for t in str(params.get("formTypes") or "").split(",") if t}
    forms = [
        form_summary(store.spec, uuid, state.config.user_id)
        for uuid, store in state.stores.items()
        if not wanted or FORM_TYPE in wanted
    ]
    try:
        page, size = int(params.get("pageNumber") or 1), int(params.get("pageSize") or 10)
    except ValueError as exc:
        raise ApiError(400, "invalidParameter.parameter.error", "参数错误:pageSize") from exc
    return {
        "currentPage": page,
        "totalCount": len(forms),
        "data": forms[(page - 1) * size : page * size],
    }


async def form_list(request: Request) -> Response:
    """``GET /v1.0/yida/forms``: the app's forms (GetFormListInApp)."""
    return await _metadata_call(request, FORM_LIST_API, _form_list)


async def field_definitions(request: Request) -> Response:
    """``GET /v1.0/yida/forms/formFields``: a form's components (GetFieldDefByUuid)."""
    return await _metadata_call(
        request,
        FORM_FIELDS_API,
        lambda state, params: form_fields(state.stores[params["formUuid"]].spec),
    )


def build_app(state: EmulatorState) -> Starlette:
    """The ASGI app serving ``state``."""
    app = Starlette(
        routes=[
            Route("/v1.0/oauth2/accessToken", access_token, methods=["POST"]),
            Route("/v1.0/yida/processes/instances", instances, methods=["POST"]),
            Route("/v1.0/yida/forms", form_list, methods=["GET"]),
            Route("/v1.0/yida/forms/formFields", field_definitions, methods=["GET"]),
            Route("/robot/send", robot_send, methods=["POST"]),
            Route("/_emulator/state", admin_state, methods=["GET"]),
            Route("/_emulator/config", admin_config, methods=["POST"]),
            Route("/_emulator/robot", admin_robot, methods=["GET"]),
        ],
        exception_handlers={404: not_found, 405: not_found},
    )
    app.state.emulator = state
    return app
