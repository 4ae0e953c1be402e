"""Observing a running lab with independent tools only (coturn's turnutils, curl,
openssl s_client, socat, pacparser for PAC files), and deriving the verdict the scenario promises from what they
saw. edgepath itself is not involved: this is how the lab's expectations are checked
before edgepath's own verdicts are compared with them."""

import re
import secrets
import struct
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from . import plan, services
from .net import LabError

UDP_PORTS = (3478, 3479, 3480, 3481)
PACPARSER = threading.Lock()


@dataclass
class Observation:
    udp: dict = field(default_factory=dict)  # port -> answered (from any modality's range)
    udp_from: dict = field(default_factory=dict)  # modality -> port -> answered from its range
    tcp: dict = field(default_factory=dict)  # port -> TURN over TCP (plain or TLS) worked
    tls443: bool = False  # TURN over TLS to the relay's 443 worked (turnutils_uclient -S)
    plain443: bool = False  # plain TURN over TCP to the relay's 443 worked
    proxy_turn: bool = False  # TURN over TCP through the proxy (CONNECT tunnel) worked
    proxy_turn_tls: bool = False  # ... and TURN over TLS through it
    relay_issuer: str | None = None  # who signed the certificate shown for the relay's 443
    loss_pct: float | None = None  # measured on the best UDP port
    # turnutils_uclient's stream on the best UDP port: loss_pct, rtt_ms, jitter_ms.
    quality: dict | None = None
    services: dict = field(default_factory=dict)  # service -> {direct, proxy, issuer}
    proxy_407: bool | None = None
    closed: dict = field(default_factory=dict)  # (host, port) -> connected
    # Dual-stack scenarios: the same over IPv6 (ipv4 is the fields above).
    udp6: dict = field(default_factory=dict)  # port -> answered
    tcp6: bool = False  # TURN over TCP to the relay's 443 over IPv6
    services6: dict = field(default_factory=dict)  # service -> reachable directly over IPv6
    # VPN scenarios: the kernel's route per address (its interface), and what a capture
    # on the tunnel interface saw of UDP to the relay while a STUN probe ran.
    routes: dict = field(default_factory=dict)  # address -> interface
    tunnel_saw_relay_udp: int | None = None  # packets to/from the relay's UDP 3478
    nat_mapping: str | None = None  # turnutils_natdiscovery's verdict, in edgepath's words
    nat_mapping_said: str | None = None  # its own words
    # PAC scenarios: per name, pacparser's answer and the hop a client takes (the first
    # proxy that accepts a connection, or "direct").
    pac: dict = field(default_factory=dict)  # name -> (answer, hop)
    notes: list = field(default_factory=list)


def route_interface(lab, dest):
    """The interface the kernel picks for UDP from the audio range to dest:3478."""
    p = _client(lab, ["ip", "route", "get", dest, "ipproto", "udp", "sport", "50000", "dport", "3478"], timeout=4)
    m = re.search(r"\bdev (\S+)", p.stdout)
    return m.group(1) if m else None


def tunnel_capture(lab):
    """dumpcap on the tunnel interface while turnutils_stunclient asks the relay (from
    port 50000): how many packets of UDP port 3478 the tunnel carried."""
    pcap = lab.path("tunnel.pcapng")
    lab.spawn("client", "dumpcap", ["dumpcap", "-q", "-i", lab.tunnel_if, "-f", "udp port 3478",
                                    "-a", "duration:4", "-w", pcap])
    time.sleep(1.0)  # dumpcap needs a moment before it captures
    _client(lab, ["turnutils_stunclient", "-p", "3478", plan.RELAY], timeout=4)
    for name, p, _ in lab.procs:
        if name == "dumpcap":
            try:
                p.wait(timeout=8)
            except Exception:
                pass
    out = _client(lab, ["tshark", "-r", pcap, "-T", "fields", "-e", "frame.number"], timeout=10)
    return len(out.stdout.split())


