"""The emulator's state: its configuration, instance store, tokens, limits, faults and robot."""

from __future__ import annotations

import bisect
import collections
import os
import random
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from dd_refund_pipeline.dingtalk.timefmt import format_gmt
from dd_refund_pipeline.emulator.generator import (
    EmulatedInstance,
    FormGenerator,
    generate_instances,
)
from dd_refund_pipeline.forms.spec import FormSpec, load_form_spec

# Demo credentials, used when the client's own settings are not in the environment, so that a
# newcomer's `make run` needs no configuration at all.
DEMO_APP_KEY = "dingdemoappkey"
DEMO_APP_SECRET = "demo-app-secret-not-for-production"
DEMO_SYSTEM_TOKEN = "DEMO-SYSTEM-TOKEN-0000"
DEMO_ROBOT_ACCESS_TOKEN = "demo-robot-access-token"
DEMO_ROBOT_SECRET = "SECdemo0000000000000000000000000000000000000000000000000000000000"

SEED_APP_TYPE = "APP_WTSCMZ1WOOHGIM5N28BQ"
SEED_FORM_UUID = "FORM-0IA66C71A4V9JSAX6MEV45W77QOO2WI78EHGLQ"
SEED_USER_ID = "16000443318138909"


@dataclass
class EmulatorConfig:
    """Everything an emulator run can be told; the fault knobs can change while it runs."""

    app_key: str = DEMO_APP_KEY
    app_secret: str = DEMO_APP_SECRET
    system_token: str = DEMO_SYSTEM_TOKEN
    app_type: str = SEED_APP_TYPE
    form_uuid: str = SEED_FORM_UUID
    user_id: str = SEED_USER_ID
    robot_access_token: str = DEMO_ROBOT_ACCESS_TOKEN
    robot_secret: str | None = DEMO_ROBOT_SECRET
    instances: int = 3000
    seed: int = 7
    # The forms of the app it serves, by spec name: the first is the seed's (its form_uuid is
    # ``form_uuid`` above); each other one is served under its spec's formUuid.
    forms: tuple[str, ...] = ("fktk_refund", "fybx_expense")
    # Instances of each other form (default: as many as ``instances``).
    other_form_instances: int | None = None
    days: int = 60
    malformed_rate: float = 0.0
    token_ttl_s: int = 7200
    qps: float = 20.0
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_rate: float = 0.0
    hang_rate: float = 0.0
    hang_s: float = 30.0
    drop_rate: float = 0.0
    bad_body_rate: float = 0.0
    invalidate_token_at_call: int | None = None
    # Each access token dies after this many list calls (a gateway that expires tokens early).
    token_lifetime_calls: int | None = None
    # The organisation's monthly call quota: answered list calls beyond it get 403
    # Forbidden.AccessDenied.ApiCountLimitForOrg (throttled and refused calls are not billed).
    monthly_call_quota: int | None = None
    deep_paging_cap: int = 5000
    max_page_size: int = 100
    zone: str = "Asia/Shanghai"
    live_complete_per_call: float = 0.0
    live_create_per_call: float = 0.0
    # Forms deleted, or edited out of the seed's filter (是 → 否), per list call (live mode).
    live_delete_per_call: float = 0.0
    live_withdraw_per_call: float = 0.0
    live_max_events: int | None = None
    # Events at a given list call, for tests that need one exact moment:
    # {"at_call": n, "action": "delete" | "withdraw" | "approve", "id": processInstanceId},
    # {"at_call": n, "action": "edit", "id": processInstanceId, "data": {field: value}},
    # {"at_call": n, "action": "create", "created": ISO time, "matching": true},
    # {"at_call": n, "action": "error", "status": 503}.
    scripted_events: list[dict[str, Any]] = field(default_factory=list)
    robot_per_minute: int = 20
    robot_throttle_s: float = 600.0
    fault_seed: int = 1

    RUNTIME_KNOBS = (
        "qps",
        "latency_ms",
        "latency_jitter_ms",
        "error_rate",
        "hang_rate",
        "hang_s",
        "drop_rate",
        "bad_body_rate",
        "invalidate_token_at_call",
        "token_lifetime_calls",
        "monthly_call_quota",
        "token_ttl_s",
        "live_complete_per_call",
        "live_create_per_call",
        "live_delete_per_call",
        "live_withdraw_per_call",
        "live_max_events",
        "scripted_events",
        "deep_paging_cap",
        "robot_per_minute",
        "robot_throttle_s",
    )

    @classmethod
    def from_env(cls, **overrides: Any) -> EmulatorConfig:
        """Accept the credentials the pipeline itself is configured with, else the demo ones."""
        env = {
            "app_key": os.environ.get("DINGTALK_APP_KEY"),
            "app_secret": os.environ.get("DINGTALK_APP_SECRET"),
            "system_token": os.environ.get("YIDA_SYSTEM_TOKEN"),
            "robot_access_token": os.environ.get("DINGTALK_ROBOT_ACCESS_TOKEN"),
            "robot_secret": os.environ.get("DINGTALK_ROBOT_SECRET"),
        }
        values: dict[str, Any] = {key: value for key, value in env.items() if value}
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)

    def public(self) -> dict[str, Any]:
        """The configuration without its secrets (for the admin endpoint)."""
        hidden = {"app_secret", "system_token", "robot_access_token", "robot_secret"}
        return {key: value for key, value in asdict(self).items() if key not in hidden}


