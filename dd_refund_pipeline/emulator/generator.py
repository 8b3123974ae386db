"""Deterministic form data for the emulator: a form spec's components as Yida would hold them.

The generator reads the spec's components: a date, a serial number with its prefix, choices with
their shares, a number up to its maximum. A new form needs a spec, not generator code. Every
instance is generated from the spec and ``seed`` alone, so tests can recompute the ground truth.
Each
instance keeps two views: ``payload`` (exactly what ``GetInstances`` returns) and ``index`` (what
Yida's search index matches filters against). They differ only for deliberately malformed
records, whose payload is damaged the way real integrations see it while the index still matches.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

from dd_refund_pipeline.dingtalk.timefmt import CHINA_TZ, format_gmt
from dd_refund_pipeline.forms.spec import FormSpec, SourceField

# Components every generated form carries besides the spec's (the scheme does not read them).
REASON_FIELD = "textField_lgkiepk1"
EMPLOYEE_FIELD = "employeeField_lgkiepk2"
DEPARTMENT_FIELD = "departmentSelectField_lgkiepk3"
ATTACHMENT_FIELD = "attachmentField_lgkiepk4"
DETAILS_FIELD = "tableField_lgkiepk5"
DETAIL_TEXT_FIELD = "textField_lgkiepk6"
DETAIL_AMOUNT_FIELD = "numberField_lgkiepk7"

DEPARTMENTS = (
    ("财务部", "481223001"),
    ("采购部", "481223002"),
    ("销售一部", "481223003"),
    ("市场部", "481223004"),
    ("行政部", "481223005"),
    ("研发中心", "481223006"),
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余杜叶程"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英晓晨子涵浩然欣怡宇轩梓萱俊杰诗琪"
REASONS = (
    "差旅借款冲销",
    "备用金归还",
    "项目预付款退回",
    "会议费借款核销",
    "多报销金额退回",
    "供应商多收款退回",
    "押金退回公司账户",
    "培训费借款冲账",
)
DETAIL_ITEMS = ("高铁票", "机票", "住宿费", "餐费", "市内交通", "会务费", "资料费")
MALFORMED_KINDS = ("amount_not_numeric", "missing_date", "empty_id", "long_serial", "no_data")

# Approvals finish 0–40 days after the form is created: why a sync re-reads 25 days.
MAX_APPROVAL_DAYS = 40


@dataclass
class EmulatedInstance:
    """One process instance: its wire payload plus the values the search index holds."""

    payload: dict[str, Any]
    create_ms: int
    modified_ms: int
    status: str
    result: str | None
    index: dict[str, Any]
    complete_ms: int | None = None
    malformed: str | None = None
    # Deleted in Yida's data management: no query returns it any more.
    deleted: bool = False
    pid: str = field(init=False)

    def __post_init__(self) -> None:
        self.pid = str(self.payload.get("processInstanceId") or f"~{id(self)}")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _yida_number(value: Decimal) -> str:
    """Yida's ``numberField_x_value`` text: no trailing zeros (``"1280.5"``, ``"15000"``)."""
    text = format(value.normalize(), "f")
    return text


def _field(spec: FormSpec, kind: str) -> SourceField:
    found = spec.source.field_of_kind(kind)
    if found is None:
        raise ValueError(f"form spec {spec.name}: the emulator needs a '{kind}' component")
    return found


