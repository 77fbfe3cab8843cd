"""The entry: exact rollback of Django migrations, run inside the application's container.

The action sends these modules and a JSON request on stdin to a short bootstrap, `manage.py shell -v 0
-c BOOTSTRAP` (src/django/commands.ts), whose loader (rollback/_loader.py) calls main() with stdin
replaced by the request. The last stdout line is always `ROLLBACK-REPORT <json>`, and the exit status
is 1 when the report has an error. Django 3.2 to 5.2, Python 3.8+, stdlib and Django imports only.
"""
import json
import sys

from _dmr_rollback_report import Run, describe_failure


def main():
    run = Run()
    try:
        # Imported here, so that a module that fails to load (an import a Django version lacks) is reported too.
        from _dmr_rollback_steps import run_steps

        run_steps(run)
    except Exception as exc:  # report every failure, never a bare traceback
        run.report["error"] = describe_failure(run, exc)
    if run.line_open:
        # A progress line ("  Unapplying x...") may be open: the report starts on its own line.
        sys.stdout.write("\n")
    sys.stdout.write("ROLLBACK-REPORT " + json.dumps(run.report, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()
    if run.report["error"]:
        # SystemExit goes through Django's shell and sets the process status.
        sys.exit(1)
