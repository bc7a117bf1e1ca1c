#!/usr/bin/env bash
# Create .venv with Python >= 3.12 and install the pinned dependencies.
# Idempotent: does nothing when the requirements haven't changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."

ok_version() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }

# Prefer 3.12 (the Lambda runtime), then any newer Python.
find_python() {
  local exe dir root
  for exe in python3.12 python3.13 python3.14 python3; do
    if command -v "$exe" >/dev/null 2>&1 && ok_version "$exe"; then command -v "$exe"; return 0; fi
  done
  # pyenv installs versions without putting them on PATH (its shims fail unless selected).
  if command -v pyenv >/dev/null 2>&1; then
    root=$(pyenv root)
    for dir in $(ls -d "$root"/versions/3.1[2-9]* 2>/dev/null | sort -V); do
      if [ -x "$dir/bin/python3" ] && ok_version "$dir/bin/python3"; then echo "$dir/bin/python3"; return 0; fi
    done
  fi
  return 1
}

stamp=.venv/.requirements-stamp
want=$(cat requirements/*.txt | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

if [ ! -x .venv/bin/python ]; then
  if ! py=$(find_python); then
    echo "error: Python 3.12 or newer is required (Django 6.1 needs it)." >&2
    echo "       Install it (e.g. 'apt install python3.12 python3.12-venv', 'brew install python@3.12'," >&2
    echo "       or 'pyenv install 3.12') and run this again." >&2
    exit 1
  fi
  echo "==> creating .venv with $py ($("$py" --version))"
  "$py" -m venv .venv
fi
echo "==> installing dependencies (requirements/dev.txt, pinned by requirements/constraints.txt)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt -c requirements/constraints.txt
echo "$want" > "$stamp"