def nat_mapping(lab):
    """RFC 5780 mapping behaviour by turnutils_natdiscovery (needs the relay's second
    address): its verdict, and the same in edgepath's two words."""
    p = _client(lab, ["turnutils_natdiscovery", "-m", plan.RELAY], timeout=15)
    m = re.search(r"NAT with ([A-Za-z ]+) Mapping", p.stdout)
    if not m:
        return None, (p.stdout + p.stderr).strip()[-200:]
    said = m.group(1)
    return ("endpoint-independent" if said == "Endpoint Independent" else "address-port-dependent"), said


def _client(lab, args, timeout):
    try:
        return lab.exec("client", args, timeout=timeout, check=False)
    except LabError as e:
        class Failed:
            returncode, stdout, stderr = -1, "", str(e)
        return Failed()


def stun_answers_from(lab, port, source_port, host=plan.RELAY, attempts=3):
    """A STUN Binding request (RFC 8489: 20 bytes, random transaction id) sent by socat
    from `source_port` to host:port: whether a Binding success answer with the same
    transaction id came back. Up to three attempts, 1 s each (a real client retransmits
    too: one lost datagram, a burst of loss, is not a closed path). turnutils_stunclient
    cannot choose its source port; a firewall that lets UDP out only from a modality's
    range needs this."""
    for _ in range(attempts):
        txid = secrets.token_bytes(12)
        request = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + txid
        args = ["ip", "netns", "exec", lab.ns["client"], "socat", "-T1", "-t1", "STDIO",
                f"UDP4:{host}:{port},sourceport={source_port},reuseaddr"]
        try:
            answer = subprocess.run(args, input=request, capture_output=True, timeout=5).stdout
        except subprocess.TimeoutExpired:
            continue
        if len(answer) >= 20 and answer[:2] == b"\x01\x01" and answer[8:20] == txid:
            return True
    return False


def quality_on(lab, port, audio_answered, notes):
    """turnutils_uclient's stream on `port`: from its own (ephemeral) ports when they get
    an answer there, else, when only the audio range does (a firewall that matches source
    ports), with its ports mapped into the audio range; None when neither answers."""
    if stun_answers(lab, port):
        return stream_quality(lab, port)
    if audio_answered.result():
        notes.append("turnutils_uclient measured with its source ports mapped into the audio range (client-side SNAT)")
        return from_audio_range(lab, lambda: stream_quality(lab, port))
    return None


def from_audio_range(lab, measure):
    """Runs `measure()` while the client's UDP to the relay leaves from the audio source
    range (nftables SNAT in the client namespace), then removes the mapping."""
    base = plan.PROBE_SOURCE_BASE["audio"]
    lab.exec("client", ["nft", "-f", "-"], input=f"""table ip labsport {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip daddr {{ {plan.RELAY}, {plan.RELAY_SECOND} }} udp sport != 50000-50059 snat to {plan.CLIENT}:{base + 10}-{base + 19}
  }}
}}
""")
    try:
        return measure()
    finally:
        lab.exec("client", ["nft", "delete", "table", "ip", "labsport"], check=False)


def stun_answers(lab, port, host=plan.RELAY):
    """turnutils_stunclient from an ephemeral port: whether the relay told the reflexive
    address. Against an RFC 5780 relay it goes on to test the other address and may wait
    there: its output counts, not how it ends (`timeout` ends it after 3 s)."""
    p = _client(lab, ["timeout", "3", "turnutils_stunclient", "-p", str(port), host], timeout=6)
    return "UDP reflexive addr" in p.stdout


def turn_tcp_works(lab, host, port, tls=False):
    """TURN over TCP (or, with `tls`, over TLS: -S) relays a few messages."""
    # Under `timeout` in the namespace, so that what uclient printed before it was ended
    # still counts: over TLS it runs ~8 s, longer on a loaded machine, but its relayed
    # messages come back within seconds when the path works.
    bound = ["timeout", "14", "stdbuf", "-oL"] if tls else []
    p = _client(lab, [*bound, "turnutils_uclient", "-t", *(["-S"] if tls else []), "-y", "-n", "3", "-m", "1", "-l", "100",
                      "-u", plan.TURN_USER, "-w", plan.TURN_PASSWORD, "-p", str(port), host],
                timeout=18 if tls else 8)
    # Progress lines come first; the last count is the total.
    counts = re.findall(r"tot_recv_msgs=(\d+)", p.stdout)
    return bool(counts) and int(counts[-1]) > 0


