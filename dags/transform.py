"""Airflow DAG `transform`: after the three ingest DAGs, build the dbt project and check the marts.

Scheduled on the raw assets the ingest DAGs update; `flexemp run` runs it in-process
right after them. See pipelines/dag_factory.py.
"""

from pipelines.dag_factory import build_transform_dag

dag = build_transform_dag()
