"""What a trace keeps of an exception: its type and stack, never its message (messages name users,
addresses and URLs), in the entity and in every subsegment within it."""

from syncjobs.observability import WITHHELD, without_messages


def cause(message: str) -> dict:
    stack = [{"path": "start_run_handler.py", "line": 23, "label": "lambda_handler"}]
    return {
        "working_directory": "/var/task",
        "exceptions": [{"id": "1", "message": message, "type": "X", "stack": stack}],
    }


def test_every_exception_message_is_withheld_and_the_rest_is_kept():
    # Given a handler's subsegment that failed, holding an AWS call refused with addresses in its message
    entity = {
        "name": "## lambda_handler",
        "fault": True,
        "cause": cause("no user alice@example.com"),
        "annotations": {"Service": "syncjobs"},
        "subsegments": [
            {"name": "sesv2", "cause": cause("identities failed the check: bob@example.com"), "aws": {"region": "x"}},
            {"name": "dynamodb", "aws": {"table_name": "jobs"}},
        ],
    }

    # When it is made ready to send
    sent = without_messages(entity)

    # Then no message survives, and types, stacks and everything else do
    assert "@" not in str(sent)
    assert sent["cause"]["exceptions"][0] == {**entity["cause"]["exceptions"][0], "message": WITHHELD}
    assert sent["subsegments"][0]["cause"]["exceptions"][0]["message"] == WITHHELD
    assert sent["subsegments"][0]["aws"] == {"region": "x"}
    assert sent["subsegments"][1] == entity["subsegments"][1]
    assert {k: v for k, v in sent.items() if k not in {"cause", "subsegments"}} == {
        k: v for k, v in entity.items() if k not in {"cause", "subsegments"}
    }


def test_a_cause_recorded_elsewhere_is_an_id_and_stays_one():
    entity = {"name": "## lambda_handler", "cause": "7f3a9c0e12b4d5e6"}
    assert without_messages(entity) == entity
