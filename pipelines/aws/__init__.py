"""AWS side: start, describe, status of the pipeline the stack deploys (pipelines/stack/)."""
