#!/usr/bin/env bash
# Sampler overhead at 1 Hz with 8 simulated GPUs: runs the release oracle live for DURATION
# seconds (default 90) and reports its CPU time (user + system, from /proc) against wall time.
# Goal: < 0.5 % of one core. Each second is sampled, written to sled and fsynced.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-90}"
cargo build --release -q -p compute-ledger-oracle --bin compute-ledger-oracle
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
now=$(date +%s)
cat >"$dir/oracle.toml" <<TOML
cluster_id = 1
chain_id = 31337
registry = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
genesis = $now
epoch_length = 30
data_dir = "$dir/data"

[source]
kind = "simulator"
seed = 1
gpus = 8
site = "nordic_hydro"
origin = $now
TOML
RUST_LOG=warn target/release/compute-ledger-oracle --config "$dir/oracle.toml" &
pid=$!
ticks=$(getconf CLK_TCK)
sleep 5 # exclude start-up (opening sled) from the measurement
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
start=$(date +%s.%N)
for ((i = DURATION; i > 0; i -= 10)); do
  printf '\rmeasuring... %3ds left' "$i" >&2
  sleep $((i < 10 ? i : 10))
done
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
end=$(date +%s.%N)
kill -TERM "$pid" && wait "$pid" || true
printf '\r' >&2
awk -v u="$((u1 - u0))" -v s="$((s1 - s0))" -v hz="$ticks" -v a="$start" -v b="$end" 'BEGIN {
  cpu = (u + s) / hz; wall = b - a;
  printf "sampler: 8 simulated GPUs at 1 Hz for %.1f s wall: %.2f s CPU (user %.2f, system %.2f) = %.3f %% of one core (goal < 0.5 %%)\n", wall, cpu, u / hz, s / hz, 100 * cpu / wall
}'
