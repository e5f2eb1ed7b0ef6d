#!/usr/bin/env bash
# The main job (for now: one region). Installs dependencies, builds ferry-broker, starts it on a
# free loopback port, produces a real text corpus shipped by Debian with kcat, consumes it back,
# compares byte for byte, prints a report, and shuts the broker down cleanly. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
scripts/setup-deps.sh
scripts/build.sh ferry-broker

WORK=$(mktemp -d /tmp/ferry-quickstart.XXXXXX)
BROKER_PID=""
cleanup() {
  if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then kill -KILL "$BROKER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
METRICS_PORT=$(free_port)
cat > "$WORK/broker.toml" <<TOML
node.id = 0
listeners = "PLAINTEXT://127.0.0.1:$PORT"
log.dirs = "$WORK/data"
num.partitions = 1
metrics.listener = "127.0.0.1:$METRICS_PORT"
TOML

echo "== starting ferry-broker on 127.0.0.1:$PORT"
"$ROOT/build/broker/ferry-broker" --config "$WORK/broker.toml" 2> "$WORK/broker.log" &
BROKER_PID=$!
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
  kill -0 "$BROKER_PID" 2>/dev/null || { echo "broker exited early:"; cat "$WORK/broker.log"; exit 1; }
  sleep 0.1
done

# A real corpus shipped by Debian (base-files): every license text, empty lines dropped because
# kcat's line mode does not produce empty messages.
CORPUS="$WORK/corpus.txt"
cat /usr/share/common-licenses/* | grep -v '^$' > "$CORPUS"
LINES=$(wc -l < "$CORPUS")
BYTES=$(wc -c < "$CORPUS")

echo "== producing $LINES lines ($BYTES bytes) with kcat"
t0=$(date +%s.%N)
kcat -b "127.0.0.1:$PORT" -P -t corpus -p 0 -X acks=all -l "$CORPUS"
t1=$(date +%s.%N)
echo "== consuming them back with kcat"
timeout 60 kcat -b "127.0.0.1:$PORT" -C -t corpus -p 0 -o beginning -e -q > "$WORK/consumed.txt"
t2=$(date +%s.%N)

if cmp -s "$CORPUS" "$WORK/consumed.txt"; then RESULT="identical"; else RESULT="DIFFERENT"; fi
LEO=$(kcat -b "127.0.0.1:$PORT" -Q -t corpus:0:-1 | awk '{print $NF}')
MSGS_IN=$( (exec 3<>"/dev/tcp/127.0.0.1/$METRICS_PORT"; printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3; cat <&3) \
  | awk '/^kafka_server_brokertopicmetrics_messagesin_total\{topic="corpus"\}/ {print $2}')

echo "== stopping the broker (SIGTERM)"
kill -TERM "$BROKER_PID"
wait "$BROKER_PID"; STATUS=$?
BROKER_PID=""

cat <<REPORT

Ferry quickstart report
  corpus            /usr/share/common-licenses/* ($LINES lines, $BYTES bytes)
  produce (kcat)    $(/usr/bin/python3 -c "print(round($t1-$t0,3))") s, acks=all
  consume (kcat)    $(/usr/bin/python3 -c "print(round($t2-$t1,3))") s
  log end offset    $LEO
  messages in       ${MSGS_IN:-?} (broker metric kafka_server_brokertopicmetrics_messagesin_total)
  round trip        $RESULT
  broker exit       $STATUS (graceful shutdown)
REPORT
[ "$RESULT" = "identical" ] && [ "$STATUS" -eq 0 ] && [ "$LEO" = "$LINES" ]
