"""Exact rollback of Django migrations, run inside the application's container.

The action sends this file and a JSON request on stdin to a short bootstrap,
`manage.py shell -v 0 -c BOOTSTRAP` (src/django/commands.ts), which exec()s it
with stdin replaced by the request; `manage.py shell -v 0 -c "<this file>"` with
the request alone on stdin works the same. The last stdout line is always
`ROLLBACK-REPORT <json>`. Works with Django 3.2+ and Python 3.8+. Only stdlib
and Django imports: the file is shipped as text.

exec() runs this text with one globals dict, so top-level functions see each
other; names start with an underscore to stay out of the shell's namespace.
"""


def _rollback_main():
    import json
    import sys
    import time
    import traceback

    report = {
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
        "executed": [],
        "rowsDeleted": [],
        "error": None,
    }
    # A progress line ("  Unapplying x...") may be open when something fails:
    # the report must start on its own line.
    state = {"line_open": False, "current": None}

    def label(key):
        return "%s.%s" % (key[0], key[1])

    def problem(kind, migration, message, blocking, command=None):
        report["problems"].append({
            "kind": kind,
            "migration": migration,
            "message": message,
            "blocking": bool(blocking),
            "command": command,
        })
        if blocking:
            report["blocked"] = True

    def emit(exit_code):
        if state["line_open"]:
            sys.stdout.write("\n")
        sys.stdout.write("ROLLBACK-REPORT " + json.dumps(report, sort_keys=True) + "\n")
        sys.stdout.flush()
        if exit_code:
            # SystemExit goes through Django's shell and sets the process status.
            sys.exit(exit_code)

    try:
        _run(report, state, label, problem)
    except Exception as exc:  # report every failure, never a bare traceback
        report["error"] = {
            "message": "%s: %s" % (type(exc).__name__, exc),
            "migration": state["current"],
            "traceback": traceback.format_exc(),
        }
    emit(1 if report["error"] else 0)


