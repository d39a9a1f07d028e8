#!/usr/bin/env bash
# Quickstart: builds ace-collector, starts an ACE-compatible sink (plain HTTP
# on loopback), runs the collector on configs/quickstart.ini, drops sample
# files into the spool, prints what the sink received, then stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
run=quickstart-run
rm -rf "$run" && mkdir -p "$run/spool" "$run/sink"
echo "== building"
CGO_ENABLED=0 go build -o "$run/ace-collector" ./cmd/ace-collector
bin="$run/ace-collector"
"$bin" validate -c configs/quickstart.ini

echo "== starting the sink on 127.0.0.1:24443 (plain HTTP on loopback)"
"$bin" sink --http --listen 127.0.0.1:24443 --dir "$run/sink" >"$run/sink.log" 2>&1 &
sink_pid=$!
echo "== starting the collector"
"$bin" run -c configs/quickstart.ini >"$run/collector.log" 2>&1 &
coll_pid=$!
trap 'kill $coll_pid $sink_pid 2>/dev/null || true; wait 2>/dev/null || true' EXIT

# wait for both to answer
for i in $(seq 1 100); do
  (exec 3<>/dev/tcp/127.0.0.1/24443) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/8765) 2>/dev/null && break
  sleep 0.1
done

echo "== dropping 5 sample files into $run/spool"
for i in 1 2 3 4 5; do
  printf 'sample %s: suspicious content from 198.51.100.%s\n' "$i" "$i" > "$run/spool/.sample-$i.txt"
  mv "$run/spool/.sample-$i.txt" "$run/spool/sample-$i.txt"   # atomic appearance
done

echo "== waiting for the sink to receive them"
for i in $(seq 1 200); do
  n=$(wc -l < "$run/sink/received.jsonl" 2>/dev/null || echo 0)
  [ "$n" -ge 5 ] && break
  sleep 0.1
done

echo "== the sink received:"
cat "$run/sink/received.jsonl"
echo
echo "== collector status:"
"$bin" status -c configs/quickstart.ini | head -30
echo
echo "== stopping"
kill -TERM $coll_pid $sink_pid
wait $coll_pid $sink_pid 2>/dev/null || true
trap - EXIT
n=$(wc -l < "$run/sink/received.jsonl")
echo "quickstart done: $n submissions delivered end to end (logs in $run/)"
[ "$n" -ge 5 ]