@dataclass
class EmulatorStats:
    """What the emulator saw; tests compare it with what the client reports."""

    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    throttled: int = 0
    faults: collections.Counter[str] = field(default_factory=collections.Counter)
    auth_failures: int = 0
    tokens_issued: int = 0
    max_per_second: int = 0
    live_completed: int = 0
    live_created: int = 0
    live_deleted: int = 0
    live_withdrawn: int = 0
    live_edited: int = 0
    tokens_expired_by_calls: int = 0
    # List calls the organisation is billed for this month (answered, not throttled).
    billed_calls: int = 0

    @property
    def live_events(self) -> int:
        """Every change live mode made while scans ran."""
        return (
            self.live_completed
            + self.live_created
            + self.live_deleted
            + self.live_withdrawn
            + self.live_edited
        )

    def as_dict(self) -> dict[str, Any]:
        """The counters, for the admin endpoint."""
        return {
            "calls": dict(self.calls),
            "throttled": self.throttled,
            "faults": dict(self.faults),
            "auth_failures": self.auth_failures,
            "tokens_issued": self.tokens_issued,
            "max_per_second": self.max_per_second,
            "live_completed": self.live_completed,
            "live_created": self.live_created,
            "live_deleted": self.live_deleted,
            "live_withdrawn": self.live_withdrawn,
            "live_edited": self.live_edited,
            "tokens_expired_by_calls": self.tokens_expired_by_calls,
        }


