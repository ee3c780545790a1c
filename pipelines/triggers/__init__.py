"""Triggers, notifications and alarms: scheduled and event-driven runs, on AWS and locally.

One configuration (`[triggers]` and `[notifications]` in pipeline.toml) and one set of
EventBridge event patterns (`patterns.py`) drive both sides:
- AWS (`triggers apply|show|destroy --target sagemaker`): EventBridge Scheduler, EventBridge
  rules, an EventBridge Pipe, SQS dead-letter queues, SNS, a CloudWatch alarm and the IAM
  roles they need (`plan.py` computes the desired state, `aws_apply.py` converges to it).
- Locally: `watch DIR` (a run per new file), `schedule` (the same cron via croniter) and
  `notifications deliver` (the engine's event log matched against the same patterns).
"""
