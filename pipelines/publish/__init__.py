"""Publication: marts -> disclosure control -> `pub.*` releases (spec: indicators.md, "Publication rules").

- `suppression`: the cells of one period, their additive relations, primary (C)
  and secondary (D) suppression.
- `audit`: proves by linear algebra that no confidential count can be derived
  from the published ones; asks for more suppression where one can, in a cell
  the derivation it found uses.
- `elimination`: the exact elimination modulo a prime the audit runs on
  (compiled with numba).
- `publish`: builds the candidate publication (conf_status, derived measures,
  vintage, status) from the marts.
- `releases`: compares it with the latest release and records a new one
  (releases, latest tables, history, revisions, dimension copies) in one transaction.

The method is documented in docs/disclosure-control.md.
"""

from pipelines.publish.publish import PublishResult, publish

__all__ = ["PublishResult", "publish"]
