"""Every contract rule as SQL over a whole batch of files, so validation is set-wise.

The batch table holds the delivered text of many files (see `reader.py`). One
statement types every column and finds, per row, the first failing rule in the
contract's order (`contract.Reason`) with a detail naming the column. Casting
rules that DuckDB gets right by construction (ISO timestamps with or without
offset, naive ones read in the session's Asia/Shanghai zone) are used as is.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.contract import (
    AGE_LIMITS,
    COLUMNS,
    DEFAULT_CURRENCY,
    DUCKDB_TYPE,
    FALSE_VALUES,
    GENDER_ALIASES,
    HOURS_LIMITS,
    MIN_BIRTH_YEAR,
    MIN_WORKING_AGE,
    TRUE_VALUES,
    Column,
    Kind,
    Reason,
)
from pipelines.reader import NATIONAL_ID_MASK

ISO_TIMESTAMP = r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|z|[+-]\d{2}(:?\d{2})?)?"
MONEY = r"[+-]?\d+(\.\d{1,2})?"
INTEGER = r"[+-]?\d{1,9}"
NUMBER = r"[+-]?(\d+(\.\d*)?|\.\d+)"
NATIONAL_ID_SQL = r"(^|[^0-9A-Za-z])\d{17}[0-9Xx]([^0-9A-Za-z]|$)"


def _list(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def normalised(col: Column) -> str:
    """The text after the contract's accepted spellings are folded (still text)."""
    c = f't."{col.name}"'
    if col.kind is Kind.ENUM and col.name == "gender":
        cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in GENDER_ALIASES.items())
        return f"CASE lower({c}) {cases} ELSE {c} END"
    if col.kind in (Kind.ENUM, Kind.PERSON_KEY):
        return f"lower({c})"
    if col.kind is Kind.CURRENCY:
        return f"upper({c})"
    return c


def typed(col: Column) -> str:
    """The typed value, NULL when the text does not parse (then `invalid_type` fires)."""
    c = f't."{col.name}"'
    target = DUCKDB_TYPE[col.kind]
    match col.kind:
        case Kind.TIMESTAMP:
            return f"CASE WHEN regexp_full_match({c}, '{ISO_TIMESTAMP}') THEN TRY_CAST({c} AS {target}) END"
        case Kind.BOOL:
            return (
                f"CASE WHEN lower({c}) IN ({_list(TRUE_VALUES)}) THEN true "
                f"WHEN lower({c}) IN ({_list(FALSE_VALUES)}) THEN false END"
            )
        case Kind.INT:
            return f"CASE WHEN regexp_full_match({c}, '{INTEGER}') THEN TRY_CAST({c} AS {target}) END"
        case Kind.MONEY:
            return f"CASE WHEN regexp_full_match({c}, '{MONEY}') THEN TRY_CAST({c} AS {target}) END"
        case Kind.DECIMAL:
            return (
                f"CASE WHEN regexp_full_match({c}, '{NUMBER}') "
                f"THEN TRY_CAST(round(TRY_CAST({c} AS DOUBLE), 2) AS {target}) END"
            )
        case _:
            return normalised(col)


def _type_failure(col: Column) -> str | None:
    v, t = f'v."{col.name}"', f'v."t_{col.name}"'
    match col.kind:
        case Kind.REGION:
            return f"NOT regexp_full_match({t}, '\\d{{6}}')"
        case Kind.PERIOD:
            return f"NOT regexp_full_match({t}, '\\d{{4}}-(0[1-9]|1[0-2])')"
        case Kind.TIMESTAMP | Kind.BOOL | Kind.INT | Kind.MONEY | Kind.DECIMAL:
            return f"{v} IS NULL"
    return None


TYPE_HINT = {
    Kind.REGION: "is not a 6-digit region code",
    Kind.PERIOD: "is not a month YYYY-MM",
    Kind.TIMESTAMP: "is not an ISO 8601 timestamp",
    Kind.BOOL: "is not a boolean (true/false, 1/0, yes/no, 是/否)",
    Kind.INT: "is not an integer",
    Kind.MONEY: "is not an amount with at most 2 decimals",
    Kind.DECIMAL: "is not a number",
}


@dataclass(frozen=True)
class Check:
    """One rule on one column: rows where `condition` holds fail with `reason`."""

    reason: Reason
    column: str
    condition: str  # SQL over the CTE `v` (typed values as "<col>", text as "t_<col>")
    message: str