def stream_quality(lab, port, host=plan.RELAY):
    """TURN over UDP, client to client through the relay (turnutils_uclient -y): loss,
    and its round-trip delay and jitter (ms) when the scenario impairs the path.

    Without impairment: 200-byte messages every 5 ms (a quick loss figure). With it:
    15 s per stream (bursts of loss come once every period, set so that 15 s holds one),
    every 20 ms, or slower when the path jitters: uclient counts delay and jitter only
    for packets that arrive in sequence, so its packets must be spaced wider than the
    round trip can vary (4 x jitter_ms), or the jitter itself would hide from it."""
    imp = lab.scenario.impair
    interval, messages, clients = 5, 500, 1
    if imp:
        jitter = imp.get("jitter_ms", 0)
        interval = max(20, int(4 * jitter) + 40) if jitter else 20
        messages = 15000 // interval
        # Spaced that wide, one client pair gives few samples: four pairs (16 streams)
        # keep the mean jitter's own error near 1 ms.
        clients = 4 if jitter else 1
    p = _client(lab, ["turnutils_uclient", "-y", "-n", str(messages), "-m", str(clients), "-l", "200", "-z", str(interval),
                      "-u", plan.TURN_USER, "-w", plan.TURN_PASSWORD, "-p", str(port), host], timeout=45)
    loss = re.search(r"Total lost packets (\d+) \(([\d.]+)%\)", p.stdout)
    rtt = re.search(r"Average round trip delay ([\d.]+) ms", p.stdout)
    jitter = re.search(r"Average jitter ([\d.]+) ms", p.stdout)
    if not loss:
        return None
    return {
        "loss_pct": float(loss.group(2)),
        "rtt_ms": float(rtt.group(1)) if rtt else None,
        "jitter_ms": float(jitter.group(1)) if jitter else None,
        "interval_ms": interval,
    }


def proxy_tunnel_turn(lab):
    """TURN over TCP and over TLS to the relay's 443 through the proxy: socat opens the
    CONNECT tunnel, turnutils_uclient speaks TURN (plain, then TLS) through it."""
    s = lab.scenario
    auth = f",proxyauth={plan.PROXY_USER}:{plan.PROXY_PASSWORD}" if s.proxy_auth else ""
    lab.spawn("client", "socat-tunnel", ["socat", "TCP-LISTEN:14443,bind=127.0.0.1,reuseaddr,fork",
                                         f"PROXY:{plan.PROXY}:{plan.RELAY}:443,proxyport={plan.PROXY_PORT}{auth}"])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if _client(lab, ["ss", "-Hltn", "src", "127.0.0.1:14443"], timeout=3).stdout.strip():
            break
        time.sleep(0.05)
    # Side by side (socat forks a tunnel per connection): uclient takes ~8 s over TLS.
    with ThreadPoolExecutor(max_workers=2) as pool:
        plain = pool.submit(turn_tcp_works, lab, "127.0.0.1", 14443)
        tls = pool.submit(turn_tcp_works, lab, "127.0.0.1", 14443, True)
        return plain.result(), tls.result()


def tcp_connects(lab, host, port):
    """Whether a TCP connection from the client to host:port opens (socat, 2 s)."""
    p = _client(lab, ["socat", "-T1", "/dev/null", f"TCP:{host}:{port},connect-timeout=2"], timeout=5)
    return p.returncode == 0


