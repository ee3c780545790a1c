"""The drift loop around the pipeline: `[drift]` settings, where baselines, captured requests
and monitoring outputs live, the endpoint's monitoring job (`monitor` locally, a schedule on
AWS), its metrics, alarm and the retraining it starts.

The container side is processing/data_quality.py; the pipeline's DriftCheck, CheckDrift and
Baseline steps are wired in pipelines/definition.py; the AWS resources in
pipelines/stack/monitoring.py.
"""
