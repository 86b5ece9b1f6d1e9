#!/bin/sh
# Build the Debian packages (safehouse, safehouse-station) from this tree
# and check them:
#   1. dpkg-buildpackage -us -uc -b on a copy of the tree, in a temp dir;
#   2. lintian: no error or warning that debian/*.lintian-overrides does not
#      explain (the remaining info tags are printed);
#   3. the files: dpkg -x into a throwaway root; the binaries, units,
#      mosquitto drop-in, rules, criteria, profiles and examples are there,
#      and the maintainer scripts create the users and directories;
#   4. the extracted safehoused and safehouse-station --check their example
#      configs (paths moved into the throwaway root);
#   5. the units: systemd-analyze verify, and security --offline with an
#      exposure of 2.0 or lower;
#   6. with --install (root only, on a machine without safehouse installed):
#      apt-get install ./*.deb; the users, directories and configs exist;
#      an upgrade (the same build repacked as a newer version) keeps an
#      edited site.json and the database byte for byte; purge removes the
#      config and keeps the database; then everything is cleaned up.
#
# usage: tests/package/build.sh [--install] [--keep] [OUTDIR]
# Exit 0 when every check passed. Needs: dpkg-dev debhelper lintian fakeroot
# and the build dependencies (deploy/install-deps.sh).
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
INSTALL=0
KEEP=0
OUT=""
for a in "$@"; do
	case "$a" in
	--install) INSTALL=1 ;;
	--keep) KEEP=1 ;;
	-*) echo "usage: $0 [--install] [--keep] [OUTDIR]" >&2; exit 2 ;;
	*) OUT=$a ;;
	esac
done
if [ -z "$OUT" ]; then
	OUT=$(mktemp -d /tmp/safehouse-pkg.XXXXXX)
	[ "$KEEP" = 1 ] || trap 'rm -rf "$OUT"' EXIT
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

fail() {
	echo "package: FAIL: $*" >&2
	exit 1
}
step() {
	echo "package: $*"
}

# ---- 1. build ----------------------------------------------------------------
step "copying the tree to $OUT/src"
rm -rf "$OUT/src"
mkdir -p "$OUT/src"
# What git knows (tracked, and new files not ignored): no build directories.
# Outside a git checkout (an exported tree): everything but the builds.
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$ROOT" && git ls-files --cached --others --exclude-standard -z |
		xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$OUT/src"
else
	(cd "$ROOT" && tar -cf - --exclude='./build' --exclude='./build-*' --exclude='./obj-*' \
		--exclude='./tests/browser/node_modules' --exclude='__pycache__' .) |
		tar -xf - -C "$OUT/src"
fi
start=$(date +%s)
step "dpkg-buildpackage -us -uc -b (log: $OUT/build.log)"
if ! (cd "$OUT/src" && DEB_BUILD_OPTIONS="parallel=2${DEB_BUILD_OPTIONS:+ $DEB_BUILD_OPTIONS}" \
	dpkg-buildpackage -us -uc -b >"$OUT/build.log" 2>&1); then
	tail -40 "$OUT/build.log" >&2
	fail "dpkg-buildpackage failed"
fi
step "built in $(($(date +%s) - start)) s"
VERSION=$(cd "$OUT/src" && dpkg-parsechangelog -S Version)
ARCH=$(dpkg --print-architecture)
GW="$OUT/safehouse_${VERSION}_${ARCH}.deb"
ST="$OUT/safehouse-station_${VERSION}_${ARCH}.deb"
[ -f "$GW" ] && [ -f "$ST" ] || fail "missing $GW or $ST"

# ---- 2. lintian ----------------------------------------------------------------
step "lintian"
if ! lintian -I --pedantic --fail-on error,warning \
	"$OUT/safehouse_${VERSION}_${ARCH}.changes" >"$OUT/lintian.txt" 2>&1; then
	cat "$OUT/lintian.txt" >&2
	fail "lintian reports errors or warnings (fix them, or explain them in debian/*.lintian-overrides)"
