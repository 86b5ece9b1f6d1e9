#!/usr/bin/python3
"""The black-box Modbus simulator (tests/blackbox/modbus_sim.py), unchanged,
plus what the Modbus benchmark (modbus.sh) needs to time a siren coil from
the simulator's side. Same arguments, same ready line, same commands; and:

    {"cmd": "round", "unit": 1, "address": 0, "value": 1,
     "coil_unit": 2, "coil": 0, "timeout_ms": 5000}
        -> {"ok": true, "latency_us": N} or {"ok": false, "error": "timeout"}

sets discrete input `address` of `unit` to `value` and answers once the
coil `coil` of `coil_unit` has been *written* with that value by the master
(function 5 or 15, whatever was there before). Both instants are
time.monotonic() in this process, on the server's event loop: the set
happens between two requests, the write is stamped when the server applies
it, so the figure is the master's whole path (poll, decode, rules, coil
write) and not the bench's own polling.

    {"cmd": "counts"} -> {"ok": true, "units": {"1": requests, ...}}

the requests each simulated unit has answered so far, in one reply.
"""

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "blackbox"))
import modbus_sim  # noqa: E402  (the real simulator, not a copy)

COIL_WRITE_FCS = {5, 15}
WRITES = []          # (monotonic, unit, address, value) of every coil write
WAITERS = []         # (unit, coil, value, future)


class StampingSlave(modbus_sim.CountingSlave):
    def setValues(self, fc_as_hex, address, values):
        super().setValues(fc_as_hex, address, values)
        if fc_as_hex in COIL_WRITE_FCS:
            t = time.monotonic()
            for i, v in enumerate(values):
                for w in list(WAITERS):
                    unit, coil, value, fut = w
                    if self.unit == unit and coil == address + i and bool(v) == value \
                            and not fut.done():
                        fut.set_result(t)
                        WAITERS.remove(w)


class BenchSim(modbus_sim.Sim):
    def __init__(self, units, size):
        super().__init__(units, size)
        for u, s in self.slaves.items():
            s.__class__ = StampingSlave
            s.unit = u


modbus_sim.Sim = BenchSim
_orig_run = modbus_sim._run


async def _run(sim, cmd):
    op = cmd.get("cmd")
    if op == "counts":
        return {"ok": True, "units": {str(u): s.requests for u, s in sim.slaves.items()}}
    if op != "round":
        return await _orig_run(sim, cmd)
    value = bool(cmd.get("value", 1))
    fut = asyncio.get_running_loop().create_future()
    WAITERS.append((int(cmd.get("coil_unit", 2)), int(cmd.get("coil", 0)), value, fut))
    t0 = time.monotonic()
    sim.handle({"cmd": "set", "table": "di", "unit": int(cmd.get("unit", 1)),
                "address": int(cmd.get("address", 0)), "values": [int(value)]})
    try:
        t1 = await asyncio.wait_for(fut, timeout=cmd.get("timeout_ms", 5000) / 1000)
    except asyncio.TimeoutError:
        WAITERS[:] = [w for w in WAITERS if w[3] is not fut]
        return {"ok": False, "error": "timeout"}
    return {"ok": True, "latency_us": int((t1 - t0) * 1e6)}


modbus_sim._run = _run

if __name__ == "__main__":
    modbus_sim.main()
