"""A second table written by one resource, whose rows are replaced per parent key.

`messages` also writes `reactions`, `files` writes `file_shares`, `usergroups` writes
`usergroup_members`: one read of Slack fills both tables, and one resource name (what the
load selects and the slices repeat) covers both. The second table is a dlt *table variant*
of the resource, written with `merge` and a `merge_key` on the parent's key, so dlt's
delete-insert first deletes every row of each parent present in the load package, then
inserts the package's rows.

A parent whose list became empty (a message whose last reaction was removed, a group
emptied) has no row to carry its key. It sends one **clear marker** instead: a row with
the parent key, empty strings in the other key columns and `CLEAR_COLUMN` true. That
column carries dlt's `hard_delete` hint: the marker's key deletes the parent's old rows,
and the marker itself is never inserted (in the table `CLEAR_COLUMN` is always null).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from dlt.common.schema.typing import TColumnSchema
from dlt.sources import DltResource

#: dlt's `hard_delete` column of every variant table (true only on clear markers).
CLEAR_COLUMN = "_clear"
CLEAR_HINT: dict[str, Any] = {"data_type": "bool", "nullable": True, "hard_delete": True}


def declare_variant(
    resource: DltResource,
    table: str,
    *,
    primary_key: Sequence[str],
    merge_key: Sequence[str],
    columns: dict[str, dict[str, Any]],
    deduplicated: bool = False,
) -> DltResource:
    """Make `resource` write `table` (items marked `dlt.mark.with_table_name(..., table)`)
    with its own keys and columns. dlt starts a variant from the resource's own hints, so
    they are emptied first: the variant must not inherit the parent table's columns.
    `deduplicated`: every package holds each primary key once (dlt skips its
    de-duplication window, as for `messages`)."""
    resource.apply_hints(
        table_name=table, create_table_variant=True, columns={}, additional_table_hints={}
    )
    resource.apply_hints(
        table_name=table,
        create_table_variant=True,
        write_disposition="merge",
        primary_key=list(primary_key),
        merge_key=list(merge_key),
        columns=cast(dict[str, TColumnSchema], {**columns, CLEAR_COLUMN: CLEAR_HINT}),
        additional_table_hints={"x-stage-data-deduplicated": True} if deduplicated else None,
    )
    return resource


def clear_marker(key: dict[str, Any], blank: Sequence[str]) -> dict[str, Any]:
    """The row that clears a parent's rows: its key, `blank` key columns empty."""
    return {**key, **dict.fromkeys(blank, ""), CLEAR_COLUMN: True}
