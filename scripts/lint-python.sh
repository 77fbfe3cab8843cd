#!/usr/bin/env bash
# Lints the Python the action ships into the application's container (every
# .py file under src/django/, the rollback modules in src/django/rollback/
# included): pyflakes for mistakes, each file on its own (every module imports
# what it uses), a parse with Python 3.8's grammar, the oldest Python the
# scripts support, so that syntax from the newer Python the tests run on cannot
# slip in, and caps on function and file length.
set -euo pipefail
cd "$(dirname "$0")/.."

python=.venv/bin/python
files=()
while IFS= read -r -d '' file; do files+=("$file"); done < <(find src/django -name '*.py' -not -path '*/__pycache__/*' -print0 | sort -z)
if [ ${#files[@]} -eq 0 ]; then
  echo "lint-python: no Python files under src/django" >&2
  exit 1
fi

if ! "$python" -c 'import pyflakes' 2>/dev/null; then
  echo "lint-python: $python has no pyflakes: run bash scripts/setup-test-env.sh" >&2
  exit 1
fi
# Every check runs, so one run lists every problem.
status=0
echo "pyflakes: ${files[*]}"
if ! "$python" -m pyflakes "${files[@]}"; then
  echo "lint-python: pyflakes found problems in src/django/ (above)" >&2
  status=1
fi

# ast.parse with feature_version=(3, 8) refuses grammar added after 3.8 (match,
# parenthesized context managers, except*, PEP 695...). It does not know which
# library functions are newer: that is for the tests on Django 3.2 / Python 3.11.
"$python" - "${files[@]}" <<'PY' || status=1
import ast
import sys

# A function longer than this is split into named steps.
MAX_FUNCTION_LINES = 120
# A file longer than this is split into modules (src/django/rollback/ is one script in several).
MAX_FILE_LINES = 300

bad_syntax = 0
long_functions = []
long_files = []
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        src = f.read()
    lines = len(src.splitlines())
    if lines > MAX_FILE_LINES:
        long_files.append((path, lines))
    try:
        tree = ast.parse(src, filename=path, feature_version=(3, 8))
    except SyntaxError as e:
        bad_syntax += 1
        print("lint-python: %s:%s:%s: not valid Python 3.8 syntax: %s" % (path, e.lineno, e.offset, e.msg), file=sys.stderr)
        continue
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                long_functions.append((path, node.lineno, node.name, length))
if bad_syntax:
    print("lint-python: %d file(s) in src/django use syntax newer than Python 3.8, which the action supports" % bad_syntax,
          file=sys.stderr)
for path, line, name, length in long_functions:
    print("lint-python: %s:%d: %s() is %d lines long (at most %d): split it into named steps"
          % (path, line, name, length, MAX_FUNCTION_LINES), file=sys.stderr)
for path, lines in long_files:
    print("lint-python: %s is %d lines long (at most %d): split it into modules" % (path, lines, MAX_FILE_LINES),
          file=sys.stderr)
if bad_syntax or long_functions or long_files:
    sys.exit(1)
print("python 3.8 syntax, functions of at most %d lines, files of at most %d: %d file(s) ok"
      % (MAX_FUNCTION_LINES, MAX_FILE_LINES, len(sys.argv[1:])))
PY
exit "$status"
