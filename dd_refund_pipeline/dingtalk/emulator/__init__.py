"""``python -m dd_refund_pipeline.dingtalk.emulator``: the public command, kept where users know it.

The emulator itself is ``dd_refund_pipeline.emulator``, a test and demo tool apart from the
runtime packages (see the import contracts in ``pyproject.toml``).
"""
