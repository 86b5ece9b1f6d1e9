#!/usr/bin/python3
"""A real Modbus peer for the black-box tests: pymodbus as a TCP server or as
an RTU server on a serial device (one end of a socat pty pair), driven over
stdin/stdout with one JSON command per line and one JSON reply per line.

    modbus_sim.py --tcp PORT --units 1,2          (PORT 0: pick a free one)
    modbus_sim.py --rtu DEVICE --units 1,2 [--baud 9600 --parity N ...]

Once it serves it prints {"ready": true, "port": N} (TCP) or
{"ready": true, "device": PATH} (RTU). Every unit has `--size` (100) of each
table (discrete inputs, coils, input and holding registers), addressed from 0
exactly as on the wire; a request beyond them gets the exception reply
ILLEGAL DATA ADDRESS (2). A unit that is not served (not in --units, or
dropped) gets no reply at all, as on a real bus: the master times out.

Commands (every reply has "ok"; a bad command gets {"ok": false, "error"}):

    {"cmd": "set", "table": "di"|"co"|"ir"|"hr", "unit": 1, "address": 0, "values": [1, 0]}
    {"cmd": "get", "table": "co", "unit": 2, "address": 0, "count": 1} -> {"ok", "values"}
    {"cmd": "drop", "unit": 2}        the unit stops answering
    {"cmd": "restore", "unit": 2}     it answers again, with the data it had
    {"cmd": "stats", "unit": 1}       -> {"ok", "requests", "writes"}: requests it answered
    {"cmd": "ping"}

It exits when its stdin closes (or on SIGTERM), so a test that dies can
never leave it behind.
"""

import argparse
import asyncio
import json
import logging
import os
import sys
import threading

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.server.async_io import ModbusSerialServer, ModbusTcpServer
from pymodbus.transaction import ModbusRtuFramer, ModbusSocketFramer

TABLES = {"di": "d", "co": "c", "ir": "i", "hr": "h"}
WRITE_FCS = {5, 6, 15, 16, 22, 23}


class CountingSlave(ModbusSlaveContext):
    """A slave context that counts the requests it serves (validate() runs
    once per request, before the data is touched)."""

    def __init__(self, size):
        blocks = {name: ModbusSequentialDataBlock(0, [0] * size) for name in TABLES}
        # zero_mode: wire address N is datastore address N (pymodbus adds 1
        # otherwise, which would shift every address the tests name).
        super().__init__(zero_mode=True, **blocks)
        self.requests = 0
        self.writes = 0

    def validate(self, fc_as_hex, address, count=1):
        self.requests += 1
        if fc_as_hex in WRITE_FCS:
            self.writes += 1
        return super().validate(fc_as_hex, address, count)


class Sim:
    def __init__(self, units, size):
        self.slaves = {u: CountingSlave(size) for u in units}
        self.dropped = {}
        self.context = ModbusServerContext(slaves=dict(self.slaves), single=False)
        self.size = size

    def _slave(self, cmd):
        unit = int(cmd["unit"])
        if unit not in self.slaves:
            raise ValueError(f"unit {unit} is not simulated (units: {sorted(self.slaves)})")
        return unit, self.slaves[unit]

    def handle(self, cmd):
        op = cmd.get("cmd")
        if op == "ping":
            return {"ok": True}
        if op in ("set", "get"):
            _, slave = self._slave(cmd)
            table = cmd["table"]
            if table not in TABLES:
                raise ValueError(f"unknown table {table!r} (di, co, ir, hr)")
            block = slave.store[TABLES[table]]
            address = int(cmd["address"])
            if op == "set":
                values = cmd["values"]
                if not isinstance(values, list):
                    values = [values]
                if table in ("di", "co"):
                    values = [bool(v) for v in values]
                else:
                    values = [int(v) & 0xFFFF for v in values]
                if not block.validate(address, len(values)):
                    raise ValueError(f"{table} {address}+{len(values)} is out of range")
                block.setValues(address, values)
                return {"ok": True}
            count = int(cmd.get("count", 1))
            if not block.validate(address, count):
                raise ValueError(f"{table} {address}+{count} is out of range")
            return {"ok": True, "values": [int(v) for v in block.getValues(address, count)]}
        if op == "drop":
            unit, _ = self._slave(cmd)
            if unit in self.context:
                del self.context[unit]
            return {"ok": True}
        if op == "restore":
            unit, slave = self._slave(cmd)
            self.context[unit] = slave
            return {"ok": True}
        if op == "stats":
            _, slave = self._slave(cmd)
            return {"ok": True, "requests": slave.requests, "writes": slave.writes}
        raise ValueError(f"unknown command {op!r}")


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def stdin_reader(loop, sim):
    """Commands run on the server's loop, so they never race a request."""
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            fut = asyncio.run_coroutine_threadsafe(_run(sim, cmd), loop)
            out = fut.result(timeout=30)
        except Exception as e:  # noqa: BLE001 - the reply carries it
            out = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        reply(out)
    # stdin closed: the test is gone (or done). Leave at once, whatever the
    # server is doing.
    sys.stdout.flush()
    os._exit(0)


async def _run(sim, cmd):
    return sim.handle(cmd)


async def serve(args, sim):
    loop = asyncio.get_running_loop()
    if args.tcp is not None:
        server = ModbusTcpServer(sim.context, framer=ModbusSocketFramer,
                                 address=("127.0.0.1", args.tcp),
                                 allow_reuse_address=True, ignore_missing_slaves=True)
        task = asyncio.create_task(server.serve_forever())
        await server.serving
        port = server.server.sockets[0].getsockname()[1]
        ready = {"ready": True, "port": port}
    else:
        server = ModbusSerialServer(sim.context, framer=ModbusRtuFramer, port=args.rtu,
                                    baudrate=args.baud, parity=args.parity,
                                    bytesize=args.data_bits, stopbits=args.stop_bits,
                                    ignore_missing_slaves=True)
        await server.start()
        if server.transport is None:
            raise SystemExit(f"modbus_sim: cannot open {args.rtu}")
        task = asyncio.create_task(server.serve_forever())
        ready = {"ready": True, "device": args.rtu}
    threading.Thread(target=stdin_reader, args=(loop, sim), daemon=True).start()
    reply(ready)
    await task


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", type=int, metavar="PORT", help="listen on 127.0.0.1:PORT")
    where.add_argument("--rtu", metavar="DEVICE", help="serve RTU on a serial device")
    ap.add_argument("--units", default="1", help="comma-separated unit ids (default 1)")
    ap.add_argument("--size", type=int, default=100, help="entries per table (default 100)")
    ap.add_argument("--baud", type=int, default=9600)
    ap.add_argument("--parity", default="N", choices=["N", "E", "O"])
    ap.add_argument("--data-bits", type=int, default=8)
    ap.add_argument("--stop-bits", type=int, default=1)
    ap.add_argument("--verbose", action="store_true", help="pymodbus debug log on stderr")
    args = ap.parse_args()
    logging.basicConfig(stream=sys.stderr,
                        level=logging.DEBUG if args.verbose else logging.CRITICAL)
    # pymodbus logs every timeout and exception reply it makes at ERROR:
    # here they are the point of the test, not news.
    logging.getLogger("pymodbus").setLevel(logging.DEBUG if args.verbose else logging.CRITICAL)
    units = [int(u) for u in args.units.split(",") if u.strip()]
    sim = Sim(units, args.size)
    try:
        asyncio.run(serve(args, sim))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
