#!/usr/bin/env bash
# The main job. Installs dependencies, builds Ferry, then on loopback:
#   - makes a CA and a certificate per region with the openssl CLI, and a random password per user;
#   - starts two regions, east and west, one ferry-broker each (FERRY_QUICKSTART_BROKERS=3: each one
#     etcd member and three ferry-brokers replicating every partition three times,
#     min.insync.replicas 2), listening on SASL_SSL only, with
#     SCRAM-SHA-512 logins, Kafka ACLs and allow.everyone.if.no.acl.found = false; the super user
#     "admin" is used by this script alone, to store the other users and their ACLs;
#   - each component logs in as its own user holding only the ACLs it needs: the application as
#     "app", ferry-mirror as "mirror", ferry-dr as "dr" (scripts/quickstart_security.sh);
#   - starts ferry-mirror: east -> west with the identity policy, and the reverse flow paused;
#   - starts `ferry-dr watch`;
#   - runs a real application (python3-confluent-kafka: an idempotent keyed producer writing a text
#     corpus shipped by Debian at a steady rate, and a consumer group reading it), which follows
#     the bootstrap file ferry-dr rewrites at failover;
#   - with three brokers per region, SIGKILLs a broker of east under the application's load and
#     restarts it: `ferry-dr status` must see east under-replicated, then whole again (the report
#     shows both, with the times);
#   - runs `ferry-dr drill` (planned failover east -> west and failback under its own workload too);
#   - prints the drill report and the application's own accounting, and shuts everything down
#     with SIGTERM;
#   - verifies every region's security audit chain and prints the logins and denials it recorded.
# Exits 0 only if the drill passed (RPO 0, 0 re-delivered), the application's consumed stream
# equals the corpus exactly, the broker loss was seen and healed, and every audit chain verifies.
# Safe to re-run: everything lives in a fresh temp dir (FERRY_KEEP_TMP=1 keeps it: logs, audit
# logs, certificates).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
scripts/setup-deps.sh
scripts/build.sh ferry-broker ferry-mirror ferry-dr ferry-admin
BIN="$ROOT/build"
source "$ROOT/scripts/quickstart_security.sh"

WORK=$(mktemp -d /tmp/ferry-quickstart.XXXXXX)
PIDS=()
ETCD_PIDS=()  # stopped after every broker
cleanup() {
  for pid in "${PIDS[@]}" "${ETCD_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if [ "${FERRY_KEEP_TMP:-0}" = 1 ]; then echo "kept $WORK (logs, audit logs, certificates)"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
t_start=$(date +%s.%N)
# Outside the ephemeral range, so no client connection of this run takes it before its process binds it.
free_port() { /usr/bin/python3 "$ROOT/tests/integration/ports.py" 1; }
wait_port() {  # PORT PID LOG
  for _ in $(seq 1 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || { echo "process $2 exited early:"; tail -40 "$3"; exit 1; }
    sleep 0.1
  done
  echo "nothing listens on port $1:"; tail -40 "$3"; exit 1
}

qs_pki
qs_passwords
qs_client_config admin > /dev/null
echo "== CA and region certificates made with openssl in $WORK/pki; passwords (mode 0600) in $WORK/secrets"

# A region: one ferry-broker by default. FERRY_QUICKSTART_BROKERS=3 makes each region one etcd
# member (its cluster metadata, registrations and controller election) and three ferry-brokers
# replicating every partition three times (docs/replication.md), and adds a broker loss under load.
# Not the default yet: ferry-mirror still dies of SIGSEGV inside librdkafka 2.0.2 in about 1 of 8
# such runs (the supervisor below restarts it, but the connection it drops mid-handshake shows as
# a failed login in the audit check); see docs/replication.md.
BROKERS=${FERRY_QUICKSTART_BROKERS:-1}
case "$BROKERS" in 1|3) ;; *) echo "FERRY_QUICKSTART_BROKERS = '$BROKERS'; expected 1 or 3"; exit 2 ;; esac
declare -A PORT BOOT ETCD BPID
start_etcd() {  # REGION
  local client peer
  client=$(free_port); peer=$(free_port)
  /usr/bin/etcd --name "$1" --data-dir "$WORK/$1-etcd" \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$1=http://127.0.0.1:$peer" --initial-cluster-state new --initial-cluster-token "ferry-$1" \
    --logger=zap --log-outputs=stderr 2> "$WORK/$1-etcd.log" &
  ETCD_PIDS+=($!)
  wait_port "$client" $! "$WORK/$1-etcd.log"
  ETCD[$1]=127.0.0.1:$client
}
start_broker() {  # REGION NODE_ID
  "$BIN/broker/ferry-broker" --config "$WORK/$1-$2.toml" 2>> "$WORK/$1-$2.log" &
  BPID[$1-$2]=$!
  PIDS+=($!)
}
for region in east west; do
  [ "$BROKERS" -gt 1 ] && start_etcd "$region"
  ports=()
  for i in $(seq 1 $BROKERS); do ports+=("$(free_port)"); done
  PORT[$region]=${ports[0]}
  BOOT[$region]=$(printf '127.0.0.1:%s,' "${ports[@]}"); BOOT[$region]=${BOOT[$region]%,}
  for i in $(seq 1 $BROKERS); do
    cat > "$WORK/$region-$i.toml" <<TOML
