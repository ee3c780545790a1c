"""IAM is eventually consistent: a freshly created role is refused for a while. Only that
refusal is waited out, for every service that reports it, and never forever."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from pipelines.triggers.aws_resources import ROLE_RETRY_ATTEMPTS, Handler


def refusal(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Create")


def handler(sleeps: list[float]) -> Handler:
    return Handler(clients=None, context=None, sleep=sleeps.append)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "error",
    [
        refusal("ValidationException", "The role defined for the function cannot be used"),
        refusal(
            "InvalidParameterValueException",
            "The role defined for the function cannot be assumed by Lambda.",
        ),
    ],
    ids=["validation", "lambda"],
)
def test_a_role_not_yet_usable_is_waited_out(error: ClientError) -> None:
    sleeps: list[float] = []
    calls = []

    def create() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise error
        return "created"

    assert handler(sleeps).with_role_retry(create) == "created"
    assert len(calls) == 3 and len(sleeps) == 2


def test_other_errors_are_raised_at_once_and_retries_are_bounded() -> None:
    sleeps: list[float] = []
    other = refusal("InvalidParameterValueException", "Unsupported runtime")

    def unsupported() -> None:
        raise other

    with pytest.raises(ClientError, match="Unsupported runtime"):
        handler(sleeps).with_role_retry(unsupported)
    assert sleeps == []

    def never_ready() -> None:
        raise refusal("InvalidParameterValueException", "role cannot be assumed by Lambda")

    with pytest.raises(ClientError):
        handler(sleeps).with_role_retry(never_ready)
    assert len(sleeps) == ROLE_RETRY_ATTEMPTS - 1
