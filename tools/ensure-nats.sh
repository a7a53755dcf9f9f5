#!/usr/bin/env bash
# ensure-nats.sh: make sure a NATS server with JetStream listens on 127.0.0.1:4222 for the event
# tests (SHARDSTOCK_TEST_NATS may point elsewhere). Uses a running one, else starts the
# nats-server binary in the background, else installs it (root, Debian/Ubuntu). Exit 1 otherwise.
set -euo pipefail

url="${SHARDSTOCK_TEST_NATS:-nats://127.0.0.1:4222}"
hostport="${url#nats://}"
host="${hostport%:*}"
port="${hostport##*:}"

listening() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

if listening; then
	echo "ensure-nats: $host:$port answers"
	exit 0
fi
if [[ "$host" != "127.0.0.1" && "$host" != "localhost" ]]; then
	echo "ensure-nats: nothing answers at $url" >&2
	exit 1
fi

find_server() {
	command -v nats-server 2>/dev/null && return 0
	for dir in /usr/sbin /usr/local/sbin /usr/local/bin; do
		[[ -x "$dir/nats-server" ]] && { echo "$dir/nats-server"; return 0; }
	done
	return 1
}

if ! server=$(find_server); then
	if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		echo "ensure-nats: installing nats-server with apt-get" >&2
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
		server=$(find_server)
	else
		echo "ensure-nats: no NATS server at $url and no nats-server binary." >&2
		echo "  Debian/Ubuntu: sudo apt-get install -y nats-server; macOS: brew install nats-server" >&2
		echo "  or point SHARDSTOCK_TEST_NATS at a server with JetStream (-js)." >&2
		exit 1
	fi
fi

store="${TMPDIR:-/tmp}/shardstock-nats"
mkdir -p "$store"
echo "ensure-nats: starting $server -js on $host:$port (store $store)"
nohup "$server" -js -a "$host" -p "$port" -sd "$store" >"$store/nats.log" 2>&1 &
for _ in $(seq 1 50); do
	listening && exit 0
	sleep 0.1
done
echo "ensure-nats: nats-server did not start; see $store/nats.log" >&2
exit 1
