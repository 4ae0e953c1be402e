"""Scenario files: TOML, read strictly, every mistake named with its place."""

import os
import re
import tomllib
from dataclasses import dataclass, field

from . import plan

SCENARIO_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scenarios")


class ScenarioError(Exception):
    """A scenario file that cannot be used; the message names the file and key."""


@dataclass
class Expectation:
    """What a scenario promises: per modality a path and status, per service reachability."""

    modalities: dict = field(default_factory=dict)  # modality -> (path, status)
    services: dict = field(default_factory=dict)  # service -> {reachable, via, intercepted}
    proxy_auth_required: bool = False
    closed: list = field(default_factory=list)  # (host, port) TCP destinations that must not connect
    families: dict = field(default_factory=dict)  # ipv4|ipv6 -> {path, services, udp}
    vpn: str | None = None  # none | split | forced | partial
    nat_mapping: str | None = None  # endpoint-independent | address-port-dependent
    # The cloud security service edgepath must name (None: it must name none).
    proxy_vendor: str | None = None
    # The framing media takes over TCP (edgepath's audio `tcp_framing`), when the
    # scenario's media path is a TCP one: tls-rfc | standard (the lab relay is coturn, an
    # RFC relay: TLS with RFC framing inside, or plain).
    tcp_framing: str | None = None
    # Whether the TLS to the relay's 443 (direct, or through the proxy) is intercepted.
    relay_tls_intercepted: bool = False
    # A capture of the client's TCP 443 during the check (dumpcap) must show, read by
    # `edgepath capture`, the check's TLS to the relay as media to the relay over TLS.
    capture_relay_tls: bool = False


@dataclass
class Scenario:
    name: str
    path: str
    description: str
    profile: str  # current | legacy
    nat: str  # single | double
    ipv6: bool  # dual-stack: routed IPv6 beside IPv4
    symmetric_nat: bool  # the router's masquerade picks a random port per mapping
    proxy: bool
    proxy_auth: bool
    proxy_intercept: bool
    relay_legacy_port: int  # 0 = none
    relay_second_address: bool
    firewall_policy: str  # accept | drop
    firewall_rules: str  # nftables rule lines for the router's forward chain
    firewall_generated: bool  # the router's filter is `edgepath rules --target nftables`
    udp_loss_to_relay: int  # percent
    expect: Expectation
    # The impairment hop (edgelab.impair), on UDP to and from the relay; all zero: no hop.
    impair: dict = field(default_factory=dict)
    vpn_type: str | None = None  # wireguard | openvpn (None: no VPN)
    vpn_mode: str = "forced"  # forced | split | split-stale
    company_policy: str = "accept"  # the company egress' forward policy
    company_rules: str = ""  # nftables lines for the company egress' forward chain
    turn_credentials: bool = True  # the client gets the lab relay's TURN credentials
    # A PAC file the lab serves (http://$PROXY/proxy.pac); clients are given it instead of
    # HTTPS_PROXY ($PROXY in it is the proxy's address).
    proxy_pac: str = ""
    # Clients find that PAC by WPAD (wpad.corp.example) instead of being given it.
    proxy_wpad: bool = False
    # How WPAD finds it: "dns" (wpad.SEARCH_DOMAIN) or "dhcp" (option 252 of the lease
    # the client's dhclient gets from the router's DHCP server).
    proxy_wpad_by: str = "dns"
    # False: the PAC's URL answers 404 (clients are told a PAC the server does not have).
    proxy_pac_served: bool = True
    # The common name of the CA the inspecting proxy signs with (a cloud vendor's real
    # root name, to be recognised as that vendor's).
    proxy_inspection_ca: str = "edgepath Lab Inspection CA"
    # Where the client is told its proxy: "env" (HTTPS_PROXY, EDGEPATH_PAC, or nothing
    # for WPAD) or "gnome" (GNOME's settings, written with gsettings).
    proxy_desktop: str = "env"
    # The relay's 443 speaks TLS only (coturn --no-tcp): plain TURN over TCP is refused.
    relay_tls_only: bool = False


# The impairment hop's settings: each direction's delay and jitter, loss (random, or in
# bursts of loss_burst_ms), reordering; see edgelab/impair.py for the model.
IMPAIR_KEYS = ("delay_ms", "jitter_ms", "loss_percent", "loss_burst_ms", "reorder_percent")

