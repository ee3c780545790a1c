"""EventBridge's semantics, shared by the AWS stack and local mode: the event patterns the
project's rules hold (`patterns`), matching an event against a pattern (`matcher`), input
transformers (`transformer`), and local delivery of the engine's event log to the
notification rules' sinks (`notify`)."""