class InstanceStore:
    """One form's instances, with cached query results invalidated by every change."""

    def __init__(
        self,
        config: EmulatorConfig,
        as_of: datetime | None = None,
        spec: FormSpec | None = None,
        form_uuid: str | None = None,
        count: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.as_of = as_of or datetime.now(tz=timezone.utc)
        self.spec = spec or load_form_spec(config.forms[0])
        self.generator: FormGenerator
        self.generator, self.instances = generate_instances(
            self.spec,
            config.instances if count is None else count,
            config.seed if seed is None else seed,
            self.as_of,
            config.days,
            config.malformed_rate,
        )
        self.form_uuid = form_uuid or config.form_uuid
        for instance in self.instances:
            instance.payload["formUuid"] = self.form_uuid
        # Creation times in order (forms are generated oldest first, live ones are the newest):
        # a create window becomes a slice instead of a scan of every form.
        self.create_index = [instance.create_ms for instance in self.instances]
        # Forms still waiting for approval, for live mode to pick from without a full scan.
        self.running = [instance for instance in self.instances if instance.status == "RUNNING"]
        self.version = 0
        self._cache: dict[str, list[EmulatedInstance]] = {}
        self.lock = threading.RLock()

    def changed(self) -> None:
        """Note a change: cached query results are stale."""
        self.version += 1
        self._cache.clear()

    def cached(self, key: str, compute: Any) -> list[EmulatedInstance]:
        """The cached result of the query ``key``, computed on a miss."""
        with self.lock:
            hit = self._cache.get(key)
            if hit is None:
                hit = self._cache[key] = compute()
            return hit

    def find(self, pid: str) -> EmulatedInstance:
        """The instance ``pid`` (not deleted)."""
        with self.lock:
            return next(i for i in self.instances if i.pid == pid and not i.deleted)

    @staticmethod
    def _touch(instance: EmulatedInstance, new_version: bool = True, **payload: Any) -> None:
        """Saved now: a new modification time (and, for an edit, a new version)."""
        now_ms = int(time.time() * 1000)
        instance.modified_ms = now_ms
        if new_version:
            payload["version"] = int(instance.payload.get("version") or 0) + 1
        instance.payload.update(
            modifiedTimeGMT=format_gmt(datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc)),
            **payload,
        )

    def approve(self, instance: EmulatedInstance) -> EmulatedInstance:
        """The last approver agrees now."""
        with self.lock:
            if instance in self.running:
                self.running.remove(instance)
            instance.status, instance.result = "COMPLETED", "agree"
            self._touch(
                instance, instanceStatus="COMPLETED", approvedResult="agree", actionExecutor=[]
            )
            self.changed()
            return instance

    def complete_one(self, rng: random.Random) -> EmulatedInstance | None:
        """Approve one running form now (live mode)."""
        with self.lock:
            if not self.running:
                return None
            # Swap-remove a random running form: O(1), and the same draw for the same seed.
            position = rng.randrange(len(self.running))
            self.running[position], self.running[-1] = self.running[-1], self.running[position]
            return self.approve(self.running[-1])

    def delete(self, instance: EmulatedInstance) -> EmulatedInstance:
        """Deleted in the data management: gone from every query from now on."""
        with self.lock:
            instance.deleted = True
            if instance in self.running:
                self.running.remove(instance)
            self.changed()
            return instance

    def edit(self, instance: EmulatedInstance, data: dict[str, Any]) -> EmulatedInstance:
        """Form fields changed and saved now (a new version); the index follows."""
        with self.lock:
            merged = {**(instance.payload.get("data") or {}), **data}
            for key in data:
                if key in instance.index:
                    instance.index[key] = data[key]
            self._touch(instance, data=merged)
            self.changed()
            return instance

    def withdraw(self, instance: EmulatedInstance) -> EmulatedInstance:
        """Edited out of the spec's filter (for refunds: 是否退还余额 是 → 否)."""
        with self.lock:
            field, other = self._unmatching_choice()
            instance.index[field] = other
            data = dict(instance.payload.get("data") or {})
            data.update({field: other, f"{field}_id": other})
            self._touch(instance, data=data)
            self.changed()
            return instance

    def pick_completed(self, rng: random.Random) -> EmulatedInstance | None:
        """A random completed instance, or None."""
        candidates = [i for i in self.instances if i.status == "COMPLETED" and not i.deleted]
        return rng.choice(candidates) if candidates else None

    def create_one(
        self, created: datetime | None = None, matching: bool = False
    ) -> EmulatedInstance:
        """File a new form (live mode): now, or back-dated to ``created``.

        Half are approved at once (no approver on duty); ``matching`` makes it an approved
        借款核销 refund with an amount, so that the seed's query returns it.
        """
        with self.lock:
            now = datetime.now(tz=timezone.utc)
            instance = self.generator.make(created or now, now)
            instance.payload["formUuid"] = self.form_uuid
            if matching:
                self._make_matching(instance)
            if matching or self.generator.rng.random() < 0.5:
                instance.status, instance.result = "COMPLETED", "agree"
                instance.payload.update(
                    instanceStatus="COMPLETED", approvedResult="agree", actionExecutor=[]
                )
            elif instance.status == "RUNNING":
                self.running.append(instance)
            # Filed now, whatever its creation time says (a back-dated import is saved now too).
            self._touch(instance, new_version=False)
            # Keep the creation index sorted: a back-dated form goes where its time says.
            position = bisect.bisect_right(self.create_index, instance.create_ms)
            self.instances.insert(position, instance)
            self.create_index.insert(position, instance.create_ms)
            self.changed()
            return instance

    def _unmatching_choice(self) -> tuple[str, str]:
        """The first choice filter of the spec, and a choice it does not ask for."""
        choices = self.spec.source.fields
        for key, wanted in self.spec.filters.search_fields.items():
            others = [name for name in choices[key].options if name != wanted]
            if others:
                return key, others[0]
        raise ValueError(f"form spec {self.spec.name}: no choice filter to withdraw from")

    def _make_matching(self, instance: EmulatedInstance) -> None:
        data = instance.payload["data"]
        amount = self.generator.amount.id
        for key, value in self.spec.filters.search_fields.items():
            if key != amount:
                data[key] = data[f"{key}_id"] = instance.index[key] = value
        if instance.index.get(amount) is None:
            data[amount], data[f"{amount}_value"] = 88.5, "88.5"
            instance.index[amount] = 88.5

    def created_between(self, low: int | None, high: int | None) -> list[EmulatedInstance]:
        """Forms created in ``[low, high]`` (epoch ms; None is open)."""
        first = 0 if low is None else bisect.bisect_left(self.create_index, low)
        last = len(self.instances) if high is None else bisect.bisect_right(self.create_index, high)
        return self.instances[first:last]


