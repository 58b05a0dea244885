#!/usr/bin/env bash
# Runs gatepass on this machine, loopback only: the issuer (embedding NATS
# JetStream, bootstrapping a workspace on first start) and one validator.
# Prints shell-sourceable GATEPASS_* lines and runs until interrupted.
# Data stays in $GATEPASS_DATA_DIR (default ./data), so the next run
# continues where this one stopped. Logs go to $GATEPASS_DATA_DIR/*.log.
set -euo pipefail
cd "$(dirname "$0")/../.."

export GATEPASS_DATA_DIR="${GATEPASS_DATA_DIR:-$PWD/data}"
bin="${GATEPASS_BIN_DIR:-$PWD/bin}"
issuer_listen="${GATEPASS_ISSUER_LISTEN:-127.0.0.1:7401}"
validator_listen="${GATEPASS_VALIDATOR_LISTEN:-127.0.0.1:7402}"
check_listen="${GATEPASS_CHECK_LISTEN:-127.0.0.1:7403}"
nats_listen="${GATEPASS_EMBEDDED_NATS_LISTEN:-127.0.0.1:7422}"
mkdir -p "$GATEPASS_DATA_DIR"
chmod 700 "$GATEPASS_DATA_DIR"

# Read the binaries' stdout through FIFOs: the owner secret is printed once
# and must never land in a file.
fifo_dir="$(mktemp -d)"
mkfifo -m 600 "$fifo_dir/issuer" "$fifo_dir/validator"
pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$fifo_dir"
}
trap cleanup INT TERM EXIT

# wait_for FD NAME: read KEY=VALUE lines from FD until NAME appears (30s).
declare -A vars
wait_for() {
  local fd=$1 want=$2 line
  while IFS= read -r -t 30 -u "$fd" line; do
    vars["${line%%=*}"]="${line#*=}"
    [[ "${line%%=*}" == "$want" ]] && return 0
  done
  echo "gatepass: $want was not printed; see $GATEPASS_DATA_DIR/*.log" >&2
  exit 1
}

# The issuer believes only reports signed by this validator's key.
validator_key="$("$bin/validator" key -key-file "$GATEPASS_DATA_DIR/validator.db.nk")"

"$bin/issuer" serve -bootstrap -listen "$issuer_listen" -embedded-nats-listen "$nats_listen" \
  -validator-keys "$validator_key" >"$fifo_dir/issuer" 2>>"$GATEPASS_DATA_DIR/issuer.log" &
pids+=($!)
exec {issuer_fd}<"$fifo_dir/issuer"
wait_for "$issuer_fd" GATEPASS_ISSUER_ADDR

# The embedded NATS lets validators in with their own user, which may only
# read the token stream and publish reports.
GATEPASS_NATS_USER="${vars[GATEPASS_NATS_USER]}" GATEPASS_NATS_PASSWORD_FILE="${vars[GATEPASS_NATS_PASSWORD_FILE]}" \
"$bin/validator" -listen "$validator_listen" -check-listen "$check_listen" -nats-url "${vars[GATEPASS_NATS_URL]}" \
  -issuer-public-key "${vars[GATEPASS_ISSUER_PUBLIC_KEY]}" -cache "$GATEPASS_DATA_DIR/validator.db" \
  -id local-validator >"$fifo_dir/validator" 2>>"$GATEPASS_DATA_DIR/validator.log" &
pids+=($!)
exec {validator_fd}<"$fifo_dir/validator"
wait_for "$validator_fd" GATEPASS_VALIDATOR_ADDR

echo "GATEPASS_ISSUER_ADDR=${vars[GATEPASS_ISSUER_ADDR]}"
echo "GATEPASS_VALIDATOR_ADDR=${vars[GATEPASS_VALIDATOR_ADDR]}"
echo "GATEPASS_CHECK_ADDR=${vars[GATEPASS_CHECK_ADDR]}"
if [[ -n "${vars[GATEPASS_TOKEN]:-}" ]]; then
  echo "GATEPASS_TOKEN=${vars[GATEPASS_TOKEN]}"
  echo "# the owner token above is shown only this once: keep it in a secret store" >&2
else
  echo "# data in $GATEPASS_DATA_DIR was bootstrapped before; use the GATEPASS_TOKEN printed then" >&2
fi
echo "# running; logs in $GATEPASS_DATA_DIR/*.log; Ctrl-C stops" >&2

# Keep running until interrupted or until either process exits.
wait -n "${pids[@]}"
echo "gatepass: stopped (logs in $GATEPASS_DATA_DIR/*.log)" >&2
exit 1
