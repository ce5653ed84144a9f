"""Business rules of the portfolio app (placeholder until the portfolio issue lands)."""


def record_value_snapshots() -> None:
    return None
