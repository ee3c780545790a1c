"""Names of model package properties the pipeline records and the local registry reads.

A module of its own, importing nothing: the local registry runs inside every Lambda
execution environment (it answers the function's SageMaker calls), whose start-up a cold
invocation waits for, and `pipelines.code_assets` (where the name was) imports the project
configuration and pydantic with it: about 0.2 CPU s per cold environment on this machine.
"""

# The model package property holding the digest of the model's files (evaluate.py's
# content_digest): registration is idempotent by model content.
MODEL_CONTENT_DIGEST = "ModelContentDigest"
