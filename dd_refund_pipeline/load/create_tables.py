"""``python -m dd_refund_pipeline.load.create_tables``: create a form's three tables.

Idempotent: existing tables are verified, never altered. The loader also runs this before its
first write, so the command is for DBAs who prefer to create tables ahead of time.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dd_refund_pipeline.load.command_line import add_target_arguments, open_target
from dd_refund_pipeline.load.loader import DatabaseError, ensure_schema, safe_url
from dd_refund_pipeline.settings import MissingSettingError


def main(argv: Sequence[str] | None = None) -> int:
    """The ``schema`` command: create or verify the form's tables."""
    parser = argparse.ArgumentParser(
        prog="python -m dd_refund_pipeline.load.create_tables", description=__doc__
    )
    add_target_arguments(parser)
    try:
        url, spec, engine = open_target(parser.parse_args(argv))
    except MissingSettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        created = ensure_schema(engine, spec)
    except DatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    tables = ", ".join(created) if created else "nothing (tables exist and match)"
    print(f"{safe_url(url)}: created {tables}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
