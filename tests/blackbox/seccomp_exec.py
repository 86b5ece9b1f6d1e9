#!/usr/bin/python3
"""seccomp_exec.py GROUP -- COMMAND...: exec COMMAND under a seccomp filter
that allows only the system calls of systemd's GROUP (e.g. @system-service,
expanded with `systemd-analyze syscall-filter`, as SystemCallFilter= does),
returns EPERM for any other (SystemCallErrorNumber=EPERM), and allows
socket(2) only for AF_UNIX, AF_INET and AF_INET6 (RestrictAddressFamilies=).

For test_sandbox.py: an approximation of the unit's filter without systemd.
Needs python3-seccomp (libseccomp's bindings)."""

import errno
import os
import socket
import subprocess
import sys

import seccomp


def expand(group, seen=None):
    seen = set() if seen is None else seen
    if group in seen:
        return set()
    seen.add(group)
    out = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True,
                         text=True, check=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        if name.startswith("@"):
            calls |= expand(name, seen)
        else:
            calls.add(name)
    return calls


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit("usage: seccomp_exec.py @GROUP -- COMMAND...")
    calls = expand(sys.argv[1])
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
    for name in sorted(calls):
        if name == "socket":
            continue
        try:
            f.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError, OSError):
            pass  # not a system call of this architecture
    for fam in (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6):
        f.add_rule(seccomp.ALLOW, "socket", seccomp.Arg(0, seccomp.EQ, fam))
    f.load()
    os.execvp(sys.argv[3], sys.argv[3:])


if __name__ == "__main__":
    main()