def _detail_value(column: str) -> str:
    return f"""coalesce('''' || left(v."t_{column}", 60) || '''', 'null')"""


def checks(source: str) -> list[Check]:
    """Every row rule of the contract for `source`, in the contract's reason order."""
    cols = COLUMNS[source]
    out: list[Check] = []
    for col in cols:
        if col.kind is Kind.PERSON_KEY:
            out.append(
                Check(
                    Reason.PII_NATIONAL_ID,
                    col.name,
                    f"""length(v."t_{col.name}") = 18 AND regexp_full_match(v."t_{col.name}", '\\d{{17}}[0-9Xx]')""",
                    "looks like a raw national ID; value masked and not stored",
                )
            )
    for col in cols:
        if col.required:
            out.append(Check(Reason.MISSING_REQUIRED, col.name, f'v."t_{col.name}" IS NULL', "is required"))
    if source == "job_postings":
        out.append(
            Check(
                Reason.MISSING_REQUIRED,
                "wage_period",
                'v."t_wage_period" IS NULL AND (v."t_wage_min" IS NOT NULL OR v."t_wage_max" IS NOT NULL)',
                "is required when a wage is given",
            )
        )
    for col in cols:
        failure = _type_failure(col)
        if failure:
            out.append(
                Check(Reason.INVALID_TYPE, col.name, f'v."t_{col.name}" IS NOT NULL AND {failure}', TYPE_HINT[col.kind])
            )
    for col in cols:
        if col.enum:
            out.append(
                Check(
                    Reason.INVALID_ENUM,
                    col.name,
                    f'v."{col.name}" NOT IN ({_list(col.enum)})',
                    f"must be one of {', '.join(col.enum)}",
                )
            )
    out.append(
        Check(
            Reason.PLATFORM_MISMATCH,
            "platform_id",
            'v."platform_id" <> v._folder_platform',
            "differs from the platform folder the file was delivered in",
        )
    )
    for col in cols:
        if col.kind is Kind.REGION:
            out.append(
                Check(
                    Reason.UNKNOWN_REGION,
                    col.name,
                    f'v."{col.name}" NOT IN (SELECT region_code FROM _ref_regions)',
                    "is not a GB/T 2260 code of the reference table",
                )
            )
    for col in cols:
        if col.kind is Kind.OCCUPATION:
            out.append(
                Check(
                    Reason.UNKNOWN_OCCUPATION,
                    col.name,
                    f'v."{col.name}" NOT IN (SELECT occupation_code FROM _ref_occupations)',
                    "is not a code of the occupation reference table",
                )
            )
    for col in cols:
        if col.kind is Kind.PERSON_KEY:
            # 64 characters that unhex() decodes: the regex [0-9a-f]{64} on the lower-cased key, in a sixth of
            # its time (2 s of a national load's validation)
            out.append(
                Check(
                    Reason.INVALID_PERSON_KEY,
                    col.name,
                    f"""NOT (length(v."{col.name}") = 64 AND try(unhex(v."{col.name}")) IS NOT NULL)""",
                    "is not a 64-character hexadecimal pseudonymous key",
                )
            )
    out += _source_rules(source)
    order = list(Reason)
    return sorted(out, key=lambda c: order.index(c.reason))  # stable: column order kept within a reason


