"""Keyset pagination shared by every list route.

Cursors are relative to the requested order (API.md 5.1): ``after=X`` means "the items that come
after X in this order", ``before=X`` "the items that come before it"; the page holds the ``limit``
items nearest to the cursor, returned in the requested order. Each query is a range scan on an
index, so its cost does not grow with the length of the list.
"""

from dataclasses import dataclass
from typing import Any, Literal

Order = Literal["asc", "desc"]


@dataclass(frozen=True)
class PageQuery:
    """The SQL pieces of one page: extra WHERE terms, their parameters, ORDER BY and reversal."""

    where: list[str]
    params: list[Any]
    order_by: str
    reverse: bool


def page_query(key: str, order: Order, after_key: Any | None, before_key: Any | None) -> PageQuery:
    """Build the range and scan direction for a page keyed on column ``key``."""
    ascending = order == "asc"
    where: list[str] = []
    params: list[Any] = []
    if after_key is not None:
        where.append(f"{key} {'>' if ascending else '<'} ?")
        params.append(after_key)
    if before_key is not None:
        where.append(f"{key} {'<' if ascending else '>'} ?")
        params.append(before_key)
    # With only `before`, the nearest items are at the far end of the scan: scan backwards.
    scan_backwards = before_key is not None and after_key is None
    scan_ascending = ascending != scan_backwards
    return PageQuery(
        where=where,
        params=params,
        order_by=f"{key} {'ASC' if scan_ascending else 'DESC'}",
        reverse=scan_backwards,
    )


def in_creation_order(
    table: str, column: str, value: Any | None, after: str | None, limit: int
) -> tuple[str, tuple[Any, ...]]:
    """SQL and parameters for ``table``'s rows in creation order (its ``pos``), those whose
    ``column`` is ``value`` if one is given, after the row with id ``after`` (an id that is not
    there gives an empty page)."""
    where, params = ["1"], []
    if value is not None:
        where.append(f"{column} = ?")
        params.append(value)
    if after is not None:
        where.append(f"pos > COALESCE((SELECT pos FROM {table} WHERE id = ?), 1 << 62)")
        params.append(after)
    sql = f"SELECT * FROM {table} WHERE {' AND '.join(where)} ORDER BY pos LIMIT ?"
    return sql, (*params, limit)
