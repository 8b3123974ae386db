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
import re
import unicodedata
from typing import Any

import simplejson

ID_KEY = "processInstanceId"
# The key of a record without a usable id starts with this (then a digest).
ANONYMOUS_PREFIX = "sha1:"
# The most characters a key column holds (the sync state's and the rejects' VARCHAR(64)).
KEY_LIMIT = 64
# Unicode categories no id holds: controls, format characters, lone surrogates, unassigned,
# private use, line and paragraph separators.
_NOT_IN_AN_ID = {"Cc", "Cf", "Cs", "Cn", "Co", "Zl", "Zp"}
# What Yida's ids look like: decided without looking at each character's category.
_PLAIN_ID = re.compile(rf"[0-9A-Za-z_\-]{{1,{KEY_LIMIT}}}")


def loads(text: bytes | str) -> Any:
    """A JSON document; numbers with a fraction or exponent become ``Decimal``."""
    return simplejson.loads(text, use_decimal=True)


def dumps(item: Any) -> bytes:
    """One payload as a compact UTF-8 JSON line (no newline), as spools and day files hold it.

    A lone surrogate (valid JSON as an escape, but no UTF-8) makes that payload's line ASCII
    with escapes: it reads back as the same value, and the file stays UTF-8.
    """
    text = simplejson.dumps(item, ensure_ascii=False, separators=(",", ":"), use_decimal=True)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return simplejson.dumps(
            item, ensure_ascii=True, separators=(",", ":"), use_decimal=True
        ).encode()


def text(item: Any) -> str:
    """A value as readable JSON text, for reasons and samples a person reads."""
    return simplejson.dumps(item, ensure_ascii=False, use_decimal=True, default=str)


def key_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a form's key, or None: the one key rule.

    A key is the ``processInstanceId`` exactly as Yida sent it, never a cleaned-up spelling: an
    id that would need cleaning (surrounding whitespace, control characters), that is no text,
    or that no key column can hold makes its form a reject with this reason.
    """
    if isinstance(value, str) and _PLAIN_ID.fullmatch(value):
        return None
    if value is None or value == "":
        return "the record has no processInstanceId"
    if not isinstance(value, str):
        return f"processInstanceId is a {type(value).__name__}, not text"
    if len(value) > KEY_LIMIT:
        return f"processInstanceId is {len(value)} characters, longer than a key's {KEY_LIMIT}"
    if value != value.strip():
        return "processInstanceId has surrounding whitespace (kept as sent, it is no key)"
    if any(unicodedata.category(character) in _NOT_IN_AN_ID for character in value):
        return "processInstanceId holds control or unprintable characters"
    return None


def _digest(value: Any) -> str:
    canonical = simplejson.dumps(
        value, ensure_ascii=False, sort_keys=True, use_decimal=True, default=str
    )
    # A lone surrogate is valid JSON but no UTF-8: escaped, it still digests the same each time.
    return (
        ANONYMOUS_PREFIX + hashlib.sha1(canonical.encode("utf-8", "backslashreplace")).hexdigest()
    )


def record_key(item: Any) -> str:
    """The ``processInstanceId`` when it is a key (``key_problem``), else a digest.

    A record with an unusable id is keyed by a digest of that id, so that every copy of the form
    (every version) is one reject; a record without any id by a digest of its whole content, so
    that the same damaged record, read twice, is one reject instead of two.
    """
    key = item.get(ID_KEY) if isinstance(item, dict) else None
    if key_problem(key) is None:
        return str(key)
    if key is None or key == "":
        return _digest(item)
    return _digest([ID_KEY, key])


def is_anonymous(key: str) -> bool:
    """True for the key of a record without a usable ``processInstanceId`` (a digest)."""
    return key.startswith(ANONYMOUS_PREFIX)
