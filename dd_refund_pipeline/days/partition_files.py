"""Files between the assets, one per daily partition, that a person can open.

Raw instances are JSON Lines (every instance's full payload, one per line); cleaned rows and
rejects are Parquet with typed columns. A day with nothing in it is still written (an empty
file), so it reads back as "materialized, zero rows". The base location is any fsspec URL
(a local folder by default; ``s3://…``, ``gs://…`` in production); never pickle.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from dd_refund_pipeline.dingtalk import payload_json
from dd_refund_pipeline.forms.spec import FormSpec, TableColumn
from dd_refund_pipeline.forms.table_sql import REJECT_COLUMNS


class MissingPartitionError(FileNotFoundError):
    """A partition that was never materialized was asked for."""


class StorageWriteError(RuntimeError):
    """A day file could not be written (a full disk, a read-only or unwritable folder).

    Waiting does not fix it; the message names the folder, the file, the system's reason and,
    where the folder is local, the free space. No file was left half-written.
    """

    def __init__(self, base: UPath, path: UPath, error: OSError) -> None:
        self.base, self.path, self.error = base, path, error
        free = free_bytes(path)
        room = f"{_size(free)} free there" if free is not None else "free space unknown"
        reason = error.strerror or str(error) or type(error).__name__
        super().__init__(f"cannot write {path} under {base}: {reason} ({room})")


def free_bytes(path: UPath) -> int | None:
    """Free bytes on the local file system that holds ``path`` (None for remote storage)."""
    if path.protocol not in ("", "file", "local"):
        return None
    folder = Path(path.path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _size(count: int) -> str:
    """``count`` bytes as a person reads them."""
    if count < 1024:
        return f"{count:,} bytes"
    value = float(count)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024:
            return f"{value:,.1f} {unit}"
    return f"{value / 1024:,.1f} TB"


def _arrow_type(column: TableColumn) -> pa.DataType:
    if column.family == "decimal":
        precision, scale = column.params
        return pa.decimal128(precision, scale)
    if column.family == "time":
        # A DATE column's values are midnights: the same pandas type as a DATETIME's.
        return pa.timestamp("us")
    if column.family == "integer":
        return pa.int64()
    return pa.string()


def clean_schema(spec: FormSpec) -> pa.Schema:
    """The Parquet schema of cleaned rows: the table's types plus lineage."""
    fields = [
        pa.field(column.name, _arrow_type(column.table_column)) for column in spec.target.columns
    ]
    fields += [
        pa.field("partition_date", pa.string()),
        pa.field("source_modified_time", pa.timestamp("us", tz="UTC")),
        pa.field("source_version", pa.int64()),
    ]
    return pa.schema(fields)


REJECTS_SCHEMA = pa.schema([pa.field(name, pa.string()) for name in REJECT_COLUMNS])
_PANDAS_TYPES = {pa.int64(): pd.Int64Dtype()}


def encode_frame(frame: pd.DataFrame, schema: pa.Schema) -> bytes:
    """A day's frame as the bytes of its Parquet file, typed by ``schema``."""
    table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def decode_frame(parquet: bytes) -> pd.DataFrame:
    """A day's frame from the bytes of its Parquet file."""
    return pq.read_table(io.BytesIO(parquet)).to_pandas(types_mapper=_PANDAS_TYPES.get)