def _curl(lab, name, via_proxy, with_auth=True, family=None):
    args = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{http_connect}", "--max-time", "6",
            "--cacert", lab.ca_bundle, f"https://{name}/"]
    if family:
        args.append("-6" if family == "ipv6" else "-4")
    if via_proxy:
        args += ["-x", f"http://{plan.PROXY}:{plan.PROXY_PORT}"]
        if with_auth and lab.scenario.proxy_auth:
            args += ["-U", f"{plan.PROXY_USER}:{plan.PROXY_PASSWORD}"]
    else:
        args += ["--noproxy", "*"]
    p = _client(lab, args, timeout=10)
    code, _, connect = p.stdout.partition(" ")
    return code.strip(), connect.strip()


def issuer(lab, name, via_proxy, connect=None):
    """The certificate issuer the client is shown for `name` (at `connect`, host:port,
    when not the name's own 443)."""
    args = ["openssl", "s_client", "-connect", connect or f"{name}:443", "-servername", name, "-CAfile", lab.ca_bundle]
    if via_proxy:
        args += ["-proxy", f"{plan.PROXY}:{plan.PROXY_PORT}"]
        if lab.scenario.proxy_auth:
            args += ["-proxy_user", plan.PROXY_USER, "-proxy_pass", f"pass:{plan.PROXY_PASSWORD}"]
    p = _client(lab, args + ["-brief"], timeout=10)
    m = re.search(r"CN\s*=\s*(edgepath Lab [A-Za-z ]+CA)", p.stdout + p.stderr)
    if m:
        return m.group(1).strip()
    p = _client(lab, args + ["-showcerts"], timeout=10)
    m = re.search(r"i:.*CN\s*=\s*([^,\n]+)", p.stdout)
    return m.group(1).strip() if m else None


def pac_hops(lab):
    """The scenario's PAC as a client gets it (fetched with curl in the client namespace,
    by WPAD's name where the scenario says so), run by pacparser (SpiderMonkey, not
    edgepath's engine) for every service name and the relay name; each answer's first
    proxy that accepts a connection, else DIRECT."""
    try:
        import pacparser
    except ImportError as e:
        raise LabError(f"pacparser is needed to validate a PAC scenario (pip install pacparser): {e}")
    if lab.scenario.proxy_wpad and lab.scenario.proxy_wpad_by == "dhcp":
        url = services.dhcp_wpad_url(lab) or "http://no-option-252.invalid/"
    elif lab.scenario.proxy_wpad:
        url = f"http://wpad.{plan.SEARCH_DOMAIN}/wpad.dat"
    else:
        url = plan.PAC_URL
    names = [plan.SERVICE_NAMES[s] for s in lab.scenario.expect.services] + [plan.RELAY_NAMES[0]]
    p = _client(lab, ["curl", "-sS", "-f", "--noproxy", "*", "--max-time", "5", "-o", "-", url], timeout=8)
    if p.returncode != 0:
        # No PAC to be had: clients go direct (browsers, WinINet without a static proxy).
        return {name: (f"no PAC ({p.stderr.strip()[-80:]})", "direct") for name in names}
    # pacparser keeps one global engine: labs validated side by side take turns.
    with PACPARSER:
        pacparser.init()
        try:
            pacparser.parse_pac_string(p.stdout)
            answers = {}
            for name in names:
                try:
                    answers[name] = pacparser.find_proxy(f"https://{name}/", name)
                except Exception as e:  # the PAC threw: clients go direct
                    answers[name] = f"no answer ({e})"
        finally:
            pacparser.cleanup()
    out = {}
    for name, answer in answers.items():
        hop = "direct"
        for part in answer.split(";"):
            words = part.split()
            if words and words[0].upper() == "DIRECT":
                hop = "direct"
                break
            if len(words) == 2 and words[0].upper() in ("PROXY", "HTTP"):
                host, _, port = words[1].rpartition(":")
                if tcp_connects(lab, host, int(port)):
                    hop = words[1]
                    break
        out[name] = (answer, hop)
    return out


