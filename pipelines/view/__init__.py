"""A local look at the pipeline: the DAG page of an execution (or of the definition alone)
and the cost report. Local-only: it reads the local engine's state and store."""
