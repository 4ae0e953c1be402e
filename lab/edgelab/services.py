"""The lab's real services: certificates (openssl), dnsmasq, a TLS server, coturn and
Squid, started inside the run's namespaces and waited for until they answer."""

import os
import re
import pwd
import sys
import time

from . import plan
from . import vpn
from .net import LabError, run

LAB_DIR = plan.LAB_DIR


def _cert(lab, name, cn, sans=None, ca=None, days=2):
    """An EC key and certificate: self-signed (a CA) or signed by `ca`."""
    key, crt = lab.path(f"{name}.key"), lab.path(f"{name}.pem")
    if ca is None:
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", key, "-out", crt, "-days", str(days), "-subj", f"/O=edgepath lab/CN={cn}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        return key, crt
    csr, ext = lab.path(f"{name}.csr"), lab.path(f"{name}.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=" + ",".join(f"DNS:{n}" for n in sans) + "\n")
    run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", csr, "-subj", f"/O=edgepath lab/CN={cn}"])
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0], "-CAcreateserial",
         "-out", crt, "-days", str(days), "-extfile", ext])
    return key, crt


def certificates(lab):
    """The lab root CA and the edge's certificate; with interception, the proxy's CA.
    Writes ca-bundle.pem: what a client of this site trusts (the lab root, plus the
    inspection CA where the company installs one, as companies that intercept do)."""
    root = _cert(lab, "lab-root-ca", "edgepath Lab Root CA")
    sans = plan.WEB_NAMES + ["*.lync.com", "*.teams.microsoft.com", "*.online.lync.com"]
    lab.web_cert = _cert(lab, "web", "*.online.lync.com", sans=sans, ca=root)
    # The relay's, with the names Microsoft's carries (teams.pcap frame 1336).
    lab.relay_cert = _cert(lab, "relay", "tr.teams.microsoft.com", ca=root, sans=[
        "tr.teams.microsoft.com", "*.tr.teams.microsoft.com", "turn.teams.microsoft.com",
        "*.turn.teams.microsoft.com", "*.relay.teams.microsoft.com"])
    bundle = [root[1]]
    if lab.scenario.proxy_intercept:
        lab.inspect_ca = _cert(lab, "inspection-ca", lab.scenario.proxy_inspection_ca)
        bundle.append(lab.inspect_ca[1])
    lab.root_ca = root
    # The client's system trust store: Debian's, plus the company's inspection CA where
    # the scenario intercepts (that is where companies install it).
    lab.system_store = lab.path("system-ca-store.pem")
    with open(lab.system_store, "w") as out:
        try:
            with open("/etc/ssl/certs/ca-certificates.crt") as f:
                out.write(f.read())
        except OSError:
            pass
        if lab.scenario.proxy_intercept:
            with open(lab.inspect_ca[1]) as f:
                out.write(f.read())
    lab.ca_bundle = lab.path("ca-bundle.pem")
    with open(lab.ca_bundle, "w") as out:
        for pem in bundle:
            with open(pem) as f:
                out.write(f.read())
    for p in os.listdir(lab.tmp):
        os.chmod(lab.path(p), 0o644)


def _listening(lab, role, proto, addr, port):
    flag = "-Hltn" if proto == "tcp" else "-Hlun"
    out = lab.exec(role, ["ss", flag, "src", f"{addr}:{port}"], check=False).stdout
    return bool(out.strip())