def matches_search(instance: EmulatedInstance, search: Any) -> bool:
    """Yida's ``searchFieldJson`` semantics against the index view of one instance."""
    if isinstance(search, dict):
        return all(_match_component(instance.index, key, value) for key, value in search.items())
    return all(_match_condition(instance.index, condition) for condition in search)


def _as_float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return float(value)


def _in_range(actual: Any, bounds: Any) -> bool:
    if actual is None:
        return False
    if not isinstance(bounds, list):
        bounds = [bounds, bounds]
    low = _as_float(bounds[0]) if bounds else None
    high = _as_float(bounds[1]) if len(bounds) > 1 else None
    return (low is None or actual >= low) and (high is None or actual <= high)


def _match_component(index: dict[str, Any], key: str, expected: Any) -> bool:
    actual = index.get(key)
    kind = key.split("_", 1)[0]
    if kind in ("numberField", "rateField", "dateField"):
        return _in_range(actual, expected)
    if kind in ("textField", "textareaField", "tableField"):
        return actual is not None and str(expected) in str(actual)
    if kind in ("checkboxField", "multiSelectField", "employeeField", "citySelectField"):
        wanted = expected if isinstance(expected, list) else [expected]
        have = actual if isinstance(actual, list) else [actual]
        return all(item in have for item in wanted)
    return actual == expected


_OPERATORS = {
    "eq": lambda a, v: a == v or (isinstance(a, list) and a == [v]),
    "like": lambda a, v: a is not None and str(v) in str(a),
    "gt": lambda a, v: a is not None and a > float(v),
    "ge": lambda a, v: a is not None and a >= float(v),
    "lt": lambda a, v: a is not None and a < float(v),
    "le": lambda a, v: a is not None and a <= float(v),
    "between": _in_range,
    "contains": lambda a, v: (
        a is not None
        and all(
            x in (a if isinstance(a, list) else [a]) for x in (v if isinstance(v, list) else [v])
        )
    ),
}


class SearchError(ValueError):
    """A ``searchFieldJson`` Yida would refuse."""


def _match_condition(index: dict[str, Any], condition: Any) -> bool:
    if not isinstance(condition, dict) or "key" not in condition:
        raise SearchError("condition needs key")
    operator = _OPERATORS.get(str(condition.get("operator", "eq")))
    if operator is None:
        raise SearchError("invalidState.openSearch.componentCanNotSupportThisOperatorType")
    return bool(operator(index.get(condition["key"]), condition.get("value")))


