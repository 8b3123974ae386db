"""What one scan found and what it cost: the instances, and the calls, retries and repairs."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from dd_refund_pipeline.dingtalk.instance_set import InstanceSet
from dd_refund_pipeline.dingtalk.query import INSTANCES_ENDPOINT, TOKEN_ENDPOINT


@dataclass
class ScanStats:
    """What one scan cost; shown per run in the Dagster UI."""

    calls: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    # Why calls were retried: the error's code (``HTTP503``, ``ReadTimeout``…), never a message.
    retry_causes: Counter[str] = field(default_factory=Counter)
    throttles: int = 0
    token_refreshes: int = 0
    pages: int = 0
    records: int = 0
    instances: int = 0
    window_splits: int = 0
    parts: int = 0
    drift_repairs: int = 0
    repair_calls: int = 0
    # Forms read during the scan that had left the result set by its end (deleted, edited away).
    departed: int = 0
    elapsed_s: float = 0.0

    @property
    def api_calls(self) -> int:
        """Calls sent, token and list calls together."""
        return sum(self.calls.values())

    def as_dict(self) -> dict[str, Any]:
        """The counters as plain values (benchmarks and tests compare them)."""
        return {
            "api_calls": self.api_calls,
            "token_calls": self.calls[TOKEN_ENDPOINT],
            "list_calls": self.calls[INSTANCES_ENDPOINT],
            "retries": self.retries,
            "retry_causes": dict(sorted(self.retry_causes.items())),
            "throttles": self.throttles,
            "token_refreshes": self.token_refreshes,
            "pages": self.pages,
            "records": self.records,
            "instances": self.instances,
            "window_splits": self.window_splits,
            "parts": self.parts,
            "drift_repairs": self.drift_repairs,
            "repair_calls": self.repair_calls,
            "departed": self.departed,
            "elapsed_s": round(self.elapsed_s, 3),
        }

    def metadata(self, qps: float) -> dict[str, Any]:
        """What a run shows of its scan: calls by kind, retries by cause, and the floor.

        The floor is one token call plus one list call per 100 instances, at ``qps``: how far
        above it a scan landed says what the faults and the window splitting cost.
        """
        minimum_calls = math.ceil(self.instances / 100) + 1
        floor_s = (minimum_calls - 1) / qps
        return {
            "api_calls": self.api_calls,
            "api_list_calls": self.calls[INSTANCES_ENDPOINT],
            "api_token_calls": self.calls[TOKEN_ENDPOINT],
            "api_pages": self.pages,
            "api_retries": self.retries,
            "api_throttles": self.throttles,
            "api_retry_causes": dict(sorted(self.retry_causes.items())),
            "api_token_refreshes": self.token_refreshes,
            "api_window_splits": self.window_splits,
            "api_window_parts": self.parts,
            "api_drift_repairs": self.drift_repairs,
            "api_repair_calls": self.repair_calls,
            # Forms read during the scan that had left the result set by its end (dropped).
            "api_departed": self.departed,
            "api_seconds": round(self.elapsed_s, 3),
            "api_minimum_calls": minimum_calls,
            "api_calls_over_minimum": round(self.api_calls / minimum_calls, 2),
            "api_seconds_over_floor": round(self.elapsed_s / max(floor_s, 0.001), 2),
        }


@dataclass
class ScanResult:
    """The instances of one scan, one per ``processInstanceId``, and what it cost."""

    instances: InstanceSet
    stats: ScanStats
