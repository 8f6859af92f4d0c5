#!/usr/bin/env bash
# DPDK throughput of one worker (issue 5 benchmark): net_pcap with
# infinite_rx=1 as the source (plain IPv4/UDP, N flows) on the protected port,
# net_null (no-rx=1) as the tunnel-side sink, one outbound AES-128-GCM tunnel.
#   scripts/bench-dpdk.sh [SECONDS] [FLOWS] [SIZES...]   (default 5 1024 64 1420)
#   POLICIES=N   N outbound policies instead of one: one /24 policy per 256
#                flows (as many as fit), the rest never match (other
#                destinations), and a 10/8 catch-all behind them
#   EAL_MEM="..."  EAL memory options (default --in-memory; the 1M-flow run
#                needs more than 1 GB of mbufs for net_pcap's infinite_rx
#                copy of the file: EAL_MEM="--no-huge -m 4096")
# Sizes are Ethernet frame sizes including the 4-byte FCS (pktgen's
# convention): the pcap holds SIZE-4 bytes per frame. Needs hugepages
# (scripts/setup-dpdk.sh); never run with --no-huge.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
flows=${2:-1024}
shift $(( $# > 2 ? 2 : $# )) || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(64 1420)

cargo build --release --features dpdk -q
dir=$(mktemp -d /tmp/xfgate-bench-dpdk.XXXXXX)
trap 'rm -rf "$dir"' EXIT
policies=${POLICIES:-1}
eal_mem=${EAL_MEM:---in-memory}
cat > "$dir/gw.cfg" <<'CFG'
state add src 192.0.2.1 dst 198.51.100.7 proto esp spi 0x1001 reqid 1 mode tunnel aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f10a1a2a3a4 128
policy add src 10.0.0.0/8 dst 10.0.0.0/8 dir out priority 100 tmpl src 192.0.2.1 dst 198.51.100.7 proto esp reqid 1 mode tunnel
route add 198.51.100.0/24 port 1
CFG
python3 - "$dir/gw.cfg" "$flows" "$policies" <<'PY'
import sys
path, flows, policies = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cover = min(policies - 1, (flows + 255) // 256)
with open(path, "a") as f:
    for j in range(policies - 1):
        a, b = 1 + (j >> 8), j & 0xff
        dst = "10.2.0.0/16" if j < cover else "10.3.0.0/16"
        f.write(f"policy add src 10.{a}.{b}.0/24 dst {dst} dir out priority 10 "
                "tmpl src 192.0.2.1 dst 198.51.100.7 proto esp reqid 1 mode tunnel\n")
PY
echo "== $(grep -c '^policy' "$dir/gw.cfg") outbound policies"

for size in "${sizes[@]}"; do
    pcap="$dir/in-$size.pcap"
    python3 - "$pcap" "$flows" "$size" <<'PY'
import struct, sys
path, flows, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
flen = size - 4                      # without FCS
plen = flen - 14 - 20 - 8            # UDP payload
assert plen >= 0
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
with open(path, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i in range(flows):
        src = bytes([10, 1 + (i >> 16), (i >> 8) & 0xff, i & 0xff]); dst = bytes([10, 2, 0, 1])
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + plen, i & 0xffff, 0, 64, 17, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        udp = struct.pack("!HHHH", 1024 + (i % 60000), 53, 8 + plen, 0)
        eth = bytes([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]) + b"\x08\x00"
        frame = eth + ip + udp + bytes(plen)
        f.write(struct.pack("<IIII", 0, i, len(frame), len(frame)) + frame)
PY
    echo "== $size-byte frames, $flows flows, $secs s, one worker, outbound AES-128-GCM tunnel"
    # shellcheck disable=SC2206
    cmd=(target/release/xfgate -l 0-1 --no-pci $eal_mem --log-level=warning
         --vdev "net_pcap0,rx_pcap=$pcap,infinite_rx=1" --vdev "net_null1,no-rx=1"
         -- -u 0x2 -f "$dir/gw.cfg" --flows "${CACHE_FLOWS:-65536}" --duration "$secs" --stats-interval 1 --stats-json "$dir/s.json")
    echo "\$ ${cmd[*]}"
    # Run under python to read the child's CPU time (user+sys): on a shared
    # machine the worker does not get a whole core, so the script also
    # reports packets per CPU-second of the process (almost all of it is the
    # busy-polling worker; start-up is included, so this underestimates).
    python3 -c 'import resource,subprocess,sys
subprocess.run(sys.argv[2:], check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(str(r.ru_utime + r.ru_stime))' "$dir/cpu" "${cmd[@]}"
    python3 - "$dir/s.json" "$size" "$(cat "$dir/cpu")" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); size = int(sys.argv[2]); cpu = float(sys.argv[3])
d = s["uptime_s"]; t = s["totals"]
rx = t["rx_packets"] / d; tx = t["tx_packets"] / d
print(f"RESULT size={size} rx={rx/1e6:.2f} Mpps tx={tx/1e6:.2f} Mpps "
      f"= {rx*size*8/1e9:.2f} Gbps of {size}-byte input frames; "
      f"encrypted out {t['tx_bytes']*8/d/1e9:.2f} Gbps (L2 bytes, no FCS); "
      f"dropped {t['dropped']} ; cache hit ratio {s['cache_hit_ratio']:.3f}; "
      f"mbufs in use start/end {s['mbufs_in_use_at_start']}/{s['mbufs_in_use_at_end']}")
pc = t["rx_packets"] / cpu
print(f"RESULT size={size} per CPU-second of the process ({cpu:.2f} s CPU in {d:.2f} s wall): "
      f"{pc/1e6:.2f} Mpps = {pc*size*8/1e9:.2f} Gbps")
PY
done
