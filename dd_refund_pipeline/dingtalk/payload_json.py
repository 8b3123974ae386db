"""Yida payloads as JSON, with every number exactly as DingTalk wrote it.

An amount travels as a JSON number (``"numberField_x": 17832.68``). Decoded into a binary float
it can come back as another value (``12345678901234567.89`` does), and a value with more places
than the table holds could be rounded into one it holds. So payloads are decoded with decimal
numbers and written to the spool and the day files the same way: ``1E+2`` stays ``1E+2``,
``0.50`` stays ``0.50``. The standard library can read numbers as ``Decimal`` but cannot write a
``Decimal`` back as a bare JSON number; simplejson (C speedups) does both.
"""

from __future__ import annotations

import hashlib
from typing import Any

import simplejson

ID_KEY = "processInstanceId"
# The key of a record without an id starts with this (then a digest of its content).
ANONYMOUS_PREFIX = "sha1:"


def loads(text: bytes | str) -> Any:
    """A JSON document; numbers with a fraction or exponent become ``Decimal``."""
    return simplejson.loads(text, use_decimal=True)


def dumps(item: Any) -> bytes:
    """One payload as a compact UTF-8 JSON line (no newline), as spools and day files hold it."""
    return simplejson.dumps(
        item, ensure_ascii=False, separators=(",", ":"), use_decimal=True
    ).encode()


def text(item: Any) -> str:
    """A value as readable JSON text, for reasons and samples a person reads."""
    return simplejson.dumps(item, ensure_ascii=False, use_decimal=True, default=str)


def record_key(item: Any) -> str:
    """The ``processInstanceId``, or for a record without one a digest of its whole content.

    The digest makes the same damaged record, read twice, one reject instead of two.
    """
    key = item.get(ID_KEY) if isinstance(item, dict) else None
    if isinstance(key, str) and key:
        return key
    canonical = simplejson.dumps(
        item, ensure_ascii=False, sort_keys=True, use_decimal=True, default=str
    )
    return ANONYMOUS_PREFIX + hashlib.sha1(canonical.encode()).hexdigest()


def is_anonymous(key: str) -> bool:
    """True for the key of a record that had no ``processInstanceId`` (a digest)."""
    return key.startswith(ANONYMOUS_PREFIX)
