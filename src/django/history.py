"""Reads django_migrations through the application's own Django connection.

For `history-source: container`: the runner needs no database credentials or
network path, the container already has both. Sent exactly like rollback.py:
the bootstrap `manage.py shell -v 0 -c BOOTSTRAP` (src/django/commands.ts) reads
this file, `\\n#ROLLBACK-REQUEST\\n` and the JSON request
`{"version": 1, "database": "default", "cutoff": "2024-10-24T08:23:45.000000Z" or null}`
from stdin; `manage.py shell -v 0 -c "<this file>"` with the request alone on
stdin works the same.

The query is SQL, not the ORM: PostgreSQL formats every timestamp as UTC text
with microseconds and compares each row with the cutoff itself, exactly like
src/history.ts does over a direct connection, so both sources give the same
text and the same verdicts. The last stdout line is always
`ROLLBACK-HISTORY <json>`: {"version", "database", "django", "rows": [{"id",
"app", "name", "applied", "afterCutoff"}], "now", "error"}. Works with Django
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
    from django.conf import settings
    from django.db import connections

    report["django"] = django.get_version()
    request = json.loads(sys.stdin.read() or "{}")
    if request.get("version") != 1:
        raise _HistoryProblem("request", "unsupported request version %r" % (request.get("version"),))
    alias = request.get("database") or "default"
    cutoff = request.get("cutoff")
    report["database"] = alias

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

    with connection.cursor() as cursor:
        if "django_migrations" not in connection.introspection.table_names(cursor):
            raise _HistoryProblem(
                "no-table",
                "there is no django_migrations table in %s: is this the application's database (the one its "
                "Django settings use for migrations)? Check manage-command, the container and database-alias." % where)
        utc_text = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"
        cursor.execute("SET TIME ZONE 'UTC'")
        cursor.execute("SELECT to_char(now() AT TIME ZONE 'UTC', %s)" % utc_text)
        report["now"] = cursor.fetchone()[0]
        cursor.execute(
            "SELECT id, app, name, to_char(applied AT TIME ZONE 'UTC', " + utc_text + "), "
            "applied >= %s::timestamptz FROM django_migrations ORDER BY applied, id",
            [cutoff])
        report["rows"] = [
            {"id": int(row[0]), "app": row[1], "name": row[2], "applied": row[3], "afterCutoff": row[4]}
            for row in cursor.fetchall()
        ]


_history_main()
