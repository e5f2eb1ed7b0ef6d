#!/usr/bin/env bash
# Issue 15's security benchmark. Builds ferry-broker and ferry-bench (Release), makes a CA and a
# server certificate with the openssl CLI, starts two throwaway brokers on free loopback ports
# and runs ferry-bench's security mode:
#   main       PLAINTEXT, SSL, SASL_SSL and SASL_PLAINTEXT listeners, PLAIN and SCRAM-SHA-512
#              enabled, user "bench" stored with --add-scram, default audit.log.events;
#   audit-all  PLAINTEXT only, audit.log.events = every category (produce and fetch included).
# Prints the JSON and saves it to <build>/bench-security.json. Extra arguments go to ferry-bench
# (e.g. --records 200000 --login-clients 8); bench/security-mode.md explains it.
# If the bench fails, the script names every broker that is no longer running.
#
# Environment overrides, as for bench-mirror.sh:
#   FERRY_BUILD_DIR   build directory (default: build-release)
#   FERRY_SKIP_BUILD  set to 1 to skip cmake/ninja
#   FERRY_BROKER_BIN  broker binary (default: $FERRY_BUILD_DIR/broker/ferry-broker)
#   FERRY_BENCH_BIN   bench binary  (default: $FERRY_BUILD_DIR/bench/ferry-bench)
#   FERRY_KEEP_TMP    set to 1 to keep the temp dir (broker logs, audit logs, certificates)
#   FERRY_AUDIT_ALL_EVENTS  audit.log.events of the audit-all broker (default: every category);
#                     set it to the default set for an A/A control run of the two brokers
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
build="${FERRY_BUILD_DIR:-build-release}"
broker_bin="${FERRY_BROKER_BIN:-$build/broker/ferry-broker}"
bench_bin="${FERRY_BENCH_BIN:-$build/bench/ferry-bench}"

