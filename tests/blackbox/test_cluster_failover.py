"""The commune broker as a 3-node nats-server cluster (deploy/nats): a
gateway and the militia station fail over between its nodes when the one
they are on dies (kill -9), and nothing raised meanwhile is lost; a
subscription the broker refuses is said and retried, never silently
missing; the "hosts" list is checked like every other key.

The failover window is real: after a kill -9 the survivors elect new
JetStream leaders for some seconds and refuse MQTT connects meanwhile, so
the waits here are long (FAILOVER_TIMEOUT); nothing is timed in an
assertion. Each test prints what it measured (kill -> reconnected ->
delivered) for the benchmark notes.
"""

import json
import os
import socket
import threading
import time

from helpers import MqttProbe, base_config, errors_only, parse_diags, run_check, \
    sanitizer_report, wait_until
from station_helpers import GatewaySim, Station, require_station

# Kill -9 of a node -> the survivors' elections -> our reconnect -> the
# backlog out: ~10-20 s on loopback; generous for a loaded CI machine.
FAILOVER_TIMEOUT = float(os.environ.get("SAFEHOUSE_FAILOVER_TIMEOUT", "90"))
SMOKE = {"smoke": True, "battery": 95}
MILITIA_ID = "militia-receiver"


def cluster_hosts(cluster):
    return [f"127.0.0.1:{p}" for p in cluster.mqtt_ports]


def use_cluster(site, cluster):
    site.config["upstream"] = {"hosts": cluster_hosts(cluster), "prefix": "safehouse"}


def peer_node(cluster, peer):
    """The node index of a "host:port" peer."""
    assert peer, "no peer"
    return cluster.node_of_port(peer.rsplit(":", 1)[1])


def upstream_peer(site):
    return (site.status().get("mqtt") or {}).get("upstream_peer")


def start_on_cluster(site, cluster):
    """Start the gateway; return the node its upstream link is on."""
    site.start(upstream_local=False)
    peer = wait_until(lambda: upstream_peer(site), timeout=FAILOVER_TIMEOUT,
                      what="the upstream link to a node (status mqtt.upstream_peer)")
    node = peer_node(cluster, peer)
    assert node is not None, f"{peer} is not a node of the cluster {cluster.mqtt_ports}"
    return node


def militia_session(cluster, node):
    """The militia's receiver: a persistent session on the given node (the
    cluster keeps it, and queues for it, on all nodes)."""
    return MqttProbe(cluster.mqtt_ports[node], topics=["safehouse/#"], client_id=MILITIA_ID,
                     clean_session=False).connect()


def resume_militia(cluster, node):
    return MqttProbe(cluster.mqtt_ports[node], topics=[], client_id=MILITIA_ID,
                     clean_session=False).connect()


def survivor(cluster, dead):
    return next(i for i in cluster.alive() if i != dead)


def test_gateway_fails_over_and_the_alarm_raised_during_the_outage_reaches_the_militia(
        site, nats_cluster):
    use_cluster(site, nats_cluster)
    node = start_on_cluster(site, nats_cluster)
    rx = militia_session(nats_cluster, survivor(nats_cluster, node))
    rx.close()
    before = upstream_peer(site)

    t_kill = time.monotonic()
    nats_cluster.kill(node)
    m = site.probe.mark()
    site.report("smoke-101", SMOKE)
    site.wait_siren("fire", since=m)  # the siren never waits for the commune
    wait_until(lambda: site.alarms(), what="the fire alarm to be active")

    after = wait_until(lambda: (lambda p: p if p and p != before else None)(upstream_peer(site)),
                       timeout=FAILOVER_TIMEOUT, what="the gateway on another node")
    t_up = time.monotonic()
    assert peer_node(nats_cluster, after) in nats_cluster.alive()
    wait_until(lambda: site.status()["outbox_pending"] == 0, timeout=FAILOVER_TIMEOUT,
               what="the outbox to drain on the surviving nodes")
    t_drained = time.monotonic()
    assert site.ctl_json("outbox")["outbox"] == []
    assert "nothing waiting in the outbox" in site.ctl("outbox").stdout
    delivered = [r for r in site.ctl_json("outbox", "--all")["outbox"]
                 if r["channel"] == "upstream" and r["delivered_at"]]
    assert len(delivered) >= 3  # the alarm and its two alerts

    nats_cluster.wait_settled()
    rx = resume_militia(nats_cluster, peer_node(nats_cluster, after))
    try:
        alarm = rx.wait_for(site.topic("alarm"), timeout=FAILOVER_TIMEOUT,
                            pred=lambda msg: msg.json().get("state") == "raised",
                            what="the fire alarm at the militia")[0].json()
        assert alarm["class"] == "fire" and alarm["zone"] == "room-101"
        rx.wait_for(site.topic("alert"), timeout=FAILOVER_TIMEOUT,
                    pred=lambda msg: msg.json().get("alarm") == alarm["id"],
                    what="its alert at the militia")
    finally:
        rx.close()
    # The failover is said once, naming both nodes.
    assert f"mqtt upstream: {before} lost (" in site.log()
    print(f"failover: kill -9 of {before} -> reconnected to {after} in "
          f"{t_up - t_kill:.1f} s -> outbox drained {t_drained - t_kill:.1f} s after the kill")


