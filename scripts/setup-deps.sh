#!/usr/bin/env bash
# Installs every Debian 12 package Ferry needs to build, test and run. Safe to re-run: it only
# calls apt-get when something is missing. Must run as root (or with sudo available).
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config git
  # libraries
  libboost-dev libssl-dev libspdlog-dev libfmt-dev libtomlplusplus-dev libgtest-dev libgmock-dev libcli11-dev
  nlohmann-json3-dev libcurl4-openssl-dev prometheus-cpp-dev
  libsasl2-dev librdkafka-dev zlib1g-dev libzstd-dev liblz4-dev libsnappy-dev
  # Cyrus SASL's PLAIN and SCRAM server plugins (the broker's SASL; libsasl2-dev only recommends them)
  libsasl2-modules openssl
  # real Kafka clients used by tests, the quickstart and the benchmark
  kcat python3 python3-confluent-kafka python3-kafka
  # etcd (cluster metadata and controller election of multi-broker regions, issue 17); tests start
  # their own members on free ports, so Debian's etcd.service on 2379 is never used by Ferry
  etcd-server
  # process and network tools used by the test harnesses; a Debian text corpus for the quickstart
  procps iproute2 base-files
  # nft: the cluster fault tests cut a broker off its peers and etcd with an nftables table
  nftables
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup-deps: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
