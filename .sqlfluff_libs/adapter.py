"""Stand-in for dbt's `adapter.dispatch` (sqlfluff linting only): renders a call of the macro's name."""


def dispatch(name, package=None):
    def call(*args):
        return f"{name}({', '.join(str(a) for a in args)})"

    return call


def get_columns_in_relation(relation):
    """No warehouse while linting: no columns."""
    return []
