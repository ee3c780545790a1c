"""The same retraining pipeline driven by Step Functions or Amazon MWAA (Airflow).

`stepfunctions.py` wraps the SageMaker pipeline in a Standard state machine; `translate.py`
turns the pipeline definition itself into one; `airflow_dag.py` writes the MWAA DAG;
`asl.py` holds what both state machines share (retries, catches, checks).
"""
