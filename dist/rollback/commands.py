"""The `migrate APP TARGET` commands the other strategies would run (given in the request, and the
per-app targets of the documented style), each planned as the migrate command would and compared
with the exact plan."""
from django.apps import apps as global_apps
from django.db.migrations.exceptions import AmbiguityError
from django.db.migrations.executor import MigrationExecutor

from _dmr_rollback_plan import irreversible_operations_of


def evaluate_commands(run, loader, connection, request, exact, recorded):
    """Per-app targets for the documented style, and every `migrate APP TARGET` command checked against
    the exact plan."""
    report, label = run.report, run.label
    report["perApp"].extend(_per_app_targets(loader, request, exact))

    def rows_of(key, migration):
        rows = {key}
        if getattr(migration, "replaces", None):
            rows |= set(migration.replaces)
        return rows & recorded

    commands = list(request.get("commands") or []) + report["perApp"]
    exact_rows = set(exact)
    cmd_rows = set()
    executor = None
    for command in commands:
        # A fresh executor, as the migrate command has; one serves the next command too unless planning a
        # replaced target made Django rebuild its graph without replacements (building one costs ~35 ms).
        if executor is None or not executor.loader.replace_migrations:
            executor = MigrationExecutor(connection)
        cmd_rows |= _evaluate_command(run, executor, command, rows_of)
    rows_only = set(tuple(r.split(".", 1)) for r in report["rowsOnly"])
    report["commandsExtra"] = sorted(label(k) for k in cmd_rows - exact_rows - rows_only)
    report["commandsMissing"] = sorted(label(k) for k in exact_rows - cmd_rows) if commands else []


def _per_app_targets(loader, request, exact):
    """Each app's target is its newest row before the cutoff that is a real step: a squash row is
    bookkeeping Django writes at the end of a migrate run, after the migrations that follow the squash,
    so as a target it would unapply those long-applied migrations; a name with no file cannot be a
    target at all."""
    targets = []
    exact_apps = set(k[0] for k in exact)
    for entry in request.get("perApp") or []:
        app_label = entry["app"]
        if app_label not in exact_apps:
            continue  # only orphans or bookkeeping rows: nothing to run
        target, fallback = None, None
        for name in entry.get("before") or []:
            key = (app_label, name)
            if key not in loader.disk_migrations:
                continue
            if key in loader.replacements:
                fallback = fallback or name
                continue
            target = name
            break
        targets.append({"app": app_label, "target": target or fallback or "zero"})
    return targets


class _CommandProblem(Exception):
    """Why `migrate APP TARGET` cannot be planned, as the migrate command would say it."""

    def __init__(self, kind, message):
        Exception.__init__(self, message)
        self.kind = kind


def _evaluate_command(run, executor, command, rows_of):
    """`migrate APP TARGET` as the migrate command would plan it; returns the rows it would unapply."""
    app_label, target = command["app"], command["target"]
    text = "migrate %s %s" % (app_label, target)
    entry = {"app": app_label, "target": target, "resolved": None, "error": None, "plan": [], "irreversible": []}
    run.report["commands"].append(entry)
    try:
        key = _command_target(executor.loader, entry)
        planned = _command_plan(executor, key)
    except _CommandProblem as problem:
        entry["error"] = "%s: %s" % (problem.kind, problem)
        run.problem(problem.kind, None, "`%s`: %s" % (text, problem), False, command=text)
        return set()
    return _command_rows(run, entry, text, planned, rows_of)


def _command_target(loader, entry):
    """The graph node the command migrates to, found as the migrate command finds it; sets entry["resolved"]."""
    app_label, target = entry["app"], entry["target"]
    try:
        global_apps.get_app_config(app_label)
    except LookupError:
        raise _CommandProblem("unknown-app", "No installed app with label '%s'." % app_label)
    if app_label not in loader.migrated_apps:
        raise _CommandProblem("unknown-app", "App '%s' does not have migrations." % app_label)
    if target == "zero":
        entry["resolved"] = "zero"
        return (app_label, None)
    try:
        migration = loader.get_migration_by_prefix(app_label, target)
    except AmbiguityError:
        names = sorted(n for a, n in loader.disk_migrations if a == app_label and n.startswith(target))
        raise _CommandProblem("ambiguous",
                              "More than one migration matches '%s' in app '%s' (%s); Django matches by prefix "
                              "with no exact-match precedence, so this target cannot be used. Use the exact strategy."
                              % (target, app_label, ", ".join(names)))
    except KeyError:
        raise _CommandProblem("not-found", "Cannot find a migration matching '%s' from app '%s'." % (target, app_label))
    entry["resolved"] = migration.name
    key = (app_label, migration.name)
    # Same substitution as the migrate command for a partially applied squash.
    if key not in loader.graph.nodes and key in loader.replacements:
        key = loader.replacements[key].replaces[-1]
    return key


def _command_plan(executor, key):
    try:
        return executor.migration_plan([key])
    except Exception as exc:
        # Django before 4.0 cannot plan a replaced migration as target while its
        # squash is applied (KeyError in migration_plan): that is what migrate does too.
        replaced = any(key in q.replaces for q in executor.loader.replacements.values())
        raise _CommandProblem("squash" if replaced else "unknown",
                              "Django cannot plan this target (%s: %s)%s." % (
                                  type(exc).__name__, exc,
                                  "; it is replaced by a squashed migration" if replaced else ""))


def _command_rows(run, entry, text, planned, rows_of):
    """The command's plan into its entry; the rows its backward steps unapply. A forward step is a problem."""
    label = run.label
    rows = set()
    for migration, backwards in planned:
        m_key = (migration.app_label, migration.name)
        entry["plan"].append({"migration": label(m_key), "backwards": bool(backwards)})
        if backwards:
            rows |= rows_of(m_key, migration)
            if irreversible_operations_of(migration):
                entry["irreversible"].append(label(m_key))
        else:
            run.problem("forward", label(m_key),
                        "`%s` would apply %s (migrate forwards) instead of rolling back." % (text, label(m_key)),
                        False, command=text)
    return rows
