"""A private PostgreSQL 15 server for the station's tests: Debian's binaries
(/usr/lib/postgresql/15/bin), a data directory of its own in /tmp, a free
loopback port, fsync on (it is the real thing), a role with a password and
a database it owns.

PostgreSQL refuses to run as root: the server runs as the `postgres` system
user that the postgresql package creates, and its data directory is that
user's (pytest's tmp_path is root's 0700 tree, so the data lives in /tmp
and the workdir only gets a note of where). initdb runs once per test
process into a template (with the role and the database already made);
each server is a copy of it, so a start costs a copy and a server start.

    pg = PgServer(tmp_path / "pg")   # started
    pg.url                           # postgresql://station:PW@127.0.0.1:PORT/station
    pg.psql("SELECT count(*) FROM feed")  # -> "3" (psql -At output, stripped)
    pg.kill(); pg.restart(); pg.stop()

A hot standby by PostgreSQL's own streaming replication (docs/station.md,
"PostgreSQL on two machines"): a primary started with settings of its
own (e.g. synchronous_standby_names, in its postgresql.auto.conf, so that
ALTER SYSTEM can change them; the standby's copy leaves them out, as a
Debian machine's own /etc/postgresql file would), and a standby made from
it with pg_basebackup -R:

    pg = PgServer(tmp_path / "pg",
                  settings={"synchronous_standby_names": "standby1"})
    sb = PgStandby(pg, tmp_path / "sb", name="standby1")  # started, streaming
    pg.sync_state("standby1")    # -> "sync"
    pg.kill(); sb.promote()      # sb is the primary now
    multi_url([pg, sb])          # postgresql://...@127.0.0.1:P1,127.0.0.1:P2/...
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from helpers import TIMEOUT, free_port, wait_until

PGBIN = Path(os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin"))
USER = "station"
PASSWORD = "pg-Secret-7b2e"
DB = "station"
_template = None  # (path) of this process's initdb'd template


def available():
    """Why a PostgreSQL server cannot run here, or None."""
    if not (PGBIN / "initdb").exists():
        return f"no PostgreSQL 15 at {PGBIN} (apt-get install postgresql-15)"
    try:
        import pwd
        pwd.getpwnam("postgres")
    except KeyError:
        return "no `postgres` system user (the postgresql package makes it)"
    return None



def require():
    """Fail (not skip) the calling test when no PostgreSQL server can run
    here: tests/run.sh installs it, so its absence is a broken setup."""
    why = available()
    if why:
        import pytest
        pytest.fail(f"PostgreSQL is needed: {why}", pytrace=False)

def _as_postgres():
    import pwd
    pw = pwd.getpwnam("postgres")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def _chown_tree(path):
    import pwd
    pw = pwd.getpwnam("postgres")
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.chown(os.path.join(root, f), pw.pw_uid, pw.pw_gid)


def _run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=60, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({r.returncode}): {r.stdout}{r.stderr}")
    return r


def _template_dir():
    """initdb once per test process, with the role and database made."""
    global _template
    if _template and (_template / "PG_VERSION").exists():
        return _template
    base = Path(tempfile.mkdtemp(prefix="sh-pgtpl-"))
    os.chmod(base, 0o755)
    data = base / "data"
    data.mkdir(mode=0o700)
    _chown_tree(base)
    _run([str(PGBIN / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
          "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"],
         **_as_postgres())
    srv = PgServer.__new__(PgServer)
    srv._init_fields(base, data, started_from=None)
    srv._start()
    srv.psql(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'", db="postgres")
    srv.psql(f"CREATE DATABASE {DB} OWNER {USER}", db="postgres")
    srv._shutdown()
    _template = data
    return data


class PgServer:
    """One PostgreSQL server, started in the constructor."""

    def __init__(self, workdir, settings=None):
        why = available()
        if why:
            raise RuntimeError(why)
        t0 = time.monotonic()
        tpl = _template_dir()
        base = Path(tempfile.mkdtemp(prefix="sh-pg-"))
        os.chmod(base, 0o755)
        data = base / "data"
        shutil.copytree(tpl, data, symlinks=True)
        _chown_tree(base)
        os.chmod(data, 0o700)
        self._init_fields(base, data, started_from=workdir)
        # In postgresql.auto.conf, where ALTER SYSTEM (an operator's
        # step) can change them; a PgStandby leaves them out of its copy,
        # as a machine's own /etc/postgresql/15/main/postgresql.conf would.
        self.settings = dict(settings or {})
        if self.settings:
            with open(data / "postgresql.auto.conf", "a") as f:
                for k, v in self.settings.items():
                    f.write(f"{k} = '{v}'\n")
        self._start()
        self.start_s = time.monotonic() - t0
        if workdir:
            Path(workdir).mkdir(parents=True, exist_ok=True)
            (Path(workdir) / "pg-data-dir").write_text(f"{data}\n")

    def _init_fields(self, base, data, started_from):
        self.base = base
        self.data = data
        self.port = free_port()
        self.proc = None
        self.logfile = base / "postgres.log"
        self.workdir = started_from
        self.settings = {}

    @property
    def url(self):
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DB}"

    @property
    def url_without_password(self):
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DB}"

    def _start(self):
        log = open(self.logfile, "ab")
        # Its own session, so that kill() takes the backends with it.
        self.proc = subprocess.Popen(
            [str(PGBIN / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-k", str(self.data), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on",
             "-c", "synchronous_commit=on", "-c", "max_connections=40",
             "-c", "shared_buffers=16MB"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, **_as_postgres())
        log.close()
        wait_until(self._ready, timeout=max(TIMEOUT, 30),
                   what=f"PostgreSQL on port {self.port} to accept connections")

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"postgres exited ({self.proc.returncode}): {self.log()}")
        r = subprocess.run(["pg_isready", "-q", "-U", "postgres", "-h", str(self.data), "-p", str(self.port)],
                           capture_output=True)
        return r.returncode == 0

    def psql(self, sql, db=DB):
        """Run sql as the superuser (unix socket); psql -At output."""
        r = _run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", str(self.data),
                  "-p", str(self.port), "-U", "postgres", "-d", db, "-c", sql])
        return r.stdout.strip()

    def sync_state(self, name):
        """pg_stat_replication's sync_state of the standby called name
        ("sync", "async", "potential"), or "" while it is not streaming."""
        return self.psql("SELECT coalesce(max(sync_state), '') FROM pg_stat_replication "
                         f"WHERE application_name = '{name}' AND state = 'streaming'",
                         db="postgres")

    def in_recovery(self):
        return self.psql("SELECT pg_is_in_recovery()", db="postgres") == "t"

    def log(self):
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""

    def kill(self):
        """SIGKILL the postmaster and every backend (a crash)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(TIMEOUT)
        # Orphaned backends of its group go too, before a restart.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            (self.data / "postmaster.pid").unlink()
        except FileNotFoundError:
            pass

    def restart(self):
        """Start again on the same port and data (after kill() or stop)."""
        self._start()

    def _shutdown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()

    def stop(self):
        """Stop the server and remove its data. Always call it."""
        self._shutdown()
        shutil.rmtree(self.base, ignore_errors=True)