node.id = $i
log.dirs = "$WORK/$region-$i-data"
num.partitions = 3
group.initial.rebalance.delay.ms = 0
$([ "$BROKERS" -gt 1 ] && cat <<CLUSTER
default.replication.factor = $BROKERS
min.insync.replicas = 2
metadata.store = "etcd"
etcd.endpoints = "${ETCD[$region]}"
etcd.prefix = "/ferry/$region"
# Replication between the region's brokers: SASL_SSL too, as the super user, trusting the CA.
ssl.truststore.location = "$WORK/pki/ca.crt"
inter.broker.sasl.username = "admin"
inter.broker.sasl.password = "$(cat "$WORK/secrets/admin.pw")"
CLUSTER
)
$(qs_broker_security "$region" "${ports[$((i - 1))]}")
TOML
    chmod 600 "$WORK/$region-$i.toml"
  done
  # The region's first credential, in etcd before any broker starts (Kafka: kafka-storage format
  # --add-scram).
  "$BIN/broker/ferry-broker" --config "$WORK/$region-1.toml" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=$(cat "$WORK/secrets/admin.pw")]" > "$WORK/$region-1.log" 2>&1
  for i in $(seq 1 $BROKERS); do start_broker "$region" "$i"; done
  for i in $(seq 1 $BROKERS); do wait_port "${ports[$((i - 1))]}" "${BPID[$region-$i]}" "$WORK/$region-$i.log"; done
  for _ in $(seq 1 100); do
    [ "$(qs_admin "$region" --json cluster describe 2>/dev/null | /usr/bin/python3 -c 'import json, sys; print(len(json.load(sys.stdin)["brokers"]))' 2>/dev/null)" = "$BROKERS" ] && break
    sleep 0.2
  done
  qs_users "$region"
  # The application's topic: created by the admin (the application may not create topics); the
  # mirror creates its replica in west (replication factor: the brokers' default.replication.factor).
  if [ "$region" = east ]; then
    qs_admin "$region" topics create --topic corpus --partitions 3 --replication-factor $BROKERS \
      --config min.insync.replicas=$((BROKERS > 1 ? 2 : 1)) > /dev/null
  fi
  qs_acls "$region"
  echo "== region $region:$([ "$BROKERS" -gt 1 ] && echo " etcd ${ETCD[$region]},") $BROKERS ferry-broker(s) on SASL_SSL ${BOOT[$region]}; users app, mirror, dr and their ACLs stored"
done
EAST=${BOOT[east]}
WEST=${BOOT[west]}

MIRROR_PORT=$(free_port)
cat > "$WORK/mirror.toml" <<TOML
[mirror]
"status.listener" = "127.0.0.1:$MIRROR_PORT"
"state.dir" = "$WORK/mirror-state"

[clusters.east]
"bootstrap.servers" = "$EAST"
[clusters.east.client]
$(qs_client_toml mirror)