fi
grep -E '^[EWIPX]:' "$OUT/lintian.txt" | sort -u | sed 's/^/  lintian: /' || true
step "lintian: no error or warning; overridden (explained in debian/*.lintian-overrides):"
grep -hv '^#' "$ROOT"/debian/*.lintian-overrides | sed 's/^/  lintian override: /'


# ---- 3. the files ---------------------------------------------------------------
R="$OUT/root"
rm -rf "$R"
mkdir -p "$R"
dpkg -x "$GW" "$R"
dpkg -x "$ST" "$R"
for f in usr/sbin/safehoused usr/bin/safehousectl usr/sbin/safehouse-station \
	lib/systemd/system/safehoused.service lib/systemd/system/safehouse-station.service \
	etc/mosquitto/conf.d/safehouse.conf \
	usr/share/safehouse/rules/model/fire.rules usr/share/safehouse/rules/model/criteria.json \
	usr/share/safehouse/rules/options/panic-sirens.rules \
	usr/share/safehouse/profiles/io-8ch.json usr/share/safehouse/examples/site.json usr/share/safehouse/examples/bridge.conf \
	usr/share/safehouse-station/examples/station.json \
	usr/share/doc/safehouse/README.md usr/share/doc/safehouse-station/station.md \
	usr/share/man/man8/safehoused.8.gz usr/share/man/man8/safehousectl.8.gz \
	usr/share/man/man8/safehouse-station.8.gz; do
	[ -e "$R/$f" ] || fail "the packages do not install /$f"
done
# Every model rule file, not just one.
for f in "$ROOT"/rules/model/*.rules; do
	[ -e "$R/usr/share/safehouse/rules/model/$(basename "$f")" ] ||
		fail "rules/model/$(basename "$f") is not in the package"
done
# The plugins (gateway/plugin.h): in the install's libdir, and the daemon
# itself links none of their libraries.
PLUGDIR="usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/safehouse"
for f in safehouse-web.so safehouse-webhook.so; do
	[ -e "$R/$PLUGDIR/$f" ] || fail "the packages do not install /$PLUGDIR/$f"
done
if readelf -d "$R/usr/sbin/safehoused" | grep -E 'NEEDED.*(libcurl|libmicrohttpd)'; then
	fail "safehoused links a library only its plugins need"
fi
grep -q '^listener 1883 127.0.0.1$' "$R/etc/mosquitto/conf.d/safehouse.conf" ||
	fail "the mosquitto drop-in has no loopback-only listener"
grep -q '^set_tcp_nodelay true$' "$R/etc/mosquitto/conf.d/safehouse.conf" ||
	fail "the mosquitto drop-in does not set set_tcp_nodelay"
# svc.c speaks sd_notify itself: libsystemd would cost 0.9 MB of RSS.
if dpkg-deb -f "$GW" Depends | grep -q libsystemd0; then fail "safehoused links libsystemd"; fi
for pkg in "$GW:safehouse:/etc/safehouse/site.json" \
	"$ST:safehouse-station:/etc/safehouse-station/station.json"; do
	deb=${pkg%%:*}
	rest=${pkg#*:}
	user=${rest%%:*}
	conf=${rest#*:}
	ctl="$OUT/ctl-$user"
	rm -rf "$ctl"
	dpkg-deb -e "$deb" "$ctl"
	grep -q "getent passwd $user" "$ctl/postinst" && grep -q "adduser --quiet --system" "$ctl/postinst" ||
		fail "$user's postinst does not create the system user"
	grep -q "install -d -o $user -g $user -m 0750 /var/lib/$user" "$ctl/postinst" ||
		fail "$user's postinst does not create /var/lib/$user"
	grep -q "$conf" "$ctl/postinst" || fail "$user's postinst does not write $conf"
	grep -q "deb-systemd-helper" "$ctl/postinst" ||
		fail "$user's postinst does not register its unit (dh_installsystemd)"
done
grep -q '/etc/mosquitto/conf.d/safehouse.conf' "$OUT/ctl-safehouse/conffiles" ||
	fail "the mosquitto drop-in is not a conffile"
step "files and maintainer scripts: OK"

# ---- 4. --check from the extracted binaries -------------------------------------
W="$OUT/work"
rm -rf "$W"
mkdir -p "$W"
python3 - "$R" "$W" <<'EOF'
import json, sys
root, work = sys.argv[1], sys.argv[2]
site = json.load(open(f"{root}/usr/share/safehouse/examples/site.json"))
assert site["database"] == "/var/lib/safehouse/safehouse.db", site["database"]
assert site["control_socket"] == "/run/safehouse/control.sock"
assert site["control_group"] == "safehouse"
site["database"] = f"{work}/safehouse.db"
site["control_socket"] = f"{work}/control.sock"
del site["control_group"]
site["rules"] = [r.replace("/usr/share/", f"{root}/usr/share/") for r in site["rules"]]
site["profiles_dir"] = f"{root}/usr/share/safehouse/profiles"
site["criteria"] = f"{root}/usr/share/safehouse/rules/model/criteria.json"
json.dump(site, open(f"{work}/site.json", "w"), ensure_ascii=False, indent=2)
st = json.load(open(f"{root}/usr/share/safehouse-station/examples/station.json"))
assert st["database"] == "/var/lib/safehouse-station/station.db", st["database"]
st["database"] = f"{work}/station.db"
json.dump(st, open(f"{work}/station.json", "w"), ensure_ascii=False, indent=2)
EOF
"$R/usr/sbin/safehoused" -c "$W/site.json" --check >"$W/check.txt" 2>&1 ||
	{ cat "$W/check.txt" >&2; fail "the packaged safehoused --check fails on the example site"; }
nmodel=$(ls "$ROOT"/rules/model/*.rules | wc -l)
grep -q "rules in $nmodel file(s)" "$W/check.txt" ||
	{ cat "$W/check.txt" >&2; fail "--check did not read the packaged model rules"; }
"$R/usr/sbin/safehouse-station" -c "$W/station.json" --check >"$W/scheck.txt" 2>&1 ||
	{ cat "$W/scheck.txt" >&2; fail "the packaged safehouse-station --check fails on its example"; }
# The packaged plugins load into the packaged daemon (every symbol they
# call back is exported): --check of the example with the owner's panel and
# a webhook contact says nothing of them.
python3 - "$W" <<'EOF'
import json, sys
work = sys.argv[1]
site = json.load(open(f"{work}/site.json"))
site["web"] = {"listen": "127.0.0.1:8080"}
site["contacts"].append({"id": "pkg-hook", "via": "webhook", "preset": "ntfy",
                         "url": "https://ntfy.sh/safehouse-package-test"})
json.dump(site, open(f"{work}/site-plugins.json", "w"), ensure_ascii=False, indent=2)
EOF
SAFEHOUSE_PLUGIN_DIR="$R/$PLUGDIR" "$R/usr/sbin/safehoused" -c "$W/site-plugins.json" --check \
	>"$W/pcheck.txt" 2>&1 || { cat "$W/pcheck.txt" >&2; fail "--check with the plugins"; }
if grep -E 'needs? safehouse-' "$W/pcheck.txt"; then
	fail "the packaged plugins do not load into the packaged safehoused"
fi
step "$(tail -1 "$W/check.txt")"
step "$(tail -1 "$W/scheck.txt")"
[ ! -e "$W/safehouse.db" ] || fail "--check created the database"

# ---- 5. the units ----------------------------------------------------------------
for u in safehoused safehouse-station; do
	# verify checks that ExecStart's binaries exist: point them into the
	# throwaway root.
	sed "s#/usr/sbin/#$R/usr/sbin/#g" "$R/lib/systemd/system/$u.service" >"$W/$u.service"
	# (and that the man page it names is there: MANPATH, the packaged ones)
	MANPATH="$R/usr/share/man" systemd-analyze verify "$W/$u.service" >"$W/verify-$u.txt" 2>&1 ||
		{ cat "$W/verify-$u.txt" >&2; fail "systemd-analyze verify $u.service"; }
	systemd-analyze security --offline=true --no-pager "$R/lib/systemd/system/$u.service" \
		>"$W/security-$u.txt" 2>&1 || true
	line=$(grep 'Overall exposure level' "$W/security-$u.txt") ||
		{ cat "$W/security-$u.txt" >&2; fail "systemd-analyze security $u.service"; }
	score=$(echo "$line" | sed 's/.*: \([0-9.]*\) .*/\1/')
	step "systemd-analyze security $u.service: $(echo "$line" | sed 's/^.*: //')"
	awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' ||
		fail "$u.service: exposure $score is above 2.0"
