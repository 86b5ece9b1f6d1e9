#!/bin/bash
# Cross build for the gateway boards (arm64: Orange Pi / Raspberry Pi 3-5 on a
# 64-bit OS; armhf: older boards and 32-bit Raspberry Pi OS) with Debian's
# cross toolchains and multiarch -dev packages, and test it under qemu-user:
#
#   * installs what is missing (apt-get, only then): the foreign
#     architecture, crossbuild-essential-ARCH, qemu-user and the -dev:ARCH
#     package of every library the build links (DEV_PACKAGES below);
#   * builds into build-cross-ARCH (RelWithDebInfo, WITH_TESTS=ON) with
#     cmake/toolchain-TRIPLET.cmake;
#   * runs the unit tests with ctest (the toolchain file's emulator: qemu),
#     `safehoused --check` and the model's scenarios under qemu;
#   * prints the stripped sizes of safehoused, safehousectl and
#     safehouse-station, and the demo house's resident memory: the ARCH
#     safehoused under qemu (qemu's own overhead included) against a private
#     mosquitto, and the host's build/safehoused the same way for comparison.
#
# Usage: tests/cross/run.sh [ARCH...]    ARCH: arm64 (default), armhf
# Exit 0 when every step of every ARCH passed, 1 otherwise.
# Environment: JOBS (default 2), MOSQUITTO, PYTHON.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
PY=${PYTHON:-/usr/bin/python3}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
JOBS=${JOBS:-2}
[ $# -eq 0 ] && set -- arm64

# The -dev packages the build needs, installed as -dev:ARCH. One line per
# library the CMakeLists.txt finds with pkg-config; add a new one here.
DEV_PACKAGES="libmosquitto-dev libcjson-dev libsqlite3-dev libsodium-dev
libmodbus-dev libcurl4-openssl-dev libmicrohttpd-dev libgnutls28-dev nettle-dev libcmocka-dev"
# libpq-dev is not co-installable with the host's (no Multi-Arch): the
# board's build goes without the station's PostgreSQL backend
# (-DWITH_POSTGRESQL=OFF below); the station on a board uses SQLite.
# Host packages: the compilers' driver, the emulator, and what the RSS
# measurement and the native comparison run (the host's mosquitto).
HOST_PACKAGES="cmake pkg-config qemu-user mosquitto python3"

triplet_of() {
	case $1 in
	arm64) echo aarch64-linux-gnu ;;
	armhf) echo arm-linux-gnueabihf ;;
	*) return 1 ;;
	esac
}
qemu_of() {
	case $1 in
	arm64) echo qemu-aarch64 ;;
	armhf) echo qemu-arm ;;
	esac
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 && SUDO=sudo
fi

ensure_packages() { # ARCH
	local arch=$1 missing="" p
	for p in $HOST_PACKAGES "crossbuild-essential-$arch"; do
		installed "$p" || missing="$missing $p"
	done
	for p in $DEV_PACKAGES; do
		installed "$p:$arch" || missing="$missing $p:$arch"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ] && [ -z "$SUDO" ]; then
		echo "cross: need root (or sudo) to install:$missing" >&2
		return 1
	fi
	echo "cross: installing:$missing"
	if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
		$SUDO dpkg --add-architecture "$arch" || return 1
		if ! install_missing "$missing"; then
			# Leave apt as we found it: an architecture whose index the
			# mirror cannot serve makes every later apt-get update fail.
			echo "cross: removing the architecture $arch again" >&2
			$SUDO dpkg --remove-architecture "$arch" && $SUDO apt-get update -qq
			return 1
		fi
		return 0
	fi
	install_missing "$missing"
}

