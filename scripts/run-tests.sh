#!/usr/bin/env bash
# Runs the pytest suite on SQLite and, when FINCRM_TEST_DATABASE_URL is set, on PostgreSQL.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
WORKERS=${FINCRM_TEST_WORKERS:-2}

browser_ready=0
if [ -x /usr/bin/chromium ]; then browser_ready=1; fi

run() {  # run LABEL DATABASE_URL MARKER_EXPRESSION
  local label=$1 url=$2 markers=$3
  echo "== pytest on $label =="
  if [ -n "$url" ]; then export DATABASE_URL=$url; else unset DATABASE_URL; fi
  $BIN/pytest -q -n "$WORKERS" -m "$markers" -p no:randomly
}

status=0
if [ -n "${FINCRM_TEST_DATABASE_URL:-}" ]; then
  run SQLite "" "not browser" || status=1
  if [ $browser_ready = 1 ]; then
    run PostgreSQL "$FINCRM_TEST_DATABASE_URL" "" || status=1
  else
    echo "!! browser tests SKIPPED: /usr/bin/chromium is missing (apt-get install chromium fonts-noto-cjk)"
    run PostgreSQL "$FINCRM_TEST_DATABASE_URL" "not browser" || status=1
  fi
else
  echo "!! PostgreSQL pass SKIPPED: FINCRM_TEST_DATABASE_URL is not set"
  if [ $browser_ready = 1 ]; then
    run SQLite "" "" || status=1
  else
    echo "!! browser tests SKIPPED: /usr/bin/chromium is missing (apt-get install chromium fonts-noto-cjk)"
    run SQLite "" "not browser" || status=1
  fi
fi
exit $status
