"""Logical IDs of resources that one template module defines and others reference, here so
that referencing one needs no import of the module that defines it (the triggers module
builds on the pipeline and Lambda modules, which point at its dead-letter queue)."""

# The triggers' dead-letter queue (pipelines/stack/triggers.py): undelivered runs and
# deployments, and failed Lambda invocations.
DEAD_LETTER_QUEUE = "TriggersDeadLetterQueue"