def observe(lab):
    s = lab.scenario
    obs = Observation()
    udp_ports = list(UDP_PORTS) + ([s.relay_legacy_port] if s.relay_legacy_port and s.profile == "legacy" else [])
    tcp_ports = [443] + ([s.relay_legacy_port] if s.relay_legacy_port and s.profile == "legacy" else [])
    with ThreadPoolExecutor(max_workers=12) as pool:
        # Each modality from its own source range, one source port per destination port
        # (so no two probes share a socket).
        udp_from = {
            m: {p: pool.submit(stun_answers_from, lab, p, plan.PROBE_SOURCE_BASE[m] + i) for i, p in enumerate(udp_ports)}
            for m in plan.MODALITIES
        }
        udp = {p: pool.submit(lambda p=p: any(udp_from[m][p].result() for m in plan.MODALITIES)) for p in udp_ports}
        tcp = {p: pool.submit(turn_tcp_works, lab, plan.RELAY, p) for p in tcp_ports}
        tls443 = pool.submit(turn_tcp_works, lab, plan.RELAY, 443, True)
        proxy_turn = pool.submit(proxy_tunnel_turn, lab) if s.proxy else None
        # turnutils_uclient takes ~9 s whatever it measures: run the loss measurement
        # beside the other checks, as soon as 3478 is known to answer.
        loss_3478 = pool.submit(quality_on, lab, 3478, udp_from["audio"][3478], obs.notes)
        svc = {}
        for service in s.expect.services:
            name = plan.SERVICE_NAMES[service]
            svc[service] = {
                "direct": pool.submit(_curl, lab, name, False),
                "proxy": pool.submit(_curl, lab, name, True) if s.proxy else None,
            }
        closed = {c: pool.submit(tcp_connects, lab, *c) for c in s.expect.closed}
        if s.ipv6:
            udp6 = {p: pool.submit(stun_answers, lab, p, plan.RELAY6) for p in udp_ports}
            tcp6 = pool.submit(turn_tcp_works, lab, plan.RELAY6, 443)
            svc6 = {sv: pool.submit(_curl, lab, plan.SERVICE_NAMES[sv], False, True, "ipv6") for sv in s.expect.services}
        pac = pool.submit(pac_hops, lab) if s.proxy_pac else None
        first = next(iter(s.expect.services))
        no_auth = pool.submit(_curl, lab, plan.SERVICE_NAMES[first], True, False) if s.proxy_auth else None
        obs.udp_from = {m: {p: f.result() for p, f in ports.items()} for m, ports in udp_from.items()}
        obs.udp = {p: f.result() for p, f in udp.items()}
        obs.tcp = {p: f.result() for p, f in tcp.items()}
        obs.plain443 = obs.tcp[443]
        obs.tls443 = tls443.result()
        obs.tcp[443] = obs.plain443 or obs.tls443
        obs.proxy_turn, obs.proxy_turn_tls = proxy_turn.result() if proxy_turn else (False, False)
        obs.proxy_turn = obs.proxy_turn or obs.proxy_turn_tls
        obs.pac = pac.result() if pac else {}
        obs.closed = {c: f.result() for c, f in closed.items()}
        for service, f in svc.items():
            direct = f["direct"].result()[0] == "200"
            via_proxy = f["proxy"].result()[0] == "200" if f["proxy"] else False
            obs.services[service] = {"direct": direct, "proxy": via_proxy, "issuer": None}
        if no_auth:
            obs.proxy_407 = no_auth.result()[1] == "407"
        nat = pool.submit(nat_mapping, lab) if s.expect.nat_mapping else None
        if s.vpn_type:
            routes = {a: pool.submit(route_interface, lab, a) for a in (plan.RELAY, plan.RELAY_SECOND, plan.DNS)}
            obs.routes = {a: f.result() for a, f in routes.items()}
        if nat:
            obs.nat_mapping, obs.nat_mapping_said = nat.result()
        if s.ipv6:
            obs.udp6 = {p: f.result() for p, f in udp6.items()}
            obs.tcp6 = tcp6.result()
            obs.services6 = {sv: f.result()[0] == "200" for sv, f in svc6.items()}
    if s.vpn_type:
        obs.tunnel_saw_relay_udp = tunnel_capture(lab)
    # The relay's certificate as the client is shown it, by name, on the path TCP takes
    # (directly when TCP 443 to the relay opens, else through the proxy).
    direct_443 = tcp_connects(lab, plan.RELAY, 443)
    if direct_443 or s.proxy:
        obs.relay_issuer = issuer(lab, plan.RELAY_NAMES[0], via_proxy=not direct_443, connect=f"{plan.RELAY}:443")
    # Issuers and loss after the reachability checks, on the paths that work.
    for service, o in obs.services.items():
        if o["direct"] or o["proxy"]:
            o["issuer"] = issuer(lab, plan.SERVICE_NAMES[service], via_proxy=not o["direct"])
        loss_on_3478 = loss_3478.result()
    best_udp = next((p for p, ok in obs.udp.items() if ok), None)
    best_udp6 = next((p for p, ok in obs.udp6.items() if ok), None)
    if best_udp == 3478:
        obs.quality = loss_on_3478
    elif best_udp:
        obs.quality = quality_on(lab, best_udp, udp_from["audio"][best_udp], obs.notes)
    elif best_udp6:
        # No IPv4 UDP: media takes IPv6, so measure there.
        obs.quality = stream_quality(lab, best_udp6, host=plan.RELAY6)
        best_udp = best_udp6
    obs.loss_pct = obs.quality["loss_pct"] if obs.quality else None
    if best_udp and obs.loss_pct is None:
        obs.notes.append("turnutils_uclient gave no loss figure")
    return obs