done

# ---- 6. install, upgrade, purge on this machine ---------------------------------
if [ "$INSTALL" = 0 ]; then
	step "OK (not installed: run with --install to test apt install, upgrade and purge)"
	exit 0
fi
[ "$(id -u)" = 0 ] || fail "--install needs root"
if dpkg-query -W safehouse >/dev/null 2>&1 || dpkg-query -W safehouse-station >/dev/null 2>&1 ||
	getent passwd safehouse >/dev/null || getent passwd safehouse-station >/dev/null ||
	[ -e /etc/safehouse ] || [ -e /var/lib/safehouse ] || [ -e /etc/safehouse-station ] ||
	[ -e /var/lib/safehouse-station ] || [ -e /etc/mosquitto/conf.d/safehouse.conf ]; then
	fail "--install: safehouse is already installed (or left over) on this machine; not touching it"
fi
cleanup() {
	apt-get purge -y -qq safehouse safehouse-station >/dev/null 2>&1 || true
	rm -rf /var/lib/safehouse /var/lib/safehouse-station /etc/safehouse /etc/safehouse-station
	deluser --quiet --system safehouse >/dev/null 2>&1 || true
	deluser --quiet --system safehouse-station >/dev/null 2>&1 || true
	delgroup --quiet --system safehouse >/dev/null 2>&1 || true
	delgroup --quiet --system safehouse-station >/dev/null 2>&1 || true
	[ "$KEEP" = 1 ] || rm -rf "$OUT"
}
trap cleanup EXIT
APT="apt-get -o DPkg::Lock::Timeout=120 -y -qq --no-install-recommends"
export DEBIAN_FRONTEND=noninteractive
step "apt-get install ./$(basename "$GW") ./$(basename "$ST")"
$APT install "$GW" "$ST" >"$OUT/apt.txt" 2>&1 || { cat "$OUT/apt.txt" >&2; fail "apt-get install"; }
getent passwd safehouse >/dev/null || fail "no user safehouse after install"
getent passwd safehouse-station >/dev/null || fail "no user safehouse-station after install"
[ "$(stat -c %U:%G:%a /var/lib/safehouse)" = safehouse:safehouse:750 ] ||
	fail "/var/lib/safehouse is $(stat -c %U:%G:%a /var/lib/safehouse)"
