# Sourced by quickstart.sh: the secured set-up of the main job (issue 15, item 9), as an operator
# would do it for two regions. Needs $WORK, $BIN; every function fails the script on error.
#
#   qs_pki                 a CA and one server certificate per region, made with the openssl CLI
#   qs_passwords           a random password per user (admin, app, mirror, dr), files of mode 0600
#   qs_client_config USER  librdkafka properties for USER (ferry-admin's --command-config format)
#   qs_broker_security R   the broker keys of region R: SASL_SSL only, SCRAM-SHA-512, ACLs
#   qs_admin R ARGS…       ferry-admin as the admin user against region R
#   qs_users R             the component users of region R, stored through AlterUserScramCredentials
#   qs_client_toml USER    the same keys as TOML lines, for ferry-mirror's and ferry-dr's client tables
#   qs_acls R              the least-privilege ACLs of region R (docs/security.md, "Least privilege")
#   qs_denied_attempts R   kcat tries what no ACL allows, and a wrong password: each must be refused
#   qs_audit_report R…     verifies each region's audit chain, prints its logins and denials, and
#                          fails on a missing expected denial or any other one
#
# The users and their passwords are the same in both regions: a component keeps its identity when
# it follows the application to the other region.

QS_USERS=(admin app mirror dr)

qs_pki() {
  local pki="$WORK/pki"
  mkdir -p "$pki"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/ca.key" \
    -out "$pki/ca.crt" -days 30 -subj "/O=Ferry Quickstart/CN=Ferry Quickstart CA" 2>/dev/null
  local serial=1 region
  for region in east west; do
    serial=$((serial + 1))
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/$region.key" \
      -out "$pki/$region.csr" -subj "/O=Ferry Quickstart/CN=$region.localhost" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' \
      > "$pki/$region.ext"
    openssl x509 -req -in "$pki/$region.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -set_serial "$serial" \
      -days 30 -out "$pki/$region.crt" -extfile "$pki/$region.ext" 2>/dev/null
    # Kafka's PEM keystore: the certificate chain, then the key (mode 0600: it holds the key).
    (umask 077; cat "$pki/$region.crt" "$pki/$region.key" > "$pki/$region.keystore.pem")
  done
}

qs_passwords() {
  mkdir -p "$WORK/secrets"
  chmod 700 "$WORK/secrets"
  local user
  for user in "${QS_USERS[@]}"; do
    (umask 077; head -c 24 /dev/urandom | base64 | tr -d '\n/+=' > "$WORK/secrets/$user.pw")
  done
}

qs_client_config() {  # USER -> path of a properties file
  local user="$1" file="$WORK/secrets/$1.properties"
  cat > "$file" <<PROPS
security.protocol=SASL_SSL
ssl.ca.location=$WORK/pki/ca.crt
sasl.mechanism=SCRAM-SHA-512
sasl.username=$user
sasl.password.file=$WORK/secrets/$user.pw
PROPS
  echo "$file"
}

# The same keys as TOML inline table entries, for ferry-mirror's [clusters.X.client] and ferry-dr's
# [regions.X.client].
qs_client_toml() {  # USER
  cat <<TOML
"security.protocol" = "SASL_SSL"
"ssl.ca.location" = "$WORK/pki/ca.crt"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.username" = "$1"
"sasl.password.file" = "$WORK/secrets/$1.pw"
TOML
}

qs_broker_security() {  # REGION PORT
  cat <<TOML
listeners = "SASL_SSL://127.0.0.1:$2"
ssl.keystore.location = "$WORK/pki/$1.keystore.pem"
sasl.enabled.mechanisms = "SCRAM-SHA-512"
authorizer = "acl"
super.users = "User:admin"
allow.everyone.if.no.acl.found = false
# A standby takes writes from the mirror alone: its client.id prefix and its login.
ferry.standby.allowed.principals = ["User:mirror"]
TOML
}

qs_admin() {  # REGION ARGS...
  local region="$1"; shift
  "$BIN/admin/ferry-admin" --bootstrap-server "127.0.0.1:${PORT[$region]}" \
    --command-config "$WORK/secrets/admin.properties" "$@"
}

qs_users() {  # REGION
  local user
  for user in app mirror dr; do
    qs_admin "$1" users set "$user" --mechanism SCRAM-SHA-512 --password-file "$WORK/secrets/$user.pw" > /dev/null
  done
}