KNOWN = {
    "": {"description", "profile", "topology", "proxy", "relay", "firewall", "impairment", "vpn", "client", "expect"},
    "client": {"turn_credentials"},
    "vpn": {"type", "mode", "company_policy", "company_rules"},
    "topology": {"nat", "ipv6", "symmetric_nat"},
    "proxy": {"enabled", "auth", "intercept", "inspection_ca", "pac", "wpad", "wpad_by", "pac_served", "desktop"},
    "relay": {"legacy_port", "second_address", "tls_only"},
    "firewall": {"policy", "rules", "generated"},
    "impairment": {"udp_loss_to_relay_percent", *IMPAIR_KEYS},
    "expect": {"modalities", "services", "proxy_auth_required", "closed", "families", "vpn", "nat_mapping",
               "tcp_framing", "relay_tls_intercepted", "capture_relay_tls",
               "proxy_vendor"},
}


def _table(doc, key, where):
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: [{key}] must be a table")
    unknown = set(value) - KNOWN[key]
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) in [{key}]: {', '.join(sorted(unknown))} (known: {', '.join(sorted(KNOWN[key]))})")
    return value


def _get(table, key, kind, default, where):
    value = table.get(key, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ScenarioError(f"{where}: `{key}` must be {kind.__name__}, found {type(value).__name__}")
    return value


def _choice(value, allowed, key, where):
    if value not in allowed:
        raise ScenarioError(f"{where}: `{key}` is `{value}`; allowed: {', '.join(allowed)}")
    return value


def _impairment(imp, where):
    """The hop's settings, numbers in range; {} when the scenario sets none."""
    out = {}
    for key in IMPAIR_KEYS:
        if key in imp:
            value = imp[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ScenarioError(f"{where}: `{key}` must be a number, found {type(value).__name__}")
            limit = 100 if key.endswith("percent") else 1000
            if not 0 <= value <= limit:
                raise ScenarioError(f"{where}: `{key}` {value} is not 0-{limit}")
            out[key] = float(value)
    if out.get("jitter_ms", 0) > out.get("delay_ms", 0):
        raise ScenarioError(f"{where}: `jitter_ms` must not exceed `delay_ms` (a delay cannot be negative)")
    if out.get("loss_burst_ms") and not out.get("loss_percent"):
        raise ScenarioError(f"{where}: `loss_burst_ms` needs `loss_percent` (the share of time the bursts take)")
    return {k: v for k, v in out.items() if v}


def resolve(name_or_path):
    """A scenario name in lab/scenarios, or a path to a .toml file anywhere."""
    if name_or_path.endswith(".toml") or os.sep in name_or_path:
        return os.path.abspath(name_or_path)
    return os.path.join(SCENARIO_DIR, name_or_path + ".toml")


def names():
    return sorted(f[:-5] for f in os.listdir(SCENARIO_DIR) if f.endswith(".toml"))


def load(name_or_path):
    path = resolve(name_or_path)
    where = path
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise ScenarioError(f"no scenario `{name_or_path}` ({path}); `lab/run --list` shows them") from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{where}: not valid TOML: {e}") from None
    unknown = set(doc) - KNOWN[""]
    if unknown:
        raise ScenarioError(f"{where}: unknown top-level key(s): {', '.join(sorted(unknown))}")
    topo = _table(doc, "topology", where)
    proxy = _table(doc, "proxy", where)
    relay = _table(doc, "relay", where)
    fw = _table(doc, "firewall", where)
    imp = _table(doc, "impairment", where)
    exp = _table(doc, "expect", where)
    vpn = _table(doc, "vpn", where)
    client = _table(doc, "client", where)
    if fw.get("generated") is True and "policy" in fw:
        raise ScenarioError(
            f"{where}: [firewall] generated = true takes its policy from the generated rules (drop); remove `policy`"
        )

    legacy_port = _get(relay, "legacy_port", int, 0, where + " [relay]")
    if legacy_port and not 50000 <= legacy_port <= 59999:
        raise ScenarioError(f"{where}: [relay] legacy_port {legacy_port} is not in 50000-59999")
    loss = _get(imp, "udp_loss_to_relay_percent", int, 0, where + " [impairment]")
    if not 0 <= loss <= 100:
        raise ScenarioError(f"{where}: [impairment] udp_loss_to_relay_percent {loss} is not 0-100")
    impair = _impairment(imp, where + " [impairment]")

    expect = Expectation(proxy_auth_required=_get(exp, "proxy_auth_required", bool, False, where + " [expect]"))
    closed = _get(exp, "closed", list, [], where + " [expect]")
    for entry in closed:
        m = re.fullmatch(r"tcp/(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})", entry) if isinstance(entry, str) else None
        if not m or not 0 < int(m.group(2)) < 65536:
            raise ScenarioError(f"{where} [expect]: closed entry {entry!r} is not tcp/ADDRESS:PORT")
        expect.closed.append((m.group(1), int(m.group(2))))
    mods = exp.get("modalities", {})
    if not isinstance(mods, dict) or set(mods) != set(plan.MODALITIES):
        raise ScenarioError(f"{where}: [expect.modalities] must give each of {', '.join(plan.MODALITIES)}")
    for m, v in mods.items():
        w = f"{where} [expect.modalities.{m}]"
        if not isinstance(v, dict) or set(v) != {"path", "status"}:
            raise ScenarioError(f"{w}: give exactly `path` and `status`")
        expect.modalities[m] = (_choice(v["path"], plan.PATHS, "path", w), _choice(v["status"], plan.STATUSES, "status", w))
    svcs = exp.get("services", {})
    if not isinstance(svcs, dict) or not svcs:
        raise ScenarioError(f"{where}: [expect.services] must name at least one service")
    for s, v in svcs.items():
        w = f"{where} [expect.services.{s}]"
        _choice(s, list(plan.SERVICE_NAMES), "service", w)
        if not isinstance(v, dict) or not set(v) <= {"reachable", "via", "intercepted"} or "reachable" not in v:
            raise ScenarioError(f"{w}: give `reachable` and, when reachable, `via` and `intercepted`")
        reachable = _get(v, "reachable", bool, False, w)
        via = _choice(v.get("via", "none"), ["direct", "proxy", "none"], "via", w)
        if reachable == (via == "none"):
            raise ScenarioError(f"{w}: `via` must be direct or proxy exactly when reachable")
        expect.services[s] = {"reachable": reachable, "via": via, "intercepted": _get(v, "intercepted", bool, False, w)}

    fams = exp.get("families", {})
    if not isinstance(fams, dict) or not set(fams) <= set(plan.FAMILIES):
        raise ScenarioError(f"{where}: [expect.families] may give {', '.join(plan.FAMILIES)}")
    for f, v in fams.items():
        w = f"{where} [expect.families.{f}]"
        if not isinstance(v, dict) or "path" not in v or not set(v) <= {"path", "services", "udp"}:
            raise ScenarioError(f"{w}: give `path` and optionally `services` (bool) and `udp`")
        expect.families[f] = {
            "path": _choice(v["path"], plan.FAMILY_PATHS, "path", w),
            # Every service expected reachable answers directly over this family.
            "services": _get(v, "services", bool, False, w),
            # How UDP to the relay fails over this family, when it does: what the
            # scenario's own firewall does (drop or reject), told by edgepath's check.
            "udp": _choice(v.get("udp", "any"), ["any", "answered", "dropped", "refused"], "udp", w),
        }

    if "nat_mapping" in exp:
        expect.nat_mapping = _choice(
            exp["nat_mapping"], ["endpoint-independent", "address-port-dependent"], "nat_mapping", where + " [expect]"
        )
    if "vpn" in exp:
        expect.vpn = _choice(exp["vpn"], plan.VPN_STATES, "vpn", where + " [expect]")
    if "proxy_vendor" in exp:
        expect.proxy_vendor = _choice(exp["proxy_vendor"], plan.PROXY_VENDORS, "proxy_vendor", where + " [expect]")
    if "tcp_framing" in exp:
        expect.tcp_framing = _choice(exp["tcp_framing"], plan.TCP_FRAMINGS, "tcp_framing", where + " [expect]")
    expect.relay_tls_intercepted = _get(exp, "relay_tls_intercepted", bool, False, where + " [expect]")
    expect.capture_relay_tls = _get(exp, "capture_relay_tls", bool, False, where + " [expect]")

    proxy_enabled = _get(proxy, "enabled", bool, False, where + " [proxy]")
    scenario = Scenario(
        name=os.path.basename(path)[:-5],
        path=path,
        description=_get(doc, "description", str, "", where),
        profile=_choice(doc.get("profile", "current"), ["current", "legacy"], "profile", where),
        nat=_choice(topo.get("nat", "single"), ["single", "double"], "nat", where + " [topology]"),
        ipv6=_get(topo, "ipv6", bool, False, where + " [topology]"),
        symmetric_nat=_get(topo, "symmetric_nat", bool, False, where + " [topology]"),
        proxy=proxy_enabled,
        proxy_auth=_get(proxy, "auth", bool, False, where + " [proxy]"),
        proxy_intercept=_get(proxy, "intercept", bool, False, where + " [proxy]"),
        relay_legacy_port=legacy_port,
        relay_second_address=_get(relay, "second_address", bool, False, where + " [relay]"),
        relay_tls_only=_get(relay, "tls_only", bool, False, where + " [relay]"),
        firewall_policy=_choice(fw.get("policy", "accept"), ["accept", "drop"], "policy", where + " [firewall]"),
        firewall_rules=_get(fw, "rules", str, "", where + " [firewall]"),
        firewall_generated=_get(fw, "generated", bool, False, where + " [firewall]"),
        udp_loss_to_relay=loss,
        expect=expect,
        impair=impair,
    )
    if (scenario.proxy_auth or scenario.proxy_intercept) and not proxy_enabled:
        raise ScenarioError(f"{where}: [proxy] auth/intercept need enabled = true")
    if "inspection_ca" in proxy:
        if not scenario.proxy_intercept:
            raise ScenarioError(f"{where}: [proxy] inspection_ca needs intercept = true")
        scenario.proxy_inspection_ca = _get(proxy, "inspection_ca", str, "", where + " [proxy]")
        if not scenario.proxy_inspection_ca.strip() or any(c in scenario.proxy_inspection_ca for c in "/=\n"):
            raise ScenarioError(f"{where}: [proxy] inspection_ca must be a common name (no '/', '=' or newline)")
    scenario.proxy_desktop = _choice(proxy.get("desktop", "env"), ["env", "gnome"], "desktop", where + " [proxy]")
    if scenario.proxy_desktop != "env" and not proxy_enabled:
        raise ScenarioError(f"{where}: [proxy] desktop needs enabled = true")
    scenario.proxy_pac = _get(proxy, "pac", str, "", where + " [proxy]")
    scenario.proxy_wpad = _get(proxy, "wpad", bool, False, where + " [proxy]")
    scenario.proxy_pac_served = _get(proxy, "pac_served", bool, True, where + " [proxy]")
    scenario.proxy_wpad_by = _choice(proxy.get("wpad_by", "dns"), ["dns", "dhcp"], "wpad_by", where + " [proxy]")
    if "wpad_by" in proxy and not scenario.proxy_wpad:
        raise ScenarioError(f"{where}: [proxy] wpad_by needs wpad = true")
    if scenario.proxy_wpad and not scenario.proxy_pac:
        raise ScenarioError(f"{where}: [proxy] wpad needs the pac it finds")
    if scenario.proxy_pac and not proxy_enabled:
        raise ScenarioError(f"{where}: [proxy] pac needs enabled = true")
    scenario.turn_credentials = _get(client, "turn_credentials", bool, True, where + " [client]")
    if vpn:
        w = where + " [vpn]"
        scenario.vpn_type = _choice(vpn.get("type"), ["wireguard", "openvpn"], "type", w)
        scenario.vpn_mode = _choice(vpn.get("mode", "forced"), ["forced", "split", "split-stale"], "mode", w)
        scenario.company_policy = _choice(vpn.get("company_policy", "accept"), ["accept", "drop"], "company_policy", w)
        scenario.company_rules = _get(vpn, "company_rules", str, "", w)
        if scenario.vpn_type == "openvpn" and scenario.vpn_mode == "split-stale":
            raise ScenarioError(f"{w}: mode split-stale is for type wireguard")
        if scenario.ipv6 or scenario.nat != "single" or scenario.proxy:
            raise ScenarioError(f"{w}: a VPN scenario is IPv4, single NAT, without the proxy")
        if expect.vpn is None:
            raise ScenarioError(f"{where}: a [vpn] scenario must say [expect] vpn")
    if expect.nat_mapping and not scenario.relay_second_address:
        raise ScenarioError(
            f"{where}: [expect] nat_mapping is validated with turnutils_natdiscovery, which needs [relay] second_address = true"
        )
    if scenario.ipv6 and scenario.nat != "single":
        raise ScenarioError(f"{where}: [topology] ipv6 = true needs nat = \"single\" (IPv6 is routed, not carrier-NATed)")
    if "ipv6" in expect.families and not scenario.ipv6:
        raise ScenarioError(f"{where}: [expect.families.ipv6] needs [topology] ipv6 = true")
    if expect.proxy_auth_required and not scenario.proxy_auth:
        raise ScenarioError(f"{where}: proxy_auth_required needs [proxy] auth = true")
    return scenario
