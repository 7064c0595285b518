"""The greetings flow, end to end: `pytest` runs it (the `motia_app` fixture comes with
motia; it serves this project with in-memory state and events for each test)."""

from motia.testing import Emitted, SyncTestApp


def test_a_greeting_is_written(motia_app: SyncTestApp) -> None:
    res = motia_app.request("POST", "/greetings", json={"name": "Ada"})
    assert res.status == 202
    motia_app.wait_for_topic("greeting.sent")
    assert motia_app.state.get("greetings", res.json["id"])["text"] == "Hello, Ada!"
    assert motia_app.request("GET", f"/greetings/{res.json['id']}").status == 200


def test_a_request_without_a_name_is_refused(motia_app: SyncTestApp) -> None:
    assert motia_app.request("POST", "/greetings", json={}).status == 400


def test_the_daily_count(motia_app: SyncTestApp) -> None:
    motia_app.state.set("stats", "greetings", 2)
    result = motia_app.trigger_cron("count-greetings")
    assert result.emits == [Emitted("greetings.counted", {"count": 2})]


def test_one_step_with_a_given_input(motia_app: SyncTestApp) -> None:
    result = motia_app.call_step("write-greeting", {"id": "g1", "name": "Grace"})
    assert result.emits == [
        Emitted("greeting.sent", {"id": "g1", "name": "Grace", "text": "Hello, Grace!"})]