# Least privilege (docs/security.md, "Least privilege"), found by running
# the drill with ALL granted and audit.log.events set to every category, then keeping only the
# operations the audit log shows each user was granted, then running it again with only those and
# no denial left. One set per region, written for the region R whose peer is O: after a failover
# each component does in west what it did in east. Every call names its resources literally except
# where a component owns a name space (prefixed ferry-mirror., ferry-dr., mm2-offset-syncs.) or
# only looks (ferry-dr may Describe every topic and group, to measure lag and RPO; it reads none).
qs_acls() {  # REGION
  local r="$1" o
  if [ "$r" = east ]; then o=west; else o=east; fi
  # The application: an idempotent producer and the consumer group "readers" on the topic corpus.
  qs_acl "$r" User:app --cluster --operation IdempotentWrite
  qs_acl "$r" User:app --topic corpus --operation Write --operation Read
  qs_acl "$r" User:app --group readers --operation Read

  # ferry-mirror, both directions through this region: it reads and writes the replicated topics
  # (the reverse flow writes them here after a failover), creates them and reads their configs;
  # its own topics; its own groups; the applications' groups it checkpoints (OffsetFetch,
  # Describe) and whose offsets it syncs here (OffsetCommit, Read); DescribeAcls and CreateAcls
  # for ACL sync; IdempotentWrite for its idempotent producer.
  qs_acl "$r" User:mirror --cluster --operation Describe --operation Alter --operation IdempotentWrite
  qs_acl "$r" User:mirror --topic corpus --topic ferry-dr.drill --topic heartbeats --topic "$o.heartbeats" \
    --operation Read --operation Write --operation Create --operation DescribeConfigs
  qs_acl "$r" User:mirror --topic "$o.checkpoints.internal" --operation Write --operation Create
  qs_acl "$r" User:mirror --topic mm2-offset-syncs. --resource-pattern-type prefixed \
    --operation Read --operation Write --operation Create
  qs_acl "$r" User:mirror --group ferry-mirror. --resource-pattern-type prefixed --operation Read
  qs_acl "$r" User:mirror --group readers --group ferry-dr.drill --operation Read

  # ferry-dr: fencing and unfencing write ferry.cluster.role (AlterConfigs on the cluster; it
  # implies DescribeConfigs); its drill and canary topics and groups (ferry-dr.*); ListGroups;
  # and Describe/DescribeConfigs, never Read, on every topic and group to measure lag and RPO.
  qs_acl "$r" User:dr --cluster --operation AlterConfigs --operation Describe --operation IdempotentWrite
  qs_acl "$r" User:dr --topic ferry-dr. --resource-pattern-type prefixed \
    --operation Read --operation Write --operation Create --operation DescribeConfigs
  qs_acl "$r" User:dr --group ferry-dr. --resource-pattern-type prefixed --operation Read
  qs_acl "$r" User:dr --topic '*' --operation Describe --operation DescribeConfigs
  qs_acl "$r" User:dr --group '*' --operation Describe
}

qs_acl() {  # REGION PRINCIPAL ARGS...
  local r="$1" principal="$2"; shift 2
  qs_admin "$r" acls add --allow-principal "$principal" "$@" > /dev/null
}

# Least privilege, shown: with kcat (a librdkafka client, not Ferry's code), the application tries
# to write into the mirror's heartbeats topic, ferry-dr tries to read the application's data, and
# someone tries the app's name with a wrong password, and the application poses as the mirror on
# the standby (ferry.standby.allowed.principals). Each must be refused; the audit report then
# shows each one. Prints one line per attempt; returns 1 if any got through.
qs_refused() {  # WHAT KCAT_OUTPUT: refused means kcat reported a Kafka authorization, authentication or policy error
  local why
  why=$(grep -m1 -io '[a-z ]*\(authoriz\|authentic\|policy violation\)[a-z ]*' "$2" | head -1 | sed 's/^ *//' || true)
  if [ -n "$why" ]; then echo "   $1: refused ($why)"; return 0; fi
  echo "   $1: NOT REFUSED for lack of rights: $(tail -c 300 "$2")"
  return 1
}

