"""Stand-in for dbt's `exceptions` (sqlfluff linting only): a model's guard renders nothing."""


def raise_compiler_error(message):
    return ""
