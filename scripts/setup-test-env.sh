#!/usr/bin/env bash
# Installs what the tests need on a Debian machine: PostgreSQL 15 server binaries,
# the OpenSSH server, kubectl is expected on PATH, and a Python virtualenv with
# Django 5.2 and psycopg2 in .venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need_apt+=(postgresql-15)
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need_apt+=(openssh-client)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
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
  .venv/bin/pip install -q 'django>=5.2,<5.3' psycopg2-binary
fi
.venv/bin/python -c 'import django; print("django", django.get_version())'
