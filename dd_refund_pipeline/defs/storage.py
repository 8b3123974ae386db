"""The IO manager between the assets: one file per daily partition, JSON Lines and Parquet.

Range-aware: a run over 25 days writes 25 files per asset and a later run over any sub-range
reads just those days, so re-materializing the cleaned rows or the table for a range reads the
stored raw data and makes no API call.
"""

import dagster as dg
import pandas as pd

from dd_refund_pipeline.defs.form import FORM_SPEC
from dd_refund_pipeline.refunds.batches import RawInstances, RefundFrames
from dd_refund_pipeline.refunds.transform import empty_rejects
from dd_refund_pipeline.settings import dagster_home
from dd_refund_pipeline.storage import REJECTS_SCHEMA, PartitionFileStore, clean_schema

CLEAN_SUFFIX, REJECTS_SUFFIX = ".parquet", ".rejects.parquet"


class RefundFileStorage(dg.ConfigurableIOManager):
    """Files per partition under ``base_url`` (any fsspec URL; default under the Dagster home)."""

    base_url: str | None = None

    def _store(self) -> PartitionFileStore:
        return PartitionFileStore(self.base_url or str(dagster_home() / "dd_refund_storage"))

    @staticmethod
    def _keys(context: dg.InputContext | dg.OutputContext) -> list[str]:
        return list(context.asset_partition_keys)

    def handle_output(self, context: dg.OutputContext, obj: RawInstances | RefundFrames) -> None:
        store, asset = self._store(), context.asset_key.to_user_string()
        keys = self._keys(context)
        if isinstance(obj, RawInstances):
            for key in keys:
                store.write_instances(asset, key, obj.by_day.get(key, []))
        elif isinstance(obj, RefundFrames):
            schema = clean_schema(FORM_SPEC)
            clean = dict(tuple(obj.clean.groupby("partition_date", sort=False)))
            rejects = dict(tuple(obj.rejects.groupby("partition_date", sort=False)))
            for key in keys:
                store.write_frame(
                    asset, key, CLEAN_SUFFIX, clean.get(key, obj.clean.iloc[0:0]), schema
                )
                store.write_frame(
                    asset,
                    key,
                    REJECTS_SUFFIX,
                    rejects.get(key, obj.rejects.iloc[0:0]),
                    REJECTS_SCHEMA,
                )
        else:
            raise TypeError(f"{asset}: cannot store a {type(obj).__name__}")
        context.add_output_metadata({"storage": dg.MetadataValue.path(str(store.base / asset))})

    def load_input(self, context: dg.InputContext) -> RawInstances | RefundFrames:
        store = self._store()
        asset = context.asset_key.to_user_string()
        keys = self._keys(context)
        if context.dagster_type.typing_type is RawInstances:
            return RawInstances({key: store.read_instances(asset, key) for key in keys})
        clean = [store.read_frame(asset, key, CLEAN_SUFFIX) for key in keys]
        rejects = [store.read_frame(asset, key, REJECTS_SUFFIX) for key in keys]
        return RefundFrames(
            pd.concat(clean, ignore_index=True) if clean else pd.DataFrame(),
            pd.concat(rejects, ignore_index=True) if rejects else empty_rejects(),
        )