def test_militia_ack_on_a_surviving_node_reaches_the_gateway_after_failover(site, nats_cluster):
    use_cluster(site, nats_cluster)
    node = start_on_cluster(site, nats_cluster)
    site.report("smoke-101", SMOKE)
    alarm = wait_until(lambda: site.alarms(), what="the fire alarm")[0]
    wait_until(lambda: site.status()["outbox_pending"] == 0, timeout=FAILOVER_TIMEOUT,
               what="the alarm delivered upstream")

    nats_cluster.kill(node)
    nats_cluster.wait_settled()
    officer = MqttProbe(nats_cluster.mqtt_ports[survivor(nats_cluster, node)], topics=[])
    officer.connect()
    try:
        officer.publish(site.topic("ack"), json.dumps({"alarm": alarm["id"], "by": "an"}))
    finally:
        officer.close()
    acked = wait_until(lambda: [a for a in site.alarms()
                                if a["id"] == alarm["id"] and a["state"] == "acknowledged"],
                       timeout=FAILOVER_TIMEOUT, what="the ack to reach the gateway")[0]
    assert "militia:an" in json.dumps(acked, ensure_ascii=False)
    assert peer_node(nats_cluster, upstream_peer(site)) != node


def test_a_dead_first_node_costs_no_backoff_the_next_one_is_tried_at_once(tmp_path, site):
    """Plain mosquitto stands in for two nodes: the first address is closed.
    The gateway must be on the second without waiting out a backoff, say
    so once, and show the node in status."""
    from helpers import Broker, free_port
    up = Broker(tmp_path / "node2")
    up.start()
    dead = free_port()
    try:
        site.config["upstream"] = {"hosts": [f"127.0.0.1:{dead}", f"127.0.0.1:{up.port}"]}
        site.start(upstream_local=False)
        peer = wait_until(lambda: upstream_peer(site), what="the link on the second node")
        assert peer == f"127.0.0.1:{up.port}"
        log = site.log()
        assert (f"mqtt upstream: cannot connect to 127.0.0.1:{dead} (Connection refused); "
                f"trying 127.0.0.1:{up.port}") in log
        # One failed attempt, then the next node: no backoff was waited.
        assert "retrying in" not in log and "none of the 2 brokers" not in log
        assert f"upstream: on 127.0.0.1:{up.port}" in site.ctl("status").stdout
        # The second node goes too: a whole round fails, then the backoff.
        assert up.stop() == 0
        wait_until(lambda: "none of the 2 brokers took us" in site.log(),
                   what="the round over and the backoff said")
        assert upstream_peer(site) is None
    finally:
        up.stop()


def station_on_cluster(tmp_path, cluster):
    st = Station(tmp_path / "station", type("B", (), {"port": cluster.mqtt_ports[0]})())
    del st.config["broker"]["host"]
    del st.config["broker"]["port"]
    st.config["broker"]["hosts"] = cluster_hosts(cluster)
    st.add_user("an", "officer")
    return st