def family_paths(obs):
    """The best direct relay path over each family observed."""
    def path(udp, tcp):
        return "relay-udp" if any(udp.values()) else ("relay-tcp" if tcp else "none")
    out = {"ipv4": path(obs.udp, any(obs.tcp.values()))}
    if obs.udp6:
        out["ipv6"] = path(obs.udp6, obs.tcp6)
    return out


def vpn_state(lab, obs):
    """none / split / forced / partial from the kernel's routes: the media addresses
    (both relay addresses) through the tunnel or not, and the DNS server's (which every
    tunnel mode carries) to tell a split tunnel from no VPN."""
    tunnel = getattr(lab, "tunnel_if", None)
    if not obs.routes or tunnel is None:
        return "none"
    media = [obs.routes[a] == tunnel for a in (plan.RELAY, plan.RELAY_SECOND)]
    if all(media):
        return "forced"
    if any(media):
        return "partial"
    return "split" if obs.routes[plan.DNS] == tunnel else "none"


def meets_targets(lab, obs):
    """Microsoft's client-to-edge targets (DOMAIN.md section 5) against turnutils'
    figures: loss < 1 %, and with an impaired path round trip < 100 ms and jitter
    < 30 ms. Reordering is taken from the injected truth: uclient does not measure it."""
    q = obs.quality
    if q is None or q["loss_pct"] >= 1.0:
        return False
    if lab.scenario.impair:
        if q["rtt_ms"] is None or q["rtt_ms"] >= 100.0 or q["jitter_ms"] is None or q["jitter_ms"] >= 30.0:
            return False
        if lab.scenario.impair.get("reorder_percent", 0.0) >= 0.05:
            return False
    return True


def modality_path(lab, obs, modality):
    """A modality's best path and status: UDP from its own source range first."""
    if any(obs.udp_from.get(modality, {}).values()) or any(obs.udp6.values()):
        path = "relay-udp"
        status = "good" if meets_targets(lab, obs) else "degraded"
    elif any(obs.tcp.values()) or obs.tcp6:
        path, status = "relay-tcp", "degraded"
    elif obs.proxy_turn and relay_hop(obs) != "direct":
        path, status = "relay-tcp-proxy", "degraded"
    else:
        path, status = "none", "failing"
    if vpn_state(lab, obs) in ("forced", "partial") and path in ("relay-udp", "relay-tcp"):
        status = "degraded"  # media through the company: a hairpin, whatever answers
    return path, status