def wait_listening(lab, role, proto, addr, port, name, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _listening(lab, role, proto, addr, port):
            return
        for pname, p, _ in lab.procs:
            if pname == name and p.poll() is not None:
                raise LabError(f"{name} exited ({p.returncode}) before listening on {proto} {addr}:{port}\n{lab.logs()}")
        time.sleep(0.05)
    raise LabError(f"{name} is not listening on {proto} {addr}:{port} after {timeout} s\n{lab.logs()}")


def dns(lab):
    v6 = lab.scenario.ipv6
    args = ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--no-poll", f"--listen-address={plan.DNS}", "--bind-interfaces", "--user=root",
            f"--pid-file={lab.path('dnsmasq.pid')}", "--log-queries", "--log-facility=-"]
    args += [f"--address=/{n}/{plan.RELAY}" for n in plan.RELAY_NAMES]
    args += [f"--address=/{n}/{plan.WEB}" for n in plan.WEB_NAMES]
    if v6:
        # Dual-stack: AAAA records beside the A records, and DNS over IPv6 too.
        args.append(f"--listen-address={plan.DNS6}")
        args += [f"--address=/{n}/{plan.RELAY6}" for n in plan.RELAY_NAMES]
        args += [f"--address=/{n}/{plan.WEB6}" for n in plan.WEB_NAMES]
    if lab.scenario.proxy_wpad and lab.scenario.proxy_wpad_by == "dns":
        args.append(f"--address=/wpad.{plan.SEARCH_DOMAIN}/{plan.PROXY}")
    args.append("--address=/#/")  # every other name: NXDOMAIN, as for a name that does not exist
    lab.spawn("edge", "dnsmasq", args)
    wait_listening(lab, "edge", "udp", plan.DNS, 53, "dnsmasq")
    if v6:
        wait_listening(lab, "edge", "udp", f"[{plan.DNS6}]", 53, "dnsmasq")


def web(lab):
    key, crt = lab.web_cert
    addrs = [plan.WEB] + ([plan.WEB6] if lab.scenario.ipv6 else [])
    for addr in addrs:
        name = "tls-server" if addr == plan.WEB else "tls-server-v6"
        lab.spawn("edge", name, [sys.executable, os.path.join(LAB_DIR, "tls_server.py"),
                                 "--addr", addr, "--port", "443", "--cert", crt, "--key", key])
    for addr in addrs:
        name = "tls-server" if addr == plan.WEB else "tls-server-v6"
        wait_listening(lab, "edge", "tcp", f"[{addr}]" if ":" in addr else addr, 443, name)


def relay_ports(scenario):
    """The relay's front ports: UDP+TCP 3478-3481 and 443, and the legacy high port."""
    ports = [3478, 3479, 3480, 3481, 443]
    if scenario.relay_legacy_port:
        ports.append(scenario.relay_legacy_port)
    return ports


def relay(lab):
    """One coturn per front port, each with its own slice of relay ports. (A single
    coturn behind DNAT would make two flows from one client port collide in the edge's
    conntrack, which rewrites a source port and fakes a symmetric NAT.)"""
    s = lab.scenario
    ports = relay_ports(s)
    span = (plan.RELAY_MAX_PORT - plan.RELAY_MIN_PORT + 1) // len(ports)
    for i, port in enumerate(ports):
        lo = plan.RELAY_MIN_PORT + i * span
        v6 = ["--listening-ip", plan.RELAY6, "--relay-ip", plan.RELAY6] if s.ipv6 else []
        args = ["turnserver", "-n", "--listening-ip", plan.RELAY, "--relay-ip", plan.RELAY, *v6,
                "--listening-port", str(port), "--min-port", str(lo), "--max-port", str(lo + span - 1),
                "--lt-cred-mech", "--user", f"{plan.TURN_USER}:{plan.TURN_PASSWORD}", "--realm", plan.TURN_REALM,
                "--no-dtls", "--no-cli", "--log-file", "stdout", "--simple-log",
                "--pidfile", lab.path(f"turnserver-{port}.pid")]
        if port == 443:
            # TURN over TLS and plain TURN over TCP share 443: coturn tells them apart by
            # the first bytes (its TLS listener on the same port). TLS only: no plain
            # TCP listener at all.
            key, crt = lab.relay_cert
            args += ["--tls-listening-port", "443", "--cert", crt, "--pkey", key]
            if s.relay_tls_only:
                args += ["--no-tcp"]
        else:
            args += ["--no-tls"]
        if s.relay_second_address and port == 3478:
            # Two addresses: RFC 5780 NAT behaviour discovery (CHANGE-REQUEST,
            # OTHER-ADDRESS); its alternate port must not be one of the front ports.
            args += ["--listening-ip", plan.RELAY_SECOND, "--relay-ip", plan.RELAY_SECOND, "--alt-listening-port", "3490"]
        else:
            args += ["--no-rfc5780"]
        lab.spawn("edge", f"coturn-{port}", args)
    for port in ports:
        wait_listening(lab, "edge", "udp", plan.RELAY, port, f"coturn-{port}")
        wait_listening(lab, "edge", "tcp", plan.RELAY, port, f"coturn-{port}")
        if s.ipv6:
            wait_listening(lab, "edge", "udp", f"[{plan.RELAY6}]", port, f"coturn-{port}")
            wait_listening(lab, "edge", "tcp", f"[{plan.RELAY6}]", port, f"coturn-{port}")