def validate_search(search: Any) -> None:
    """Refuse what Yida refuses: a filter whose component values are all empty."""
    if isinstance(search, dict):
        if search and all(value in (None, "", []) for value in search.values()):
            raise SearchError("invalidParameter.json.componentValuesEmptyInSearchFieldJson")
        return
    if not isinstance(search, list):
        raise SearchError("invalidParameter.parameter.error")


SORT_KEYS = {
    "gmt_create": lambda i: i.create_ms,
    "gmt_modified": lambda i: i.modified_ms,
    "pid": lambda i: i.pid,
    "serial_no": lambda i: str(i.index.get("serialNumberField_lgk9jn2s", "")),
}


def sort_instances(found: list[EmulatedInstance], order: dict[str, str]) -> list[EmulatedInstance]:
    """Order as ``orderConfigJson`` says; newest first when it says nothing."""
    ordered = list(found)
    keys = list(order.items()) or [("gmt_create", "-")]
    for key, direction in reversed(keys):
        getter = SORT_KEYS.get(key)
        if getter is None:
            continue
        ordered.sort(key=getter, reverse=direction == "-")
    return ordered


class RobotInbox:
    """The custom group robot: checks signature, skew and rate, keeps what it accepted."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.rejected: list[dict[str, Any]] = []
        self.sent_at: collections.deque[float] = collections.deque()
        self.throttled_until = 0.0
        self.lock = threading.Lock()


class EmulatorState:
    """All mutable state of one emulator process."""

    def __init__(self, config: EmulatorConfig, as_of: datetime | None = None) -> None:
        self.config = config
        # The seed's form (live mode and the fault knobs act on it), then the app's other forms.
        self.store = InstanceStore(config, as_of)
        self.stores = {self.store.form_uuid: self.store}
        for index, name in enumerate(config.forms[1:], start=1):
            spec = load_form_spec(name)
            self.stores[spec.source.form_uuid] = InstanceStore(
                config,
                self.store.as_of,
                spec,
                spec.source.form_uuid,
                config.other_form_instances,
                config.seed + 1000 * index,
            )
        self.stats = EmulatorStats()
        self.robot = RobotInbox()
        self.tokens: dict[str, float] = {}
        self.token_calls: collections.Counter[str] = collections.Counter()
        # Every access token ever issued (tests look for them where they must never appear).
        self.issued_tokens: list[str] = []
        self.call_times: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )
        self.fault_rng = random.Random(config.fault_seed)
        self.live_rng = random.Random(config.seed + 1)
        self._live_debt = {"complete": 0.0, "create": 0.0}
        self.lock = threading.RLock()

    # -- tokens ------------------------------------------------------------------------------

    def issue_token(self) -> tuple[str, int]:
        """An access token and its lifetime: the live one (extended) or a new one."""
        with self.lock:
            now = time.monotonic()
            ttl = self.config.token_ttl_s
            for token, expires in list(self.tokens.items()):
                if expires > now:
                    # Yida returns the same token while it is valid and extends its life.
                    self.tokens[token] = now + ttl
                    return token, ttl
                del self.tokens[token]
            token = secrets.token_hex(16)
            self.tokens[token] = now + ttl
            self.issued_tokens.append(token)
            self.stats.tokens_issued += 1
            return token, ttl

    def token_valid(self, token: str | None) -> bool:
        """Whether ``token`` was issued and has not expired."""
        with self.lock:
            expires = self.tokens.get(token or "")
            return expires is not None and expires > time.monotonic()

    def revoke_tokens(self) -> None:
        """Invalidate every token (as an app secret reset does)."""
        with self.lock:
            self.tokens.clear()

    def spend_token(self, token: str | None) -> bool:
        """One list call with ``token``: False when it is invalid or has just used up its life."""
        with self.lock:
            if not self.token_valid(token):
                return False
            lifetime = self.config.token_lifetime_calls
            self.token_calls[token or ""] += 1
            if lifetime is not None and self.token_calls[token or ""] > lifetime:
                del self.tokens[token or ""]
                self.stats.tokens_expired_by_calls += 1
                return False
            return True

    # -- limits ------------------------------------------------------------------------------

    def admit(self, api: str) -> bool:
        """Count one call against the per-app, per-API QPS limit; False if it is over."""
        with self.lock:
            now = time.monotonic()
            window = self.call_times[api]
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= self.config.qps:
                self.stats.throttled += 1
                return False
            window.append(now)
            self.stats.max_per_second = max(self.stats.max_per_second, len(window))
            return True

    def latency(self) -> float:
        """Seconds to wait before answering (configured latency and jitter)."""
        config = self.config
        jitter = self.fault_rng.uniform(-config.latency_jitter_ms, config.latency_jitter_ms)
        return max(0.0, config.latency_ms + jitter) / 1000

    def draw_fault(self) -> str | None:
        """The fault to inject into this call, if any (by the configured rates)."""
        config = self.config
        with self.lock:
            roll = self.fault_rng.random()
        for name, rate in (
            ("error", config.error_rate),
            ("hang", config.hang_rate),
            ("drop", config.drop_rate),
            ("bad_body", config.bad_body_rate),
        ):
            if roll < rate:
                self.stats.faults[name] += 1
                return name
            roll -= rate
        return None

    def advance_live(self) -> None:
        """Live mode: forms get filed, approved, deleted and withdrawn while a client pages."""
        config, store, stats = self.config, self.store, self.stats
        rates = {
            "complete": config.live_complete_per_call,
            "create": config.live_create_per_call,
            "delete": config.live_delete_per_call,
            "withdraw": config.live_withdraw_per_call,
        }
        if not any(rates.values()):
            return
        events = {
            "complete": lambda: store.complete_one(self.live_rng),
            "create": store.create_one,
            "delete": lambda: self._on_completed(store.delete),
            "withdraw": lambda: self._on_completed(store.withdraw),
        }
        with self.lock:
            budget = config.live_max_events
            if budget is not None and stats.live_events >= budget:
                return
            for name, rate in rates.items():
                self._live_debt[name] = self._live_debt.get(name, 0.0) + rate
                while self._live_debt[name] >= 1:
                    self._live_debt[name] -= 1
                    if events[name]() is not None:
                        self._count_live(name)

    def _on_completed(self, change: Any) -> EmulatedInstance | None:
        picked = self.store.pick_completed(self.live_rng)
        return None if picked is None else change(picked)

    def _count_live(self, name: str) -> None:
        field_name = {
            "complete": "live_completed",
            "create": "live_created",
            "delete": "live_deleted",
            "withdraw": "live_withdrawn",
            "edit": "live_edited",
        }[name]
        setattr(self.stats, field_name, getattr(self.stats, field_name) + 1)

    def run_scripted(self, call: int) -> int | None:
        """Carry out the events scripted for list call ``call``; an HTTP status to fail it with."""
        status = None
        store = self.store
        for event in [e for e in self.config.scripted_events if e.get("at_call") == call]:
            action = event.get("action")
            if action == "error":
                status = int(event.get("status", 503))
            elif action == "create":
                created = event.get("created")
                when = datetime.fromisoformat(created) if created else None
                store.create_one(when, matching=bool(event.get("matching")))
                self._count_live("create")
            elif action == "edit":
                store.edit(store.find(str(event["id"])), dict(event.get("data") or {}))
                self._count_live("edit")
            elif action in ("delete", "withdraw", "approve"):
                change = {"delete": store.delete, "withdraw": store.withdraw}.get(
                    action, store.approve
                )
                change(store.find(str(event["id"])))
                self._count_live({"approve": "complete"}.get(action, action))
            else:
                raise ValueError(f"unknown scripted action {action!r}")
        return status

    def update(self, changes: dict[str, Any]) -> None:
        """Apply runtime knob changes (unknown keys are refused)."""
        for key, value in changes.items():
            if key not in EmulatorConfig.RUNTIME_KNOBS:
                raise KeyError(key)
            setattr(self.config, key, value)
