"""SageMaker Pipelines retraining project: definition, local engine and AWS tooling."""