def _run(report, state, label, problem):
    import json
    import sys
    import time

    import django
    from django.apps import apps as global_apps
    from django.core.management import get_commands
    from django.core.management.commands.migrate import Command as MigrateCommand
    from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
    from django.db import connections
    from django.db.migrations.exceptions import AmbiguityError
    from django.db.migrations.executor import MigrationExecutor
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.recorder import MigrationRecorder
    from django.db.migrations.state import ModelState

    report["django"] = django.get_version()
    request = json.loads(sys.stdin.read())
    if request.get("version") != 1:
        raise ValueError("unsupported request version %r" % (request.get("version"),))
    alias = request.get("database") or "default"
    execute = bool(request.get("execute"))
    allow_irreversible = bool(request.get("allowIrreversible"))
    connection = connections[alias]

    report["hasFlagsmithCommand"] = "rollbackmigrationsappliedafter" in get_commands()

    def progress(action, migration=None, fake=False):
        # Same lines as `migrate`'s progress callback, plus bookkeeping.
        if action == "unapply_start":
            state["current"] = label((migration.app_label, migration.name))
            sys.stdout.write("  Unapplying %s..." % (migration,))
            sys.stdout.flush()
            state["line_open"] = True
            state["start"] = time.monotonic()
        elif action == "unapply_success":
            sys.stdout.write(" OK\n")
            sys.stdout.flush()
            state["line_open"] = False
            report["executed"].append(label((migration.app_label, migration.name)))
            state["current"] = None

    def describe(migration, backwards):
        ops = []
        for operation in migration.operations:
            text, is_error = MigrateCommand.describe_operation(operation, backwards)
            # describe_operation only knows RunPython/RunSQL; custom operations
            # can declare themselves irreversible too.
            irreversible = bool(backwards and (is_error or not getattr(operation, "reversible", True)))
            ops.append({"description": text, "irreversible": irreversible})
        return ops

    executor = MigrationExecutor(connection, progress)
    loader = executor.loader

    conflicts = loader.detect_conflicts()
    if conflicts:
        names = "; ".join("%s in %s" % (", ".join(sorted(v)), k) for k, v in sorted(conflicts.items()))
        problem("conflict", None,
                "Conflicting migrations detected; multiple leaf nodes in the migration graph: (%s). "
                "Django's migrate refuses to run; fix the code (makemigrations --merge) before rolling back." % names,
                True)

    # S: the rows applied at/after the cutoff; `recorded`: every row right now.
    s_keys = []
    for row in request.get("after") or []:
        key = (row["app"], row["name"])
        if key not in s_keys:
            s_keys.append(key)
    s_set = set(s_keys)
    recorded = set(MigrationRecorder(connection).applied_migrations())
    before = recorded - s_set
    disk = loader.disk_migrations

    orphans = sorted(k for k in s_set if k not in disk)
    excluded = set(orphans)

    # Squashes: classify against S (see DESIGN.md "Squash bookkeeping").
    split = set()        # squashes whose replaced migrations straddle the cutoff
    replaced_by = {}     # replaced key -> squash key
    for q_key, q in loader.replacements.items():
        replaced = set(q.replaces)
        for r in replaced:
            replaced_by[r] = q_key
        r_in = replaced & s_set
        r_before = replaced & before
        if r_in and r_before:
            split.add(q_key)
            if q_key in s_set:
                report["rowsOnly"].append(label(q_key))
                excluded.add(q_key)
            elif q_key in before:
                problem("squash", label(q_key),
                        "The squash row %s predates the cutoff but some migrations it replaces are after it; "
                        "after the rollback its row is stale (Django ignores it while a replaced migration is unapplied)."
                        % label(q_key), False)
        elif q_key in s_set and not r_in and r_before == replaced:
            report["bookkeeping"].append(label(q_key))
            excluded.add(q_key)
        elif q_key in s_set and r_in != replaced:
            # Some migrations it replaces are not applied (typically: an earlier
            # run was interrupted after unapplying them). Django already treats
            # the squash as unapplied; only its stale row is left to delete.
            report["rowsOnly"].append(label(q_key))
            excluded.add(q_key)
        elif q_key in before and r_in == replaced:
            problem("squash", label(q_key),
                    "The squash row %s predates the cutoff but every migration it replaces is after it. "
                    "Check django_migrations by hand." % label(q_key), True)
    report["orphans"] = [label(k) for k in orphans]
    report["bookkeeping"].sort()
    report["rowsOnly"].sort()
    exact = [k for k in s_keys if k not in excluded]

    if split:
        # Like Django's migration_plan for a replaced target: rebuild without
        # replacements, then redo the replacement step ourselves so that split
        # squashes are dropped with their children remapped onto the replaced
        # migrations (what Django does for a partially applied squash), and
        # every other squash is handled exactly as Django would.
        loader.replace_migrations = False
        loader.build_graph()
        graph = loader.graph
        for q_key, q in loader.replacements.items():
            statuses = [r in loader.applied_migrations for r in q.replaces]
            if q_key not in split and (all(statuses) or not any(statuses)):
                if all(statuses):
                    loader.applied_migrations[q_key] = q
                graph.remove_replaced_nodes(q_key, q.replaces)
            else:
                loader.applied_migrations.pop(q_key, None)
                graph.remove_replacement_node(q_key, q.replaces)
        graph.validate_consistency()
    graph = loader.graph

    # Map the rows onto graph nodes: a fully applied squash stands for the
    # migrations it replaces.
    plan_nodes = set()
    for key in exact:
        if key in graph.nodes:
            plan_nodes.add(key)
        elif key in replaced_by and replaced_by[key] in graph.nodes:
            plan_nodes.add(replaced_by[key])
        else:
            problem("unknown", label(key),
                    "%s is in django_migrations and on disk but not in the migration graph; cannot plan it." % label(key),
                    True)

    # Reverse of the order Django would apply everything on an empty database.
    full_plan = executor.migration_plan(graph.leaf_nodes(), clean_start=True)
    plan = []
    for migration, _ in reversed(full_plan):
        key = (migration.app_label, migration.name)
        if key in plan_nodes:
            plan.append(migration)
    applied_nodes = set(loader.applied_migrations)
    for migration in plan:
        key = (migration.app_label, migration.name)
        ops = describe(migration, True)
        report["plan"].append({"migration": label(key), "operations": ops})
        if any(op["irreversible"] for op in ops):
            problem("irreversible", label(key),
                    "%s has an irreversible operation (%s); Django stops there and leaves the rollback half done. "
                    "Set allow-irreversible only if you accept that, or roll back to a later point."
                    % (label(key), "; ".join(op["description"] for op in ops if op["irreversible"])),
                    not allow_irreversible)
        if key not in applied_nodes:
            problem("unknown", label(key),
                    "%s is recorded after the cutoff but Django does not consider it applied." % label(key), True)
        for child in graph.backwards_plan(key):
            if child != key and child not in plan_nodes and child in applied_nodes:
                problem("outside", label(child),
                        "%s (applied before the cutoff) depends on %s, which the rollback would unapply: "
                        "the history would be inconsistent. Choose an earlier cutoff." % (label(child), label(key)),
                        True)

    # The rows the exact run removes, to compare commands against.
    def rows_of(key, migration):
        rows = {key}
        if getattr(migration, "replaces", None):
            rows |= set(migration.replaces)
        return rows & recorded

    # Per-app targets for the documented style: each app's newest row before the
    # cutoff that is a real step. A squash row is bookkeeping Django writes at the
    # end of a migrate run, after the migrations that follow the squash, so as a
    # target it would unapply those long-applied migrations; a name with no file
    # cannot be a target at all.
    exact_apps = set(k[0] for k in exact)
    for entry in request.get("perApp") or []:
        app_label = entry["app"]
        if app_label not in exact_apps:
            continue  # only orphans or bookkeeping rows: nothing to run
        target, fallback = None, None
        for name in entry.get("before") or []:
            key = (app_label, name)
            if key not in disk:
                continue
            if key in loader.replacements:
                fallback = fallback or name
                continue
            target = name
            break
        report["perApp"].append({"app": app_label, "target": target or fallback or "zero"})

    commands = list(request.get("commands") or []) + report["perApp"]
    exact_rows = set(exact)
    cmd_rows = set()
    for command in commands:
        cmd_rows |= _evaluate_command(command, connection, report, label, problem, describe, rows_of,
                                     global_apps, MigrationExecutor, AmbiguityError)
    rows_only = {tuple(r.split(".", 1)) for r in report["rowsOnly"]}
    report["commandsExtra"] = sorted(label(k) for k in cmd_rows - exact_rows - rows_only)
    report["commandsMissing"] = sorted(label(k) for k in exact_rows - cmd_rows) if commands else []

    if not execute or report["blocked"]:
        return
    # Stale squash rows go first: Django decides a squash's state from the rows
    # of what it replaces, so deleting them changes nothing Django sees, and a run
    # that fails half way then leaves no stale row behind for the next run.
    recorder = MigrationRecorder(connection)
    for row in report["rowsOnly"]:
        app_label, name = row.split(".", 1)
        recorder.record_unapplied(app_label, name)
        report["rowsDeleted"].append(row)
    if plan:
        # As the migrate command does: pre_migrate, migrate with the plan, post_migrate.
        backwards_plan = [(migration, True) for migration in plan]
        pre_state = executor._create_project_state(with_applied_migrations=True)
        emit_pre_migrate_signal(0, False, connection.alias, stdout=sys.stdout,
                                apps=pre_state.apps, plan=backwards_plan)
        post_state = executor.migrate([], plan=backwards_plan, state=pre_state.clone())
        post_state.clear_delayed_apps_cache()
        post_apps = post_state.apps
        with post_apps.bulk_update():
            model_keys = []
            for model_state in post_apps.real_models:
                model_key = model_state.app_label, model_state.name_lower
                model_keys.append(model_key)
                post_apps.unregister_model(*model_key)
        post_apps.render_multiple([ModelState.from_model(global_apps.get_model(*m)) for m in model_keys])
        emit_post_migrate_signal(0, False, connection.alias, stdout=sys.stdout,
                                 apps=post_apps, plan=backwards_plan)