class FormGenerator:
    """Makes a form's instances; one generator per form so live mode stays reproducible."""

    def __init__(self, spec: FormSpec, seed: int) -> None:
        self.spec = spec
        self.rng = random.Random(seed)
        self._serials: dict[str, int] = {}
        self.date_field = _field(spec, "date").id
        self.serial = _field(spec, "serial")
        self.amount = _field(spec, "number")
        self.choices = [f for f in spec.source.fields.values() if f.options]
        self.process_code = "TPROC--" + spec.source.form_uuid.removeprefix("FORM-")

    def _name(self) -> str:
        rng = self.rng
        return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))

    def _person(self) -> dict[str, Any]:
        name = self._name()
        user_id = "0" + "".join(self.rng.choices("0123456789", k=18))
        return {
            "userId": user_id,
            "name": {"nameInChinese": name, "nameInEnglish": "", "type": "i18n"},
        }

    def _serial(self, created: datetime) -> str:
        day = created.astimezone(CHINA_TZ).strftime("%Y%m%d")
        self._serials[day] = self._serials.get(day, 0) + 1
        return f"{self.serial.prefix}{day}{self._serials[day]:03d}"

    def _completion(self, create_ms: int, as_of_ms: int) -> tuple[str, str | None, int | None]:
        rng = self.rng
        delay_days = min(MAX_APPROVAL_DAYS, rng.expovariate(1 / 6))
        complete_ms = create_ms + int(delay_days * 86_400_000) + rng.randint(60_000, 3_600_000)
        # Drawn whether or not the approval has ended by ``as_of``: a form is the same form
        # whenever it is generated, only further along.
        roll, agreed = rng.random(), rng.random() < 0.92
        if complete_ms > as_of_ms:
            return "RUNNING", None, complete_ms
        if roll < 0.86:
            return "COMPLETED", ("agree" if agreed else "disagree"), complete_ms
        if roll < 0.96:
            return "TERMINATED", None, complete_ms
        return "ERROR", None, complete_ms

    def matching_values(self) -> dict[str, Any]:
        """The values the spec's filters ask for (what makes a form match its query)."""
        return dict(self.spec.filters.search_fields)

    def make(self, created: datetime, as_of: datetime) -> EmulatedInstance:
        """One instance created at ``created``, in the state it has at ``as_of``."""
        rng = self.rng
        create_ms = _ms(created)
        status, result, complete_ms = self._completion(create_ms, _ms(as_of))
        originator = self._person()
        department, department_id = rng.choice(DEPARTMENTS)
        originator["deptName"] = department
        chosen = {
            f.id: rng.choices(list(f.options), list(f.options.values()))[0] for f in self.choices
        }
        amount = Decimal(rng.randint(1, int(self.amount.maximum * 100))) / 100
        has_amount = rng.random() >= 0.03
        apply_day = created.astimezone(CHINA_TZ).date() - timedelta(
            days=rng.choice((0, 0, 0, 1, 2))
        )
        apply_ms = _ms(datetime(apply_day.year, apply_day.month, apply_day.day, tzinfo=CHINA_TZ))
        data: dict[str, Any] = {
            self.date_field: apply_ms,
            self.serial.id: self._serial(created),
            **{key: value for f, value in chosen.items() for key in (f, f"{f}_id")},
            REASON_FIELD: rng.choice(REASONS),
            EMPLOYEE_FIELD: [originator["name"]["nameInChinese"]],
            f"{EMPLOYEE_FIELD}_id": [originator["userId"]],
            DEPARTMENT_FIELD: [department],
            f"{DEPARTMENT_FIELD}_id": [department_id],
            ATTACHMENT_FIELD: self._attachment(),
            DETAILS_FIELD: self._details(amount),
        }
        amount_field = self.amount.id
        if has_amount:
            data[amount_field] = float(amount)
            data[f"{amount_field}_value"] = _yida_number(amount)
        else:
            data[f"{amount_field}_value"] = ""
        version = rng.randint(1, 3)
        modified_ms = create_ms + rng.randint(0, 600_000)
        if status != "RUNNING" and complete_ms is not None:
            version += 1
            modified_ms = complete_ms
        instance_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        approver = self._person()
        payload: dict[str, Any] = {
            "processInstanceId": instance_id,
            "title": f"{originator['name']['nameInChinese']}发起的{self.spec.source.form_name}",
            "formUuid": "",  # filled in by the store from its form
            "processCode": self.process_code,
            "instanceStatus": status,
            "createTimeGMT": format_gmt(created),
            "modifiedTimeGMT": format_gmt(_from_ms(modified_ms)),
            "version": version,
            "originator": originator,
            "actionExecutor": [approver] if status == "RUNNING" else [],
            "data": data,
        }
        if result is not None:
            payload["approvedResult"] = result
        index = {
            **chosen,
            amount_field: float(amount) if has_amount else None,
            self.date_field: apply_ms,
            REASON_FIELD: data[REASON_FIELD],
            self.serial.id: data[self.serial.id],
            EMPLOYEE_FIELD: data[f"{EMPLOYEE_FIELD}_id"],
        }
        return EmulatedInstance(
            payload=payload,
            create_ms=create_ms,
            modified_ms=modified_ms,
            status=status,
            result=result,
            index=index,
            complete_ms=complete_ms if status == "RUNNING" else None,
        )

    def _attachment(self) -> str:
        name = f"发票{self.rng.randint(1, 99999):05d}.pdf"
        link = f"/ossFileHandle?appType=APP_EMULATED&fileName={name}&instId=&type=download"
        files = [
            {
                "downloadUrl": link,
                "name": name,
                "previewUrl": f"/inst/preview?fileName={name}",
                "url": link,
                "size": self.rng.randint(10_000, 900_000),
            }
        ]
        return json.dumps(files, ensure_ascii=False)

    def _details(self, amount: Decimal) -> list[dict[str, Any]]:
        rows = []
        for _ in range(self.rng.randint(0, 3)):
            part = Decimal(self.rng.randint(1, max(1, int(amount * 100)))) / 100
            rows.append(
                {
                    DETAIL_TEXT_FIELD: self.rng.choice(DETAIL_ITEMS),
                    DETAIL_AMOUNT_FIELD: float(part),
                    f"{DETAIL_AMOUNT_FIELD}_value": _yida_number(part),
                }
            )
        return rows

    def business_time(self, day: date) -> datetime:
        """A creation moment in office hours (Asia/Shanghai) on ``day``."""
        rng = self.rng
        seconds = rng.randint(8 * 3600 + 1800, 19 * 3600)
        local = datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ) + timedelta(
            seconds=seconds, milliseconds=rng.randint(0, 999)
        )
        return local

    def corrupt(self, instance: EmulatedInstance, kind: str) -> None:
        """Damage the payload (not the index) the way malformed records arrive in practice."""
        payload, data = instance.payload, instance.payload.get("data", {})
        if kind == "amount_not_numeric":
            data[self.amount.id] = "abc"
            data[f"{self.amount.id}_value"] = "abc"
        elif kind == "missing_date":
            data.pop(self.date_field, None)
        elif kind == "empty_id":
            payload["processInstanceId"] = ""
        elif kind == "long_serial":
            data[self.serial.id] = self.serial.prefix + "9" * 496
        elif kind == "no_data":
            payload.pop("data", None)
        else:
            raise ValueError(f"unknown malformed kind {kind!r}")
        instance.malformed = kind


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def daily_counts(count: int, days: int, first_day: date) -> dict[date, int]:
    """How many forms each of ``days`` days from ``first_day`` gets: ``count`` in all.

    A day's share depends on the day alone (its ordinal), never on where the window starts,
    so a day keeps its forms when the window moves on: ``floor((n + 1) r) - floor(n r)`` for
    day ordinal ``n`` and ``r = count / days`` sums to exactly ``count`` over any ``days``
    consecutive days.
    """
    rate = Fraction(count, days)
    counts = {}
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        ordinal = day.toordinal()
        counts[day] = math.floor((ordinal + 1) * rate) - math.floor(ordinal * rate)
    return counts