def relay_hop(obs):
    """Where the PAC sends the relay name (None without a PAC)."""
    return obs.pac.get(plan.RELAY_NAMES[0], (None, None))[1]


def derive(lab, obs):
    """The verdict the observations support (the rules are in lab/README.md)."""
    modalities = {m: modality_path(lab, obs, m) for m in plan.MODALITIES}
    services = {}
    for service, o in obs.services.items():
        hop = obs.pac.get(plan.SERVICE_NAMES[service], (None, None))[1]
        if hop is None:
            reachable = o["direct"] or o["proxy"]
            via = "direct" if o["direct"] else ("proxy" if o["proxy"] else "none")
        else:
            # A PAC decides: the client goes where it says, and only there.
            reachable = o["direct"] if hop == "direct" else o["proxy"]
            via = ("direct" if hop == "direct" else "proxy") if reachable else "none"
        intercepted = reachable and o["issuer"] is not None and o["issuer"] != "edgepath Lab Root CA"
        services[service] = {"reachable": reachable, "via": via, "intercepted": intercepted}
    return modalities, services


def differences(lab, modalities, services, obs):
    """Where the observed verdict differs from the scenario's expectation."""
    e = lab.scenario.expect
    out = []
    for m, want in e.modalities.items():
        if modalities[m] != want:
            out.append(f"{m}: expected {want[0]}/{want[1]}, observed {modalities[m][0]}/{modalities[m][1]}")
    for s, want in e.services.items():
        got = services[s]
        for k in ("reachable", "via", "intercepted"):
            if got[k] != want[k]:
                out.append(f"{s}: expected {k}={want[k]}, observed {got[k]}")
    if e.proxy_vendor is not None:
        # The vendor is named by the CA that intercepts: openssl must be shown that CA.
        seen = sorted({o["issuer"] for o in obs.services.values()
                       if o["issuer"] and o["issuer"] != "edgepath Lab Root CA"})
        if seen != [lab.scenario.proxy_inspection_ca]:
            out.append(f"proxy_vendor: expected the intercepted certificates issued by "
                       f"{lab.scenario.proxy_inspection_ca!r}, openssl was shown {seen}")
    for (host, port), connected in obs.closed.items():
        if connected:
            out.append(f"tcp/{host}:{port}: expected closed, but a connection opened")
    if e.nat_mapping is not None and obs.nat_mapping != e.nat_mapping:
        out.append(f"nat_mapping: expected {e.nat_mapping}, turnutils_natdiscovery says {obs.nat_mapping_said}")
    if e.vpn is not None:
        got = vpn_state(lab, obs)
        if got != e.vpn:
            out.append(f"vpn: expected {e.vpn}, the kernel's routes say {got}")
        relay_tunnelled = obs.routes.get(plan.RELAY) == getattr(lab, "tunnel_if", None)
        if obs.tunnel_saw_relay_udp is not None and relay_tunnelled != (obs.tunnel_saw_relay_udp > 0):
            out.append(
                f"vpn: the route to the relay {'is' if relay_tunnelled else 'is not'} the tunnel, but a capture on it saw "
                f"{obs.tunnel_saw_relay_udp} packets of UDP 3478"
            )
    observed = family_paths(obs)
    for fam, want in e.families.items():
        if observed.get(fam) != want["path"]:
            out.append(f"{fam}: expected relay path {want['path']}, observed {observed.get(fam)}")
        if want["services"]:
            direct = obs.services6 if fam == "ipv6" else {k: v["direct"] for k, v in obs.services.items()}
            for sv, w in e.services.items():
                if w["via"] == "direct" and not direct.get(sv):
                    out.append(f"{fam}: expected {sv} to answer directly, it did not")
    if e.proxy_auth_required and obs.proxy_407 is not True:
        out.append(f"proxy: expected 407 without credentials, observed {obs.proxy_407}")
    if e.tcp_framing is not None:
        # On a TCP path the client takes TLS when it gets through, else plain TCP.
        framing = None
        if modalities["audio"][0] == "relay-tcp":
            framing = "tls-rfc" if obs.tls443 else ("standard" if obs.plain443 else None)
        elif modalities["audio"][0] == "relay-tcp-proxy":
            framing = "tls-rfc" if obs.proxy_turn_tls else ("standard" if obs.proxy_turn else None)
        if framing != e.tcp_framing:
            out.append(f"tcp_framing: expected {e.tcp_framing}, turnutils_uclient (-t, -S) shows {framing}")
    intercepted = obs.relay_issuer is not None and obs.relay_issuer != "edgepath Lab Root CA"
    if intercepted != e.relay_tls_intercepted:
        out.append(f"relay_tls_intercepted: expected {e.relay_tls_intercepted}, openssl was shown the relay's "
                   f"certificate issued by {obs.relay_issuer}")
    return out


