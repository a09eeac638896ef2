#!/usr/bin/env bash
# Real-stack test: the exporter in demo mode, a real Prometheus loading the
# rule files of deploy/prometheus, a real Alertmanager with the configuration
# of deploy/alertmanager, and a webhook receiver, all on 127.0.0.1.
#
# It asserts that
#   1. compose's Prometheus configuration passes promtool, and the deploy
#      YAML files parse (when python3 has PyYAML);
#   2. every query of the dashboards in dashboards/ runs on that Prometheus
#      and returns data, except where an empty answer is expected (see
#      EXPECTED_EMPTY below);
#   3. a VM the simulator fails makes VeeamEMReplicaTaskFailed fire in
#      Prometheus, a VM whose backups fail VeeamEMBackupTaskFailed, and a VM
#      of the CDP policy it fails VeeamEMCDPTaskFailed, and Alertmanager
#      delivers each to the webhook with the backup_server, job_name and vm
#      labels, severity and annotations;
#   4. the VM the simulator stopped protecting two hours before its start
#      (found as the VM, backed up and replicated, whose newest protection
#      is the oldest) makes VeeamEMVMUnprotected fire once a rule file of
#      the test's own sets its RPO to an hour, as a user would with
#      veeam_em_vm_rpo_override_seconds, and it reaches the webhook with its
#      backup_server and vm labels;
#   5. the exporter health alerts stay quiet meanwhile.
#
# Needs: go, python3, curl, Prometheus 3.x (prometheus and promtool:
# PROMETHEUS and PROMTOOL, else GOBIN or GOPATH/bin, else PATH; see
# deploy/prometheus/install-prometheus3.sh), prometheus-alertmanager (or
# alertmanager), amtool. Bounded: gives up after five and a half minutes. Every
# process it starts is stopped on exit; all files live in one temporary
# directory, removed on exit.
#
# Usage: bash deploy/real-stack-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# The per-VM alerts that must fire and reach the webhook: the demo fails
# replica tasks now and then, one VM's backup at every run and every task of
# one CDP policy; VeeamEMVMUnprotected is the unprotected VM's, below.
readonly alert_names=(VeeamEMReplicaTaskFailed VeeamEMBackupTaskFailed VeeamEMCDPTaskFailed VeeamEMVMUnprotected)
# The VM the demo stopped protecting two hours before its start, and the RPO
# the test gives it. Empty names: found in Prometheus (see below); set both
# to name it instead, e.g. as emsim's Landmarks() gives it.
readonly unprotected_backup_server=${UNPROTECTED_BACKUP_SERVER:-}
readonly unprotected_vm=${UNPROTECTED_VM:-}
readonly unprotected_rpo_seconds=3600
# Everything, the build included, ends within budget_seconds (plus the
# shutdown); the dashboard phase may use dashboards_wait_seconds of it.
readonly budget_seconds=330
readonly dashboards_wait_seconds=60
readonly log_tail_lines=40

started=$SECONDS
work=$(mktemp -d)
pids=()
names=()

