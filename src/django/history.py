"""Reads django_migrations through the application's own Django connection.

For `history-source: container`: the runner needs no database credentials or
network path, the container already has both. Sent exactly like rollback.py:
the bootstrap `manage.py shell -v 0 -c BOOTSTRAP` (src/django/commands.ts) reads
this file, `\\n#ROLLBACK-REQUEST\\n` and the JSON request
`{"version": 1, "database": "default", "cutoff": "2024-10-24T08:23:45.000000Z" or null, "queries": {...}}`
from stdin; `manage.py shell -v 0 -c "<this file>"` with the request alone on
stdin works the same.

The queries are SQL, not the ORM, and come in the request (`queries`, from
src/history-query.ts, the same ones src/history.ts runs over a direct
connection): PostgreSQL formats every timestamp as UTC text with microseconds
and compares each row with the cutoff itself, so both sources give the same
rows, text and verdicts. With a cutoff they read only what the rollback needs
and sum up the other rows before it (`before`: count and digest). The last stdout line is always
`ROLLBACK-HISTORY <json>`: {"version", "database", "django", "rows": [{"id",
"app", "name", "applied", "afterCutoff"}], "before": {"count", "digest"} or
absent, "now", "error"}. Works with Django
3.2+ and Python 3.8+; only stdlib and Django imports.
"""


def _history_main():
    import json
    import sys
    import traceback

    report = {"version": 1, "database": None, "django": None, "rows": [], "now": None, "error": None}
    try:
        _history_read(report)
    except Exception as exc:  # report every failure, never a bare traceback
        report["rows"] = []
        report["error"] = {
            "kind": getattr(exc, "history_kind", "django"),
            "message": str(exc) if getattr(exc, "history_kind", None) else "%s: %s" % (type(exc).__name__, exc),
            "traceback": traceback.format_exc(),
        }
    sys.stdout.write("\nROLLBACK-HISTORY " + json.dumps(report, sort_keys=True) + "\n")
    sys.stdout.flush()
    if report["error"]:
        # SystemExit goes through Django's shell and sets the process status.
        sys.exit(1)


class _HistoryProblem(Exception):
    """A failure whose message already tells a person what to check."""

    def __init__(self, kind, message):
        Exception.__init__(self, message)
        self.history_kind = kind


def _history_read(report):
    import json
    import sys

    import django

    report["django"] = django.get_version()
    request = json.loads(sys.stdin.read() or "{}")
    if request.get("version") != 1:
        raise _HistoryProblem("request", "unsupported request version %r" % (request.get("version"),))
    alias = request.get("database") or "default"
    report["database"] = alias
    connection, where = _history_connection(alias)
    with connection.cursor() as cursor:
        if "django_migrations" not in connection.introspection.table_names(cursor):
            raise _HistoryProblem(
                "no-table",
                "there is no django_migrations table in %s: is this the application's database (the one its "
                "Django settings use for migrations)? Check manage-command, the container and database-alias." % where)
        _history_rows(cursor, request, report)


def _history_connection(alias):
    """The alias's connection, and words for where it points; only PostgreSQL will do."""
    from django.conf import settings
    from django.db import connections

    if alias not in settings.DATABASES:
        raise _HistoryProblem(
            "alias",
            "there is no database alias %r in the application's Django settings (DATABASES has: %s). "
            "Check database-alias." % (alias, ", ".join(sorted(settings.DATABASES))))
    connection = connections[alias]
    name = connection.settings_dict.get("NAME") or "?"
    host = connection.settings_dict.get("HOST") or "localhost"
    where = "database alias %r (%s on %s)" % (alias, name, host)
    if connection.vendor != "postgresql":
        raise _HistoryProblem(
            "vendor", "%s uses %s, not PostgreSQL: this action only supports PostgreSQL." % (where, connection.vendor))
    return connection, where


def _history_rows(cursor, request, report):
    """The server's time and the rows (with each one's verdict on the cutoff), and the summary of the rest."""
    utc_text = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"
    cursor.execute("SET TIME ZONE 'UTC'")
    cursor.execute("SELECT to_char(now() AT TIME ZONE 'UTC', %s)" % utc_text)
    report["now"] = cursor.fetchone()[0]
    queries = request.get("queries") or {}
    rows = queries.get("rows") or {
        "sql": "SELECT id, app, name, to_char(applied AT TIME ZONE 'UTC', " + utc_text + "), "
               "applied >= %s::timestamptz FROM django_migrations ORDER BY applied, id",
        "params": [request.get("cutoff")],
    }
    cursor.execute(rows["sql"], _params(rows["params"]))
    report["rows"] = [
        {"id": int(row[0]), "app": row[1], "name": row[2], "applied": row[3], "afterCutoff": row[4]}
        for row in cursor.fetchall()
    ]
    before = queries.get("before")
    if before:
        cursor.execute(before["sql"], _params(before["params"]))
        count, digest = cursor.fetchone()
        report["before"] = {"count": int(count), "digest": digest}


def _params(params):
    """The runner sends named parameters as [ {name: value} ] and positional ones as a list."""
    return params[0] if len(params) == 1 and isinstance(params[0], dict) else params


_history_main()
