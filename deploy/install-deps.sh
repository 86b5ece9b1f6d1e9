#!/bin/sh
# Install every Debian package safehouse needs to build, run and test.
# (fonts-dejavu-core: the HTML report's Vietnamese glyphs; chromium,
# poppler-utils and python3-pil: its test renders it to PDF and PNG;
# nettle-dev: SHA-256 of the event log; libpq-dev: the station's PostgreSQL backend;
# postgresql-15: its tests run a private server, tests/blackbox/pg_server.py;
# dpkg-dev, debhelper, lintian: the Debian packages, tests/package/build.sh;
# systemd: systemd-analyze for the units; nats-server: the commune broker
# as a 3-node cluster, deploy/nats and tests/blackbox/test_cluster_failover.py.)
# Idempotent: runs apt-get only when something is missing, and says little
# when everything is already there.
set -eu

PACKAGES="gcc make cmake pkg-config clang libclang-rt-14-dev
libmosquitto-dev libmodbus-dev libsqlite3-dev libcjson-dev libcmocka-dev libsodium-dev
libpq-dev postgresql-15
libcurl4-openssl-dev openssl libmicrohttpd-dev libgnutls28-dev nettle-dev
dpkg-dev debhelper lintian systemd
mosquitto mosquitto-clients nats-server sqlite3 socat tzdata
python3 python3-pytest python3-pytest-xdist python3-paho-mqtt python3-pymodbus python3-serial-asyncio
fonts-dejavu-core chromium poppler-utils python3-pil"
# nodejs, npm: the station console's browser test (tests/browser: playwright-
# core driving the chromium above). A node already on PATH (nvm, a newer
# upstream build) is used as it is.
command -v node >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs"
command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES npm"
# python3-seccomp: the system call filter of tests/blackbox/test_sandbox.py.
PACKAGES="$PACKAGES python3-seccomp"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "install-deps: need root (or sudo) to install:$missing" >&2
		exit 1
	fi
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The packaged broker starts itself on port 1883 where systemd runs; the
# demo and the tests use private brokers on free ports and do not need it.
echo "install-deps: done"