def proxy(lab):
    s = lab.scenario
    proxy_user = pwd.getpwnam("proxy")
    conf, cache = lab.path("squid.conf"), lab.path("squid")
    os.makedirs(cache, exist_ok=True)
    lines = [
        f"pid_filename {lab.path('squid.pid')}",
        f"cache_log {lab.path('squid-cache.log')}",
        f"access_log stdio:{lab.path('squid-access.log')}",
        "cache deny all",
        "cache_effective_user proxy",
        f"coredump_dir {cache}",
        f"dns_nameservers {plan.DNS}",
        "shutdown_lifetime 0 seconds",
        "acl SSL_ports port 443",
        "acl CONNECT method CONNECT",
        f"acl lab_lan src {plan.LAN}",
        # CONNECT to 443 only, as corporate proxies are set up.
        "http_access deny CONNECT !SSL_ports",
        "http_access deny !lab_lan",
    ]
    if s.proxy_auth:
        htpasswd = lab.path("htpasswd")
        hashed = run(["openssl", "passwd", "-apr1", plan.PROXY_PASSWORD]).stdout.strip()
        with open(htpasswd, "w") as f:
            f.write(f"{plan.PROXY_USER}:{hashed}\n")
        os.chmod(htpasswd, 0o644)
        lines += [
            f"auth_param basic program /usr/lib/squid/basic_ncsa_auth {htpasswd}",
            "auth_param basic realm edgepath-lab-proxy",
            "acl authed proxy_auth REQUIRED",
            "http_access deny !authed",
        ]
    lines.append("http_access allow lab_lan")
    lines.append("http_access deny all")
    port = f"http_port {plan.PROXY}:{plan.PROXY_PORT}"
    if s.proxy_intercept:
        key, crt = lab.inspect_ca
        db = lab.path("ssl_db")
        run(["/usr/lib/squid/security_file_certgen", "-c", "-s", db, "-M", "4MB"])
        for root, dirs, files in os.walk(db):
            for entry in [root] + [os.path.join(root, n) for n in dirs + files]:
                os.chown(entry, proxy_user.pw_uid, proxy_user.pw_gid)
        port += f" ssl-bump generate-host-certificates=on dynamic_cert_mem_cache_size=4MB tls-cert={crt} tls-key={key}"
        lines += [
            f"sslcrtd_program /usr/lib/squid/security_file_certgen -s {db} -M 4MB",
            "sslcrtd_children 2 startup=1 idle=1",
            f"tls_outgoing_options cafile={lab.root_ca[1]}",
            "acl step1 at_step SslBump1",
            "ssl_bump peek step1",
            "ssl_bump bump all",
        ]
    lines.insert(0, port)
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    for p in (conf, cache):
        os.chown(p, proxy_user.pw_uid, proxy_user.pw_gid)
    os.chmod(lab.tmp, 0o755)
    for name in ("squid-cache.log", "squid-access.log"):
        open(lab.path(name), "a").close()
        os.chown(lab.path(name), proxy_user.pw_uid, proxy_user.pw_gid)
    if s.proxy_intercept:
        os.chmod(lab.inspect_ca[0], 0o644)
    check = run(["squid", "-k", "parse", "-f", conf], check=False)
    if check.returncode != 0:
        raise LabError(f"squid refused its configuration {conf}: {check.stderr.strip()[-800:]}")
    lab.spawn("proxy", "squid", ["squid", "-N", "-f", conf])
    wait_listening(lab, "proxy", "tcp", plan.PROXY, plan.PROXY_PORT, "squid", timeout=12)
    if s.proxy_pac:
        pac_server(lab)


