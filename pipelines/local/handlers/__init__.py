"""One handler per step type, chosen by the definition's step `Type`.

Add a step type (CreateModel, Transform, ...) with a module here and an entry in
`_FACTORIES`.
"""

from __future__ import annotations

from collections.abc import Callable

from pipelines.local.handlers import jobs
from pipelines.local.handlers.control import ConditionHandler, FailHandler
from pipelines.local.handlers.lambda_function import LambdaHandler
from pipelines.local.handlers.register_model import RegisterModelHandler
from pipelines.local.step import StepFailed, StepHandler

_FACTORIES: dict[str, Callable[[], StepHandler]] = {
    "Processing": jobs.processing,
    "Training": jobs.training,
    "Condition": ConditionHandler,
    "Fail": FailHandler,
    "RegisterModel": RegisterModelHandler,
    "Lambda": LambdaHandler,
}
SUPPORTED_TYPES = tuple(sorted(_FACTORIES))


def handler_for(step_type: str) -> StepHandler:
    """The handler for a step type; a step type the engine cannot run fails its step."""
    factory = _FACTORIES.get(step_type)
    if factory is None:
        raise StepFailed(
            f"step type {step_type} is not supported by the local engine "
            f"(supported: {', '.join(SUPPORTED_TYPES)})"
        )
    return factory()
