#!/usr/bin/env bash
# agent-cpu.sh: the agent's and the embedded broker's CPU-seconds per 100k
# records, for one or more flowlens-agent binaries side by side.
#
#   scripts/agent-cpu.sh [-r RATE] [-n ROUNDS] FLOWLENS AGENT...
#
# For each round and each AGENT in turn: the embedded broker (FLOWLENS
# broker), the agent (OTLP gRPC in, the shop's log files tailed, Kafka out),
# and the shop (FLOWLENS loadgen --rate RATE: about 12.4 spans and 12.4 log
# lines per request) run for 60 s; the agent's and the broker's CPU
# (utime+stime from /proc) and the records the agent took are read over the
# 40 s after a 15 s warm-up. Agents alternate, so a machine that changes
# speed affects them alike; compare the rounds' figures, not one run.
# Hold the bench lock around it on a shared machine.
# PROFILE_DIR=DIR: each agent also writes a Go CPU profile of its run to
# DIR/AGENT-ROUND.prof (go tool pprof AGENT DIR/AGENT-ROUND.prof).
set -euo pipefail
rate=4000
rounds=2
while getopts r:n: o; do
	case $o in
	r) rate=$OPTARG ;;
	n) rounds=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || { sed -n '2,17p' "$0"; exit 2; }
flowlens=$1
shift

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # clock ticks
logged() { # logged FILE KEY: the first "KEY": "value" (or ["value"]) in a log file
	for _ in $(seq 100); do
		v=$(grep -o "\"$2\": \[\?\"[^\"]*\"" "$1" | head -1 | sed 's/.*"\([^"]*\)"$/\1/') || true
		[ -n "$v" ] && { echo "$v"; return; }
		sleep 0.2
	done
	echo "no $2 in $1" >&2
	return 1
}
records() { curl -s "http://$1/metrics" | awk '/^flowlens_agent_records_received_total/ {s += $NF} END {printf "%d", s}'; }

hz=$(getconf CLK_TCK)
echo "agent                round  records/s  agent CPU-s/100k  broker CPU-s/100k  load average"
for round in $(seq "$rounds"); do
	for agent in "$@"; do
		d=$(mktemp -d)
		mkdir -p "$d/logs"
		"$flowlens" --data-dir "$d" --log-level info broker --listen 127.0.0.1:0 >"$d/broker.log" 2>&1 &
		broker=$!
		kafka=$(logged "$d/broker.log" addrs)
		cat >"$d/agent.yaml" <<EOF
data_dir: $d/agent
host_name: bench
files:
  - name: shop
    include: [$d/logs/*.log]
    parse: {format: json}
otlp:
  grpc: {listen: 127.0.0.1:0}
  http: {listen: "off"}
kafka:
  brokers: [$kafka]
metrics: {listen: 127.0.0.1:0}
EOF
		profile=()
		[ -n "${PROFILE_DIR:-}" ] && profile=(--cpu-profile "$PROFILE_DIR/$(basename "$agent")-$round.prof")
		"$agent" run --config "$d/agent.yaml" "${profile[@]}" >"$d/agent.log" 2>&1 &
		ag=$!
		grpc=$(logged "$d/agent.log" otlp_grpc)
		metrics=$(logged "$d/agent.log" metrics)
		"$flowlens" --data-dir "$d" loadgen --rate "$rate" --duration 60s --otlp-endpoint "$grpc" --log-dir "$d/logs" --progress 0 >"$d/loadgen.log" 2>&1 &
		gen=$!
		sleep 15
		a0=$(cpu $ag) b0=$(cpu $broker) r0=$(records "$metrics") load=$(cut -d' ' -f1-3 /proc/loadavg)
		sleep 40
		a1=$(cpu $ag) b1=$(cpu $broker) r1=$(records "$metrics")
		awk -v name="$(basename "$agent")" -v round="$round" -v a=$((a1 - a0)) -v b=$((b1 - b0)) -v r=$((r1 - r0)) -v hz="$hz" -v load="$load" \
			'BEGIN {printf "%-20s %5d  %9.0f  %16.3f  %17.3f  %s\n", name, round, r / 40, a / hz / (r / 1e5), b / hz / (r / 1e5), load}'
		kill $gen $ag $broker 2>/dev/null || true
		wait $gen $ag $broker 2>/dev/null || true
		rm -rf "$d"
	done
done
