"""What the data written since the deploy means for the reverse: the steps that fail on it (hazards),
and the rows of each hazard and of each dropped table or column, counted (or estimated on big tables)."""
from django.db import transaction
from django.db.migrations import operations as ops

# Tables with more rows than this (by the planner's estimate) get estimated
# loss figures and uncounted hazards, so a dry run stays fast on big tables.
_EXACT_COUNT_LIMIT = 200000
# A count that takes longer than this is abandoned (the figure is then estimated or unknown).
_COUNT_TIMEOUT = "2s"


def hazards_of(connection, editor, app_label, operation, from_state, to_state):
    """Reverse steps that fail on data written since: NOT NULL or unique put back, a column shrunk,
    a NOT NULL column re-added without a default."""
    found = []
    if isinstance(operation, (ops.AlterField, ops.RemoveField, ops.AlterUniqueTogether)):
        model = to_state.apps.get_model(app_label, operation.name if isinstance(
            operation, ops.AlterUniqueTogether) else operation.model_name)
        if not operation.allow_migrate_model(connection.alias, model):
            return found
        table = model._meta.db_table

        def hazard(kind, columns, detail, **extra):
            item = {"kind": kind, "table": table, "columns": columns, "operation": operation.describe(),
                    "detail": detail}
            item.update(extra)
            found.append(item)

        if isinstance(operation, ops.AlterField):
            restored = model._meta.get_field(operation.name)
            current = from_state.apps.get_model(app_label, operation.model_name)._meta.get_field(operation.name)
            if restored.column is None:
                return found
            if current.null and not restored.null:
                hazard("not-null", [restored.column], "NOT NULL is put back on %s.%s" % (table, restored.column))
            old_length = getattr(restored, "max_length", None)
            new_length = getattr(current, "max_length", None)
            if old_length and new_length and old_length < new_length:
                hazard("max-length", [restored.column],
                       "%s.%s shrinks from %d to %d characters" % (table, restored.column, new_length, old_length),
                       maxLength=old_length)
            if restored.unique and not current.unique and not restored.primary_key:
                hazard("unique", [restored.column], "UNIQUE is put back on %s.%s" % (table, restored.column))
        elif isinstance(operation, ops.RemoveField):
            field = model._meta.get_field(operation.name)
            if field.column and not field.many_to_many and not field.null and editor._effective_default(field) is None:
                hazard("not-null-no-default", [field.column],
                       "%s.%s comes back as NOT NULL without a default" % (table, field.column))
        else:
            now = from_state.apps.get_model(app_label, operation.name)._meta.unique_together
            for fields in set(tuple(f) for f in model._meta.unique_together) - set(tuple(f) for f in now):
                columns = [model._meta.get_field(f).column for f in fields]
                hazard("unique", columns, "UNIQUE (%s) is put back on %s" % (", ".join(columns), table))
    return found


def _query(connection, sql, params=()):
    """One read under a statement timeout, in its own transaction; None when it failed or took too long."""
    try:
        with transaction.atomic(using=connection.alias):
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [_COUNT_TIMEOUT])
                cursor.execute(sql, list(params))
                return cursor.fetchall()
    except Exception:
        return None


def _table_estimate(connection, table):
    """(exists, estimated rows or None when never analysed)."""
    rows = _query(connection, "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)",
                  [connection.ops.quote_name(table)])
    if not rows:
        return False, None
    estimate = rows[0][0]
    return True, (int(estimate) if estimate is not None and estimate >= 0 else None)


def count_hazard(connection, hazard):
    """Rows that make the reverse fail, counted now; (None, False) when the table is too big or the count failed."""
    exists, estimate = _table_estimate(connection, hazard["table"])
    if not exists or (estimate is not None and estimate > _EXACT_COUNT_LIMIT):
        return None, False
    q = connection.ops.quote_name
    table = q(hazard["table"])
    cols = [q(c) for c in hazard["columns"]]
    kind = hazard["kind"]
    if kind == "not-null":
        sql, params = "SELECT count(*) FROM %s WHERE %s IS NULL" % (table, cols[0]), []
    elif kind == "max-length":
        sql, params = "SELECT count(*) FROM %s WHERE char_length(%s) > %%s" % (table, cols[0]), [hazard["maxLength"]]
    elif kind == "unique":
        sql = ("SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM %s WHERE %s GROUP BY %s "
               "HAVING count(*) > 1) AS d" % (table, " AND ".join("%s IS NOT NULL" % c for c in cols), ", ".join(cols)))
        params = []
    else:
        sql, params = "SELECT count(*) FROM %s" % table, []
    rows = _query(connection, sql, params)
    return (int(rows[0][0]), True) if rows else (None, False)


def count_losses(connection, drops):
    """Rows of each dropped table and non-null values of each dropped column: exact, or the planner's
    estimate for big tables. A table or column the rollback itself creates first holds nothing now."""
    q = connection.ops.quote_name
    tables, columns = [], []
    by_table = {}
    for drop in drops:
        by_table.setdefault(drop["table"], []).append(drop)
    for table, items in by_table.items():
        exists, estimate = _table_estimate(connection, table)
        if not exists:
            continue
        present = _query(connection, "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                         "AND attnum > 0 AND NOT attisdropped", [q(table)]) or []
        present = set(r[0] for r in present)
        wanted = [d["column"] for d in items if d["column"] and d["column"] in present]
        counts = None
        if estimate is None or estimate <= _EXACT_COUNT_LIMIT:
            counts = _query(connection, "SELECT count(*)%s FROM %s" % (
                "".join(", count(%s)" % q(c) for c in wanted), q(table)))
        if counts:
            values, exact = dict(zip(wanted, counts[0][1:])), True
            total = int(counts[0][0])
        else:
            stats = _query(connection, "SELECT attname, null_frac FROM pg_stats WHERE schemaname = current_schema() "
                           "AND tablename = %s", [table]) or []
            null_frac = dict((r[0], r[1]) for r in stats)
            total = estimate
            values = dict((c, int(round(estimate * (1 - null_frac[c]))) if estimate is not None and c in null_frac
                           else None) for c in wanted)
            exact = False
        for drop in items:
            if drop["column"] is None:
                tables.append({"migration": drop["migration"], "table": table, "rows": total, "exact": exact})
            elif drop["column"] in present:
                columns.append({"migration": drop["migration"], "table": table, "column": drop["column"],
                                "values": values.get(drop["column"]), "exact": exact})
    return {"tables": tables, "columns": columns}
