#!/usr/bin/env bash
# deps.sh: the one place that installs what ptdispatch needs on a fresh
# Debian 12: build dependencies and the real peers the tests start.
# Fast path: when everything is installed it prints one short line.
# As root it installs what is missing; otherwise it prints the command.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config
  libevent-dev libsodium-dev libssl-dev libjansson-dev libcmocka-dev
  clang libclang-rt-14-dev
  python3 curl
  # real peers the tests talk to
  obfs4proxy tor shadowsocks-libev coturn dnsmasq dnsutils
  dante-server tinyproxy haproxy
  # benchmarks: the comparison relay
  socat valgrind
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "installed" ]]; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "deps: all ${#PACKAGES[@]} packages installed"
  exit 0
fi

install_cmd=(apt-get install -y --no-install-recommends "${missing[@]}")

if [[ $(id -u) -ne 0 ]]; then
  echo "deps: missing packages: ${missing[*]}" >&2
  echo "deps: run as root:" >&2
  echo "  apt-get update && DEBIAN_FRONTEND=noninteractive ${install_cmd[*]}"
  exit 1
fi

echo "deps: installing: ${missing[*]}"

# Services in these packages (tor, dnsmasq, haproxy, coturn, danted,
# tinyproxy) must not start during the install and grab ports: a
# policy-rc.d that refuses every start, only if there is none already.
policy=/usr/sbin/policy-rc.d
own_policy=0
cleanup() {
  if [[ $own_policy -eq 1 ]]; then
    rm -f "$policy"
  fi
}
trap cleanup EXIT
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\n# written by ptdispatch scripts/deps.sh during an install\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=1
fi

apt-get update
DEBIAN_FRONTEND=noninteractive "${install_cmd[@]}"

# Belt and braces: where systemd runs, make sure the peers' own services are
# neither running nor enabled (the tests start their own instances).
if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
  for unit in tor dnsmasq haproxy coturn danted tinyproxy shadowsocks-libev; do
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
fi

still=()
for pkg in "${missing[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || still+=("$pkg")
done
if [[ ${#still[@]} -ne 0 ]]; then
  echo "deps: still missing after install: ${still[*]}" >&2
  exit 1
fi
echo "deps: done"
