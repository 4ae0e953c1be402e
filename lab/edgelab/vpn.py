"""Real VPN tunnels between the client and the company's gateway: WireGuard in user
space (wireguard-go: this kernel has no WireGuard module) configured with wg, or
OpenVPN with a tun device. Each client reads a configuration file the lab writes
(`wg setconf`, `openvpn --config`), kept as `lab.vpn_config` for `lab/run --audit`,
which audits that same file. The client's routes are what the VPN client would install:
for WireGuard, one route per AllowedIPs entry (0.0.0.0/0 as the two halves, as wg-quick
does) plus the gateway's own address via the home router; for OpenVPN, its own
redirect-gateway and the `route ... net_gateway` lines edgepath writes.

Modes: `forced` (everything through the tunnel), `split` (the split list is
`edgepath rules --target wireguard|openvpn` for the lab catalog), `split-stale` (the same
from a catalog that misses one media address: part of the media goes through)."""

import json
import os
import time

from . import plan
from .net import LabError, run


def _edgepath(lab, target, catalog):
    if not lab.edgepath or not os.access(lab.edgepath, os.X_OK):
        raise LabError(
            f"{lab.scenario.name} splits its tunnel with edgepath's rules, but there is no edgepath binary at "
            f"{lab.edgepath} (cargo build --release, or lab/run --edgepath PATH)"
        )
    return run([lab.edgepath, "rules", "--target", target, "--endpoints", catalog]).stdout


def stale_catalog(lab):
    """The lab catalog as an old copy would have it: the second relay address missing
    from the media set (as 52.122.0.0/15 is missing from lists older than 2025)."""
    with open(plan.CATALOG) as f:
        data = json.load(f)
    for s in data:
        if s["id"] == 11:
            s["ips"] = [ip for ip in s["ips"] if not ip.startswith(plan.RELAY_SECOND + "/")]
    path = lab.path("catalog-stale.json")
    with open(path, "w") as f:
        json.dump(data, f)
    return path


def allowed_ips(lab):
    """The client's AllowedIPs for the scenario's mode."""
    mode = lab.scenario.vpn_mode
    if mode == "forced":
        return ["0.0.0.0/0"]
    catalog = stale_catalog(lab) if mode == "split-stale" else plan.CATALOG
    text = _edgepath(lab, "wireguard", catalog)
    line = next((l for l in text.splitlines() if l.startswith("AllowedIPs = ")), None)
    if not line:
        raise LabError(f"edgepath rules --target wireguard wrote no AllowedIPs line:\n{text[:500]}")
    return line[len("AllowedIPs = "):].split(", ")