def pac_server(lab):
    """The scenario's PAC file at plan.PAC_URL, served by Python's HTTP server in the
    proxy's namespace (as a company serves its PAC from an internal web server)."""
    root = lab.path("pac")
    os.makedirs(root, exist_ok=True)
    # A PAC that is not served: the server answers 404 for it.
    for name in ("proxy.pac", "wpad.dat") if lab.scenario.proxy_pac_served else ():
        with open(os.path.join(root, name), "w") as f:
            f.write(lab.scenario.proxy_pac.replace("$PROXY", plan.PROXY))
    lab.spawn("proxy", "pac-server", [sys.executable, "-m", "http.server", "80", "--bind", plan.PROXY,
                                      "--directory", root])
    wait_listening(lab, "proxy", "tcp", plan.PROXY, 80, "pac-server")


def start(lab):
    """Starts everything the scenario needs, in dependency order."""
    certificates(lab)
    dns(lab)
    web(lab)
    relay(lab)
    if lab.scenario.proxy:
        proxy(lab)
    if lab.scenario.proxy_desktop == "gnome":
        gnome_settings(lab)
    if lab.scenario.proxy_wpad and lab.scenario.proxy_wpad_by == "dhcp":
        dhcp(lab)
    if lab.scenario.vpn_type:
        vpn.start(lab)


def dhcp_lease_file(lab):
    return lab.path("dhclient.leases")


def dhcp(lab):
    """WPAD by DHCP: the router's DHCP server (dnsmasq, DHCP only) on the LAN gives the
    PAC's URL in option 252; the client's ISC dhclient asks for it, as NetworkManager's
    configuration does (`option wpad code 252 = text`), and records the lease in the
    lab's own lease file. Its script is /bin/true: the lease configures nothing, so the
    client keeps its address and routes; only the lease file is what a client reads."""
    first, last = plan.DHCP_RANGE
    lab.spawn("router", "dnsmasq-dhcp", [
        "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--no-resolv",
        "--no-hosts", f"--interface={lab.prefix}r1l", "--bind-interfaces", "--user=root",
        f"--pid-file={lab.path('dnsmasq-dhcp.pid')}", f"--dhcp-leasefile={lab.path('dnsmasq-dhcp.leases')}",
        f"--dhcp-range={first},{last},255.255.255.0,10m", f"--dhcp-option=option:router,{plan.ROUTER_LAN}",
        f"--dhcp-option-force=252,{plan.DHCP_WPAD_URL}", "--log-dhcp", "--log-facility=-"])
    conf = lab.path("dhclient.conf")
    with open(conf, "w") as f:
        f.write("option wpad code 252 = text;\n"
                "request subnet-mask, broadcast-address, routers, domain-name-servers, wpad;\n")
    lease = dhcp_lease_file(lab)
    lab.spawn("client", "dhclient", [
        "dhclient", "-d", "-1", "-v", "-cf", conf, "-lf", lease, "-pf", lab.path("dhclient.pid"),
        "-sf", "/bin/true", f"{lab.prefix}c0"])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if os.path.exists(lease):
            with open(lease) as f:
                if "option wpad" in f.read():
                    os.chmod(lease, 0o644)
                    return
        time.sleep(0.1)
    raise LabError(f"dhclient got no lease with option 252 in 15 s\n{lab.logs()}")


def dhcp_wpad_url(lab):
    """The PAC URL dhclient recorded (option 252 of its last lease), read from its lease
    file here, not by edgepath: what the validation takes as the client's WPAD answer."""
    with open(dhcp_lease_file(lab)) as f:
        urls = re.findall(r'option wpad "([^"]*)"', f.read())
    return urls[-1].rstrip("\n") if urls else None


