"""What the table commands (``schema``, ``adopt``) share: which database and which form."""

from __future__ import annotations

import argparse

from sqlalchemy.engine import Engine

from dd_refund_pipeline.forms.spec import FormSpec, load_form_spec
from dd_refund_pipeline.load.loader import make_engine
from dd_refund_pipeline.settings import database_url


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """``--database-url`` and ``--form``, shared by the table commands."""
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL (default: DD_REFUND_DATABASE_URL, required)",
    )
    parser.add_argument(
        "--form",
        required=True,
        help="form spec name or YAML path (make: FORM=, default fktk_refund)",
    )


def open_target(args: argparse.Namespace) -> tuple[str, FormSpec, Engine]:
    """The URL, the form spec and an engine; ``MissingSettingError`` names an unset URL."""
    url = args.database_url or database_url()
    return url, load_form_spec(args.form), make_engine(url)