def _wait(lab, check, what, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise LabError(f"{what} after {timeout} s\n{lab.logs()}")


def _wireguard_go(lab, role, ifname):
    lab.spawn(role, f"wireguard-go-{role}", ["env", "WG_PROCESS_FOREGROUND=1", "wireguard-go", ifname])
    _wait(lab, lambda: os.path.exists(f"/var/run/wireguard/{ifname}.sock"), f"wireguard-go made no {ifname}")


def _key(lab, name):
    private = run(["wg", "genkey"]).stdout.strip()
    public = run(["wg", "pubkey"], input=private + "\n").stdout.strip()
    path = lab.path(f"{name}.key")
    with open(path, "w") as f:
        f.write(private + "\n")
    os.chmod(path, 0o600)
    return path, public


def _tunnel_works(lab):
    """The tunnel carries traffic: TCP to the lab's DNS server, which every mode routes
    through it (split modes only leave the Optimize addresses out)."""
    return lab.exec("client", ["socat", "-T1", "/dev/null", f"TCP:{plan.DNS}:53,connect-timeout=1"],
                    check=False, timeout=5).returncode == 0


def wireguard(lab):
    server_if, client_if = f"{lab.prefix}wc", f"{lab.prefix}wg"
    lab.tunnel_if = client_if
    skey, spub = _key(lab, "wg-company")
    ckey, cpub = _key(lab, "wg-client")
    _wireguard_go(lab, "company", server_if)
    lab.exec("company", ["wg", "set", server_if, "private-key", skey, "listen-port", str(plan.WG_PORT),
                         "peer", cpub, "allowed-ips", f"{plan.WG_CLIENT}/32"])
    lab.exec("company", ["ip", "addr", "add", f"{plan.WG_COMPANY}/24", "dev", server_if])
    lab.exec("company", ["ip", "link", "set", server_if, "up"])
    allowed = allowed_ips(lab)
    _wireguard_go(lab, "client", client_if)
    # The client's configuration as a file (wg's own format, what `wg showconf` prints).
    with open(ckey) as f:
        private = f.read().strip()
    conf = lab.path("wg-client.conf")
    with open(conf, "w") as f:
        f.write(f"[Interface]\nPrivateKey = {private}\n\n[Peer]\nPublicKey = {spub}\n"
                f"Endpoint = {plan.COMPANY_WAN}:{plan.WG_PORT}\nAllowedIPs = {', '.join(allowed)}\n"
                "PersistentKeepalive = 5\n")
    os.chmod(conf, 0o600)
    lab.vpn_config = conf
    lab.exec("client", ["wg", "setconf", client_if, conf])
    lab.exec("client", ["ip", "addr", "add", f"{plan.WG_CLIENT}/24", "dev", client_if])
    lab.exec("client", ["ip", "link", "set", client_if, "up"])
    # What wg-quick installs: the gateway itself via the home router, then one route per
    # AllowedIPs entry (a default as its two halves, more specific than the real one).
    batch = [f"route add {plan.COMPANY_WAN}/32 via {plan.ROUTER_LAN}"]
    for net in allowed:
        if ":" in net:
            continue  # the VPN scenarios are IPv4 only
        if net == "0.0.0.0/0":
            batch += [f"route add 0.0.0.0/1 dev {client_if}", f"route add 128.0.0.0/1 dev {client_if}"]
        else:
            batch.append(f"route add {net} dev {client_if}")
    lab.exec("client", ["ip", "-batch", "-"], input="\n".join(batch) + "\n")
    _wait(lab, lambda: _tunnel_works(lab), "the WireGuard tunnel carries nothing")


def openvpn(lab):
    server_if, client_if = f"{lab.prefix}oc", f"{lab.prefix}ov"
    lab.tunnel_if = client_if
    key = lab.path("openvpn.key")
    run(["openvpn", "--genkey", "secret", key])
    common = ["openvpn", "--dev-type", "tun", "--proto", "udp", "--secret", key, "--cipher", "AES-256-CBC",
              "--verb", "3", "--ping", "2"]
    lab.spawn("company", "openvpn-company", [*common, "--dev", server_if, "--lport", str(plan.OVPN_PORT),
                                             "--ifconfig", plan.OVPN_COMPANY, plan.OVPN_CLIENT])
    # The client's whole configuration as a file; the options are those of the server
    # above without their dashes.
    lines = [f"remote {plan.COMPANY_WAN} {plan.OVPN_PORT}", "dev-type tun", f"dev {client_if}", "proto udp",
             "nobind", f"secret {key}", "cipher AES-256-CBC", "verb 3", "ping 2",
             f"ifconfig {plan.OVPN_CLIENT} {plan.OVPN_COMPANY}", "redirect-gateway def1"]
    if lab.scenario.vpn_mode == "split":
        # edgepath's split: `route NET MASK net_gateway` per Optimize range (the IPv6
        # lines are left out: the VPN scenarios are IPv4 only).
        text = _edgepath(lab, "openvpn", plan.CATALOG)
        lines += [l for l in text.splitlines() if not l.startswith("route-ipv6")]
    conf = lab.path("openvpn-client.conf")
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    lab.vpn_config = conf
    lab.spawn("client", "openvpn-client", ["openvpn", "--config", conf])
    _wait(lab, lambda: _tunnel_works(lab), "the OpenVPN tunnel carries nothing", timeout=15)


def start(lab):
    if lab.scenario.vpn_type == "wireguard":
        wireguard(lab)
    elif lab.scenario.vpn_type == "openvpn":
        openvpn(lab)
