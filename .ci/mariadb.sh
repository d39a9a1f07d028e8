#!/bin/sh
# Make sure a MariaDB server answers on 127.0.0.1:3306 and that root can log
# in over TCP with an empty password, for the MySQL tests
# (ACE_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/'). Idempotent: it only does
# what is missing, and says what it did. It exports nothing.
#
#   1. server answering and root login over TCP works: nothing to do
#   2. /usr/sbin/mariadbd missing: apt-get update + install mariadb-server
#   3. data directory not initialised: mariadb-install-db
#   4. server not running: start it (start-stop-daemon, else service, else
#      mysqld_safe) and wait up to 60 s for it to answer
#   5. root cannot log in over TCP (a fresh Debian install authenticates root
#      by unix_socket): give root@localhost an empty password via the socket,
#      and create root@127.0.0.1 if the server skips name resolution
#
# Overrides (for a second, private instance, e.g. to test this script):
# MARIADB_PORT, MARIADB_DATADIR, MARIADB_SOCKET, MARIADB_PIDFILE, MARIADB_LOG.
set -eu

PORT=${MARIADB_PORT:-3306}
DATADIR=${MARIADB_DATADIR:-/var/lib/mysql}
SOCKET=${MARIADB_SOCKET:-/run/mysqld/mysqld.sock}
PIDFILE=${MARIADB_PIDFILE:-/run/mysqld/mysqld.pid}
LOG=${MARIADB_LOG:-}
MARIADBD=/usr/sbin/mariadbd

say() { echo "mariadb.sh: $*"; }
die() { echo "mariadb.sh: error: $*" >&2; exit 1; }

SUDO=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || die "not root and no sudo"
	SUDO=sudo
fi

client() { # the client binary: mariadb, or mysql on older installs
	if command -v mariadb >/dev/null 2>&1; then echo mariadb; else echo mysql; fi
}
admin() {
	if command -v mariadb-admin >/dev/null 2>&1; then echo mariadb-admin; else echo mysqladmin; fi
}
# The server is up when ping succeeds, or when it answers but refuses root
# (ping fails on "host not allowed", succeeds on "access denied").
server_up() {
	out=$($(admin) -h127.0.0.1 -P"$PORT" -uroot --connect-timeout=2 ping 2>&1) && return 0
	case $out in
	*"is not allowed to connect"* | *"Access denied"*) return 0 ;;
	esac
	return 1
}
tcp_login() { $(client) -h127.0.0.1 -P"$PORT" -uroot --connect-timeout=2 -e 'SELECT 1' >/dev/null 2>&1; }

if server_up && tcp_login; then
	say "MariaDB answers on 127.0.0.1:$PORT and root logs in over TCP: nothing to do"
	exit 0
fi

if [ ! -x "$MARIADBD" ]; then
	command -v apt-get >/dev/null 2>&1 || die "$MARIADBD is missing and apt-get is not available"
	say "installing mariadb-server with apt-get"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q mariadb-server mariadb-client
	[ -x "$MARIADBD" ] || die "mariadb-server installed but $MARIADBD is still missing"
fi

if ! command -v mariadb-admin >/dev/null 2>&1 && ! command -v mysqladmin >/dev/null 2>&1; then
	command -v apt-get >/dev/null 2>&1 || die "no MariaDB client (mariadb-admin/mysqladmin) and apt-get is not available"
	say "installing mariadb-client with apt-get"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q mariadb-client
fi

if ! server_up; then
	if [ ! -d "$DATADIR/mysql" ]; then
		say "initialising the data directory $DATADIR"
		$SUDO mkdir -p "$DATADIR"
		$SUDO chown mysql:mysql "$DATADIR"
		$SUDO mariadb-install-db --user=mysql --datadir="$DATADIR" --auth-root-authentication-method=socket >/dev/null \
			|| die "mariadb-install-db failed"
	fi
	for d in "$(dirname "$SOCKET")" "$(dirname "$PIDFILE")"; do
		$SUDO mkdir -p "$d"
		$SUDO chown mysql:mysql "$d"
	done
	set -- --user=mysql --datadir="$DATADIR" --socket="$SOCKET" --pid-file="$PIDFILE" \
		--port="$PORT" --bind-address=127.0.0.1
	[ -n "$LOG" ] && set -- "$@" --log-error="$LOG"
	if command -v start-stop-daemon >/dev/null 2>&1; then
		say "starting $MARIADBD on port $PORT (start-stop-daemon)"
		$SUDO start-stop-daemon --start --oknodo --background --pidfile "$PIDFILE" --exec "$MARIADBD" -- "$@"
	elif [ "$PORT" = 3306 ] && command -v service >/dev/null 2>&1 && $SUDO service mariadb start; then
		say "started MariaDB with service mariadb start"
	elif command -v mysqld_safe >/dev/null 2>&1; then
		say "starting MariaDB with mysqld_safe"
		$SUDO sh -c 'nohup mysqld_safe "$@" >/dev/null 2>&1 &' mysqld_safe "$@"
	else
		die "no way to start $MARIADBD (no start-stop-daemon, service or mysqld_safe)"
	fi
	i=0
	until server_up; do
		i=$((i + 1))
		[ "$i" -le 60 ] || die "MariaDB did not answer on 127.0.0.1:$PORT within 60 s (see its error log)"
		sleep 1
	done
	say "MariaDB answers on 127.0.0.1:$PORT after ${i} s"
fi

if ! tcp_login; then
	say "root cannot log in over TCP; setting an empty password for root@localhost via $SOCKET"
	$SUDO "$(client)" -S "$SOCKET" -uroot -e \
		"ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES" \
		|| die "could not change root's authentication through the socket $SOCKET"
	if ! tcp_login; then
		say "creating root@127.0.0.1 (the server skips name resolution)"
		$SUDO "$(client)" -S "$SOCKET" -uroot -e \
			"CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION; FLUSH PRIVILEGES" \
			|| die "could not create root@127.0.0.1"
	fi
	tcp_login || die "root still cannot log in over TCP on 127.0.0.1:$PORT"
fi
say "ready: root@tcp(127.0.0.1:$PORT)/ with an empty password"