def _form_rng(seed: int, spec: FormSpec, day: date, number: int) -> random.Random:
    """The randomness of one form: the same seed, form, day and number give the same form."""
    return random.Random(f"{seed}:{spec.name}:{day.isoformat()}:{number}")


def generate_instances(
    spec: FormSpec,
    count: int,
    seed: int,
    as_of: datetime,
    days: int = 60,
    malformed_rate: float = 0.0,
) -> tuple[FormGenerator, list[EmulatedInstance]]:
    """Instances of ``spec``'s form filed over the ``days`` days up to ``as_of``, oldest first.

    The days hold ``count`` forms between them, minus those of ``as_of``'s day not yet filed
    by then. Each form is made from the seed, its day and its number alone, and its state is
    the one it has at ``as_of``: generated again later, the same forms come back, only further
    along (an approval finished since), plus the days since. That is what keeps a restarted
    emulator, and so the demo, a rerun of the same world.
    """
    generator = FormGenerator(spec, seed)
    live_rng = generator.rng
    last_day = as_of.astimezone(CHINA_TZ).date()
    instances = []
    for day, forms in daily_counts(count, days, last_day - timedelta(days=days - 1)).items():
        made = []
        for number in range(forms):
            generator.rng = _form_rng(seed, spec, day, number)
            moment = generator.business_time(day)
            if moment <= as_of:
                made.append((moment, generator.rng))
        made.sort(key=lambda pair: pair[0])
        for moment, rng in made:
            generator.rng = rng
            instance = generator.make(moment, as_of)
            if malformed_rate and rng.random() < malformed_rate:
                generator.corrupt(instance, rng.choice(MALFORMED_KINDS))
            instances.append(instance)
    generator.rng = live_rng  # live mode's forms come from the seed's own sequence
    return generator, instances
