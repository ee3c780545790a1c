"""Local engine: runs the pipeline definition JSON with subprocess jobs."""
