#!/bin/sh
# Install the browser test's one dependency (playwright-core, pinned in
# package-lock.json) into tests/browser/node_modules. The browser itself is
# Debian's /usr/bin/chromium (deploy/install-deps.sh): nothing else is
# downloaded. Does nothing when node_modules matches package-lock.json
# (a stamp holds the lock file's checksum), so run.sh may call it every time.
set -eu

DIR="$(cd "$(dirname "$0")" && pwd)"
cd "$DIR"
STAMP=node_modules/.safehouse-lock.sha256

if ! command -v npm >/dev/null 2>&1; then
	echo "tests/browser/setup.sh: npm not found (deploy/install-deps.sh installs nodejs and npm)" >&2
	exit 1
fi

want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ -d node_modules/playwright-core ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
	exit 0
fi
echo "tests/browser: npm ci (playwright-core)"
npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$STAMP"
