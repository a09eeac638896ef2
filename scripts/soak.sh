#!/usr/bin/env bash
# Soak run (issue 5, deliverable 7): the real exporter against the simulator
# on a fast clock, scraped concurrently for a long stretch; see SOAK.md.
# Not part of `go test ./...`: the test is behind the `soak` build tag.
#
#   scripts/soak.sh                 # 10 minutes = 30 simulated days
#   SOAK_DURATION=90s scripts/soak.sh
#
# Knobs (environment): SOAK_DURATION (10m), SOAK_SPEED (4320 simulated
# seconds per second), SOAK_SCRAPERS (3), SOAK_SCRAPE_INTERVAL (1s per
# scraper), SOAK_PAUSE_EVERY (a fifth of the duration), SOAK_PAGE_SIZE (the
# exporter's --veeam.page-size, 1000), SOAK_SUMMARY (where
# the summary goes; $TMPDIR/veeam-soak-summary.txt by default, the full
# log beside it), SOAK_TIMEOUT (go test -timeout, 2h).
set -euo pipefail
cd "$(dirname "$0")/.."

export SOAK_DURATION="${SOAK_DURATION:-10m}"
export SOAK_SPEED="${SOAK_SPEED:-4320}"
export SOAK_SUMMARY="${SOAK_SUMMARY:-${TMPDIR:-/tmp}/veeam-soak-summary.txt}"
rm -f "$SOAK_SUMMARY"

log="${SOAK_SUMMARY%.txt}.log"
status=0
go test -tags soak -run '^TestSoak$' -count 1 -timeout "${SOAK_TIMEOUT:-2h}" -v . >"$log" 2>&1 || status=$?

if [ -s "$SOAK_SUMMARY" ]; then
  cat "$SOAK_SUMMARY"
else
  echo "no summary written; the test log follows" >&2
  grep -v '^        level=' "$log" >&2 || true
fi
echo "full log: $log"
exit "$status"