def _evaluate_command(command, connection, report, label, problem, describe, rows_of,
                     global_apps, MigrationExecutor, AmbiguityError):
    """`migrate APP TARGET` as the migrate command would plan it, on a fresh executor."""
    app_label, target = command["app"], command["target"]
    text = "migrate %s %s" % (app_label, target)
    entry = {"app": app_label, "target": target, "resolved": None, "error": None, "plan": [], "irreversible": []}
    report["commands"].append(entry)

    def fail(kind, message, migration=None):
        entry["error"] = "%s: %s" % (kind, message)
        problem(kind, migration, "`%s`: %s" % (text, message), False, command=text)
        return set()

    # Fresh executor: migration_plan may rebuild its loader's graph.
    executor = MigrationExecutor(connection)
    loader = executor.loader
    try:
        global_apps.get_app_config(app_label)
    except LookupError:
        return fail("unknown-app", "No installed app with label '%s'." % app_label)
    if app_label not in loader.migrated_apps:
        return fail("unknown-app", "App '%s' does not have migrations." % app_label)
    if target == "zero":
        entry["resolved"] = "zero"
        key = (app_label, None)
    else:
        try:
            migration = loader.get_migration_by_prefix(app_label, target)
        except AmbiguityError:
            names = sorted(n for a, n in loader.disk_migrations if a == app_label and n.startswith(target))
            return fail("ambiguous",
                        "More than one migration matches '%s' in app '%s' (%s); Django matches by prefix with no "
                        "exact-match precedence, so this target cannot be used. Use the exact strategy."
                        % (target, app_label, ", ".join(names)))
        except KeyError:
            return fail("not-found", "Cannot find a migration matching '%s' from app '%s'." % (target, app_label))
        entry["resolved"] = migration.name
        key = (app_label, migration.name)
        # Same substitution as the migrate command for a partially applied squash.
        if key not in loader.graph.nodes and key in loader.replacements:
            key = loader.replacements[key].replaces[-1]
    try:
        planned = executor.migration_plan([key])
    except Exception as exc:
        # Django before 4.0 cannot plan a replaced migration as target while its
        # squash is applied (KeyError in migration_plan): that is what migrate does too.
        replaced = any(key in q.replaces for q in loader.replacements.values())
        return fail("squash" if replaced else "unknown",
                    "Django cannot plan this target (%s: %s)%s." % (
                        type(exc).__name__, exc,
                        "; it is replaced by a squashed migration" if replaced else ""))
    rows = set()
    for migration, backwards in planned:
        m_key = (migration.app_label, migration.name)
        entry["plan"].append({"migration": label(m_key), "backwards": bool(backwards)})
        if backwards:
            rows |= rows_of(m_key, migration)
            if any(op["irreversible"] for op in describe(migration, True)):
                entry["irreversible"].append(label(m_key))
        else:
            problem("forward", label(m_key),
                    "`%s` would apply %s (migrate forwards) instead of rolling back." % (text, label(m_key)),
                    False, command=text)
    return rows


_rollback_main()
