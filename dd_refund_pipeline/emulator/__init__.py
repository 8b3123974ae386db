"""A faithful DingTalk Yida emulator: a real HTTP server speaking api.dingtalk.com's protocol.

Demo backend, test double and benchmark target; see ``python -m
dd_refund_pipeline.emulator --help``.
"""