step() { printf '=== [%3ds] %s\n' $((SECONDS - started)) "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# On any failure: the tail of every log and what the webhook received. Then
# stop the processes, newest first, and remove the temporary directory.
cleanup() {
  local status=$? i
  if ((status != 0)); then
    for name in "${names[@]}"; do
      printf '\n--- %s log (last %d lines)\n' "$name" "$log_tail_lines" >&2
      tail -n "$log_tail_lines" "$work/$name.log" >&2 || true
    done
    printf '\n--- webhook received\n' >&2
    tail -c 4000 "$work/webhook.jsonl" >&2 2>/dev/null || echo "(nothing)" >&2
  fi
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
  done
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts a background process whose output goes to $work/<name>.log.
start() {
  local name=$1
  shift
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
}

# Polls a URL until it answers 2xx; fails early if the process serving it died.
wait_http() {
  local name=$1 url=$2 pid=$3 tries
  for ((tries = 0; tries < 150; tries++)); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || fail "$name exited before answering $url"
    sleep 0.2
  done
  fail "$name did not answer $url within 30s"
}

for tool in go python3 curl amtool; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
# shellcheck source=prometheus/prometheus3.sh
source deploy/prometheus/prometheus3.sh
prometheus=$(prometheus3_find prometheus PROMETHEUS) || exit 1
promtool=$(prometheus3_find promtool PROMTOOL) || exit 1
echo "prometheus $(prometheus3_version "$prometheus") ($prometheus)"
echo "promtool $(prometheus3_version "$promtool") ($promtool)"
alertmanager_bin=$(command -v prometheus-alertmanager || command -v alertmanager) ||
  fail "prometheus-alertmanager (Debian) or alertmanager is not installed"
for required in deploy/prometheus/veeam_em_rules.yml deploy/prometheus/veeam_em_alerts.yml \
  deploy/alertmanager/alertmanager.yml; do
  [[ -f $required ]] || fail "$required is missing"
done
compgen -G 'dashboards/*.json' >/dev/null || fail "no dashboards/*.json"

# Four distinct free loopback ports, all held open until all are chosen.
read -r exporter_port webhook_port alertmanager_port prometheus_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
')
webhook_url="http://127.0.0.1:$webhook_port/alerts"

step "deploy files: compose's Prometheus configuration and YAML syntax"
# The compose stack cannot run here (no Docker daemon on CI), so its
# Prometheus configuration is checked in the layout the containers see.
mkdir -p "$work/compose/rules"
cp deploy/compose/prometheus.yml "$work/compose/prometheus.yml"
cp deploy/prometheus/veeam_em_rules.yml deploy/prometheus/veeam_em_alerts.yml "$work/compose/rules/"
"$promtool" check config "$work/compose/prometheus.yml" >"$work/promtool-compose.out" 2>&1 ||
  { cat "$work/promtool-compose.out"; fail "promtool check config deploy/compose/prometheus.yml"; }
python3 - deploy/docker-compose.yml deploy/compose/*.yml deploy/grafana/provisioning/*/*.yml \
  deploy/kubernetes/*.yaml <<'PY' || fail "YAML syntax"
import sys

try:
    import yaml
except ImportError:
    print("YAML syntax: skipped, python3 has no PyYAML")
    sys.exit(0)
for path in sys.argv[1:]:
    with open(path) as f:
        list(yaml.safe_load_all(f))
print("YAML syntax: %d files parse" % len(sys.argv[1:]))
PY

step "build the exporter"
go build -o "$work/veeam_em_exporter" .

step "start the exporter (demo) on 127.0.0.1:$exporter_port"
start exporter "$work/veeam_em_exporter" --demo --web.listen-address="127.0.0.1:$exporter_port"
# /-/ready turns true after the first refresh, which a scrape triggers.
wait_http exporter "http://127.0.0.1:$exporter_port/metrics" "${pids[-1]}"
wait_http exporter "http://127.0.0.1:$exporter_port/-/ready" "${pids[-1]}"

step "start the webhook receiver on 127.0.0.1:$webhook_port"
cat >"$work/webhook.py" <<'PY'
import http.server
import sys

port, out = int(sys.argv[1]), sys.argv[2]


class Receiver(http.server.BaseHTTPRequestHandler):
    """Appends each POSTed body (one Alertmanager notification) as a line."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(out, "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(200)
        self.end_headers()

    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
PY
: >"$work/webhook.jsonl"
start webhook python3 "$work/webhook.py" "$webhook_port" "$work/webhook.jsonl"
wait_http webhook "$webhook_url" "${pids[-1]}"

step "start Alertmanager on 127.0.0.1:$alertmanager_port (deploy/alertmanager, receivers -> webhook)"
# The routing tree, grouping and inhibitions are the real ones. What changes:
# every receiver is replaced by one of the same name that posts to the local
# webhook (the example's receivers point at mail servers, chat or pagers),
# and group_wait/group_interval are cut to seconds so a notification cannot
# wait minutes behind an earlier one of its group. Files next to the
# configuration (templates) are copied with it.
cp -R deploy/alertmanager "$work/alertmanager"
python3 - "$work/alertmanager/alertmanager.yml" "$webhook_url" <<'PY'
import re
import sys

path, url = sys.argv[1], sys.argv[2]
lines = open(path).read().split("\n")
top_level = re.compile(r"^[^\s#]")

start = next((i for i, l in enumerate(lines) if re.match(r"^receivers:\s*(#.*)?$", l)), None)
if start is None:
    sys.exit("alertmanager.yml: no top-level receivers:")
end = next((i for i in range(start + 1, len(lines)) if top_level.match(lines[i])), len(lines))
block = lines[start + 1:end]
item_indent = min((len(l) - len(l.lstrip()) for l in block if l.lstrip().startswith("- ")), default=None)
if item_indent is None:
    sys.exit("alertmanager.yml: receivers: has no entries")
# Receivers with no integration (a "null" receiver that drops on purpose)
# stay so; every other one posts to the webhook instead.
entries = []
for l in block:
    m = re.match(r"^ {%d}- name:\s*(.+?)\s*$" % item_indent, l)
    if m:
        entries.append([m.group(1), False])
    elif entries and re.match(r"^\s+\w+_configs:", l):
        entries[-1][1] = True
if not entries:
    sys.exit("alertmanager.yml: no receiver names found")

receivers = ["receivers:"]
for name, integrated in entries:
    receivers.append("  - name: %s" % name)
    if integrated:
        receivers += [
            "    webhook_configs:",
            "      - url: %s" % url,
            "        send_resolved: true",
        ]
rewritten = "\n".join(lines[:start] + receivers + lines[end:])
rewritten = re.sub(r"(?m)^(\s*group_wait:\s*)\S+", r"\g<1>2s", rewritten)
rewritten = re.sub(r"(?m)^(\s*group_interval:\s*)\S+", r"\g<1>5s", rewritten)
open(path, "w").write(rewritten)
print("receivers posting to the webhook: " + ", ".join(n for n, i in entries if i))
PY
amtool check-config "$work/alertmanager/alertmanager.yml" >"$work/amtool.out" 2>&1 ||
  { cat "$work/amtool.out"; fail "amtool check-config rejects the derived configuration"; }
start alertmanager "$alertmanager_bin" \
  --config.file="$work/alertmanager/alertmanager.yml" \
  --storage.path="$work/alertmanager-data" \
  --web.listen-address="127.0.0.1:$alertmanager_port" \
  --cluster.listen-address=
wait_http alertmanager "http://127.0.0.1:$alertmanager_port/-/ready" "${pids[-1]}"

step "start Prometheus on 127.0.0.1:$prometheus_port (deploy/prometheus rules)"
# The recording rules are the real file. The alerting rules are the real file
# with every `for:` cut to 10s, so that an alert fires within this test's time
# budget instead of after the 10 to 60 minutes a production page waits; the
# expressions, labels and annotations are unchanged.
mkdir -p "$work/prometheus"
cp deploy/prometheus/veeam_em_rules.yml "$work/prometheus/veeam_em_rules.yml"
sed -E 's/^([[:space:]]+for:[[:space:]]*)[0-9][0-9smhdwy]*[[:space:]]*$/\110s/' \
  deploy/prometheus/veeam_em_alerts.yml >"$work/prometheus/veeam_em_alerts.yml"
for_keys=$(grep -cE '^[[:space:]]+for:' deploy/prometheus/veeam_em_alerts.yml || true)
shortened=$(grep -cE '^[[:space:]]+for: 10s$' "$work/prometheus/veeam_em_alerts.yml" || true)
((for_keys == shortened)) || fail "shortened $shortened of $for_keys for: durations in veeam_em_alerts.yml"
cat >"$work/prometheus/prometheus.yml" <<EOF
global:
  scrape_interval: 5s
  scrape_timeout: 4s
  evaluation_interval: 5s
rule_files:
  - veeam_em_rules.yml
  - veeam_em_alerts.yml
  - test_overrides.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:$alertmanager_port']
scrape_configs:
  - job_name: veeam_em
    static_configs:
      - targets: ['127.0.0.1:$exporter_port']
EOF
# The test's own overrides, as a user's rule file next to the shipped ones:
# empty until the unprotected VM is known, then Prometheus reloads it.
printf 'groups: []\n' >"$work/prometheus/test_overrides.yml"
"$promtool" check config "$work/prometheus/prometheus.yml" >"$work/promtool.out" 2>&1 ||
  { cat "$work/promtool.out"; fail "promtool check config"; }
start prometheus "$prometheus" \
  --config.file="$work/prometheus/prometheus.yml" \
  --storage.tsdb.path="$work/prometheus-data" \
  --web.listen-address="127.0.0.1:$prometheus_port"
prometheus_pid=${pids[-1]}
wait_http prometheus "http://127.0.0.1:$prometheus_port/-/ready" "$prometheus_pid"
prometheus_url="http://127.0.0.1:$prometheus_port"

cat >"$work/check.py" <<'PY'
"""Assertions on Prometheus's API answers and the webhook's notifications."""
import json
import math
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

# Dashboard queries allowed to return nothing against a freshly started
# demo: (dashboard file, panel title, fragment of the query, why). Every other
# query must return data.
EXPECTED_EMPTY = [
    ("veeam-em-overview.json", "Failing and stale VMs", "",
     "lists only VMs whose latest replica failed or is older than its RPO; at some moments the simulator has none"),
    ("veeam-em-vm.json", "Job success ratio (24h)", "success_ratio_24h",
     "needs a task session of the selected job completed since the exporter started; its job runs every 4 minutes"),
    ("veeam-em-vm.json", "Task duration", "histogram_quantile",
     "needs a task session of the selected job completed since the exporter started; its job runs every 4 minutes"),
    ("veeam-em-vm.json", "Backup task duration", "veeam_em_backup_task_duration_seconds:p95_1d",
     "needs a backup task session of the VM's backup jobs completed since the exporter started; they run every 6 and 15 minutes"),
    ("veeam-em-overview.json", "VMs whose latest backup failed, warned or is stale", "",
     "lists only VMs whose latest backup failed, warned or is older than its RPO; at some moments the simulator has none"),
]


# Dashboards whose drill-down is also run with a second VM, chosen by a
# query, for the panels the first VM leaves empty: the demo's CDP VMs are in
# no replica job and its replicated VMs in no CDP policy, so no one VM has
# both restore points and CDP sessions. A panel passes with data for either.
SECOND_VM = {
    "veeam-em-protection.json": 'veeam_em:vm_protection_age_seconds{kind="cdp"}',
}


def second_vm(prometheus, file, variables):
    """The variables with backup_server and vm of the dashboard's second VM,
    or None."""
    query_ = SECOND_VM.get(file)
    if not query_:
        return None
    found = sorted(query(prometheus, query_), key=lambda s: (s["metric"]["backup_server"], s["metric"]["vm"]))
    if not found:
        return None
    second = dict(variables)
    second["backup_server"] = promql_string(found[0]["metric"]["backup_server"])
    second["vm"] = promql_string(found[0]["metric"]["vm"])
    return second


def run_query(prometheus, promql):
    """The answer of an instant query, errors included."""
    url = prometheus + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        return get(url)
    except urllib.error.HTTPError as e:
        return json.load(e)


def expected_empty(file, title, expr):
    """Why the query may return nothing, or None if it must return data."""
    for f, t, fragment, why in EXPECTED_EMPTY:
        if f == file and t == title and fragment in expr:
            return why
    return None


PER_VM_LABELS = ("backup_server", "job_name", "vm")


def get(url):
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def query(prometheus, promql):
    """The result of an instant query."""
    return get(prometheus + "/api/v1/query?" + urllib.parse.urlencode({"query": promql}))["data"]["result"]


def matches_vm(labels, vm_file):
    """Whether an alert's labels name a VM: any VM of any job (backup_server,
    job_name and vm set), or with vm_file the one VM it names, by backup_server
    and vm (an alert about the VM as a whole carries no job_name)."""
    if vm_file is None:
        return all(labels.get(k) for k in PER_VM_LABELS)
    vm = json.load(open(vm_file))
    return labels.get("backup_server") == vm["backup_server"] and labels.get("vm") == vm["vm"]


def firing(prometheus, alert, vm_file=None):
    """Exit 0 once `alert` fires in Prometheus for a VM (the one of vm_file)."""
    alerts = get(prometheus + "/api/v1/alerts")["data"]["alerts"]
    hits = [a for a in alerts if a["labels"].get("alertname") == alert and a["state"] == "firing"]
    for a in hits:
        if matches_vm(a["labels"], vm_file):
            print("firing in Prometheus: %s" % a["labels"])
            return 0
    return 1


def unprotected(prometheus, min_age, vm_file):
    """Write to vm_file the VM, backed up and replicated, whose newest
    protection of any kind is the oldest but not +Inf (a VM whose every
    session fails is another case): the one the demo stopped protecting.
    Exit 1 while the ages are not recorded yet, 2 if that VM's newest
    protection is younger than min_age seconds."""
    found = query(prometheus, """topk(1,
        (min without (kind) (veeam_em:vm_protection_age_seconds) < Inf)
        and on (job, instance, backup_server, vm) veeam_em:vm_protection_age_seconds{kind="backup"}
        and on (job, instance, backup_server, vm) veeam_em:vm_protection_age_seconds{kind="replica_session"}
    )""")
    if not found:
        return 1
    labels, age = found[0]["metric"], float(found[0]["value"][1])
    print("VM whose newest protection is the oldest: %s on %s, %.0fs old"
          % (labels["vm"], labels["backup_server"], age))
    if age <= float(min_age):
        print("  younger than %ss: the demo has no VM it stopped protecting" % min_age)
        return 2
    json.dump({"backup_server": labels["backup_server"], "vm": labels["vm"]}, open(vm_file, "w"))
    return 0


def named_vm(backup_server, vm, vm_file):
    """Write the VM named on the command line to vm_file."""
    json.dump({"backup_server": backup_server, "vm": vm}, open(vm_file, "w"))
    return 0


def override(vm_file, seconds, rule_file):
    """Write a rule file setting the VM's own RPO to `seconds`, as a user
    would. JSON strings are YAML double-quoted scalars, so any name fits."""
    vm = json.load(open(vm_file))
    with open(rule_file, "w") as f:
        f.write("groups:\n  - name: real_stack_test_overrides\n    rules:\n")
        f.write("      - record: veeam_em_vm_rpo_override_seconds\n")
        f.write("        expr: vector(%d)\n" % int(seconds))
        f.write("        labels:\n")
        f.write("          backup_server: %s\n" % json.dumps(vm["backup_server"]))
        f.write("          vm: %s\n" % json.dumps(vm["vm"]))
    return 0


def rpo_in_force(prometheus, vm_file, seconds):
    """Exit 0 once the VM's RPO in force is `seconds`."""
    vm = json.load(open(vm_file))
    result = query(prometheus, 'backup_server_vm:veeam_em_vm_rpo_threshold:seconds{backup_server="%s", vm="%s"}'
                   % (promql_string(vm["backup_server"]), promql_string(vm["vm"])))
    values = [float(r["value"][1]) for r in result]
    if values and all(v == float(seconds) for v in values):
        print("RPO in force for %s on %s: %ss" % (vm["vm"], vm["backup_server"], seconds))
        return 0
    return 1


def quiet(prometheus, *alerts):
    """Exit 1 if one of `alerts` is pending or firing."""
    found = [a for a in get(prometheus + "/api/v1/alerts")["data"]["alerts"]
             if a["labels"].get("alertname") in alerts]
    for a in found:
        print("%s is %s: %s" % (a["labels"]["alertname"], a["state"], a["labels"]))
    return 1 if found else 0


def delivered(webhook_file, alert, vm_file=None):
    """Exit 0 once the webhook got `alert` firing, with VM labels, severity and
    annotations; with vm_file, for the VM it names."""
    required = PER_VM_LABELS if vm_file is None else ("backup_server", "vm")
    with open(webhook_file) as f:
        for line in f:
            notification = json.loads(line)
            for a in notification.get("alerts", []):
                labels, annotations = a.get("labels", {}), a.get("annotations", {})
                if labels.get("alertname") != alert or a.get("status") != "firing":
                    continue
                if vm_file is not None and not matches_vm(labels, vm_file):
                    continue
                missing = [k for k in required + ("severity",) if not labels.get(k)]
                missing += [k for k in ("summary", "description", "runbook_url") if not annotations.get(k)]
                if missing:
                    print("delivered without %s: %s" % (", ".join(missing), labels))
                    return 2
                print("delivered to webhook (receiver %s): %s" % (notification.get("receiver"), labels))
                print("  summary: %s" % annotations["summary"])
                return 0
    return 1


INTERVALS = {
    "__rate_interval": "1m", "__interval": "1m", "__range": "1h",
    "__range_s": "3600", "__range_ms": "3600000", "__interval_ms": "60000",
}


def promql_string(value):
    """A label value escaped for a double-quoted PromQL string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def substitute(expr, variables):
    """Replace Grafana's variables by their values."""
    def repl(m):
        name = m.group(1) or m.group(2)
        if name in INTERVALS:
            return INTERVALS[name]
        if name in variables:
            return variables[name]
        raise ValueError("unknown variable $%s" % name)
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)


def label_values(prometheus, query, variables):
    """The values a label_values(...) variable query offers, sorted."""
    m = re.fullmatch(r"\s*label_values\((?:(.*),)?\s*(\w+)\s*\)\s*", query)
    if not m:
        raise ValueError("unsupported variable query %r" % query)
    selector, label = m.group(1), m.group(2)
    params = {"match[]": substitute(selector, variables)} if selector else {}
    answer = get(prometheus + "/api/v1/label/%s/values?%s" % (label, urllib.parse.urlencode(params)))
    return sorted(answer["data"])


class NoValues(Exception):
    """A variable's query found nothing (yet): args are its name and query."""


def resolve_variables(prometheus, dashboard):
    """Each template variable's value on a fresh load of the dashboard: "All"
    where the variable offers it, else the first of its sorted values, as
    Grafana picks when nothing is saved. Variables resolve in order, so a
    later one sees the values of those before it."""
    variables = {}
    for v in dashboard.get("templating", {}).get("list", []):
        kind, name = v.get("type"), v["name"]
        if kind in ("datasource", "adhoc"):
            continue
        if kind == "interval":
            variables[name] = "1m"
        elif v.get("includeAll"):
            variables[name] = v.get("allValue") or ".*"
        elif kind == "query":
            query = v.get("query")
            query = query.get("query", "") if isinstance(query, dict) else query
            values = label_values(prometheus, query, variables)
            if not values:
                raise NoValues(name, query)
            variables[name] = promql_string(values[0])
        elif kind in ("custom", "constant", "textbox"):
            current = v.get("current", {}).get("value") or v.get("query", "").split(",")[0]
            variables[name] = promql_string(current)
        else:
            raise ValueError("unsupported variable type %s of $%s" % (kind, name))
    return variables


def dashboard_queries(dashboard):
    """(panel title, expr) of every query in a dashboard, rows included."""
    queries = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    queries.append((p.get("title", "(untitled)"), t["expr"]))
            walk(p.get("panels", []))

    walk(dashboard.get("panels", []))
    return queries


def has_data(result):
    """A vector, matrix or scalar with at least one number that is not NaN."""
    kind, value = result["resultType"], result["result"]
    if kind == "scalar":
        samples = [value[1]]
    elif kind == "vector":
        samples = [s["value"][1] for s in value]
    else:
        samples = [v[1] for s in value for v in s["values"]]
    return any(not math.isnan(float(x)) for x in samples)


def dashboards(prometheus, final, *paths):
    """Run every dashboard query. Exit 0 if all ran and only expected ones were
    empty; 1 if some unexpected ones were empty (worth retrying); 2 on errors."""
    total, errors, empty, chosen = 0, [], [], []
    for path in paths:
        file = path.rsplit("/", 1)[-1]
        dashboard = json.load(open(path))
        try:
            variables = resolve_variables(prometheus, dashboard)
        except NoValues as e:
            empty.append((None, "%s: variable $%s" % (file, e.args[0]), e.args[1]))
            continue
        except ValueError as e:
            errors.append("%s: %s" % (file, e))
            continue
        chosen.append("%s: %s" % (file, ", ".join("$%s=%s" % kv for kv in variables.items())))
        second = second_vm(prometheus, file, variables)
        if second:
            chosen.append("%s, second VM: $backup_server=%s, $vm=%s" % (file, second["backup_server"], second["vm"]))
        for title, expr in dashboard_queries(dashboard):
            total += 1
            name = "%s: %s" % (file, title)
            try:
                promql = substitute(expr, variables)
            except ValueError as e:
                errors.append("%s: %s in %s" % (name, e, expr))
                continue
            answer = run_query(prometheus, promql)
            if answer.get("status") == "success" and not has_data(answer["data"]) and second:
                answer = run_query(prometheus, substitute(expr, second))
            if answer.get("status") != "success":
                errors.append("%s: %s\n    %s" % (name, answer.get("error"), promql))
            elif not has_data(answer["data"]):
                empty.append((expected_empty(file, title, expr), name, promql))
    unexpected = [e for e in empty if e[0] is None]
    if final or errors or not unexpected:
        print("dashboard queries: %d run, %d errors, %d without data (%d of them allowed)"
              % (total, len(errors), len(empty), len(empty) - len(unexpected)))
        for c in chosen:
            print("  variables of %s" % c)
        for e in errors:
            print("  ERROR %s" % e)
        for why, name, promql in empty:
            print("  %s %s\n    %s" % ("no data, allowed (%s):" % why if why else "NO DATA", name, promql))
    elif unexpected:
        print("  %d of %d without data yet, retrying: %s"
              % (len(unexpected), total, "; ".join(sorted({e[1] for e in unexpected}))))
    if total == 0 and not errors:
        errors.append("no queries found in %s" % ", ".join(paths))
        print("  ERROR " + errors[-1])
    if errors:
        return 2
    return 1 if unexpected else 0


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "firing":
        sys.exit(firing(*args))
    if command == "quiet":
        sys.exit(quiet(*args))
    if command == "delivered":
        sys.exit(delivered(*args))
    if command == "unprotected":
        sys.exit(unprotected(*args))
    if command == "named_vm":
        sys.exit(named_vm(*args))
    if command == "override":
        sys.exit(override(*args))
    if command == "rpo_in_force":
        sys.exit(rpo_in_force(*args))
    if command == "dashboards":
        sys.exit(dashboards(args[0], args[1] == "final", *args[2:]))
    sys.exit("unknown command " + command)
PY

step "wait for Prometheus to scrape the exporter successfully three times"
# up is 1 for a successful scrape only: Prometheus 3 rejects a scrape whose
# Content-Type it cannot parse, for instance, and then the target's lastError
# says why.
for ((tries = 0; ; tries++)); do
  scrapes=$(curl -fsS "$prometheus_url/api/v1/query" \
    --data-urlencode 'query=sum_over_time(up{job="veeam_em"}[1m])' |
    python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else 0)')
  ((scrapes >= 3)) && break
  if ((tries >= 30)); then
    curl -fsS "$prometheus_url/api/v1/targets" | python3 -c '
import json, sys
for t in json.load(sys.stdin)["data"]["activeTargets"]:
    print("target %s: health %s, lastError %r" % (t["scrapeUrl"], t["health"], t["lastError"]))' >&2 || true
    fail "Prometheus scraped the exporter successfully $scrapes times in 30s"
  fi
  sleep 1
done

step "dashboard queries against Prometheus (retrying empty ones for at most ${dashboards_wait_seconds}s)"
# Rates need two scrapes in their window and the recording rules an
# evaluation, so an unexpected empty answer is retried a few times first.
deadline=$((SECONDS + dashboards_wait_seconds))
while :; do
  final=retry
  ((SECONDS + 5 < deadline)) || final=final
  rc=0
  python3 "$work/check.py" dashboards "$prometheus_url" "$final" dashboards/*.json || rc=$?
  ((rc == 0)) && break
  if ((rc != 1)) || [[ $final == final ]]; then fail "dashboard queries"; fi
  sleep 5
done

alert_deadline=$((started + budget_seconds))

# The unprotected VM's newest protection is two hours old, far within the
# default RPO of 24 hours: the test sets the VM's own RPO to an hour with a
# rule file, as a user would, and Prometheus reloads it (SIGHUP). The ages
# are recorded by now, as the dashboard queries returned data.
unprotected_file="$work/unprotected_vm.json"
if [[ -n $unprotected_backup_server && -n $unprotected_vm ]]; then
  step "the unprotected VM, as named: $unprotected_vm on $unprotected_backup_server"
  python3 "$work/check.py" named_vm "$unprotected_backup_server" "$unprotected_vm" "$unprotected_file"
else
  step "find the VM the demo stopped protecting"
  while :; do
    rc=0
    python3 "$work/check.py" unprotected "$prometheus_url" "$unprotected_rpo_seconds" "$unprotected_file" || rc=$?
    ((rc == 0)) && break
    ((rc == 1 && SECONDS + 2 < alert_deadline)) || fail "no backed-up and replicated VM whose newest protection is older than ${unprotected_rpo_seconds}s"
    sleep 2
  done
fi
step "set its RPO to ${unprotected_rpo_seconds}s with veeam_em_vm_rpo_override_seconds and reload Prometheus"
python3 "$work/check.py" override "$unprotected_file" "$unprotected_rpo_seconds" "$work/prometheus/test_overrides.yml"
"$promtool" check rules "$work/prometheus/test_overrides.yml" >"$work/promtool-overrides.out" 2>&1 ||
  { cat "$work/promtool-overrides.out"; fail "promtool check rules on the test's override"; }
kill -HUP "$prometheus_pid"
until python3 "$work/check.py" rpo_in_force "$prometheus_url" "$unprotected_file" "$unprotected_rpo_seconds"; do
  ((SECONDS + 2 < alert_deadline)) || fail "the VM's RPO override did not take effect after the reload"
  kill -0 "$prometheus_pid" 2>/dev/null || fail "prometheus exited after the reload"
  sleep 2
done

# The simulator fails VMs at pseudo-random moments (8% of tasks, retried a
# minute later), so how long the first failure takes varies: usually under
# 30 seconds, but the demo has quiet spells of several minutes without a
# failing VM. The CDP policy it fails and the unprotected VM fire at once.
# The wait uses whatever is left of the time budget, and the test fails
# rather than pass without having seen the alert.
for alert_name in "${alert_names[@]}"; do
  step "wait for $alert_name to fire and reach the webhook (at most $((alert_deadline - SECONDS))s)"
  # VeeamEMVMUnprotected is about the VM as a whole (no job_name): it must
  # be the unprotected VM's.
  for_vm=()
  [[ $alert_name != VeeamEMVMUnprotected ]] || for_vm=("$unprotected_file")
  in_prometheus=false
  at_webhook=false
  while ((SECONDS < alert_deadline)); do
    if ! $in_prometheus && python3 "$work/check.py" firing "$prometheus_url" "$alert_name" "${for_vm[@]}"; then
      in_prometheus=true
    fi
    if $in_prometheus; then
      rc=0
      python3 "$work/check.py" delivered "$work/webhook.jsonl" "$alert_name" "${for_vm[@]}" || rc=$?
      ((rc != 2)) || fail "$alert_name reached the webhook incomplete"
      if ((rc == 0)); then
        at_webhook=true
        break
      fi
    fi
    for i in "${!pids[@]}"; do
      kill -0 "${pids[i]}" 2>/dev/null || fail "${names[i]} exited"
    done
    sleep 2
  done
  $in_prometheus || fail "$alert_name did not fire in Prometheus within $((SECONDS - started))s of the start"
  $at_webhook || fail "$alert_name fired but did not reach the webhook"
done

step "the exporter and Enterprise Manager alerts stay quiet"
python3 "$work/check.py" quiet "$prometheus_url" VeeamEMExporterDown VeeamEMUnreachable VeeamEMRefreshFailing VeeamEMCollectorFailing ||
  fail "an exporter health alert is pending or firing while the exporter is healthy"

step "passed in $((SECONDS - started))s"