def report(obs):
    lines = [
        f"  UDP relay ports from {m}'s range ({plan.PROBE_SOURCE_BASE[m]}..): "
        + ", ".join(f"{p} {'answers' if ok else 'silent'}" for p, ok in ports.items())
        for m, ports in obs.udp_from.items()
    ]
    lines.append("  TURN over TCP: " + ", ".join(f"{p} {'works' if ok else 'fails'}" for p, ok in obs.tcp.items()))
    lines.append(f"  TURN to 443: plain {'works' if obs.plain443 else 'fails'}, TLS {'works' if obs.tls443 else 'fails'}; "
                 f"the relay's certificate is issued by {obs.relay_issuer or 'nobody seen'}")
    lines.append(f"  TURN through the proxy: {'works' if obs.proxy_turn else 'fails or no proxy'}"
                 f"{' (over TLS)' if obs.proxy_turn_tls else ''}")
    for name, (answer, hop) in obs.pac.items():
        lines.append(f"  PAC (pacparser) for {name}: {answer} -> {hop}")
    if obs.udp6:
        lines.append("  IPv6 UDP relay ports: " + ", ".join(f"{p} {'answers' if ok else 'silent'}" for p, ok in obs.udp6.items()))
        lines.append(f"  IPv6 TURN over TCP: 443 {'works' if obs.tcp6 else 'fails'}")
        lines.append("  IPv6 services: " + ", ".join(f"{k} {'ok' if v else 'fails'}" for k, v in obs.services6.items()))
    if obs.nat_mapping_said:
        lines.append(f"  NAT mapping (turnutils_natdiscovery -m): {obs.nat_mapping_said}")
    if obs.routes:
        lines.append("  routes (ip route get): " + ", ".join(f"{a} dev {d}" for a, d in obs.routes.items()))
        lines.append(f"  capture on the tunnel: {obs.tunnel_saw_relay_udp} packets of UDP 3478 while STUN ran")
    if obs.quality is not None:
        q = obs.quality
        line = f"  UDP through the relay (turnutils_uclient, every {q['interval_ms']} ms): loss {q['loss_pct']:.2f}%"
        if q["rtt_ms"] is not None and q["interval_ms"] != 5:
            line += f", round trip {q['rtt_ms']:.1f} ms, jitter {q['jitter_ms']:.1f} ms"
        lines.append(line)
    for s, o in obs.services.items():
        lines.append(f"  {s}: direct {'ok' if o['direct'] else 'fails'}, proxy {'ok' if o['proxy'] else 'fails'}, issuer {o['issuer']}")
    if obs.proxy_407 is not None:
        lines.append(f"  proxy without credentials: {'407' if obs.proxy_407 else 'no 407'}")
    for (host, port), connected in obs.closed.items():
        lines.append(f"  tcp/{host}:{port}: {'opens' if connected else 'closed'}")
    lines += [f"  note: {n}" for n in obs.notes]
    return "\n".join(lines)
