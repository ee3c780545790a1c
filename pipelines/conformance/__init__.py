"""What SageMaker would refuse, found before anything runs.

- `shapes`: a request checked against botocore's input shape for its operation, worded as
  AWS words validation errors.
- `requests`: the request each step sends (CreateProcessingJob, CreateTrainingJob,
  CreateModelPackage, Lambda Invoke, ...), built from its Arguments with parameters
  substituted and other steps' properties as typed placeholders.
- `definition_rules`: the definition-level rules CreatePipeline enforces that are cheap to
  check (names, lengths, retry policies, parameter types, condition shapes).
- `preflight`: all of the above for one start (local `start` and `start --target sagemaker`).
"""
