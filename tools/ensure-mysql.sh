#!/usr/bin/env bash
# ensure-mysql.sh: make sure a MariaDB/MySQL server binary is available for
# integration tests and `shardstock dev`. Exits 0 when one is found or was
# installed; otherwise prints how to install one and exits 1.
set -euo pipefail

find_server() {
	local name dir
	for name in mariadbd mysqld; do
		if command -v "$name" >/dev/null 2>&1; then
			command -v "$name"
			return 0
		fi
		for dir in /usr/sbin /usr/local/sbin; do
			if [[ -x "$dir/$name" ]]; then
				echo "$dir/$name"
				return 0
			fi
		done
	done
	return 1
}

if server=$(find_server); then
	echo "ensure-mysql: found $server"
	exit 0
fi

if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
	echo "ensure-mysql: no server binary; installing mariadb-server with apt-get" >&2
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y mariadb-server
	if ! command -v mariadb-install-db >/dev/null 2>&1 && ! command -v mysql_install_db >/dev/null 2>&1; then
		echo "ensure-mysql: mariadb-server installed but mariadb-install-db is missing" >&2
		exit 1
	fi
	if server=$(find_server); then
		echo "ensure-mysql: installed $server"
		exit 0
	fi
	echo "ensure-mysql: mariadb-server installed but no mariadbd/mysqld found" >&2
	exit 1
fi

cat >&2 <<'MSG'
ensure-mysql: no MariaDB/MySQL server binary (mariadbd or mysqld) found.
Install one:
    Debian/Ubuntu: sudo apt-get update && sudo apt-get install -y mariadb-server
    macOS:         brew install mariadb
or run a server with docker compose up (see README) and point tests at it:
    export SHARDSTOCK_TEST_MYSQL='root@tcp(127.0.0.1:3306)/'
MSG
exit 1