class PgStandby(PgServer):
    """A hot standby of `primary`: pg_basebackup -R (a copy of its data
    directory, standby.signal and primary_conninfo written) as `postgres`,
    over the primary's unix socket, then started on a port of its own; it
    streams the primary's WAL under the application_name `name` (what the
    primary's synchronous_standby_names names). Started in the constructor,
    returns once the primary sees it streaming."""

    def __init__(self, primary, workdir, name="standby1"):
        t0 = time.monotonic()
        base = Path(tempfile.mkdtemp(prefix="sh-pgsb-"))
        os.chmod(base, 0o755)
        _chown_tree(base)
        data = base / "data"
        _run([str(PGBIN / "pg_basebackup"), "-D", str(data), "-R", "-X", "stream",
              "-c", "fast", "--no-sync",
              "-d", f"host={primary.data} port={primary.port} user=postgres "
                    f"application_name={name}"],
             **_as_postgres())
        os.chmod(data, 0o700)
        # The primary's own settings (synchronous_standby_names) are not
        # this machine's: promoted, it would wait for a standby of its own.
        auto = data / "postgresql.auto.conf"
        keep = [ln for ln in auto.read_text().splitlines(keepends=True)
                if ln.split("=")[0].strip() not in primary.settings]
        auto.write_text("".join(keep))
        self._init_fields(base, data, started_from=workdir)
        self.name = name
        self.primary = primary
        self._start()
        wait_until(lambda: primary.sync_state(name) != "", timeout=max(TIMEOUT, 30),
                   what=f"the standby {name} streaming from the primary")
        self.start_s = time.monotonic() - t0
        if workdir:
            Path(workdir).mkdir(parents=True, exist_ok=True)
            (Path(workdir) / "pg-data-dir").write_text(f"{data}\n")

    def promote(self):
        """pg_ctl promote (what an operator, or an HA manager, does once the
        primary is dead): the standby leaves recovery and accepts writes."""
        _run([str(PGBIN / "pg_ctl"), "promote", "-w", "-t", "60", "-D", str(self.data)],
             **_as_postgres())


def multi_url(servers, extra="target_session_attrs=read-write"):
    """The station's URL naming every server, libpq's multi-host form."""
    hosts = ",".join(f"127.0.0.1:{s.port}" for s in servers)
    return f"postgresql://{USER}:{PASSWORD}@{hosts}/{DB}" + (f"?{extra}" if extra else "")