qs_denied_attempts() {  # PRIMARY STANDBY
  local region="$1" standby="$2" user ok=0
  for user in app dr; do  # kcat takes librdkafka properties only: the password goes in a 0600 file
    (umask 077; { grep -v '^sasl.password.file=' "$(qs_client_config "$user")"
                  echo "sasl.password=$(cat "$WORK/secrets/$user.pw")"; } > "$WORK/secrets/$user.kcat")
  done
  local bootstrap="127.0.0.1:${PORT[$region]}"
  echo "must not land" | timeout 20 kcat -F "$WORK/secrets/app.kcat" -b "$bootstrap" -P -t heartbeats \
    -X message.timeout.ms=5000 > "$WORK/denied-app.txt" 2>&1 || true
  qs_refused "app writing into heartbeats on $region" "$WORK/denied-app.txt" || ok=1
  timeout 20 kcat -F "$WORK/secrets/dr.kcat" -b "$bootstrap" -C -t corpus -c 1 -e -q \
    > "$WORK/denied-dr.txt" 2>&1 || true
  qs_refused "dr reading corpus on $region" "$WORK/denied-dr.txt" || ok=1
  timeout 20 kcat -F "$WORK/secrets/app.kcat" -X sasl.password=not-the-password -b "$bootstrap" -L \
    > "$WORK/denied-login.txt" 2>&1 || true
  qs_refused "app logging in with a wrong password on $region" "$WORK/denied-login.txt" || ok=1
  # The application holds Write on corpus in both regions (for the day it fails over); calling
  # itself ferry-mirror must not let it write into the standby's replica.
  echo "must not land" | timeout 20 kcat -F "$WORK/secrets/app.kcat" -b "127.0.0.1:${PORT[$standby]}" -P -t corpus \
    -X client.id=ferry-mirror-spoofed -X message.timeout.ms=5000 > "$WORK/denied-spoof.txt" 2>&1 || true
  qs_refused "app posing as ferry-mirror on the standby $standby" "$WORK/denied-spoof.txt" || ok=1
  return $ok
}

qs_audit_report() {  # REGION...
  local region ok=0
  for region in "$@"; do
    local data name
    for data in "$WORK/$region"-*-data; do  # each broker of the region keeps its own chain
      name=$(basename "$data" -data)
      if "$BIN/admin/ferry-admin" audit verify "$data"/ferry-audit/security-audit.log* \
           --anchor "$data/security-audit-anchor.json" > "$WORK/$name-audit-verify.txt" 2>&1; then
        echo "   $name: $(cat "$WORK/$name-audit-verify.txt")"
      else
        echo "   $name: AUDIT CHAIN BROKEN: $(cat "$WORK/$name-audit-verify.txt")"
        ok=1
      fi
    done
  done
  /usr/bin/python3 - "$WORK" "$@" <<'PY'
import glob, json, sys
work, regions = sys.argv[1], sys.argv[2:]
print("\n## Security audit (from the hash-chained logs of each region's brokers; repeats counted)\n")
print("| region | user | logins ok | logins failed | denied checks | denied (api, operation, resource) |")
print("|---|---|---|---|---|---|")
denied, failed = set(), set()
for region in regions:
    files = sorted(glob.glob(f"{work}/{region}-*-data/ferry-audit/security-audit.log*"), reverse=True)
    stats = {}
    for path in files:
        for line in open(path):
            e = json.loads(line)
            d = e.get("data", {})
            n = d.get("repeats", {}).get("count", 1)
            principal = d.get("authenticationInfo", {}).get("principal", "?")
            s = stats.setdefault(principal, {"ok": 0, "failed": 0, "denied": 0, "what": set()})
            if e["type"].endswith("/authentication"):
                if d.get("result", {}).get("status") == "SUCCESS":
                    s["ok"] += n
                else:
                    s["failed"] += n
                    failed.add((region, d.get("result", {}).get("message", "")))
            elif e["type"].endswith("/authorization") and not d["authorizationInfo"]["granted"]:
                a = d["authorizationInfo"]
                s["denied"] += n
                s["what"].add(f"{d['methodName']} {a['operation']} {a['resourceType']}:{a['resourceName']}")
    for principal, s in sorted(stats.items()):
        what = "; ".join(sorted(s["what"])) or "-"
        print(f"| {region} | {principal} | {s['ok']} | {s['failed']} | {s['denied']} | {what} |")
        for w in s["what"]:
            denied.add((region, principal, w.rsplit(":", 1)[1]))
# qs_denied_attempts' tries must be there; any other denial means a component lacked a right.
expected = {("east", "User:app", "heartbeats"), ("east", "User:dr", "corpus")}
missing, unexpected = expected - denied, denied - expected
for m in sorted(missing):
    print(f"\nMISSING from the audit log: the denial of {m[1]} on topic {m[2]} in {m[0]}")
for u in sorted(unexpected):
    print(f"\nUNEXPECTED denial in {u[0]}: {u[1]} on {u[2]} (a component lacks an ACL it needs)")
# A failed login is User:ANONYMOUS (nobody was authenticated); its reason names the claimed user.
if failed != {("east", "SCRAM-SHA-512: wrong password for user 'app'")}:
    print(f"\nFAILED LOGINS expected: the wrong password for 'app' in east alone; found: {sorted(failed)}")
    missing = True
sys.exit(1 if missing or unexpected else 0)
PY
  [ $? -eq 0 ] || ok=1
  return $ok
}