def gnome_environment(lab):
    """A GNOME session's settings, kept in the lab's own keyfile (GSettings' keyfile
    backend), so nothing of the machine's own settings is read or changed."""
    return {
        "XDG_CURRENT_DESKTOP": "GNOME",
        "GSETTINGS_BACKEND": "keyfile",
        "XDG_CONFIG_HOME": lab.path("gnome-config"),
    }


def gnome_settings(lab):
    """The client's proxy as GNOME Settings writes it, written with the real `gsettings`:
    "Automatic" with the PAC's URL (or empty, for WPAD) where the scenario gives a PAC,
    else "Manual" with the HTTPS proxy (credentials stay with the user: --proxy-user)."""
    s = lab.scenario
    env = dict(os.environ, **gnome_environment(lab))
    os.makedirs(env["XDG_CONFIG_HOME"], exist_ok=True)
    schema = "org.gnome.system.proxy"
    if s.proxy_wpad:
        sets = [(schema, "mode", "auto"), (schema, "autoconfig-url", "")]
    elif s.proxy_pac:
        sets = [(schema, "mode", "auto"), (schema, "autoconfig-url", plan.PAC_URL)]
    else:
        sets = [(schema, "mode", "manual"), (schema + ".https", "host", plan.PROXY),
                (schema + ".https", "port", str(plan.PROXY_PORT)),
                (schema, "ignore-hosts", "['localhost', '127.0.0.0/8', '::1']")]
    for sch, key, value in sets:
        run(["gsettings", "set", sch, key, value], env=env)
    # Readable by the unprivileged users the lab's tools may run as.
    for root, dirs, files in os.walk(env["XDG_CONFIG_HOME"]):
        for name in dirs + files:
            os.chmod(os.path.join(root, name), 0o755 if name in dirs else 0o644)


def environment(lab):
    """What a command run in the client namespace is told about the lab."""
    s = lab.scenario
    env = {
        "EDGEPATH_ENDPOINTS": plan.CATALOG,
        # The lab edge stands in for Microsoft: its root is the one declared root. An
        # inspection CA is only in the system store, as on a company's clients.
        "EDGEPATH_CA": lab.root_ca[1],
        "SSL_CERT_FILE": lab.system_store,

        "EDGEPATH_LAB_SCENARIO": s.name,
        "EDGEPATH_LAB_PROFILE": s.profile,
        # For tests that look at the router's side too (a capture on its WAN link).
        "EDGEPATH_LAB_ROUTER_NS": lab.ns["router"],
        "EDGEPATH_LAB_ROUTER_WAN": f"{lab.prefix}r1w",
        # The client's own link, for a live capture in the client namespace.
        "EDGEPATH_LAB_CLIENT_IF": f"{lab.prefix}c0",
    }
    if s.turn_credentials:
        env["EDGEPATH_TURN_USER"] = plan.TURN_USER
        env["EDGEPATH_TURN_PASSWORD"] = plan.TURN_PASSWORD
    if s.proxy_wpad and s.proxy_wpad_by == "dhcp":
        # The lab's lease file stands for the system's (/var/lib/dhcp/...), which the
        # lab must not touch.
        env["EDGEPATH_DHCP_LEASES"] = dhcp_lease_file(lab)
    if s.proxy_desktop == "gnome":
        # The client is told its proxy by its desktop's settings, not the environment.
        env.update(gnome_environment(lab))
        if s.proxy_auth:
            env["EDGEPATH_PROXY_USER"] = f"{plan.PROXY_USER}:{plan.PROXY_PASSWORD}"
    elif s.proxy_wpad:
        pass  # the client finds its PAC itself
    elif s.proxy_pac:
        # A company client is given its PAC, not a proxy.
        env["EDGEPATH_PAC"] = plan.PAC_URL
    elif s.proxy:
        env["HTTPS_PROXY"] = f"http://{plan.PROXY}:{plan.PROXY_PORT}"
        if s.proxy_auth:
            env["EDGEPATH_PROXY_USER"] = f"{plan.PROXY_USER}:{plan.PROXY_PASSWORD}"
    return env
