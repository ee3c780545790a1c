"""The local app around the engine: run an execution from the project's configuration
(`runner`), show its progress and summary (`progress`, `report`), and the commands that
read recorded executions. It builds on the engine (`pipelines.local`), the conformance
check it injects into the engine, and the notifications it delivers after a run; nothing
in those packages imports it back."""
