"""Triggers, notifications and alarms: scheduled and event-driven runs, on AWS and locally.

One configuration (`[triggers]` and `[notifications]` in pipeline.toml) and one set of
EventBridge event patterns (`pipelines/eventbridge/patterns.py`) drive both sides:
- AWS: the project's CloudFormation stack (`stack deploy --target sagemaker`, built in
  pipelines/stack/) holds the EventBridge Scheduler schedule, the rules, the pipe, the
  dead-letter queues, the SNS topic, the CloudWatch alarm and the IAM roles they need.
- Locally: `watch DIR` (a run per new file), `schedule` (the same cron via croniter) and
  `notifications deliver` (the engine's event log matched against the same patterns, by
  `pipelines/eventbridge/notify.py`).
"""
