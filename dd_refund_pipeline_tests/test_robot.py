"""The robot sender: DingTalk's per-minute limit kept, never raises, never echoes a secret."""

from __future__ import annotations

from dd_refund_pipeline.dingtalk.robot import RobotSender
from dd_refund_pipeline.lib.resources import DingTalkRobot


def sender(server, **options) -> RobotSender:
    config = server.state.config
    return RobotSender(server.base_url, config.robot_access_token, config.robot_secret, **options)


def test_sender_stays_under_its_per_minute_limit(make_emulator):
    server = make_emulator(instances=1)
    robot = sender(server, per_minute=3)
    replies = [robot.send_markdown("t", f"message {n}") for n in range(5)]
    assert [r.ok for r in replies] == [True, True, True, False, False]
    assert "3 messages in the last minute" in replies[3].errmsg
    assert server.state.stats.calls["robot"] == 3


def test_sender_leaves_a_throttled_robot_alone(make_emulator):
    server = make_emulator(instances=1, robot_per_minute=1)
    robot = sender(server)
    first, throttled, later = (robot.send_markdown("t", str(n)) for n in range(3))
    assert first.ok
    assert throttled.throttled and throttled.errcode == 410100
    assert not later.ok and "muted" in later.errmsg
    assert server.state.stats.calls["robot"] == 2  # the third never reached DingTalk


def test_sender_never_raises_and_never_echoes_its_token():
    robot = RobotSender("http://127.0.0.1:1", "tok-SENTINEL-123", "SECsentinel", timeout_s=1)
    reply = robot.send_markdown("t", "x")
    assert not reply.ok
    assert "tok-SENTINEL-123" not in reply.errmsg and "SECsentinel" not in reply.errmsg


def test_without_a_robot_alerts_go_to_the_log_only():
    reply = DingTalkRobot().send_markdown("t", "x")
    assert not reply.ok and "DINGTALK_ROBOT_ACCESS_TOKEN" in reply.errmsg


def test_a_message_taken_by_the_emulator_says_so(make_emulator):
    """make dev's alerts go to the emulator's robot: the tick log must not say a group got it."""
    from dd_refund_pipeline.lib.delivery import deliver

    server = make_emulator(instances=1)
    reply = sender(server).send_markdown("t", "x")
    assert reply.ok and reply.emulated
    config = server.state.config
    robot = DingTalkRobot(
        base_url=server.base_url, access_token=config.robot_access_token, secret=config.robot_secret
    )
    logged: list[str] = []

    class Log:
        def info(self, message: str) -> None:
            logged.append(message)

        warning = info

    class Context:
        log = Log()

    assert deliver(Context(), robot, "宜搭付款退款申请检查未通过 1 项 d", "text") is None  # type: ignore[arg-type]
    [line] = logged
    assert "Yida emulator's robot" in line and "not to a DingTalk group" in line
    assert f"{server.base_url}/_emulator/robot" in line
