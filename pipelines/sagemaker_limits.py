"""SageMaker's documented limits that more than one part of the project enforces: the
configuration refuses a value past them (pipeline.toml) and the conformance check refuses a
definition holding one (pipelines/conformance/definition_rules.py).

Retry policy limits: https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-retry-policy.html
(IntervalSeconds at most 43200 s, MaxAttempts at most 20, ExpireAfterMin at most 14400).
"""

INTERVAL_SECONDS_MAX = 43200
MAX_ATTEMPTS_MAX = 20
EXPIRE_AFTER_MIN_MAX = 14400