[clusters.west]
"bootstrap.servers" = "$WEST"
[clusters.west.client]
$(qs_client_toml mirror)

[[flows]]
source = "east"
target = "west"
"replication.policy" = "identity"
"refresh.topics.interval.seconds" = 1
"refresh.groups.interval.seconds" = 1
"emit.checkpoints.interval.seconds" = 1
"sync.group.offsets.interval.seconds" = 1

[[flows]]
source = "west"
target = "east"
"replication.policy" = "identity"
"refresh.topics.interval.seconds" = 1
"refresh.groups.interval.seconds" = 1
"emit.checkpoints.interval.seconds" = 1
"sync.group.offsets.interval.seconds" = 1
paused = true
TOML
# ferry-mirror runs supervised, as systemd's Restart=on-failure would run it: its positions come
# from the target, so a restart neither loses nor duplicates records (docs/mirror.md). A restart is
# not hidden: each is recorded with its exit status and shown at the end.
(
  child=
  trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait "$child"; exit $?' TERM
  while :; do
    "$BIN/mirror/ferry-mirror" --config "$WORK/mirror.toml" 2>> "$WORK/mirror.log" &
    child=$!
    wait "$child" && exit 0
    rc=$?
    echo "$(date +%T.%3N) ferry-mirror exited with status $rc$([ "$rc" -gt 128 ] && echo " (signal $((rc - 128)))"); restarted" \
      >> "$WORK/mirror-restarts.txt"
    sleep 1
  done
) &
PIDS+=($!)
wait_port "$MIRROR_PORT" $! "$WORK/mirror.log"
echo "== ferry-mirror: east -> west (identity policy), west -> east paused; status on 127.0.0.1:$MIRROR_PORT"

DR_PORT=$(free_port)
echo "$EAST" > "$WORK/bootstrap.servers"
cat > "$WORK/dr.toml" <<TOML
[dr]
"state.dir" = "$WORK/dr-state"
"bootstrap.file" = "$WORK/bootstrap.servers"
"metrics.listener" = "127.0.0.1:$DR_PORT"
"watch.interval.seconds" = 1

[regions.east]
"bootstrap.servers" = "$EAST"
[regions.east.client]
$(qs_client_toml dr)

[regions.west]
"bootstrap.servers" = "$WEST"
[regions.west.client]
$(qs_client_toml dr)

[[flows]]
source = "east"
target = "west"
"status.urls" = ["http://127.0.0.1:$MIRROR_PORT"]

[[flows]]
source = "west"
target = "east"
"status.urls" = ["http://127.0.0.1:$MIRROR_PORT"]

[policy]
"drain.timeout.seconds" = 30
TOML
"$BIN/dr-orchestrator/ferry-dr" watch --config "$WORK/dr.toml" 2> "$WORK/dr-watch.log" &
WATCH_PID=$!
PIDS+=($WATCH_PID)
wait_port "$DR_PORT" $WATCH_PID "$WORK/dr-watch.log"
echo "== ferry-dr watch: metrics and status on 127.0.0.1:$DR_PORT; clients follow $WORK/bootstrap.servers"
# Both brokers start in the primary role; west is the running flow's target, so watch fences it on
# its first evaluation: only east accepts application writes.
role() { "$BIN/dr-orchestrator/ferry-dr" role "$1" --config "$WORK/dr.toml" 2>/dev/null | awk '{print $2}'; }
for _ in $(seq 1 100); do [ "$(role west)" = standby ] && break; sleep 0.2; done
echo "== roles: east $(role east), west $(role west) (set by ferry-dr watch)"

