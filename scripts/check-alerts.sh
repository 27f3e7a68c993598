#!/usr/bin/env bash
# Checks the alerting rules in observability/alerts, all steps even when one fails:
#   1. promtool check rules: YAML, PromQL, duplicate rules
#   2. promtool test rules: the unit tests (each alert fires, and holds back where it must)
#   3. every alert has severity, summary, description and a runbook_url pointing at its own
#      section of docs/runbook.md (`## <AlertName>`, anchor #<alertname>), and that section exists
# promtool comes from scripts/prometheus.sh, which builds it first when missing.
# Exits non-zero when any step fails.
#
# Usage: scripts/check-alerts.sh
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  "") ;;
  -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
  *) echo "check-alerts: unknown argument $1 (see --help)" >&2; exit 2 ;;
esac

rules=observability/alerts/storefront.rules.yaml
tests=observability/alerts/storefront.rules.test.yaml
runbook=docs/runbook.md
runbook_base=https://github.com/storefront-dev/storefront/blob/main/docs/runbook.md

log() { printf '[check-alerts %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

bin=$(scripts/prometheus.sh --print-bin)
promtool="$bin/promtool"

# What each alert must carry; prints one line per problem.
alert_metadata() {
  awk -v base="$runbook_base" '
    function finish(   k) {
      if (name == "") return
      for (k in need) if (!(k in seen)) { printf "%s: no %s\n", name, k; bad = 1 }
      if (("runbook_url" in seen) && url != base "#" tolower(name)) {
        printf "%s: runbook_url is %s, expected %s#%s\n", name, url, base, tolower(name); bad = 1
      }
      name = ""; url = ""
      for (k in seen) delete seen[k]
    }
    BEGIN { need["severity"]; need["summary"]; need["description"]; need["runbook_url"] }
    /^[[:space:]]*- (alert|record|name):/ { finish() }
    /^[[:space:]]*- alert:/ { name = $3 }
    name != "" && /^[[:space:]]+(severity|summary|description|runbook_url):/ {
      key = $1; sub(/:$/, "", key); seen[key] = 1
      if (key == "runbook_url") url = $2
    }
    END { finish(); exit bad }
  ' "$rules" || return 1
  local name missing=0
  if [ ! -f "$runbook" ]; then
    echo "$runbook does not exist"
    return 1
  fi
  while read -r name; do
    if ! grep -qx "## $name" "$runbook"; then
      echo "$name: $runbook has no section '## $name'"
      missing=1
    fi
  done < <(sed -n 's/^[[:space:]]*- alert:[[:space:]]*//p' "$rules")
  return "$missing"
}

failed=()
step() { # description command...
  local what=$1; shift
  log "$what"
  if "$@"; then
    log "ok: $what"
  else
    log "FAILED: $what"
    failed+=("$what")
  fi
}

step "promtool check rules $rules" "$promtool" check rules "$rules"
step "promtool test rules $tests" "$promtool" test rules "$tests"
step "every alert has severity, summary, description and its section in $runbook" alert_metadata

if [ ${#failed[@]} -gt 0 ]; then
  log "${#failed[@]} of 3 checks failed:"
  printf '  - %s\n' "${failed[@]}" >&2
  exit 1
fi
log "the alerting rules pass all 3 checks ($("$promtool" --version 2>&1 | head -n1))"