install_missing() { # PACKAGES
	local missing=$1
	export DEBIAN_FRONTEND=noninteractive
	# (Called in an `||` list, where set -e does not apply: every step is
	# checked.) A -dev:ARCH must have the very version of the host's
	# (Multi-Arch: same), so a partial index (a mirror caught mid-sync) is
	# an error: try again, three times.
	local try
	for try in 1 2 3; do
		if $SUDO apt-get update -qq -o APT::Update::Error-Mode=any; then
			break
		fi
		[ $try -eq 3 ] && return 1
		echo "cross: apt-get update failed, again in 10 s" >&2
		sleep 10
	done
	# --no-remove: a -dev:ARCH that cannot be co-installed with the host's
	# must fail here, never silently remove the native build's packages.
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends --no-remove $missing >/dev/null || return 1
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# rss_of LABEL DIR CMD...: run the demo house with CMD as its safehoused
# (CMD: [qemu] path/to/safehoused) against a private broker; prints
# "VmRSS_kB VmHWM_kB" of the process that CMD started, once the gateway
# answers `safehousectl status` and 3 s later (the idle state after start).
rss_of() {
	local label=$1 dir=$2
	shift 2
	local port conf pid mpid ready=0 rss hwm
	mkdir -p "$dir"
	port=$(free_port)
	{
		cat "$ROOT/deploy/mosquitto/local.conf"
		echo
		echo "persistence_location $dir/"
		if [ "$(id -u)" -eq 0 ]; then echo "user root"; fi
		echo "listener $port 127.0.0.1"
	} >"$dir/mosquitto.conf"
	"$MOSQUITTO" -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
	mpid=$!
	conf=$dir/nha-tro.json
	"$PY" - "$ROOT" "$port" "$dir" "$conf" <<'EOF'
import json, sys
root, port, tmp, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(f"{root}/deploy/examples/nha-tro.json", encoding="utf-8") as f:
    cfg = json.load(f)
cfg["mqtt"]["port"] = port
cfg["rules"] = [f"{root}/rules/model/*.rules"]
cfg["database"] = f"{tmp}/safehouse.db"
cfg["control_socket"] = f"{tmp}/control.sock"
cfg.pop("upstream", None)  # as deploy/demo.sh: the feed goes to the local broker
cfg.pop("modem", None)
with open(out, "w", encoding="utf-8") as f:
    json.dump(cfg, f, ensure_ascii=False, indent=2)
EOF
	"$@" -c "$conf" -f >"$dir/safehoused.log" 2>&1 &
	pid=$!
	# Under qemu the start takes a few seconds (SQLite, rules): 60 s at most.
	for _ in $(seq 600); do
		kill -0 "$pid" 2>/dev/null || break
		if "$CTL" -s "$dir/control.sock" status >/dev/null 2>&1; then
			ready=1
			break
		fi
		sleep 0.1
	done
	if [ $ready -eq 1 ]; then
		sleep 3
		rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
		hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
	fi
	kill "$pid" "$mpid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	wait "$mpid" 2>/dev/null || true
	if [ $ready -ne 1 ]; then
		echo "cross: $label: the demo house's gateway did not answer status" >&2
		tail -n 20 "$dir/safehoused.log" >&2 || true
		return 1
	fi
	echo "$rss $hwm"
}


TMP=$(mktemp -d /tmp/safehouse-cross.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
failed=()
skipped=()
rows=()

# The host's safehousectl talks to any arch's daemon over the socket; the
# host build also gives the native RSS for comparison.
NATIVE=$ROOT/build
if [ ! -x "$NATIVE/safehoused" ] || [ ! -x "$NATIVE/safehousectl" ]; then
	echo "=== native build (build/), for safehousectl and the native RSS ==="
	"$ROOT/deploy/install-deps.sh" >/dev/null
	[ -f "$NATIVE/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$NATIVE" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$NATIVE" -j"$JOBS" --target safehoused safehousectl safehouse-station >/dev/null
fi
CTL=$NATIVE/safehousectl

for arch in "$@"; do
	triplet=$(triplet_of "$arch") || {
		echo "cross: unknown arch '$arch' (arm64 or armhf)" >&2
		exit 2
	}
	qemu=$(qemu_of "$arch")
	dir=$ROOT/build-cross-$arch
	t0=$(date +%s)
	echo
	echo "=== $arch ($triplet): packages ==="
	ensure_packages "$arch" || {
		# The suite (tests/run.sh) sets CROSS_INSTALL_FAILURE=skip: a
		# mirror that cannot serve the foreign packages is not a defect
		# of ours; it is reported loudly (exit 3), not hidden.
		if [ "${CROSS_INSTALL_FAILURE:-fail}" = skip ]; then
			skipped+=("$arch: the cross packages could not be installed (mirror?)")
		else
			failed+=("$arch: packages")
		fi
		continue
	}
	t1=$(date +%s)

	echo "=== $arch: build ($dir) ==="
	if ! cmake -S "$ROOT" -B "$dir" -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/toolchain-$triplet.cmake" \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DWITH_TESTS=ON -DWITH_POSTGRESQL=OFF \
		>"$TMP/cmake-$arch.log" 2>&1; then
		cat "$TMP/cmake-$arch.log" >&2
		failed+=("$arch: cmake")
		continue
	fi
	if cmake --build "$dir" -j"$JOBS" 2>&1 | grep -E "warning|error"; then
		failed+=("$arch: build warnings or errors")
	fi
	if ! cmake --build "$dir" -j"$JOBS" >/dev/null; then
		failed+=("$arch: build")
		continue
	fi
	t2=$(date +%s)

	echo "=== $arch: unit tests under $qemu (ctest -j$JOBS) ==="
	unit=ok
	if ! (cd "$dir" && ctest -j"$JOBS" --output-on-failure); then
		unit=FAILED
		failed+=("$arch: unit tests")
	fi
	t3=$(date +%s)

	echo "=== $arch: --check and the model's scenarios under $qemu ==="
	scen=ok
	if ! "$qemu" "$dir/safehoused" -c "$ROOT/deploy/examples/nha-tro.json" --check; then
		scen=FAILED
		failed+=("$arch: demo config check")
	fi
	if ! "$qemu" "$dir/safehoused" -c "$ROOT/deploy/examples/nha-tro.json" \
		--test "$ROOT"/rules/model/tests/*.scenario; then
		scen=FAILED
		failed+=("$arch: model scenarios")
	fi
	# The plugins (gateway/plugin.h) load into this safehoused under qemu:
	# --check of the demo house with the owner's panel and a webhook
	# contact says nothing of them.
	"$PY" - "$ROOT" "$TMP/plugins-$arch.json" <<'EOF'
import json, os, sys
root, out = sys.argv[1], sys.argv[2]
ex = os.path.join(root, "deploy", "examples")
c = json.load(open(os.path.join(ex, "nha-tro.json")))
c["rules"] = [os.path.join(ex, r) for r in c["rules"]]
c["web"] = {"listen": "127.0.0.1:8080"}
c["contacts"].append({"id": "cross-hook", "via": "webhook", "preset": "ntfy",
                      "url": "https://ntfy.sh/safehouse-cross-test"})
json.dump(c, open(out, "w"))
EOF
	if ! "$qemu" "$dir/safehoused" -c "$TMP/plugins-$arch.json" --check >"$TMP/plugins-$arch.txt" 2>&1 ||
		grep -E 'needs? safehouse-' "$TMP/plugins-$arch.txt"; then
		cat "$TMP/plugins-$arch.txt"
		scen=FAILED
		failed+=("$arch: the plugins under qemu")
	fi
	t4=$(date +%s)

	echo "=== $arch: stripped sizes and the demo house's RSS under $qemu ==="
	sizes=""
	for exe in safehoused safehousectl safehouse-station; do
		"$triplet-strip" -o "$TMP/$exe-$arch" "$dir/$exe"
		sizes="$sizes $(($(stat -c %s "$TMP/$exe-$arch") / 1024))"
	done
	mem=$(rss_of "$arch" "$TMP/rss-$arch" "$qemu" "$dir/safehoused") || {
		mem="- -"
		failed+=("$arch: demo house under qemu")
	}
	t5=$(date +%s)
	# shellcheck disable=SC2086
	rows+=("$(printf '%-7s %8s %8s %8s  %8s %8s  %-6s %-9s %5ss %5ss %5ss %5ss %5ss' "$arch" $sizes \
		$mem "$unit" "$scen" $((t1 - t0)) $((t2 - t1)) $((t3 - t2)) $((t4 - t3)) $((t5 - t0)))")
done

echo
echo "=== native (build/) for comparison ==="
sizes=""
for exe in safehoused safehousectl safehouse-station; do
	if [ -x "$NATIVE/$exe" ]; then
		strip -o "$TMP/$exe-native" "$NATIVE/$exe"
		sizes="$sizes $(($(stat -c %s "$TMP/$exe-native") / 1024))"
	else
		sizes="$sizes -"
	fi
done
mem=$(rss_of native "$TMP/rss-native" "$NATIVE/safehoused") || {
	mem="- -"
	failed+=("native: demo house")
}
# shellcheck disable=SC2086
rows+=("$(printf '%-7s %8s %8s %8s  %8s %8s  %-6s %-9s %6s %6s %6s %6s %6s' "$(uname -m | cut -c1-7)" \
	$sizes $mem - - - - - - -)")

echo
echo "Summary (sizes: stripped, kB; RSS/HWM: the demo house idle after start, kB;"
echo "under qemu-user the figure includes qemu's own memory, see the native row;"
echo "times: apt-get, build, ctest, --check + scenarios, the whole arch)"
printf '%-7s %8s %8s %8s  %8s %8s  %-6s %-9s %6s %6s %6s %6s %6s\n' arch safehoused ctl station \
	RSS HWM unit scenarios apt build ctest scen total
for r in "${rows[@]}"; do echo "$r"; done

echo
if [ ${#failed[@]} -ne 0 ]; then
	echo "FAILED:"
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
if [ ${#skipped[@]} -ne 0 ]; then
	echo "NOT RUN:"
	printf '  %s\n' "${skipped[@]}"
	exit 3
fi
echo "cross: all passes succeeded ($*)"
