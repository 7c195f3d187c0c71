"""Airflow DAG `ingest_income_records`: new deliveries -> raw/quarantine, then the raw GX suite.

Built by `pipelines.dag_factory.build_ingest_dag`; it updates the Asset
`flexemp://warehouse/raw/income_records` that transform DAGs schedule on.
"""

from pipelines.dag_factory import build_ingest_dag

dag = build_ingest_dag("income_records")