class PartitionFileStore:
    """Reads and writes one asset's files per partition key under ``base_url``."""

    def __init__(self, base_url: str) -> None:
        self.base = UPath(base_url)

    def path(self, asset: str, key: str, suffix: str) -> UPath:
        """The file of one day of an asset."""
        return self.base / asset / f"{key}{suffix}"

    def _write_bytes(self, path: UPath, payload: bytes) -> None:
        """Write whole or not at all.

        A crash mid-write must never leave a truncated day file that a later rebuild would read as
        the day's data.
        """
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(payload)
            partial.rename(path)
        except BaseException as error:
            self._discard(partial)
            if isinstance(error, OSError):
                raise StorageWriteError(self.base, path, error) from error
            raise

    @staticmethod
    def _discard(partial: UPath) -> None:
        """Remove what a failed write left; a failure here must not hide the write's own."""
        try:
            if partial.exists():
                partial.unlink()
        except OSError:
            pass

    def existing(self, asset: str, key: str, suffix: str) -> UPath:
        """The file of one day, or ``MissingPartitionError`` when it was never written."""
        path = self.path(asset, key, suffix)
        if not path.exists():
            raise MissingPartitionError(
                f"partition {key} of {asset} was never materialized ({path}); materialize it "
                f"(or its range) first"
            )
        return path

    # -- raw instances -------------------------------------------------------------------

    def write_instances(self, asset: str, key: str, lines: Iterable[bytes]) -> str:
        """One day's instances, each a compact JSON line (see ``payload_json.dumps``).

        Returns the file's SHA-1, which its key file carries (see ``write_keys``).
        """
        payload = b"".join(line + b"\n" for line in lines)
        self._write_bytes(self.path(asset, key, ".jsonl"), payload)
        return hashlib.sha1(payload).hexdigest()

    def _instance_payload(self, asset: str, key: str) -> bytes:
        return self.existing(asset, key, ".jsonl").read_bytes()

    @staticmethod
    def _lines(payload: bytes) -> list[bytes]:
        # Split on newlines only: str.splitlines() also splits on U+2028, U+0085 and the like,
        # which compact JSON keeps unescaped inside strings (a form field may hold them).
        return [line for line in payload.split(b"\n") if line.strip()]

    def read_instances(self, asset: str, key: str) -> list[dict[str, Any]]:
        """The instances of one stored day."""
        return [
            payload_json.loads(line) for line in self._lines(self._instance_payload(asset, key))
        ]

    def read_lines(self, asset: str, key: str) -> list[bytes]:
        """The instances of one stored day as their JSON lines, as written (nothing decoded)."""
        return self._lines(self._instance_payload(asset, key))

    def inspect_instances(self, asset: str, key: str) -> tuple[int, str]:
        """How many instances a day's file holds (nothing decoded), and the file's SHA-1."""
        payload = self._instance_payload(asset, key)
        return len(self._lines(payload)), hashlib.sha1(payload).hexdigest()

    def write_keys(self, asset: str, key: str, keys: Iterable[str], digest: str) -> None:
        """A day's record keys, one per line, under the SHA-1 of the day file they describe."""
        text = f"{digest}\n" + "".join(f"{k}\n" for k in keys)
        self._write_bytes(self.path(asset, key, ".keys"), text.encode())

    def read_keys(self, asset: str, key: str, digest: str) -> list[str] | None:
        """A day's record keys, or None when there is no key file for this very day file."""
        path = self.path(asset, key, ".keys")
        if not path.exists():
            return None
        header, _, keys = path.read_bytes().decode().partition("\n")
        return keys.split("\n")[:-1] if header == digest else None

    def stored_instances(self, asset: str) -> int:
        """Instances in all of an asset's stored days: what it holds, for its row count.

        Counted from the days' key files (a day without one, from its day file).
        """
        total = 0
        for day_file in (self.base / asset).glob("*.jsonl"):
            keys = day_file.with_suffix(".keys")
            payload = keys.read_bytes() if keys.exists() else day_file.read_bytes()
            total += len(self._lines(payload)) - (1 if keys.exists() else 0)
        return total

    # -- frames --------------------------------------------------------------------------

    def stored_rows(self, asset: str, suffix: str) -> int:
        """Rows in all of an asset's stored ``suffix`` frames, from their Parquet footers."""
        total = 0
        for path in (self.base / asset).glob(f"*{suffix}"):
            # ``*.parquet`` also matches ``*.rejects.parquet``: only the day's own frame counts.
            if path.name.count(".") == suffix.count("."):
                with path.open("rb") as file:
                    total += pq.read_metadata(file).num_rows
        return total

    def write_frame(self, asset: str, key: str, suffix: str, parquet: bytes) -> None:
        """Write one day's frame, already Parquet (``encode_frame``), whole or not at all."""
        self._write_bytes(self.path(asset, key, suffix), parquet)

    def read_frame(self, asset: str, key: str, suffix: str) -> pd.DataFrame:
        """One stored day's frame."""
        return decode_frame(self.existing(asset, key, suffix).read_bytes())


class StoredDays:
    """One asset's stored day files as ``DayInstances``: what a run reads back without Yida.

    Every day is counted when this is made (a day never materialized fails here, before any
    work); its instances are decoded only when asked for, so a window is never all in memory.
    """

    def __init__(self, store: PartitionFileStore, asset: str, days: Sequence[str]) -> None:
        self._store, self._asset = store, asset
        self._seen = {day: store.inspect_instances(asset, day) for day in days}
        self.days = sorted(days)

    def count(self, day: str) -> int:
        """How many instances the day's file holds."""
        return self._seen[day][0]

    def instances(self, day: str) -> list[dict[str, Any]]:
        """The day's instances, decoded."""
        return self._store.read_instances(self._asset, day)

    def lines(self, day: str) -> list[bytes]:
        """The day's JSON lines, as stored."""
        return self._store.read_lines(self._asset, day)

    def keys(self, day: str) -> list[str]:
        """The day's record keys from its key file, else from its decoded instances.

        A day stored without a key file, or whose key file is not for this very day file (a
        crash between the two writes), is decoded instead.
        """
        found = self._store.read_keys(self._asset, day, self._seen[day][1])
        if found is not None:
            return found
        return [payload_json.record_key(item) for item in self.instances(day)]