def test_station_fails_over_and_alarms_published_on_another_node_reach_its_console(
        tmp_path, nats_cluster):
    require_station()
    st = station_on_cluster(tmp_path, nats_cluster)
    sim = None
    try:
        st.start()
        s = st.session("an")
        peer = wait_until(lambda: s.get("/api/stats").get("broker_peer"),
                          what="the station's broker peer in /api/stats")
        node = peer_node(nats_cluster, peer)
        # A station at work: its feed arrives (so its subscriptions are in
        # its session) before the node dies.
        before = GatewaySim(nats_cluster.mqtt_ports[node])
        try:
            before.alarm("nt-pre", 100)
        finally:
            before.close()
        wait_until(lambda: s.find_alarm(site="nt-pre", id=100), timeout=FAILOVER_TIMEOUT,
                   what="an alarm on the console before the kill")
        t_kill = time.monotonic()
        nats_cluster.kill(node)
        nats_cluster.wait_settled()
        t_settled = time.monotonic()
        sim = GatewaySim(nats_cluster.mqtt_ports[survivor(nats_cluster, node)])
        sent = [sim.alarm("nt-fo", i) for i in (1, 2, 3)]
        for msg in sent:
            wait_until(lambda: s.find_alarm(site="nt-fo", id=msg["id"]),
                       timeout=FAILOVER_TIMEOUT, what=f"alarm {msg['id']} on the console")
        t_seen = time.monotonic()
        new_peer = s.get("/api/stats").get("broker_peer")
        assert new_peer and peer_node(nats_cluster, new_peer) != node
        assert st.feed_rows(site="nt-fo") >= 3
        assert f"mqtt commune: {peer} lost (" in st.log()
        print(f"station failover: kill -9 of {peer} -> cluster settled (a QoS 1 round trip "
              f"on the survivors) {t_settled - t_kill:.1f} s after -> on {new_peer}, the "
              f"alarms on the console {t_seen - t_kill:.1f} s after the kill")
    finally:
        if sim:
            sim.close()
        rc = st.close()
        print(st.log()[-8000:])
    assert sanitizer_report(st.log()) is None
    assert rc in (None, 0)


class RefusingBroker:
    """A minimal MQTT 3.1.1 broker on loopback that accepts every client and
    every subscription but those matching `refuse`, whose SUBACK says 0x80
    (failure), as an ACL or a NATS cluster in its election does.
    (mosquitto 2.0's acl_file does not refuse subscriptions: it grants
    them and filters the messages, so it cannot stand in.)"""

    def __init__(self, refuse):
        self.refuse = refuse
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connects = 0
        self.refused = 0
        self.stopping = False
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _read_packet(c):
        head = c.recv(1)
        if not head:
            return None, None
        n, mult = 0, 1
        while True:
            b = c.recv(1)[0]
            n += (b & 0x7f) * mult
            mult *= 128
            if not b & 0x80:
                break
        body = b""
        while len(body) < n:
            chunk = c.recv(n - len(body))
            if not chunk:
                return None, None
            body += chunk
        return head[0], body

    def _serve(self, c):
        try:
            while True:
                kind, body = self._read_packet(c)
                if kind is None:
                    return
                if kind >> 4 == 1:  # CONNECT
                    self.connects += 1
                    c.sendall(bytes([0x20, 2, 0, 0]))
                elif kind >> 4 == 8:  # SUBSCRIBE: mid, then (topic, qos)*
                    mid, i, codes = body[:2], 2, []
                    while i < len(body):
                        tlen = int.from_bytes(body[i:i + 2], "big")
                        topic = body[i + 2:i + 2 + tlen].decode()
                        i += 2 + tlen + 1
                        bad = topic == self.refuse
                        self.refused += bad
                        codes.append(0x80 if bad else 1)
                    c.sendall(bytes([0x90, 2 + len(codes)]) + mid + bytes(codes))
                elif kind >> 4 == 12:  # PINGREQ
                    c.sendall(bytes([0xd0, 0]))
                elif kind >> 4 == 14:  # DISCONNECT
                    return
        except (OSError, IndexError):
            return
        finally:
            c.close()

    def stop(self):
        self.stopping = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def test_a_refused_subscription_is_logged_and_the_link_retried(tmp_path):
    """The station's alarm feed refused (SUBACK 0x80): it must say so with
    the topic and subscribe again over a new link, not run without it."""
    b = RefusingBroker("safehouse/+/alarm")
    st = Station(tmp_path / "station", b)
    try:
        st.start(wait=False)
        line = "refused the subscription to safehouse/+/alarm (granted 0x80)"
        wait_until(lambda: st.log().count(line) >= 2, timeout=30,
                   what="the refusal logged, then again after the retry")
        assert b.connects >= 2 and b.refused >= 2
        assert ("mqtt commune: connection to 127.0.0.1:%d lost (subscription refused)" % b.port
                in st.log())
        assert st.proc.poll() is None
    finally:
        rc = st.close()
        print(st.log()[-5000:])
        b.stop()
    assert sanitizer_report(st.log()) is None
    assert rc in (None, 0)


