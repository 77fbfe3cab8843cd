#!/usr/bin/env bash
# Installs what the tests need on a Debian machine: PostgreSQL 15 server binaries,
# the OpenSSH server, kubectl is expected on PATH, a Python virtualenv with
# Django 5.2, psycopg2 and pyflakes in .venv, and .venv-django32: Debian's own
# Django 3.2 with Debian's packages of third-party apps (their real migrations,
# for __tests__/fixtures/thirdparty-project). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need_apt+=(postgresql-15)
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need_apt+=(openssh-client)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
# Django 3.2 (the oldest rollback.py supports) and apps that ship squashes,
# data migrations and an irreversible RunPython; see the fixture's README.md.
django32_apt=(python3-django python3-psycopg2 python3-django-cas-server python3-django-health-check
  python3-django-axes python3-django-taggit python3-django-reversion python3-django-celery-beat
  python3-django-oauth-toolkit)
for pkg in "${django32_apt[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${need_apt[*]}; run as root or: sudo apt-get install -y ${need_apt[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
mkdir -p /run/sshd 2>/dev/null || true

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import django, psycopg2' 2>/dev/null; then
  python3 -m venv .venv
  # Where the machine has a local package mirror, use it first: the public index
  # may be unreachable and pip spends ~30 s retrying it before falling back.
  if [ -d /opt/pypi/simple ]; then export PIP_INDEX_URL=file:///opt/pypi/simple; fi
  .venv/bin/pip install -q 'django>=5.2,<5.3' psycopg2-binary ||
    { echo "setup-test-env.sh: pip could not install Django 5.2 and psycopg2-binary into .venv (no package index? set PIP_INDEX_URL)" >&2; exit 1; }
fi
# scripts/lint-python.sh runs pyflakes on src/django/*.py.
if ! .venv/bin/python -c 'import pyflakes' 2>/dev/null; then
  if [ -d /opt/pypi/simple ]; then export PIP_INDEX_URL=file:///opt/pypi/simple; fi
  .venv/bin/pip install -q pyflakes ||
    { echo "setup-test-env.sh: pip could not install pyflakes into .venv (no package index? set PIP_INDEX_URL)" >&2; exit 1; }
fi
.venv/bin/python -c 'import django; print("django", django.get_version())'

# The system Python's site-packages hold Debian's Django 3.2 and the apps: a venv
# that sees them gives the tests one interpreter path, like .venv.
if [ ! -x .venv-django32/bin/python ] || ! .venv-django32/bin/python -c 'import django, psycopg2' 2>/dev/null; then
  rm -rf .venv-django32
  /usr/bin/python3 -m venv --system-site-packages .venv-django32
fi
.venv-django32/bin/python -c '
import django, cas_server, health_check, axes, taggit, reversion, django_celery_beat, oauth2_provider
assert django.VERSION[:2] == (3, 2), django.get_version()
print(".venv-django32: django", django.get_version())'
# kubectl is expected on PATH, not installed by this script: say now when it is missing, not in the middle of the tests.
command -v kubectl >/dev/null 2>&1 ||
  echo "setup-test-env.sh: warning: kubectl is not on PATH; the kubectl tests and npm run bench need it" >&2
