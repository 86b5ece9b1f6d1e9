"""The Debian packages build, pass lintian, hold what a gateway needs, and
their binaries --check the example configs (tests/package/build.sh). As
root on a machine without safehouse installed, it also installs them with
apt-get, upgrades them (site.json and the database kept) and purges them,
cleaning up after itself.

Slow (a full package build, 40-70 s on 2 cores): marked `package`; run it
once per suite, e.g. `pytest -m package` (tests/run.sh), or skip it with
`-m "not package"`."""

import os
import shutil
import subprocess

import pytest

from helpers import ROOT

SCRIPT = ROOT / "tests" / "package" / "build.sh"


def installed_already():
    r = subprocess.run(["dpkg-query", "-W", "safehouse"], capture_output=True)
    return r.returncode == 0 or os.path.exists("/etc/safehouse") or \
        os.path.exists("/var/lib/safehouse")


@pytest.mark.package
def test_packages_build_lint_clean_install_upgrade_and_purge(tmp_path):
    for tool in ("dpkg-buildpackage", "dh", "lintian", "systemd-analyze"):
        if not shutil.which(tool):
            pytest.fail(f"missing {tool}: run deploy/install-deps.sh", pytrace=False)
    args = [str(SCRIPT)]
    if os.geteuid() == 0 and not installed_already():
        args.append("--install")
    args.append(str(tmp_path / "pkg"))
    r = subprocess.run(args, capture_output=True, text=True, timeout=900)
    print(r.stdout)
    print(r.stderr)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "package: OK" in r.stdout
    if "--install" in args:
        assert "site.json and the database kept" in r.stdout