def test_hosts_mistakes_are_all_reported_in_one_pass_with_their_place(tmp_path):
    cfg = base_config(1883)
    cfg["upstream"] = {"host": "10.0.0.11", "hosts": []}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg, indent=2) + "\n")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "site.rules").write_text("# none\n")
    r = run_check(path)
    errs = errors_only(parse_diags(r.stdout + r.stderr))
    assert r.returncode != 0
    msgs = [e["msg"] for e in errs]
    assert any('upstream.hosts: give either "host"' in x for x in msgs), msgs
    assert any("upstream.hosts: lists 0 broker(s); give 1 to 8" in x for x in msgs), msgs

    cfg["upstream"] = {"hosts": ["10.0.0.11", "10.0.0.11:1883", "10.0.0.12:99999", "a b"]}
    path.write_text(json.dumps(cfg, indent=2) + "\n")
    r = run_check(path)
    errs = errors_only(parse_diags(r.stdout + r.stderr))
    msgs = [e["msg"] for e in errs]
    assert any("upstream.hosts[1]" in x and "names the same broker as hosts[0]" in x
               for x in msgs), msgs
    assert any("upstream.hosts[2]" in x and "the port after ':' must be a number" in x
               for x in msgs), msgs
    assert any("upstream.hosts[3]" in x and "no spaces" in x for x in msgs), msgs
    assert len(errs) == 3, msgs
    # Each at its own line (json.dumps puts one entry on a line).
    assert len({e["line"] for e in errs}) == 3


def test_station_hosts_mistakes_are_reported_with_their_place(tmp_path):
    b = type("B", (), {"port": 1883})()
    st = Station(tmp_path / "station", b)
    st.config["broker"]["hosts"] = ["127.0.0.1:1", "127.0.0.1:1"]
    r = st.run("--check")
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "broker.hosts: give either \"host\"" in out, out
    assert "broker.hosts[1]: \"127.0.0.1:1\" names the same broker as hosts[0]" in out, out


def test_a_broker_that_lost_our_session_gets_every_subscription_again(site):
    """mqttc sends no SUBSCRIBE for what a resumed session holds; a broker
    restarted without persistence has no session (CONNACK says so), and
    must get the sensors' topics again, or no detector would be heard."""
    site.start()
    site.broker.fixed_port = site.broker.port
    site.probe.close()
    assert site.broker.stop() == 0
    wait_until(lambda: not site.status()["mqtt"]["local_reports"], what="the local link down")
    site.broker.start()
    wait_until(lambda: site.status()["mqtt"]["local_reports"], timeout=30,
               what="the local link back")
    site.probe = MqttProbe(site.broker.port).connect()
    # Only published now, so only a fresh subscription can bring it.
    m = site.probe.mark()
    site.report("smoke-101", SMOKE)
    site.wait_siren("fire", since=m)
    assert [a for a in site.alarms() if a["sensor"] == "smoke-101"]
