"""moto's server on 127.0.0.1 stands in for AWS in every test under tests/aws.

One server per test session; each test starts from an empty account (moto's reset API)
and sees it through the standard AWS_ENDPOINT_URL variable, so the code under test (and
any CLI subprocess it starts) talks to moto exactly as it would talk to AWS.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer
from waiting import FAILSAFE_SECONDS

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
BUCKET = "retraining-test-bucket"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/SageMakerExecutionRole"


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
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=FAILSAFE_SECONDS).close()
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "PIPELINE_BUCKET": BUCKET,
        "PIPELINE_ROLE_ARN": ROLE_ARN,
    }
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env


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
