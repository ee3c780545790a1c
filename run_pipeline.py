#!/usr/bin/env python3
"""Run the retraining pipeline locally (default) or manage it on SageMaker.

python run_pipeline.py                       # local run on the bundled sample data
python run_pipeline.py start --param MetricThreshold=0.95
python run_pipeline.py --target sagemaker stack deploy
python run_pipeline.py --help                # every command
python run_pipeline.py --version
"""

import sys

from pipelines.cli import main

if __name__ == "__main__":
    sys.exit(main())
