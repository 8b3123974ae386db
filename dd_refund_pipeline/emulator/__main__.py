"""Command line: ``python -m dd_refund_pipeline.emulator --port 8787 --instances 3000``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import uvicorn

from dd_refund_pipeline.emulator.app import build_app
from dd_refund_pipeline.emulator.state import EmulatorConfig, EmulatorState


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The emulator's command line: address, data, limits and faults."""
    parser = argparse.ArgumentParser(
        prog="python -m dd_refund_pipeline.dingtalk.emulator",
        description=(
            "Serve an emulated DingTalk (token, Yida GetInstances and form metadata, custom "
            "robot) with forms generated from the specs of --forms. Accepts the credentials in "
            "DINGTALK_APP_KEY, DINGTALK_APP_SECRET, "
            "YIDA_SYSTEM_TOKEN, DINGTALK_ROBOT_ACCESS_TOKEN and DINGTALK_ROBOT_SECRET when set, "
            "else the documented demo values."
        ),
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=8787)
    add("--instances", type=int, default=3000, help="instances of the first form to generate")
    add(
        "--forms",
        default="fktk_refund,fybx_expense",
        help="the app's forms by spec name, comma-separated; the first is the seed's",
    )
    add(
        "--other-form-instances",
        type=int,
        default=None,
        help="instances of each form after the first (default: --instances)",
    )
    add("--seed", type=int, default=7, help="data seed: the same seed gives the same forms")
    add("--days", type=int, default=60, help="forms are created over this many past days")
    add("--malformed-rate", type=float, default=0.0, help="share of damaged records")
    add("--qps", type=float, default=20.0, help="per-app, per-API limit (403 beyond it)")
    add("--latency-ms", type=float, default=0.0)
    add("--latency-jitter-ms", type=float, default=0.0)
    add("--error-rate", type=float, default=0.0, help="share of 500/502/503 answers")
    add("--hang-rate", type=float, default=0.0, help="share of calls that hang for --hang-s")
    add("--hang-s", type=float, default=30.0)
    add("--drop-rate", type=float, default=0.0, help="share of connections cut mid-answer")
    add("--bad-body-rate", type=float, default=0.0, help="share of truncated JSON bodies")
    add("--token-ttl-s", type=int, default=7200)
    add("--invalidate-token-at-call", type=int, default=None)
    add(
        "--token-lifetime-calls",
        type=int,
        default=None,
        help="each access token dies after this many list calls (a token storm)",
    )
    add(
        "--monthly-call-quota",
        type=int,
        default=None,
        help="list calls answered before 403 Forbidden.AccessDenied.ApiCountLimitForOrg",
    )
    add("--deep-paging-cap", type=int, default=5000)
    add(
        "--live-complete-per-call",
        type=float,
        default=0.0,
        help="forms approved per list call while scans run (live mode)",
    )
    add(
        "--live-create-per-call",
        type=float,
        default=0.0,
        help="forms filed per list call while scans run (live mode)",
    )
    add(
        "--live-delete-per-call",
        type=float,
        default=0.0,
        help="forms deleted per list call while scans run (live mode)",
    )
    add(
        "--live-withdraw-per-call",
        type=float,
        default=0.0,
        help="forms edited out of the filter (是 → 否) per list call (live mode)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the emulator until interrupted."""
    args = parse_args(argv)
    options = {key: value for key, value in vars(args).items() if key not in ("host", "port")}
    options["forms"] = tuple(name.strip() for name in args.forms.split(",") if name.strip())
    config = EmulatorConfig.from_env(**options)
    state = EmulatorState(config)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger(__name__).info(
        "Yida emulator on http://%s:%d (seed %d), app key %s: %s",
        args.host,
        args.port,
        config.seed,
        config.app_key,
        "; ".join(
            f"{store.spec.name} {uuid} ({len(store.instances)} instances)"
            for uuid, store in state.stores.items()
        ),
    )
    uvicorn.run(
        build_app(state), host=args.host, port=args.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
