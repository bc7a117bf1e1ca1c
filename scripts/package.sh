#!/usr/bin/env bash
# Build the Lambda package from a slim venv, then run Zappa in it.
#
#   scripts/package.sh STAGE                       zappa package STAGE; prints and checks the size
#   scripts/package.sh STAGE --settings F --zappa update|deploy|manage ARGS...
#                                                  what python -m deploy runs
#
# Zappa packages the venv it runs in. The dev venv holds moto, playwright and the Claude
# Agent SDK (its bundled CLI alone is ~400 MB): far over Lambda's limit. .venv-package
# holds requirements/base.txt (what the web app and the handlers import) plus Zappa.
set -euo pipefail
cd "$(dirname "$0")/.."

stage=${1:?usage: scripts/package.sh STAGE [--settings FILE] [--zappa ACTION ARGS...]}
shift
settings=zappa_settings.json
action=(package)
while [ $# -gt 0 ]; do
  case $1 in
    --settings) settings=$2; shift 2 ;;
    --zappa) shift; action=("$@"); break ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

venv=.venv-package
zappa_pin=$(grep -i '^zappa==' requirements/constraints.txt)
want=$(cat requirements/base.txt requirements/constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$venv/.stamp" ] || [ "$(cat "$venv/.stamp")" != "$want" ]; then
  [ -x .venv/bin/python ] || scripts/bootstrap.sh   # the interpreter: the one .venv was made with
  echo "==> building $venv (requirements/base.txt + $zappa_pin)"
  rm -rf "$venv"
  .venv/bin/python -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r requirements/base.txt "$zappa_pin" -c requirements/constraints.txt
  echo "$want" > "$venv/.stamp"
fi

# The dashboard's static files (its CSS, django-htmx's htmx) go into the package, hashed
# and compressed, for WhiteNoise. Collecting reads settings but touches no database.
echo "==> collectstatic (production settings)"
DJANGO_SETTINGS_MODULE=jobmanager.settings_production DJANGO_SECRET_KEY=collectstatic-only \
  DJANGO_ALLOWED_HOSTS=localhost DATABASE_URL=postgres://collectstatic@localhost/none \
  "$venv/bin/python" manage.py collectstatic --noinput --clear --verbosity 0

export VIRTUAL_ENV="$PWD/$venv" PATH="$PWD/$venv/bin:$PATH"
if [ "${action[0]}" != package ]; then
  exec zappa "${action[0]}" "$stage" -s "$settings" "${action[@]:1}"
fi

mkdir -p .deploy
zip=.deploy/job-manager-$stage.zip
rm -f "$zip"
echo "==> zappa package $stage"
zappa package "$stage" -s "$settings" -o "$zip"
# Lambda's limits: 250 MB unzipped (Zappa uploads through S3), 50 MB zipped for direct upload.
python - "$zip" <<'EOF'
import sys, zipfile, os
path = sys.argv[1]
with zipfile.ZipFile(path) as z:
    unzipped = sum(i.file_size for i in z.infolist())
    names = set(z.namelist())
zipped = os.path.getsize(path)
print(f"package {path}: {zipped / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB unzipped "
      f"(Lambda limits: 50 MB zipped direct upload, 250 MB unzipped)")
for required in ("handler.py", "zappa_settings.py", "django_zappa_app.py", "lambdas/dispatcher.py",
                 "jobmanager/settings_production.py", "staticfiles/staticfiles.json"):
    if required not in names:
        sys.exit(f"package is missing {required}")
for forbidden in ("moto/", "claude_agent_sdk/", "playwright/", "pytest/", "tests/conftest.py"):
    if any(n.startswith(forbidden) for n in names):
        sys.exit(f"package must not contain {forbidden}")
if unzipped >= 250 * 1024 * 1024:
    sys.exit("package is over Lambda's 250 MB unzipped limit")
EOF
