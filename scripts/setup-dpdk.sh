#!/usr/bin/env bash
# Prepare a Debian 12 host for xfgate's `dpdk` feature: DPDK 22.11 headers and
# libraries, libclang (bindgen), pkg-config, 2 MiB hugepages, hugetlbfs.
# Idempotent: each step says whether it changed something. Needs root for the
# changes; without root it only reports.
#   HUGEPAGES=N  pages of 2 MiB to reserve (default 512 = 1 GiB)
set -euo pipefail

want_pages=${HUGEPAGES:-512}
nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
say() { echo "setup-dpdk: $*"; }
is_root() { [ "$(id -u)" = 0 ]; }

# 1. Packages.
missing=()
for p in libdpdk-dev libclang-dev pkg-config; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    say "packages: libdpdk-dev libclang-dev pkg-config already installed"
elif is_root && command -v apt-get >/dev/null; then
    say "packages: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    say "packages: installed ${missing[*]}"
else
    say "packages: MISSING ${missing[*]} (run as root on Debian/Ubuntu: apt-get install -y ${missing[*]})"
fi
if command -v pkg-config >/dev/null && pkg-config --exists libdpdk; then
    say "DPDK $(pkg-config --modversion libdpdk) (pkg-config libdpdk)"
fi

# 2. Hugepages.
if [ ! -w "$nr" ] && ! is_root; then
    say "hugepages: $(cat "$nr" 2>/dev/null || echo '?') x 2 MiB reserved; not root, not changing"
else
    have=$(cat "$nr")
    if [ "$have" -ge "$want_pages" ]; then
        say "hugepages: $have x 2 MiB already reserved (wanted $want_pages)"
    else
        echo "$want_pages" > "$nr"
        got=$(cat "$nr")
        say "hugepages: reserved $got x 2 MiB (was $have, wanted $want_pages)"
        [ "$got" -ge "$want_pages" ] || say "hugepages: WARNING only $got of $want_pages could be reserved (memory fragmented?)"
    fi
fi
say "hugepages: $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages) free"

# 3. hugetlbfs.
if mount | grep -q "on /dev/hugepages type hugetlbfs"; then
    say "hugetlbfs: already mounted at /dev/hugepages"
elif is_root; then
    mkdir -p /dev/hugepages
    mount -t hugetlbfs nodev /dev/hugepages
    say "hugetlbfs: mounted at /dev/hugepages"
else
    say "hugetlbfs: not mounted at /dev/hugepages and not root (mount -t hugetlbfs nodev /dev/hugepages)"
fi
