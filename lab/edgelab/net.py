"""Namespaces, links, addresses, routes and nftables rules for one lab run.

Every name carries a per-run prefix (`ep` + 6 hex digits, claimed in /run/edgepath-lab),
so two runs cannot collide.
`Lab.down()` is idempotent and runs on every exit path: it ends the processes this run
started (by their PIDs, then anything left inside this run's namespaces), deletes the
namespaces (which removes their veths), the per-namespace resolv.conf and the temp dir.
"""

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import plan


IMPAIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "impair.py")
IMPAIR_QUEUE = 7


class LabError(Exception):
    """Building the lab failed; the message says which step."""


def run(args, timeout=15, check=True, input=None, env=None):
    """Runs a command, returning CompletedProcess; failures name the command."""
    try:
        # No tool may wait on our stdin (openssl s_client would, until its timeout).
        stdin = subprocess.DEVNULL if input is None else None
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, input=input, stdin=stdin, env=env)
    except subprocess.TimeoutExpired:
        raise LabError(f"`{' '.join(args)}` did not finish within {timeout} s") from None
    except FileNotFoundError:
        raise LabError(f"`{args[0]}` is not installed") from None
    if check and p.returncode != 0:
        raise LabError(f"`{' '.join(args)}` failed ({p.returncode}): {p.stderr.strip() or p.stdout.strip()}")
    return p


