"""Before anything runs: the SQL of each reverse (as sqlmigrate --backwards prints it), collected with
the hazards it meets, and the tables and columns it drops, counted."""
import inspect
import re

from django.db import transaction
from django.db.migrations.operations.special import RunPython

from _dmr_rollback_hazards import count_hazard, count_losses, hazards_of
from _dmr_rollback_plan import irreversible_operations

# Python source shown for a RunPython reverse, at most this many lines.
_PYTHON_LINES = 30


def analyse(run, executor, connection, plan, full_plan):
    """Before anything runs: the SQL of each reverse (as sqlmigrate --backwards prints it), the reverse
    steps that can fail on data, and what the plan drops, with row counts."""
    states = _states_before(executor, plan, full_plan)
    entries = dict((e["migration"], e) for e in run.report["plan"])
    drops = []
    # Collecting runs each operation's database_backwards against a collecting schema editor; a custom
    # operation may still touch the database directly, so all of it happens in a transaction rolled back.
    with transaction.atomic(using=connection.alias):
        for migration in plan:
            name = run.label((migration.app_label, migration.name))
            try:
                with transaction.atomic(using=connection.alias):
                    sql, hazards = _collect_migration(connection, migration, states[migration])
            except Exception as exc:
                sql, hazards = ["-- the SQL could not be rendered: %s: %s" % (type(exc).__name__, exc)], []
            entries[name]["sql"] = sql
            for hazard in hazards:
                hazard["migration"] = name
                run.report["hazards"].append(hazard)
            drops.extend(_drops_in(name, sql))
        transaction.set_rollback(True, using=connection.alias)
    for hazard in run.report["hazards"]:
        hazard["rows"], hazard["counted"] = count_hazard(connection, hazard)
    run.report["losses"] = count_losses(connection, drops)


def _states_before(executor, plan, full_plan):
    """The project state just before each planned migration, computed as Django's
    MigrationExecutor._migrate_all_backwards does."""
    to_do = set(plan)
    states = {}
    state = executor._create_project_state()
    applied = set(
        executor.loader.graph.nodes[key] for key in executor.loader.applied_migrations
        if key in executor.loader.graph.nodes
    )
    for migration, _ in full_plan:
        if not to_do:
            break
        if migration in to_do:
            if "apps" not in state.__dict__:
                state.apps  # render once; later states are cloned from it
            states[migration] = state
            state = migration.mutate_state(state, preserve=True)
            to_do.remove(migration)
        elif migration in applied:
            migration.mutate_state(state, preserve=False)
    return states


def _collect_migration(connection, migration, state):
    """Mirrors Migration.unapply with a collecting schema editor: SQL per operation, and the hazards."""
    steps = []
    new_state = state
    for operation in migration.operations:
        new_state = new_state.clone()
        old_state = new_state.clone()
        operation.state_forwards(migration.app_label, new_state)
        steps.insert(0, (operation, old_state, new_state))
    hazards = []
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        for operation, to_state, from_state in steps:
            hazards.extend(hazards_of(connection, editor, migration.app_label, operation, from_state, to_state))
            editor.collected_sql.append("-- %s" % operation.describe())
            if irreversible_operations(operation):
                editor.collected_sql.append("-- IRREVERSIBLE: no reverse operation")
                continue
            python = _python_code(operation)
            if python is not None:
                editor.collected_sql.extend(python)
                continue
            before = len(editor.collected_sql)
            with _AsIfOutsideTransaction(connection, operation):
                operation.database_backwards(migration.app_label, editor, from_state, to_state)
            if len(editor.collected_sql) == before:
                editor.collected_sql.append("-- (no SQL)")
    return list(editor.collected_sql), hazards


def _python_code(operation):
    """Comment lines showing a RunPython reverse (anywhere inside the operation), or None when it has none."""
    inner = getattr(operation, "database_operations", None)
    targets = list(inner) if inner is not None else [operation]
    code = [op.reverse_code for op in targets if isinstance(op, RunPython)]
    if not code:
        return None
    lines = []
    for function in code:
        if function is RunPython.noop or getattr(function, "__name__", "") == "noop":
            lines.append("-- Python: RunPython.noop (does nothing)")
            continue
        lines.append("-- Python (no SQL): %s.%s" % (function.__module__, getattr(function, "__qualname__", function)))
        try:
            source = inspect.getsource(function).rstrip("\n").split("\n")
        except (OSError, TypeError):
            source = ["(source not available)"]
        if len(source) > _PYTHON_LINES:
            source = source[:_PYTHON_LINES] + ["... %d more lines" % (len(source) - _PYTHON_LINES)]
        lines.extend("--   " + line for line in source)
    return lines


class _AsIfOutsideTransaction(object):
    """AddIndexConcurrently and its kind refuse to run inside a transaction, even to collect SQL, which
    is all that happens here (sqlmigrate collects theirs outside one)."""

    def __init__(self, connection, operation):
        self.connection = connection
        self.active = hasattr(operation, "_ensure_not_in_transaction")
        self.saved = None

    def __enter__(self):
        if self.active:
            self.saved = self.connection.in_atomic_block
            self.connection.in_atomic_block = False

    def __exit__(self, *exc):
        if self.active:
            self.connection.in_atomic_block = self.saved
        return False


def _drops_in(migration, sql):
    """The tables and columns a reverse drops, read from its SQL (Django's schema editor writes them so)."""
    drops = []
    for statement in sql:
        if statement.startswith("--"):
            continue
        table = re.match(r'\s*DROP TABLE (?:IF EXISTS )?"?([^"\s;]+)"?', statement, re.I)
        if table:
            drops.append({"migration": migration, "table": table.group(1), "column": None})
            continue
        column = re.match(r'\s*ALTER TABLE "?([^"\s]+)"? DROP COLUMN (?:IF EXISTS )?"?([^"\s;]+)"?', statement, re.I)
        if column:
            drops.append({"migration": migration, "table": column.group(1), "column": column.group(2)})
    return drops