[ "$(stat -c %U:%G:%a /etc/safehouse)" = root:safehouse:750 ] ||
	fail "/etc/safehouse is $(stat -c %U:%G:%a /etc/safehouse)"
[ "$(stat -c %U:%G:%a /etc/safehouse/site.json)" = safehouse:safehouse:600 ] ||
	fail "/etc/safehouse/site.json is $(stat -c %U:%G:%a /etc/safehouse/site.json)"
[ "$(stat -c %U:%G:%a /var/lib/safehouse-station)" = safehouse-station:safehouse-station:750 ] ||
	fail "/var/lib/safehouse-station is $(stat -c %U:%G:%a /var/lib/safehouse-station)"
[ "$(stat -c %U:%G:%a /etc/safehouse-station/station.json)" = \
	safehouse-station:safehouse-station:600 ] || fail "/etc/safehouse-station/station.json: $(
	stat -c %U:%G:%a /etc/safehouse-station/station.json)"
# The installed --check, as the service's user (ExecStartPre does the same).
runuser -u safehouse -- safehoused -c /etc/safehouse/site.json --check >"$W/icheck.txt" 2>&1 ||
	{ cat "$W/icheck.txt" >&2; fail "the installed safehoused --check (as user safehouse)"; }
runuser -u safehouse-station -- safehouse-station -c /etc/safehouse-station/station.json \
	--check >"$W/ischeck.txt" 2>&1 ||
	{ cat "$W/ischeck.txt" >&2; fail "the installed safehouse-station --check"; }
step "installed: users, directories and configs OK; $(tail -1 "$W/icheck.txt")"

# The site's edit and its database, then an upgrade to a newer version.
sed -i 's/"name": "Nhà trọ Minh Sơn"/"name": "Nhà trọ đã sửa"/' /etc/safehouse/site.json
grep -q 'Nhà trọ đã sửa' /etc/safehouse/site.json || fail "could not edit site.json"
runuser -u safehouse -- sqlite3 /var/lib/safehouse/safehouse.db \
	"CREATE TABLE marker(x); INSERT INTO marker VALUES('kept');"
before=$(sha256sum /etc/safehouse/site.json /var/lib/safehouse/safehouse.db)
NEW="$OUT/newer"
for deb in "$GW" "$ST"; do
	rm -rf "$NEW/x"
	mkdir -p "$NEW/x"
	dpkg-deb -R "$deb" "$NEW/x"
	sed -i "s/^Version: .*/Version: ${VERSION}+upgrade1/" "$NEW/x/DEBIAN/control"
	dpkg-deb -b --root-owner-group "$NEW/x" "$NEW/" >/dev/null
done
$APT install "$NEW"/safehouse_*.deb "$NEW"/safehouse-station_*.deb >"$OUT/apt2.txt" 2>&1 ||
	{ cat "$OUT/apt2.txt" >&2; fail "apt-get install (upgrade)"; }
[ "$(dpkg-query -W -f '${Version}' safehouse)" = "${VERSION}+upgrade1" ] || fail "no upgrade happened"
after=$(sha256sum /etc/safehouse/site.json /var/lib/safehouse/safehouse.db)
[ "$before" = "$after" ] || fail "the upgrade changed site.json or the database"
step "upgrade ${VERSION} -> ${VERSION}+upgrade1: site.json and the database kept"

$APT purge safehouse safehouse-station >"$OUT/apt3.txt" 2>&1 ||
	{ cat "$OUT/apt3.txt" >&2; fail "apt-get purge"; }
[ ! -e /etc/safehouse ] || fail "/etc/safehouse is still there after purge"
[ ! -e /etc/mosquitto/conf.d/safehouse.conf ] || fail "the mosquitto drop-in outlived purge"
[ -f /var/lib/safehouse/safehouse.db ] || fail "purge removed the database (the event log)"
step "purge: config removed, the database kept (by design); cleaning up"
step "OK"
