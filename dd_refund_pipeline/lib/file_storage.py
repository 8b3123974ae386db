"""The IO manager between the assets: one file per daily partition, JSON Lines and Parquet.

Range-aware: a run over 25 days writes 25 files per asset and a later run over any sub-range
reads just those days, so re-materializing the cleaned rows or the table for a range reads the
stored raw data and makes no API call.
"""

import dagster as dg

from dd_refund_pipeline.days.partition_files import (
    MissingPartitionError,
    PartitionFileStore,
    StorageWriteError,
    StoredDays,
)
from dd_refund_pipeline.days.raw_instances import RawInstances
from dd_refund_pipeline.settings import STORAGE_URL_ENV, dagster_home
from dd_refund_pipeline.transform.window import FormFrames

CLEAN_SUFFIX, REJECTS_SUFFIX = ".parquet", ".rejects.parquet"


class FormFileStorage(dg.ConfigurableIOManager):
    """Files per partition under ``base_url`` (any fsspec URL; default under the Dagster home)."""

    base_url: str | None = None

    def _store(self) -> PartitionFileStore:
        return PartitionFileStore(self.base_url or str(dagster_home() / "dd_refund_storage"))

    @staticmethod
    def _keys(context: dg.InputContext | dg.OutputContext) -> list[str]:
        return list(context.asset_partition_keys)

    def handle_output(self, context: dg.OutputContext, obj: RawInstances | FormFrames) -> None:
        """Write each day of the run to its own file (a day outside the run is an error).

        A file that cannot be written (a full disk, a read-only folder) fails the step at once,
        naming the folder's setting and the free space: a retry would meet the same disk.
        """
        try:
            self._write(context, obj)
        except StorageWriteError as error:
            raise dg.Failure(
                description=(
                    f"{context.asset_key.to_user_string()}: {error}. Every day file is written "
                    f"whole or not at all, so none was left half-written. Free space there, or "
                    f"point {STORAGE_URL_ENV} at another folder, then materialize these days "
                    f"again."
                ),
                allow_retries=False,
            ) from None

    def _write(self, context: dg.OutputContext, obj: RawInstances | FormFrames) -> None:
        store, asset = self._store(), context.asset_key.to_user_string()
        keys = self._keys(context)
        if not isinstance(obj, RawInstances | FormFrames):
            raise TypeError(f"{asset}: cannot store a {type(obj).__name__}")
        outside = sorted(set(obj.days) - set(keys))
        if outside:
            # Writing only the run's days would drop these in silence.
            raise ValueError(f"{asset}: data for days outside the run: {', '.join(outside[:5])}")
        if isinstance(obj, RawInstances):
            for key in keys:
                digest = store.write_instances(asset, key, obj.lines(key))
                store.write_keys(asset, key, obj.keys(key), digest)
            held = store.stored_instances(asset)
        else:
            if obj.spec is None:
                raise TypeError(f"{asset}: cleaned rows without the form spec they follow")
            for key in keys:
                clean, rejects = obj.files(key)
                store.write_frame(asset, key, CLEAN_SUFFIX, clean)
                store.write_frame(asset, key, REJECTS_SUFFIX, rejects)
            held = store.stored_rows(asset, CLEAN_SUFFIX)
        context.add_output_metadata(
            {
                "storage": dg.MetadataValue.path(str(store.base / asset)),
                # What the asset holds, all days: the overview's "Row count", as on the table.
                "dagster/row_count": held,
            }
        )

    def load_input(self, context: dg.InputContext) -> RawInstances | FormFrames:
        """The run's days from their files; a day never written fails the run at once."""
        try:
            return self._load(context)
        except MissingPartitionError:
            # Nothing changes by waiting: fail at once, saying what to run instead.
            raise dg.Failure(
                description=self._missing_message(context), allow_retries=False
            ) from None

    def _missing_message(self, context: dg.InputContext) -> str:
        store, upstream = self._store(), context.asset_key.to_user_string()
        suffixes = (
            [".jsonl"]
            if context.dagster_type.typing_type is RawInstances
            else [
                CLEAN_SUFFIX,
                REJECTS_SUFFIX,
            ]
        )
        missing = [
            key
            for key in self._keys(context)
            if not all(store.path(upstream, key, suffix).exists() for suffix in suffixes)
        ]
        days = ", ".join(missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        return (
            f"{upstream} was never materialized for {days}, so there is nothing to read. "
            f"Materialize the days with their upstream assets instead (in the UI: select all "
            f"three assets; or dg launch --assets '*' --partition-range A...B)."
        )

    def _load(self, context: dg.InputContext) -> RawInstances | FormFrames:
        store = self._store()
        asset = context.asset_key.to_user_string()
        keys = self._keys(context)
        if context.dagster_type.typing_type is RawInstances:
            return RawInstances(StoredDays(store, asset, keys))
        for key in keys:
            for suffix in (CLEAN_SUFFIX, REJECTS_SUFFIX):
                store.existing(asset, key, suffix)
        return FormFrames(
            keys,
            lambda key: (
                store.read_frame(asset, key, CLEAN_SUFFIX),
                store.read_frame(asset, key, REJECTS_SUFFIX),
            ),
        )
