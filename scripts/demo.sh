#!/usr/bin/env bash
# `make demo`: a fresh anvil devnet, the contracts deployed, and one lease lifecycle run against
# it step by step — report, challenge window, settlement, claims, SLA credit, tenant refund.
# Keys come from a mnemonic generated for this run only; it is never written to disk.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="$PWD/node_modules/.bin"
PORT="${DEMO_RPC_PORT:-8545}"
RPC="http://127.0.0.1:$PORT"
CHALLENGE_WINDOW=15 # seconds, as in contracts/script/Demo.s.sol

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Runs one phase of contracts/script/Demo.s.sol and prints only its console output.
phase() {
  local sig="$1"
  shift
  local out
  if ! out=$(cd contracts && "$BIN/forge" script script/Demo.s.sol:Demo --sig "$sig" "$@" \
    --rpc-url "$RPC" --broadcast --slow 2>&1); then
    printf '%s\n' "$out" >&2
    echo "demo: phase '$sig' failed (output above)" >&2
    exit 1
  fi
  printf '%s\n' "$out" | sed -n '/== Logs ==/,/^$/p' | sed '1d;/^$/d'
}

# Moves chain time to `$1` (unix seconds) and mines a block there.
set_time() {
  "$BIN/cast" rpc --rpc-url "$RPC" --raw evm_setNextBlockTimestamp "[$1]" >/dev/null
  "$BIN/cast" rpc --rpc-url "$RPC" evm_mine >/dev/null
}

advance() {
  "$BIN/cast" rpc --rpc-url "$RPC" --raw evm_increaseTime "[$1]" >/dev/null
  "$BIN/cast" rpc --rpc-url "$RPC" evm_mine >/dev/null
}

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "demo: port $PORT is in use; stop what runs there or set DEMO_RPC_PORT" >&2
  exit 1
fi

DEMO_MNEMONIC=$("$BIN/cast" wallet new-mnemonic --words 12 --json 2>/dev/null |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).mnemonic))')
export DEMO_MNEMONIC

rm -rf .devnet && mkdir -p .devnet
say "Starting anvil on $RPC"
"$BIN/anvil" --port "$PORT" --mnemonic "$DEMO_MNEMONIC" --silent >.devnet/anvil.log 2>&1 &
ANVIL_PID=$!
trap 'kill $ANVIL_PID 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 50); do
  "$BIN/cast" chain-id --rpc-url "$RPC" >/dev/null 2>&1 && break
  sleep 0.2
done
"$BIN/cast" chain-id --rpc-url "$RPC" >/dev/null || { echo "demo: anvil did not start (see .devnet/anvil.log)" >&2; exit 1; }

say "Deploying and opening a lease"
phase "deploy()"
deployed() { node -e "console.log(require('./.devnet/deployment.json').$1)"; }
START=$(deployed startEpoch)
# clusterInfo(uint64) returns (owner, epochLength, genesis, active).
info=$("$BIN/cast" call --rpc-url "$RPC" "$(deployed registry)" "clusterInfo(uint64)(address,uint32,uint64,bool)" "$(deployed clusterId)")
EPOCH_LENGTH=$(sed -n 2p <<<"$info")
GENESIS=$(sed -n 3p <<<"$info" | cut -d' ' -f1)

# Epoch START: full delivery. Epoch START+1: a GPU outage delivers 12,000 of 15,360 GPU-seconds.
for step in "0 15360" "1 12000"; do
  read -r offset delivered <<<"$step"
  epoch=$((START + offset))
  ends=$((GENESIS + (epoch + 1) * EPOCH_LENGTH))
  say "Epoch $epoch ends: oracle attestors sign the usage report"
  set_time "$ends"
  phase "report(uint64,uint64)" "$epoch" "$delivered"
  say "Challenge window ($CHALLENGE_WINDOW s) passes: keeper settles, holders claim"
  advance "$CHALLENGE_WINDOW"
  phase "settleAndClaim(uint64,uint64)" "$epoch" "$delivered"
done

say "Lease term over"
phase "finish()"
say "Done. Deployment: .devnet/deployment.json (anvil stopped)"
