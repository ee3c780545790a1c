"""`python -m pipelines`: the same command line as `run-pipeline` and run_pipeline.py."""

import sys

from pipelines.cli import main

if __name__ == "__main__":
    sys.exit(main())
