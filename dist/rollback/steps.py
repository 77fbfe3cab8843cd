"""One run's steps in order: read the request; plan, check and analyse under one read of the history;
evaluate the migrate commands; then, when asked and nothing blocks, execute (or try) the plan."""
import django
from django.core.management import get_commands
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from _dmr_rollback_analyse import analyse
from _dmr_rollback_checks import check_conflicts, check_plan
from _dmr_rollback_commands import evaluate_commands
from _dmr_rollback_execute import progress_callback, run_plan
from _dmr_rollback_locks import set_lock_timeout
from _dmr_rollback_plan import (HistoryReadOnce, apply_noop_reverse, classify_rows, defer_non_atomic, plan_nodes,
                                read_request, segments, unique_keys)


def run_steps(run):
    report = run.report
    report["django"] = django.get_version()
    request = read_request()
    connection = connections[request.get("database") or "default"]
    report["hasFlagsmithCommand"] = "rollbackmigrationsappliedafter" in get_commands()
    set_lock_timeout(connection, request.get("lockTimeout") or 0)

    with HistoryReadOnce():
        executor, plan = _plan(run, connection, request)

    trial = bool(request.get("trial"))
    if report["blocked"] or not (request.get("execute") or trial):
        return
    run_plan(run, executor, connection, plan, request, trial)


def _plan(run, connection, request):
    """The exact plan, checked (and analysed) into the report, with the migrate commands evaluated against it;
    returns the executor that is to run it, and the plan."""
    executor = MigrationExecutor(connection, progress_callback(run, connection))
    check_conflicts(run, executor.loader)
    s_keys = unique_keys(request.get("after") or [])
    recorded = set(MigrationRecorder(connection).applied_migrations())
    exact, replaced_by = classify_rows(run, executor.loader, s_keys, recorded)
    graph = executor.loader.graph
    nodes = plan_nodes(run, graph, exact, replaced_by)
    full_plan = executor.migration_plan(graph.leaf_nodes(), clean_start=True)
    # Reverse of the order Django would apply everything on an empty database.
    plan = defer_non_atomic([m for m, _ in reversed(full_plan) if (m.app_label, m.name) in nodes], graph)

    noop = apply_noop_reverse(run, plan, request.get("noopReverse") or [], executor.loader, recorded)
    check_plan(run, plan, graph, nodes, set(executor.loader.applied_migrations),
               bool(request.get("allowIrreversible")), noop)
    run.report["segments"] = [
        {"atomic": atomic, "migrations": [run.label((m.app_label, m.name)) for m in migrations]}
        for atomic, migrations in segments(plan, connection)
    ]
    if request.get("analyse", True):
        analyse(run, executor, connection, plan, full_plan)
    evaluate_commands(run, executor.loader, connection, request, exact, recorded)
    return executor, plan
