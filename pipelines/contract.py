"""The source data contract (../shared/spec/data-contract.md) as data.

Everything that names a source, a column, an enum value, a reason code or a
schema lives here, so the validator, the generator, the GX suites and the docs
read one definition instead of restating it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Schema(StrEnum):
    """Warehouse schemas fixed by the spec (indicators.md, 'Warehouse layout')."""

    RAW = "raw"
    QUARANTINE = "quarantine"
    AUDIT = "audit"
    REF = "ref"
    STAGING = "staging"
    INTERMEDIATE = "intermediate"
    MARTS = "marts"
    DQ = "dq"
    PUB = "pub"


class Kind(StrEnum):
    """Logical column types of the contract; each maps to one DuckDB type in raw."""

    STRING = "string"
    TIMESTAMP = "timestamp"
    REGION = "region"  # 6-digit GB/T 2260 code
    PERSON_KEY = "person_key"  # 64 hex chars
    ENUM = "enum"
    BOOL = "bool"
    INT = "int"
    MONEY = "money"  # CNY, at most 2 decimals
    DECIMAL = "decimal"  # non-money decimal (hours)
    PERIOD = "period"  # YYYY-MM
    OCCUPATION = "occupation"  # code of ref.occupations
    CURRENCY = "currency"  # ISO 4217


DUCKDB_TYPE: dict[Kind, str] = {
    Kind.STRING: "VARCHAR",
    Kind.TIMESTAMP: "TIMESTAMPTZ",
    Kind.REGION: "VARCHAR",
    Kind.PERSON_KEY: "VARCHAR",
    Kind.ENUM: "VARCHAR",
    Kind.BOOL: "BOOLEAN",
    Kind.INT: "INTEGER",
    Kind.MONEY: "DECIMAL(18,2)",
    Kind.DECIMAL: "DECIMAL(9,2)",
    Kind.PERIOD: "VARCHAR",
    Kind.OCCUPATION: "VARCHAR",
    Kind.CURRENCY: "VARCHAR",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = False
    enum: tuple[str, ...] = ()
    description: str = ""


EDUCATION = ("none", "junior_high", "senior_high", "vocational", "associate", "bachelor", "master", "doctorate")
EMPLOYMENT_TYPES = ("full_time", "part_time", "gig", "freelance", "internship")
WAGE_PERIODS = ("hour", "day", "week", "month", "year", "piece")
GENDER_REQUIREMENTS = ("none", "female", "male")
GENDERS = ("F", "M", "U")
REGISTRATION_STATUSES = ("active", "suspended", "deregistered")

# Accepted spellings, normalised before the enum check (compared lower-cased).
GENDER_ALIASES: dict[str, str] = {
    "f": "F",
    "m": "M",
    "u": "U",
    "female": "F",
    "male": "M",
    "unknown": "U",
    "女": "F",
    "男": "M",
}
TRUE_VALUES = ("true", "1", "yes", "是")
FALSE_VALUES = ("false", "0", "no", "否")

SOURCE_TIMEZONE = "Asia/Shanghai"  # naive timestamps mean Shanghai wall-clock time
DEFAULT_CURRENCY = "CNY"
DEFAULT_HEADCOUNT = 1
AGE_LIMITS = (16, 70)
HOURS_LIMITS = (0, 744)
MIN_BIRTH_YEAR = 1930
MIN_WORKING_AGE = 16

SOURCES = ("job_postings", "gig_registrations", "income_records")

COLUMNS: dict[str, tuple[Column, ...]] = {
    "job_postings": (
        Column("posting_id", Kind.STRING, True),
        Column("platform_id", Kind.STRING, True),
        Column("posted_at", Kind.TIMESTAMP, True),
        Column("closed_at", Kind.TIMESTAMP),
        Column("updated_at", Kind.TIMESTAMP, True),
        Column("employer_id", Kind.STRING, True),
        Column("title", Kind.STRING, True),
        Column("occupation_code", Kind.OCCUPATION),
        Column("region_code", Kind.REGION, True),
        Column("employment_type", Kind.ENUM, True, EMPLOYMENT_TYPES),
        Column("is_remote", Kind.BOOL),
        Column("wage_min", Kind.MONEY),
        Column("wage_max", Kind.MONEY),
        Column("wage_period", Kind.ENUM, False, WAGE_PERIODS),
        Column("headcount", Kind.INT),
        Column("age_min", Kind.INT),
        Column("age_max", Kind.INT),
        Column("gender_requirement", Kind.ENUM, False, GENDER_REQUIREMENTS),
        Column("education_min", Kind.ENUM, False, EDUCATION),
    ),
    "gig_registrations": (
        Column("registration_id", Kind.STRING, True),
        Column("platform_id", Kind.STRING, True),
        Column("person_key", Kind.PERSON_KEY, True),
        Column("registered_at", Kind.TIMESTAMP, True),
        Column("updated_at", Kind.TIMESTAMP, True),
        Column("birth_year", Kind.INT, True),
        Column("gender", Kind.ENUM, True, GENDERS),
        Column("residence_region_code", Kind.REGION, True),
        Column("hukou_region_code", Kind.REGION),
        Column("occupation_code", Kind.OCCUPATION, True),
        Column("education_level", Kind.ENUM, False, EDUCATION),
        Column("has_other_job", Kind.BOOL),
        Column("status", Kind.ENUM, True, REGISTRATION_STATUSES),
        Column("deregistered_at", Kind.TIMESTAMP),
    ),
    "income_records": (
        Column("record_id", Kind.STRING, True),
        Column("platform_id", Kind.STRING, True),
        Column("person_key", Kind.PERSON_KEY, True),
        Column("period", Kind.PERIOD, True),
        Column("gross_income", Kind.MONEY, True),
        Column("platform_fee", Kind.MONEY),
        Column("hours_worked", Kind.DECIMAL),
        Column("tasks_completed", Kind.INT),
        Column("social_insurance", Kind.BOOL),
        Column("currency", Kind.CURRENCY),
        Column("updated_at", Kind.TIMESTAMP, True),
    ),
}

NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "job_postings": ("platform_id", "posting_id"),
    "gig_registrations": ("platform_id", "registration_id"),
    "income_records": ("platform_id", "record_id"),
}

FILE_SUFFIXES = (".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".parquet")


class FileError(StrEnum):
    """Why a whole file is rejected (audit.load_ledger.error starts with the code)."""

    UNKNOWN_PLATFORM = "unknown_platform"
    MISSING_REQUIRED_COLUMN = "missing_required_column"
    UNREADABLE_FILE = "unreadable_file"


class Reason(StrEnum):
    """Row-level quarantine reasons, in the order rules are applied (first failure wins)."""

    MALFORMED_ROW = "malformed_row"
    PII_NATIONAL_ID = "pii_national_id"
    MISSING_REQUIRED = "missing_required"
    INVALID_TYPE = "invalid_type"
    INVALID_ENUM = "invalid_enum"
    PLATFORM_MISMATCH = "platform_mismatch"
    UNKNOWN_REGION = "unknown_region"
    UNKNOWN_OCCUPATION = "unknown_occupation"
    INVALID_PERSON_KEY = "invalid_person_key"
    OUT_OF_RANGE = "out_of_range"
    FEE_EXCEEDS_GROSS = "fee_exceeds_gross"
    WAGE_RANGE_INVERTED = "wage_range_inverted"
    CLOSED_BEFORE_POSTED = "closed_before_posted"
    FUTURE_DATE = "future_date"
    NON_CNY_CURRENCY = "non_cny_currency"
    MISSING_DEREGISTERED_AT = "missing_deregistered_at"


class LedgerStatus(StrEnum):
    LOADED = "loaded"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"


# Lineage columns carried by every raw and quarantine row.
LINEAGE_COLUMNS = ("file_path", "source_row", "load_id", "delivery_date")
EXTRA_COLUMN = "_extra"  # JSON object of unknown columns (schema drift), kept with the raw row


def column_names(source: str) -> tuple[str, ...]:
    return tuple(c.name for c in COLUMNS[source])


def required_columns(source: str) -> tuple[str, ...]:
    return tuple(c.name for c in COLUMNS[source] if c.required)