if [[ "${FERRY_SKIP_BUILD:-0}" != 1 ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
  ninja -C "$build" ferry-broker ferry-bench >&2
fi
for bin in "$broker_bin" "$bench_bin"; do
  [[ -x "$bin" ]] || { echo "bench-security.sh: $bin is missing or not executable" >&2; exit 1; }
done
command -v openssl >/dev/null || { echo "bench-security.sh: the openssl CLI is missing (scripts/setup-deps.sh)" >&2; exit 1; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-security.XXXXXX")"
declare -A broker_pids=()
bench_pid=""

# stop_pid PID WHAT GRACE: SIGTERM, then SIGKILL after GRACE seconds.
source "$repo/scripts/stop_pid.sh"

cleanup() {
  local status=$?
  if [[ -n "$bench_pid" ]]; then
    stop_pid "$bench_pid" "ferry-bench" 10
    wait "$bench_pid" 2>/dev/null || true
  fi
  for name in "${!broker_pids[@]}"; do
    stop_pid "${broker_pids[$name]}" "broker $name" 10
    wait "${broker_pids[$name]}" 2>/dev/null || true
  done
  if [[ "${FERRY_KEEP_TMP:-0}" == 1 ]]; then
    echo "bench-security.sh: kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Certificates: an EC P-256 CA and a server certificate for 127.0.0.1/localhost, the keystore in
# Kafka's PEM form (certificate then key in one file), as tests/integration/security_pki.py does.
pki="$tmp/pki"
mkdir -p "$pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/ca.key" \
  -out "$pki/ca.crt" -days 2 -subj "/O=Ferry Bench/CN=Ferry Bench CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/broker.key" \
  -out "$pki/broker.csr" -subj "/O=Ferry Bench/CN=localhost" 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' \
  >"$pki/broker.ext"
openssl x509 -req -in "$pki/broker.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -set_serial 2 \
  -days 2 -out "$pki/broker.crt" -extfile "$pki/broker.ext" 2>/dev/null
cat "$pki/broker.crt" "$pki/broker.key" >"$pki/broker.keystore.pem"

# The bench user's password: random, in a 0600 file the bench reads (-X sasl.password.file).
umask 077
head -c 18 /dev/urandom | base64 | tr -d '\n/+=' >"$tmp/password"
umask 022

# Outside the ephemeral range and reserved machine-wide (tests/integration/ports.py).
read -r plain_port ssl_port sasl_ssl_port sasl_plain_port audit_port < <(/usr/bin/python3 tests/integration/ports.py 5)

write_config() {
  local name="$1" listeners="$2" extra="$3"
  mkdir -p "$tmp/$name/logs"
  cat >"$tmp/$name/broker.toml" <<TOML
node.id = 0
listeners = "$listeners"
log.dirs = "$tmp/$name/logs"
num.partitions = 1
$extra
TOML
}

# A broker with the ACL authorizer (main after the 'acl' merge) defaults to `acl` as soon as a
# listener is not PLAINTEXT, which would deny the bench everything: measure transport and
# auditing with `authorizer = "allow-all"` on both brokers (the same on each, so the ratios stay
# fair). A broker without the key (before ACLs) would refuse it, so only set it when known.
authorizer=""
broker_help="$("$broker_bin" --help 2>&1 || true)"
if grep -qE '^  authorizer  ' <<<"$broker_help"; then
  authorizer='authorizer = "allow-all"'
fi

write_config main \
  "PLAINTEXT://127.0.0.1:$plain_port,SSL://127.0.0.1:$ssl_port,SASL_SSL://127.0.0.1:$sasl_ssl_port,SASL_PLAINTEXT://127.0.0.1:$sasl_plain_port" \
  "\"ssl.keystore.location\" = \"$pki/broker.keystore.pem\"
\"sasl.enabled.mechanisms\" = \"PLAIN,SCRAM-SHA-512\"
$authorizer"
write_config audit-all "PLAINTEXT://127.0.0.1:$audit_port" \
  "\"audit.log.events\" = \"${FERRY_AUDIT_ALL_EVENTS:-authentication,authorization-denied,management,produce,fetch,other}\"
$authorizer"

# --add-scram takes the password in its argument (ferry-broker's interface); it is a throwaway
# made above, and the tool exits before the broker starts.
"$broker_bin" --config "$tmp/main/broker.toml" \
  --add-scram "SCRAM-SHA-512=[name=bench,password=$(cat "$tmp/password")]" >"$tmp/main/add-scram.log" 2>&1 || {
  echo "bench-security.sh: ferry-broker --add-scram failed:" >&2; cat "$tmp/main/add-scram.log" >&2; exit 1; }

start_broker() {
  local name="$1"
  "$broker_bin" --config "$tmp/$name/broker.toml" >"$tmp/$name/broker.log" 2>&1 &
  broker_pids[$name]=$!
}

wait_listening() {
  local name="$1" port="$2" pid="${broker_pids[$1]}"
  for _ in $(seq 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "bench-security.sh: broker $name exited before listening; its log:" >&2
      cat "$tmp/$name/broker.log" >&2
      exit 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "bench-security.sh: broker $name not listening on 127.0.0.1:$port after 30 s; its log:" >&2
  tail -n 50 "$tmp/$name/broker.log" >&2
  exit 1
}

start_broker main
start_broker audit-all
for port in "$plain_port" "$ssl_port" "$sasl_ssl_port" "$sasl_plain_port"; do wait_listening main "$port"; done
wait_listening audit-all "$audit_port"
mkdir -p "$tmp/scratch"

out="$build/bench-security.json"
status=0
"$bench_bin" --bootstrap "127.0.0.1:$plain_port" --security-ssl "127.0.0.1:$ssl_port" \
  --security-sasl-ssl "127.0.0.1:$sasl_ssl_port" --security-sasl-plaintext "127.0.0.1:$sasl_plain_port" \
  --security-audit-all "127.0.0.1:$audit_port" --data-dir "$tmp/scratch" \
  --broker-pid "${broker_pids[main]}" --security-audit-all-pid "${broker_pids[audit-all]}" \
  -X "ssl.ca.location=$pki/ca.crt" -X sasl.mechanism=SCRAM-SHA-512 -X sasl.username=bench \
  -X "sasl.password.file=$tmp/password" "$@" >"$tmp/bench.json" &
bench_pid=$!
wait "$bench_pid" || status=$?
bench_pid=""
dead=0
for name in main audit-all; do
  if ! kill -0 "${broker_pids[$name]}" 2>/dev/null; then
    wait "${broker_pids[$name]}" && rc=0 || rc=$?
    echo "bench-security.sh: broker $name died during the run (exit $rc); last lines of its log:" >&2
    tail -n 30 "$tmp/$name/broker.log" >&2
    dead=1
  fi
done
if [[ "$status" != 0 || "$dead" != 0 ]]; then
  echo "bench-security.sh: ferry-bench exit $status" >&2
  [[ "$status" != 0 ]] || status=1
  exit "$status"
fi
for name in main audit-all; do
  lines=$(cat "$tmp/$name"/logs/ferry-audit/security-audit.log* 2>/dev/null | wc -l)
  echo "bench-security.sh: broker $name wrote $lines audit lines" >&2
done
cp "$tmp/bench.json" "$out"
cat "$out"
echo "bench-security.sh: saved $out" >&2
