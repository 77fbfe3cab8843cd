#!/usr/bin/env bash
# Lints the Python the action ships into the application's container
# (src/django/*.py): pyflakes for mistakes, and a parse with Python 3.8's
# grammar, the oldest Python rollback.py supports, so that syntax from the newer
# Python the tests run on cannot slip in.
set -euo pipefail
cd "$(dirname "$0")/.."

python=.venv/bin/python
files=(src/django/*.py)

if ! "$python" -c 'import pyflakes' 2>/dev/null; then
  echo "lint-python: $python has no pyflakes: run bash scripts/setup-test-env.sh" >&2
  exit 1
fi
echo "pyflakes: ${files[*]}"
if ! "$python" -m pyflakes "${files[@]}"; then
  echo "lint-python: pyflakes found problems in src/django/*.py (above)" >&2
  exit 1
fi

# ast.parse with feature_version=(3, 8) refuses grammar added after 3.8 (match,
# parenthesized context managers, except*, PEP 695...). It does not know which
# library functions are newer: that is for the tests on Django 3.2 / Python 3.11.
"$python" - "${files[@]}" <<'PY'
import ast
import sys

bad = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        src = f.read()
    try:
        ast.parse(src, filename=path, feature_version=(3, 8))
    except SyntaxError as e:
        bad += 1
        print("lint-python: %s:%s:%s: not valid Python 3.8 syntax: %s" % (path, e.lineno, e.offset, e.msg), file=sys.stderr)
if bad:
    print("lint-python: %d file(s) in src/django use syntax newer than Python 3.8, which the action supports" % bad, file=sys.stderr)
    sys.exit(1)
print("python 3.8 syntax: %d file(s) ok" % len(sys.argv[1:]))
PY
