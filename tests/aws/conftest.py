"""moto's server on 127.0.0.1 stands in for AWS in every test under tests/aws.

One server per test session; each test starts from an empty account (moto's reset API)
and sees it through the standard AWS_ENDPOINT_URL variable, so the code under test (and
any CLI subprocess it starts) talks to moto exactly as it would talk to AWS.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer
from moto_account import enter_account, s3_reports_bucket_settings


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A clean fake AWS account; returns the environment a CLI subprocess needs."""
    yield enter_account(moto_endpoint, monkeypatch)


@pytest.fixture
def moto_update_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2 has no UpdateEndpoint. This adds it to the in-process server with what AWS
    documents: the endpoint keeps its name and ARN, switches to the new config's variants
    and gets a new LastModifiedTime (AWS passes through Updating; moto's endpoints are
    always InService). A missing endpoint or config fails as on AWS."""
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.responses import SageMakerResponse

    def update_endpoint(self: SageMakerResponse) -> ActionResult:
        backend = self.sagemaker_backend
        name = self._get_param("EndpointName")
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            raise ValidationError(message=f"Could not find endpoint '{name}'.")
        config = backend.describe_endpoint_config(self._get_param("EndpointConfigName"))
        endpoint.endpoint_config_name = config["EndpointConfigName"]
        endpoint.production_variants = endpoint._process_production_variants(
            config["ProductionVariants"]
        )
        endpoint.last_modified_time = utcnow()
        return ActionResult({"EndpointArn": endpoint.arn})

    monkeypatch.setattr(SageMakerResponse, "update_endpoint", update_endpoint, raising=False)


@pytest.fixture
def s3_settings_as_aws_reports_them(monkeypatch: pytest.MonkeyPatch) -> None:
    s3_reports_bucket_settings(monkeypatch)
