"""The lab's fixed addressing plan and names.

Only documentation ranges (198.51.100.0/24, 203.0.113.0/24), carrier-grade NAT space
(100.64.0.0/10) and private LANs are used, all inside the lab's own namespaces. The edge
namespace has no default route, so nothing can leave the lab.
"""

import os

# The lab's own directory (scenarios, catalog, TLS server).
LAB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CATALOG = os.path.join(LAB_DIR, "catalog.json")

LAN = "192.168.1.0/24"
CLIENT = "192.168.1.10"
ROUTER_LAN = "192.168.1.1"

DMZ = "10.0.0.0/24"
ROUTER_DMZ = "10.0.0.1"
PROXY = "10.0.0.2"
PROXY_PORT = 3128
# Where the lab serves a scenario's PAC file (an HTTP server beside Squid).
PAC_URL = f"http://{PROXY}/proxy.pac"
# The clients' DNS search domain in a WPAD scenario: wpad.SEARCH_DOMAIN is the PAC server.
SEARCH_DOMAIN = "corp.example"
# What the router's DHCP server gives in option 252 in a WPAD-by-DHCP scenario.
DHCP_WPAD_URL = f"http://{PROXY}/wpad.dat"
DHCP_RANGE = ("192.168.1.100", "192.168.1.150")

CGNAT_ROUTER1 = "100.64.0.2"  # the customer router's WAN behind carrier NAT
CGNAT_CARRIER = "100.64.0.1"  # the carrier router's inside

WAN_EDGE = "198.51.100.1"  # the "internet" side of the link to the edge
WAN_ROUTER = "198.51.100.2"  # the public address the site's traffic leaves with

# IPv6, in scenarios with `[topology] ipv6 = true`: routed end to end (no NAT66, as home
# and office routers do it), from the documentation prefix 2001:db8::/32 only.
LAN6 = "2001:db8:1::/64"
CLIENT6 = "2001:db8:1::10"
ROUTER_LAN6 = "2001:db8:1::1"
WAN6_EDGE = "2001:db8:ff::1"
WAN6_ROUTER = "2001:db8:ff::2"
RELAY6 = "2001:db8:113::10"
RELAY6_SECOND = "2001:db8:113::11"
WEB6 = "2001:db8:113::20"
DNS6 = "2001:db8:113::53"

# The company's VPN gateway, in scenarios with a [vpn] section: on its own link to the
# "internet" from the benchmarking range 198.18.0.0/15 (RFC 2544, never routed on the
# internet), with the tunnels' inside addresses from private space.
EDGE_COMPANY = "198.18.0.1"
COMPANY_WAN = "198.18.0.2"
COMPANY_LINK = "198.18.0.0/30"
WG_PORT = 51820
WG_NET = "10.99.0.0/24"
WG_COMPANY = "10.99.0.1"
WG_CLIENT = "10.99.0.2"
OVPN_PORT = 1194
OVPN_NET = "10.98.0.0/24"
OVPN_COMPANY = "10.98.0.1"
OVPN_CLIENT = "10.98.0.2"

RELAY = "203.0.113.10"
RELAY_SECOND = "203.0.113.11"
WEB = "203.0.113.20"
DNS = "203.0.113.53"

# TURN credentials of the lab relay (long-term mechanism).
TURN_REALM = "edgepath.lab"
TURN_USER = "labuser"
TURN_PASSWORD = "labpass"

# Basic-auth credentials of the lab proxy, when a scenario asks for them.
PROXY_USER = "labproxy"
PROXY_PASSWORD = "labproxypass"

# coturn's own relayed-address ports: below the legacy high port range the lab relays.
RELAY_MIN_PORT = 49152
RELAY_MAX_PORT = 49999

# The names the lab's DNS answers, as the model's probes use them (edgepath-model
# service.rs, probe_names), with the lab host that serves each.
RELAY_NAMES = ["worldaz.tr.teams.microsoft.com", "world.tr.teams.microsoft.com"]
WEB_NAMES = [
    "sipdir.online.lync.com",
    "webdir.online.lync.com",
    "teams.microsoft.com",
    "outlook.office365.com",
    "office.live.com",
]

# Which name stands for which service, for validation (the same as the model's probes).
SERVICE_NAMES = {
    "sip": "sipdir.online.lync.com",
    "web-services": "webdir.online.lync.com",
    "data-edge": "teams.microsoft.com",
    "ews": "outlook.office365.com",
    "office-web-apps": "office.live.com",
}

MODALITIES = ["audio", "video", "app_sharing", "file_transfer"]
# Where each modality's UDP probes come from, inside its source range (DOMAIN.md:
# audio 50000-50019, video 50020-50039, sharing and file transfer 50040-50059); file
# transfer shares the sharing range, so its probes take the upper half.
PROBE_SOURCE_BASE = {"audio": 50000, "video": 50020, "app_sharing": 50040, "file_transfer": 50050}
PATHS = ["relay-udp", "relay-tcp", "relay-tcp-proxy", "none"]
# What the lab relay (coturn, an RFC relay) can answer on 443: TLS with RFC framing
# inside, or plain RFC TURN over TCP.
TCP_FRAMINGS = ["tls-rfc", "standard"]
FAMILY_PATHS = ["relay-udp", "relay-tcp", "none"]  # direct paths over one address family
FAMILIES = ["ipv4", "ipv6"]
VPN_STATES = ["none", "split", "forced", "partial"]
STATUSES = ["good", "degraded", "failing"]
# The cloud security services edgepath names (edgepath-model's ProxyVendor).
PROXY_VENDORS = ["zscaler", "netskope", "cisco-umbrella", "prisma-access"]