class Lab:
    """One running lab: built from a scenario by `up()`, removed by `down()`."""

    ROLES = ("client", "router", "carrier", "proxy", "edge", "company")
    SHORT = {"client": "cl", "router": "r1", "carrier": "r2", "proxy": "px", "edge": "ed", "company": "co"}

    def __init__(self, scenario, edgepath=None):
        self.scenario = scenario
        # The edgepath binary, for scenarios whose router loads generated rules.
        self.edgepath = edgepath
        self.prefix = self._claim_prefix()
        # A caller that checks for leftovers (the lab test) names a file where each lab
        # of its run writes its prefix, so that it looks only at its own namespaces and
        # another lab running beside it is not taken for a leak.
        ledger = os.environ.get("EDGEPATH_LAB_PREFIXES")
        if ledger:
            with open(ledger, "a") as f:
                f.write(self.prefix + "\n")
        self.ns = {role: f"{self.prefix}-{self.SHORT[role]}" for role in self.ROLES}
        self.created = []
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix=f"edgepath-lab-{self.prefix}-")
        os.chmod(self.tmp, 0o755)
        self._down = False

    CLAIMS = "/run/edgepath-lab"

    @classmethod
    def _claim_prefix(cls):
        """A name prefix no other lab on this machine holds: `ep` and 6 random hex digits,
        claimed by creating /run/edgepath-lab/PREFIX exclusively (released by down()),
        and skipped if namespaces with it exist anyway (a run that was killed)."""
        os.makedirs(cls.CLAIMS, exist_ok=True)
        for _ in range(100):
            prefix = "ep" + secrets.token_hex(3)
            try:
                os.close(os.open(os.path.join(cls.CLAIMS, prefix), os.O_CREAT | os.O_EXCL, 0o644))
            except FileExistsError:
                continue
            taken = os.path.isdir("/run/netns") and any(n.startswith(prefix + "-") for n in os.listdir("/run/netns"))
            if not taken:
                return prefix
            os.unlink(os.path.join(cls.CLAIMS, prefix))
        raise LabError("no free lab name prefix after 100 tries: clear /run/edgepath-lab")

    # -- helpers ---------------------------------------------------------------

    def path(self, name):
        return os.path.join(self.tmp, name)

    def exec(self, role, args, **kw):
        return run(["ip", "netns", "exec", self.ns[role], *args], **kw)

    def spawn(self, role, name, args, log=None):
        """Starts a long-running process in a namespace and remembers its PID."""
        log_path = self.path(log or f"{name}.log")
        with open(log_path, "w") as out:
            p = subprocess.Popen(
                ["ip", "netns", "exec", self.ns[role], *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.procs.append((name, p, log_path))
        return p

    def _veth(self, a_role, a_if, b_role, b_if):
        a, b = f"{self.prefix}{a_if}", f"{self.prefix}{b_if}"
        run(["ip", "link", "add", a, "type", "veth", "peer", "name", b])
        run(["ip", "link", "set", a, "netns", self.ns[a_role]])
        run(["ip", "link", "set", b, "netns", self.ns[b_role]])
        for role, ifname in ((a_role, a), (b_role, b)):
            # No duplicate address detection on the lab's links (link-local included):
            # a tentative address delays neighbour discovery, and so IPv6, by seconds.
            self.exec(role, ["sysctl", "-qw", f"net.ipv6.conf.{ifname}.accept_dad=0"], check=False)
            self.exec(role, ["ip", "link", "set", ifname, "up"])
        return a, b

    def _addr(self, role, ifname, cidr):
        # IPv6 addresses skip duplicate address detection: usable at once.
        extra = ["nodad"] if ":" in cidr else []
        self.exec(role, ["ip", "addr", "add", cidr, "dev", ifname, *extra])

    def _route(self, role, dest, via):
        self.exec(role, ["ip", "route", "add", dest, "via", via])

    def _nft(self, role, ruleset, name):
        path = self.path(f"{name}.nft")
        with open(path, "w") as f:
            f.write(ruleset)
        try:
            self.exec(role, ["nft", "-f", path])
        except LabError as e:
            raise LabError(
                f"nftables refused the {role}'s rules (built from {self.scenario.path} [firewall] and the lab's own): {e}"
            ) from None

    # -- building --------------------------------------------------------------

    def roles(self):
        s = self.scenario
        return [
            r
            for r in self.ROLES
            if (r != "carrier" or s.nat == "double") and (r != "proxy" or s.proxy) and (r != "company" or s.vpn_type)
        ]

    def up(self):
        """Builds the topology (services are started by services.start)."""
        s = self.scenario
        for role in self.roles():
            run(["ip", "netns", "add", self.ns[role]])
            self.created.append(self.ns[role])
            self.exec(role, ["ip", "link", "set", "lo", "up"])
        # client <-> router (LAN)
        cl, r1l = self._veth("client", "c0", "router", "r1l")
        self._addr("client", cl, f"{plan.CLIENT}/24")
        self._addr("router", r1l, f"{plan.ROUTER_LAN}/24")
        self.exec("client", ["ip", "route", "add", "default", "via", plan.ROUTER_LAN])
        # router <-> (carrier <->) edge
        if s.nat == "double":
            r1w, r2i = self._veth("router", "r1w", "carrier", "r2i")
            self._addr("router", r1w, f"{plan.CGNAT_ROUTER1}/10")
            self._addr("carrier", r2i, f"{plan.CGNAT_CARRIER}/10")
            self.exec("router", ["ip", "route", "add", "default", "via", plan.CGNAT_CARRIER])
            r2w, edw = self._veth("carrier", "r2w", "edge", "e0")
            self._addr("carrier", r2w, f"{plan.WAN_ROUTER}/24")
            self.exec("carrier", ["ip", "route", "add", "default", "via", plan.WAN_EDGE])
            self._nft("carrier", self._nat_only(r2w), "carrier")
            self.exec("carrier", ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        else:
            r1w, edw = self._veth("router", "r1w", "edge", "e0")
            self._addr("router", r1w, f"{plan.WAN_ROUTER}/24")
            self.exec("router", ["ip", "route", "add", "default", "via", plan.WAN_EDGE])
        self._addr("edge", edw, f"{plan.WAN_EDGE}/24")
        # The edge's service addresses; no default route: nothing leaves the lab.
        for a in (plan.RELAY, plan.RELAY_SECOND, plan.WEB, plan.DNS):
            self._addr("edge", "lo", f"{a}/32")
        if s.ipv6:
            self._ipv6(cl, r1l, r1w, edw)
        if s.vpn_type:
            self._company()
        if s.proxy:
            r1d, px = self._veth("router", "r1d", "proxy", "p0")
            self._addr("router", r1d, f"{plan.ROUTER_DMZ}/24")
            self._addr("proxy", px, f"{plan.PROXY}/24")
            self.exec("proxy", ["ip", "route", "add", "default", "via", plan.ROUTER_DMZ])
        self.exec("router", ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        self._nft("router", self._router_rules(r1w), "router")
        if s.firewall_generated:
            self._nft("router", self._generated_rules(), "router-generated")
        if s.impair:
            self._impairment_hop()
        # `ip netns exec` bind-mounts /etc/netns/NS/resolv.conf: the lab's DNS.
        for role in ("client", "proxy"):
            if role in self.roles():
                d = f"/etc/netns/{self.ns[role]}"
                os.makedirs(d, exist_ok=True)
                with open(f"{d}/resolv.conf", "w") as f:
                    f.write(f"nameserver {plan.DNS}\n")
                    if s.ipv6 and role == "client":
                        f.write(f"nameserver {plan.DNS6}\n")
                    if s.proxy_wpad and s.proxy_wpad_by == "dns" and role == "client":
                        # The company's DNS suffix, under which WPAD looks.
                        f.write(f"search {plan.SEARCH_DOMAIN}\n")

    def _company(self):
        """The company's VPN gateway on its own link to the internet: it terminates the
        tunnel (lab/edgelab/vpn.py) and sends the tunnel's traffic out through its own
        NAT and egress filter (the scenario's [vpn] company_rules)."""
        s = self.scenario
        e1, co = self._veth("edge", "e1", "company", "co0")
        self.company_wan = co
        self._addr("edge", e1, f"{plan.EDGE_COMPANY}/30")
        self._addr("company", co, f"{plan.COMPANY_WAN}/30")
        self.exec("company", ["ip", "route", "add", "default", "via", plan.EDGE_COMPANY])
        self.exec("company", ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        # The edge is the internet between the home and the company: it forwards.
        self.exec("edge", ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        rules = "\n".join("    " + line.strip() for line in s.company_rules.strip().splitlines() if line.strip())
        self._nft("company", f"""{self._defines()}
table inet company {{
  chain forward {{
    type filter hook forward priority filter; policy {s.company_policy};
    ct state established,related accept
{rules}
  }}
}}
table ip companynat {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "{co}" masquerade
  }}
}}
""", "company")

    def _ipv6(self, cl, r1l, r1w, edw):
        """Dual-stack: IPv6 routed from the client to the edge (no NAT66), from the
        documentation prefix; the edge routes back to the LAN and has no default."""
        self._addr("client", cl, f"{plan.CLIENT6}/64")
        self._addr("router", r1l, f"{plan.ROUTER_LAN6}/64")
        self.exec("client", ["ip", "-6", "route", "add", "default", "via", plan.ROUTER_LAN6])
        self._addr("router", r1w, f"{plan.WAN6_ROUTER}/64")
        self._addr("edge", edw, f"{plan.WAN6_EDGE}/64")
        self.exec("router", ["ip", "-6", "route", "add", "default", "via", plan.WAN6_EDGE])
        self.exec("edge", ["ip", "-6", "route", "add", plan.LAN6, "via", plan.WAN6_ROUTER])
        for a in (plan.RELAY6, plan.RELAY6_SECOND, plan.WEB6, plan.DNS6):
            self._addr("edge", "lo", f"{a}/128")
        self.exec("router", ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"])

    def _defines(self):
        return "\n".join(
            f"define {k} = {v}"
            for k, v in (
                ("CLIENT", plan.CLIENT),
                ("LAN", plan.LAN),
                ("PROXY", plan.PROXY),
                ("RELAY", "{ %s, %s }" % (plan.RELAY, plan.RELAY_SECOND)),
                ("WEB", plan.WEB),
                ("DNS", plan.DNS),
                ("CLIENT6", plan.CLIENT6),
                ("LAN6", plan.LAN6),
                ("RELAY6", "{ %s, %s }" % (plan.RELAY6, plan.RELAY6_SECOND)),
                ("WEB6", plan.WEB6),
                ("DNS6", plan.DNS6),
                # The router's interfaces, for rules that decide by interface.
                *((k, f'"{v}"') for k, v in self.router_interfaces().items()),
            )
        )

    def router_interfaces(self):
        """The router's interface names by side: LAN_IF (clients), WAN_IF (towards the
        edge), DMZ_IF (the proxy's; named even where there is no proxy)."""
        return {"LAN_IF": f"{self.prefix}r1l", "WAN_IF": f"{self.prefix}r1w", "DMZ_IF": f"{self.prefix}r1d"}

    def _nat_only(self, wan):
        return f"""table ip labnat {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "{wan}" masquerade
  }}
}}
"""

    def _generated_rules(self):
        """The router's filter as `edgepath rules --target nftables` writes it for the lab
        catalog (default drop), with the scenario's own rule lines added to its chain
        `teams`, as an admin adds site rules to it."""
        s = self.scenario
        if not self.edgepath or not os.access(self.edgepath, os.X_OK):
            raise LabError(
                f"{s.name} loads rules generated by edgepath, but there is no edgepath binary at {self.edgepath} "
                "(cargo build --release, or lab/run --edgepath PATH)"
            )
        p = run([self.edgepath, "rules", "--target", "nftables", "--endpoints", plan.CATALOG, "--dns", plan.DNS])
        extra = "\n".join(
            f"add rule inet edgepath teams {line.strip()}"
            for line in s.firewall_rules.strip().splitlines()
            # A comment line is fine inside a chain, not after `add rule`.
            if line.strip() and not line.strip().startswith("#")
        )
        with open(self.path("edgepath-rules.nft"), "w") as f:
            f.write(p.stdout)
        return f"{self._defines()}\n{p.stdout}\n{extra}\n"

    def _router_rules(self, wan):
        s = self.scenario
        loss = ""
        if s.udp_loss_to_relay:
            # Loss on chosen paths (this kernel has no netem): before the conntrack
            # shortcut, so every packet of the flow is subject to it.
            loss = f"    ip daddr $RELAY meta l4proto udp numgen random mod 100 < {s.udp_loss_to_relay} counter drop\n"
        rules = "\n".join("    " + line.strip() for line in s.firewall_rules.strip().splitlines() if line.strip())
        if s.firewall_generated:
            # The generated table filters; this one only injects loss and does NAT.
            rules = ""
        # A symmetric NAT: every new mapping gets a random public port, so each relay
        # port sees the client from another one (RFC 4787 address-and-port-dependent).
        masq_flags = " random,fully-random" if s.symmetric_nat else ""
        # The filter is `inet`: one forward chain for IPv4 and IPv6 (dual-stack
        # scenarios), so a rule like `udp dport 3478 drop` holds for both families and
        # `meta nfproto ipv6 ...` picks one. NAT is IPv4 only (IPv6 is routed).
        return f"""{self._defines()}
table inet lab {{
  chain forward {{
    type filter hook forward priority filter; policy {s.firewall_policy};
{loss}    ct state established,related accept
{rules}
  }}
}}
table ip labnat {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "{wan}" masquerade{masq_flags}
  }}
}}
"""

    def _impairment_hop(self):
        """UDP to and from the relay through the user-space impairment hop (impair.py),
        which holds or drops each packet."""
        # This kernel has NFQUEUE but not nftables' `queue` expression: iptables' NFQUEUE
        # target (through nft_compat) in mangle POSTROUTING, which comes after the
        # forward filter (what the scenario's filter drops never reaches the hop) and
        # before the NAT.
        for tool, relays in (("iptables", (plan.RELAY, plan.RELAY_SECOND)), ("ip6tables", (plan.RELAY6, plan.RELAY6_SECOND))):
            for relay in relays:
                for side in ("-d", "-s"):
                    self.exec("router", [tool, "-t", "mangle", "-A", "POSTROUTING", side, relay, "-p", "udp",
                                         "-j", "NFQUEUE", "--queue-num", str(IMPAIR_QUEUE)])
        args = [sys.executable, IMPAIR, "--queue", str(IMPAIR_QUEUE), "--stats", self.impair_stats,
                "--max-seconds", "7200"]
        for a in (plan.RELAY, plan.RELAY_SECOND, plan.RELAY6, plan.RELAY6_SECOND):
            args += ["--relay", a]
        for key, value in self.scenario.impair.items():
            args += ["--" + key.replace("_", "-"), str(value)]
        p = self.spawn("router", "impair", args)
        # Queued packets with nobody bound are dropped: wait until the hop is bound.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with open(self.path("impair.log")) as f:
                if "bound" in f.read():
                    return
            if p.poll() is not None:
                break
            time.sleep(0.05)
        with open(self.path("impair.log")) as f:
            raise LabError(f"the impairment hop did not start: {f.read().strip()[-500:]}")

    @property
    def impair_stats(self):
        """Where the impairment hop writes its counters (JSON, every second)."""
        return self.path("impair-stats.json")

    def impair_counters(self):
        """The hop's counters now (see impair.py), or None without a hop."""
        if not self.scenario.impair:
            return None
        with open(self.impair_stats) as f:
            return json.load(f)

    # -- teardown --------------------------------------------------------------

    def down(self):
        if self._down:
            return
        self._down = True
        for name, p, _ in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 3
        for name, p, _ in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=2)
        for ns in reversed(self.created):
            # Anything still running inside this run's namespaces is this run's.
            pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run(["ip", "netns", "del", ns], check=False)
            shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        try:
            os.unlink(os.path.join(self.CLAIMS, self.prefix))
        except OSError:
            pass
        # wireguard-go removes its UAPI socket when it ends; a killed one may not.
        try:
            for name in os.listdir("/var/run/wireguard"):
                if name.startswith(self.prefix):
                    os.unlink(os.path.join("/var/run/wireguard", name))
        except OSError:
            pass

    def logs(self):
        """The tail of each service's log, for error reports."""
        out = []
        for name, p, log in self.procs:
            try:
                with open(log) as f:
                    tail = f.read()[-1500:]
            except OSError:
                tail = "(no log)"
            state = "running" if p.poll() is None else f"exited {p.returncode}"
            out.append(f"--- {name} ({state}) ---\n{tail}")
        return "\n".join(out)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.down()
        return False
