"""Talking to DingTalk: the Yida process-instance client, the group robot, and an emulator.

Plain Python (no Dagster imports) so it can be reused and tested on its own.
"""