def _source_rules(source: str) -> list[Check]:
    lo_age, hi_age = AGE_LIMITS
    lo_h, hi_h = HOURS_LIMITS
    R = Reason
    if source == "job_postings":
        return [
            Check(R.OUT_OF_RANGE, "wage_min", "v.wage_min < 0", "must be >= 0"),
            Check(R.OUT_OF_RANGE, "wage_max", "v.wage_max < 0", "must be >= 0"),
            Check(R.OUT_OF_RANGE, "headcount", "v.headcount < 1", "must be >= 1"),
            Check(
                R.OUT_OF_RANGE,
                "age_min",
                f"v.age_min NOT BETWEEN {lo_age} AND {hi_age}",
                f"must be within {lo_age}..{hi_age}",
            ),
            Check(
                R.OUT_OF_RANGE,
                "age_max",
                f"v.age_max NOT BETWEEN {lo_age} AND {hi_age}",
                f"must be within {lo_age}..{hi_age}",
            ),
            Check(R.WAGE_RANGE_INVERTED, "wage_min", "v.wage_min > v.wage_max", "is greater than wage_max"),
            Check(R.CLOSED_BEFORE_POSTED, "closed_at", "v.closed_at < v.posted_at", "is before posted_at"),
            Check(
                R.FUTURE_DATE,
                "posted_at",
                "v.posted_at >= CAST(v._delivery_date + 2 AS TIMESTAMPTZ)",
                "is after the delivery date + 1 day",
            ),
        ]
    if source == "gig_registrations":
        return [
            Check(
                R.OUT_OF_RANGE,
                "birth_year",
                f"v.birth_year < {MIN_BIRTH_YEAR} OR v.birth_year > year(v.registered_at) - {MIN_WORKING_AGE}",
                f"must be within {MIN_BIRTH_YEAR}..(year registered - {MIN_WORKING_AGE})",
            ),
            Check(
                R.MISSING_DEREGISTERED_AT,
                "deregistered_at",
                "v.status = 'deregistered' AND v.deregistered_at IS NULL",
                "is required when status is deregistered",
            ),
        ]
    return [
        Check(R.OUT_OF_RANGE, "gross_income", "v.gross_income < 0", "must be >= 0"),
        Check(R.OUT_OF_RANGE, "platform_fee", "v.platform_fee < 0", "must be >= 0"),
        Check(
            R.OUT_OF_RANGE,
            "hours_worked",
            f"v.hours_worked NOT BETWEEN {lo_h} AND {hi_h}",
            f"must be within {lo_h}..{hi_h}",
        ),
        Check(R.OUT_OF_RANGE, "tasks_completed", "v.tasks_completed < 0", "must be >= 0"),
        Check(R.FEE_EXCEEDS_GROSS, "platform_fee", "v.platform_fee > v.gross_income", "exceeds gross_income"),
        Check(R.FUTURE_DATE, "period", "v.period > strftime(v._delivery_date, '%Y-%m')", "is after the delivery month"),
        Check(
            R.NON_CNY_CURRENCY,
            "currency",
            f"coalesce(v.currency, '{DEFAULT_CURRENCY}') <> '{DEFAULT_CURRENCY}'",
            f"only {DEFAULT_CURRENCY} is accepted",
        ),
    ]


def validated_sql(source: str, batch: str, files: str) -> str:
    """SELECT typed values, text values and the first failing rule for every row of `batch`.

    `batch` has the contract columns as text, `_extra`, `source_row` and `file_idx`;
    `files` maps file_idx to file_path, platform_id (of the folder), delivery_date and load_id.
    The rules are evaluated once per row, giving the index of the first that fails;
    reason and detail are looked up from it, so the detail text is built for failing
    rows only (two CASEs over the rules evaluated every regex twice per row: a fifth
    of the statement's time).
    """
    cols = COLUMNS[source]
    text_cols = ", ".join(f't."{c.name}" AS "t_{c.name}"' for c in cols)
    typed_cols = ", ".join(f'{typed(c)} AS "{c.name}"' for c in cols)
    rules = checks(source)
    first_failed = "CASE " + " ".join(f"WHEN {r.condition} THEN {i}" for i, r in enumerate(rules)) + " END"
    reason = "CASE _rule " + " ".join(f"WHEN {i} THEN '{r.reason}'" for i, r in enumerate(rules)) + " END"
    detail = (
        "CASE _rule "
        + " ".join(
            f"WHEN {i} THEN '{r.column} ' || "
            + (
                "'" + r.message.replace("'", "''") + "'"
                if r.reason is Reason.PII_NATIONAL_ID
                else f"{_detail_value(r.column)} || ' {r.message.replace(chr(39), chr(39) * 2)}'"
            )
            for i, r in enumerate(rules)
        )
        + " END"
    )
    return f"""
        WITH v AS (
            SELECT {typed_cols}, {text_cols}, t._extra, t.source_row,
                   f.file_path, f.platform_id AS _folder_platform, f.delivery_date AS _delivery_date, f.load_id
            FROM {batch} AS t JOIN {files} AS f USING (file_idx)
        ),
        ruled AS (
            SELECT v.*, {first_failed} AS _rule FROM v
        )
        SELECT v.* EXCLUDE (_rule), {reason} AS reason_code,
               regexp_replace({detail}, '{NATIONAL_ID_SQL}', '\\1{NATIONAL_ID_MASK}\\2', 'g') AS reason_detail
        FROM ruled AS v
    """


def mask_sql(expr: str) -> str:
    """Text as stored in quarantine: any national-ID-looking run masked."""
    return f"regexp_replace({expr}, '{NATIONAL_ID_SQL}', '\\1{NATIONAL_ID_MASK}\\2', 'g')"
