#!/bin/sh
# Regenerates loopback.pcap: run as root with tcpdump, curl and python3.
# Captures, on the loopback interface, one DNS query (UDP to 127.0.0.1:53),
# one HTTP request and one TLS ClientHello (to a python http.server on a
# random port, names resolved to 127.0.0.1 with curl --resolve).
set -eu
out=${1:-loopback.pcap}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
echo hello > "$dir/hello.txt"
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$dir" >/dev/null 2>&1 &
srv=$!
tcpdump -i lo -s 1024 -U -w "$out" "port $port or port 53" >/dev/null 2>&1 &
dump=$!
sleep 1
python3 - <<'PY'
import socket, struct
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
for label in b"dns-test.example.org".split(b"."):
    q += bytes([len(label)]) + label
q += b"\x00" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(q, ("127.0.0.1", 53))
PY
curl -s --resolve "ace-test.example:$port:127.0.0.1" "http://ace-test.example:$port/hello.txt" >/dev/null
curl -s -k --max-time 2 --resolve "tls-test.example:$port:127.0.0.1" "https://tls-test.example:$port/" >/dev/null || true
sleep 1
kill "$dump" "$srv"
wait "$dump" 2>/dev/null || true
rm -rf "$dir"
echo "port $port"
