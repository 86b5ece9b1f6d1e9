"""The installer's Modbus tools: safehousectl modbus scan and read, done by
the daemon's own bus worker (so they never fight it for the line), with
bad requests refused and the daemon unharmed."""

from modbus_helpers import start_modbus_site, tcp_bus, use_modbus

SENSORS = [{"id": "door-wired", "name": "door-wired", "kind": "door", "zone": "room-101",
            "modbus": {"bus": "tcp0", "unit": 1, "discrete_input": 0}}]


def test_scan_lists_the_units_that_answer(make_modbus_sim, site):
    sim = make_modbus_sim(units=(1, 2, 7), tcp_port=0)
    use_modbus(site, [tcp_bus("tcp0", sim.port)], SENSORS)
    start_modbus_site(site)
    r = site.ctl("modbus", "scan", "tcp0", "--units", "1-10")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "units that answer on tcp0: 1 2 7"


def test_read_shows_registers_as_the_device_has_them(make_modbus_sim, site):
    sim = make_modbus_sim(units=(1, 7), tcp_port=0)
    use_modbus(site, [tcp_bus("tcp0", sim.port)], SENSORS)
    start_modbus_site(site)
    sim.set("hr", 7, 3, [1234, 5])
    got = site.ctl_json("modbus", "read", "tcp0", "7", "holding_register", "3", "2")
    assert got["values"] == [1234, 5]
    sim.set("di", 1, 0, [1, 0, 1])
    got = site.ctl_json("modbus", "read", "tcp0", "1", "discrete_input", "0", "3")
    assert got["values"] == [1, 0, 1]


def test_bad_tool_requests_are_refused_with_the_reason(make_modbus_sim, site):
    sim = make_modbus_sim(units=(1,), tcp_port=0)
    use_modbus(site, [tcp_bus("tcp0", sim.port)], SENSORS)
    start_modbus_site(site)
    for args, why in ((("read", "nobus", "1", "coil", "0"), "no bus"),
                      (("read", "tcp0", "1", "tables", "0"), "table is"),
                      (("read", "tcp0", "1", "coil", "70000"), "address"),
                      (("read", "tcp0", "1", "holding_register", "500"), "address"),
                      (("read", "tcp0", "9", "coil", "0"), "no answer")):
        r = site.ctl("modbus", *args)
        assert r.returncode == 1, args
        assert why.lower() in r.stderr.lower(), (args, r.stderr)
    assert site.alive()
    assert site.status()["mode"] == "disarmed"