# A real corpus shipped by Debian (base-files): every license text, numbered line by line.
CORPUS="$WORK/corpus.txt"
cat /usr/share/common-licenses/* > "$CORPUS"
LINES=$(grep -c . "$CORPUS")
for _ in $(seq 1 100); do
  if /usr/bin/python3 -c 'import sys, urllib.request; sys.exit(b"\"source\":\"corpus\"" not in urllib.request.urlopen(sys.argv[1]).read())' \
       "http://127.0.0.1:$MIRROR_PORT/status" 2>/dev/null; then break; fi
  sleep 0.2
done

RATE=250
echo "== application: $LINES corpus lines at $RATE/s (idempotent keyed producer + consumer group 'readers')"
/usr/bin/python3 "$ROOT/scripts/quickstart_app.py" "$WORK/bootstrap.servers" "$CORPUS" corpus readers "$RATE" 150 \
  "$(qs_client_config app)" > "$WORK/app.json" 2> "$WORK/app.log" &
APP_PID=$!
PIDS+=($APP_PID)
sleep 3

# A broker of the primary region dies under the application's load (SIGKILL) and comes back:
# ferry-dr status must see the region under-replicated (acks=all goes on: min.insync.replicas = 2
# of 3), then whole again. Its lines go into the report below.
east_health() {  # -> "state brokers under_replicated offline" (status exits non-zero while degraded)
  local h
  h=$("$BIN/dr-orchestrator/ferry-dr" status --json --config "$WORK/dr.toml" 2>/dev/null | /usr/bin/python3 -c '
import json, sys
r = next(r for r in json.load(sys.stdin)["regions"] if r["region"] == "east")
print(r["state"], r["brokers"], r["under_replicated_partitions"], r["offline_partitions"])' 2>/dev/null || true)
  echo "${h:-unknown - - -}"
}
BROKER_LOSS="$WORK/broker-loss.md"
wait_health() {  # WHAT PREDICATE-ON-"state brokers under offline" -> appends a report row, 1 on timeout
  local t0 h
  t0=$(date +%s%N)
  for _ in $(seq 1 240); do
    h=$(east_health)
    # shellcheck disable=SC2086
    if $2 $h; then
      printf '| %s | %d ms | %s |\n' "$1" $((($(date +%s%N) - t0) / 1000000)) "$h" >> "$BROKER_LOSS"
      return 0
    fi
    sleep 0.25
  done
  printf '| %s | not seen in 60 s | %s |\n' "$1" "$h" >> "$BROKER_LOSS"
  return 1
}
is_degraded() { [ "$3" != - ] && [ "$3" -gt 0 ] && [ "$4" = 0 ] && [ "$2" = $((BROKERS - 1)) ]; }
is_whole() { [ "$3" = 0 ] && [ "$4" = 0 ] && [ "$2" = "$BROKERS" ]; }
{
  echo "## A broker of the primary region lost and restarted under the application's load"
  echo
  echo "ferry-dr status of east: state, live brokers, under-replicated and offline partitions, each"
  echo "as read from the brokers' Metadata when seen (polled every 0.25 s; the time is since the step)."
  echo
  echo "| step | seen after | state brokers under-replicated offline |"
  echo "|---|---|---|"
  printf '| before | - | %s |\n' "$(east_health)"
} > "$BROKER_LOSS"
LOSS_SEEN=0
BACK_SEEN=0
if [ "$BROKERS" -gt 1 ]; then
echo "== SIGKILL of east broker $BROKERS under load; ferry-dr status must see east degraded, then whole"
set +e
VICTIM=${BPID[east-$BROKERS]}
kill -KILL "$VICTIM"
wait "$VICTIM" 2>/dev/null
for i in "${!PIDS[@]}"; do [ "${PIDS[$i]}" = "$VICTIM" ] && unset "PIDS[$i]"; done
PIDS=("${PIDS[@]}")
wait_health "SIGKILL of broker $BROKERS: under-replicated" is_degraded
LOSS_SEEN=$?
start_broker east "$BROKERS"
wait_health "broker $BROKERS restarted: ISRs full again" is_whole
BACK_SEEN=$?
set -e
sed 's/^/   /' "$BROKER_LOSS"
else
  : > "$BROKER_LOSS"  # one broker per region: nothing to lose and keep serving
fi

echo "== ferry-dr drill (planned failover east -> west, verification, failback), progress:"
set +e
"$BIN/dr-orchestrator/ferry-dr" drill --config "$WORK/dr.toml" --report "$WORK/drill.md" > "$WORK/drill-stdout.md" 2> >(sed 's/^/   /' >&2)
DRILL=$?
set -e

echo "== waiting for the application to finish the corpus"
set +e
wait $APP_PID
APP=$?
set -e

echo "== least privilege: each component tries what its ACLs do not allow (kcat)"
set +e
qs_denied_attempts east west
DENIED_OK=$?
set -e

ROLES="$(role east) $(role west)"
echo "== roles after the drill: east/west = $ROLES (expected: primary standby)"
echo "== stopping (SIGTERM): ferry-dr watch, ferry-mirror, brokers, etcd"
STOPPED=0
# Reverse start order: the watchers and the mirror go before the brokers they talk to.
for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
  pid=${PIDS[$i]}
  [ "$pid" = "$APP_PID" ] && continue
  kill -TERM "$pid" 2>/dev/null || true
  set +e; wait "$pid"; rc=$?; set -e
  [ "$rc" -eq 0 ] || { echo "   process $pid exited $rc"; STOPPED=1; }
done
PIDS=()
for pid in "${ETCD_PIDS[@]}"; do  # etcd exits 143 on SIGTERM after a clean stop
  kill -TERM "$pid" 2>/dev/null || true
ETCD_PIDS=()
  [ "$rc" -eq 0 ] || [ "$rc" -eq 143 ] || { echo "   etcd $pid exited $rc"; STOPPED=1; }
done
ETCD_PIDS=()
t_end=$(date +%s.%N)

echo
cat "$WORK/drill.md"
[ -s "$BROKER_LOSS" ] && { echo; cat "$BROKER_LOSS"; }
if [ -s "$WORK/mirror-restarts.txt" ]; then
  echo
  echo "## ferry-mirror restarts by its supervisor"
  echo
  sed 's/^/- /' "$WORK/mirror-restarts.txt"
fi
set +e
/usr/bin/python3 - "$WORK/app.json" "$LINES" "$t_start" "$t_end" "$DRILL" "$STOPPED" "$ROLES" <<'PY'
import json, sys
path, lines, t0, t1, drill, stopped, roles = sys.argv[1:]
try:
    a = json.load(open(path))
except Exception as e:
    print(f"\nThe application printed no summary ({e}); see app.log"); sys.exit(1)
moved = " -> ".join(s["servers"].rsplit(":", 1)[1] for s in a["switches"] if s["client"] == "producer")
print(f"""
## The application (python3-confluent-kafka), across both regions

| measure | value |
|---|---|
| corpus | /usr/share/common-licenses/* ({a['lines']} non-empty lines; {lines} counted by grep) |
| acknowledged | {a['acknowledged']} (twice: {a['acknowledged_twice']}) |
| writes refused while fenced, then retried | {a['refused_writes']} |
| consumed | {a['consumed']} ({a['unique']} unique) |
| re-delivered | **{a['redelivered']}** |
| missing | **{a['missing']}** |
| out of order within a key | {a['out_of_order']} |
| consumed stream equals the corpus | **{'yes' if a['identical'] else 'NO'}** |
| producer's regions (ports) | {moved} |
| ferry-dr drill exit | {drill} |
| clean shutdown | {'yes' if stopped == '0' else 'NO'} |
| roles at the end (east west) | {roles} |
| total time after the build | {float(t1) - float(t0):.1f} s |
""")
ok = (a["identical"] and a["redelivered"] == 0 and a["missing"] == 0 and drill == "0" and stopped == "0"
      and roles == "primary standby")
sys.exit(0 if ok else 1)
PY
APP_OK=$?
set -e
echo
echo "== audit: ferry-admin audit verify of each region's security log, with its anchor"
set +e
qs_audit_report east west
AUDIT_OK=$?
set -e
echo
if [ "$APP_OK" -eq 0 ] && [ "$AUDIT_OK" -eq 0 ] && [ "$DENIED_OK" -eq 0 ] && [ "$LOSS_SEEN" -eq 0 ] && [ "$BACK_SEEN" -eq 0 ]; then
  echo "RESULT: PASS"
else
  echo "RESULT: FAIL"; exit 1
fi
