"""The report one run builds, what is in progress when something fails, and a failure described as facts."""
import traceback


class Run(object):
    """The report being built, and what is in progress when something fails."""

    def __init__(self):
        self.report = {
            "version": 1,
            "django": None,
            "orphans": [],
            "bookkeeping": [],
            "rowsOnly": [],
            "plan": [],
            "problems": [],
            "blocked": False,
            "commands": [],
            "perApp": [],
            "commandsExtra": [],
            "commandsMissing": [],
            "hasFlagsmithCommand": False,
            "segments": [],
            "hazards": [],
            "losses": {"tables": [], "columns": []},
            "noopReverse": [],
            "executed": [],
            "rolledBack": [],
            "timings": {},
            "trial": None,
            "stoppedBefore": None,
            "rowsDeleted": [],
            "error": None,
        }
        self.line_open = False
        self.current = None
        self.started = None
        # Unapplied inside the open transaction: really unapplied only once it commits.
        self.pending = []
        self.in_transaction = False
        self.blockers = None

    @staticmethod
    def label(key):
        return "%s.%s" % (key[0], key[1])

    def problem(self, kind, migration, message, blocking, command=None):
        self.report["problems"].append({
            "kind": kind,
            "migration": migration,
            "message": message,
            "blocking": bool(blocking),
            "command": command,
        })
        if blocking:
            self.report["blocked"] = True


def describe_failure(run, exc):
    """The exception as facts: message, SQLSTATE, the migration, operation and SQL statement it stopped in.
    Called while `exc` is being handled (the traceback text is format_exc's)."""
    cause = exc.__cause__ or exc.__context__
    sqlstate = getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)
    operation, statement = None, None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        local = frame.f_locals
        # Migration.unapply's loop variable names the operation being undone (Django 3.2 to 5.2).
        if frame.f_code.co_name == "unapply" and "operation" in local and hasattr(local["operation"], "describe"):
            operation = local["operation"].describe()
        if frame.f_code.co_filename.endswith(("backends/utils.py", "backends\\utils.py")) and "sql" in local:
            statement = str(local["sql"])[:2000]
        tb = tb.tb_next
    message = str(exc).strip()
    return {
        "message": "%s: %s" % (type(exc).__name__, message),
        "exception": type(exc).__name__,
        "pgMessage": message.split("\n")[0] if sqlstate else None,
        "pgDetail": "\n".join(message.split("\n")[1:]).strip() or None if sqlstate else None,
        "sqlstate": sqlstate,
        "migration": run.current or run.report["stoppedBefore"],
        "operation": operation,
        "statement": statement,
        "blockers": run.blockers or [],
        "traceback": traceback.format_exc(),
    }
