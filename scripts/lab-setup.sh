#!/usr/bin/env bash
# Installs what the network-namespace NAT lab (test/lab) needs: iproute2 (ip netns,
# veth, bridge), nftables (the NAT gateways), coturn (turnserver: the lab's STUN and
# TURN server, and the relayed figures of `npm run bench`) and tcpdump (the relay
# test captures what coturn forwards).
# Idempotent: does nothing when every tool is already present.
# Needs root (or sudo) and a Debian/Ubuntu apt.
set -euo pipefail

need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v turnserver >/dev/null 2>&1 || need+=(coturn)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)

if [ "${#need[@]}" -eq 0 ]; then
  echo "lab-setup: iproute2, nftables, coturn and tcpdump already installed"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "lab-setup: apt-get not found; install ${need[*]} by hand" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
    echo "lab-setup: need root (or sudo) to install ${need[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "lab-setup: installed ${need[*]}"
