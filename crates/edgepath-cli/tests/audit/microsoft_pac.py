#!/usr/bin/env python3
"""Writes PAC files with the logic and layout of Microsoft's Get-PacFile script (its
"type 1": Optimize names DIRECT, the rest to the proxy; "type 2": Optimize and Allow
names DIRECT, except Default-category names their wildcards would catch, which go to
the proxy first) from an endpoint JSON file. Microsoft's script needs PowerShell and
the internet; this reproduces its output's structure so `edgepath audit` is tested on
PAC code it did not write itself (name-based only: no isInNet, as Microsoft's).

    microsoft_pac.py ENDPOINTS.json TYPE PROXY:PORT > file.pac
"""
import fnmatch
import json
import sys


def names(data, categories):
    out = set()
    for s in data:
        if s.get("category") in categories:
            out.update(u.lower() for u in s.get("urls", []))
    return sorted(out)


def block(hosts, verdict):
    if not hosts:
        return ""
    lines = [f'shExpMatch(host, "{h}")' for h in hosts]
    body = "\n        || ".join(lines)
    return f"    if({body})\n    {{\n        return {verdict};\n    }}\n\n"


def main():
    path, kind, proxy = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(path) as f:
        data = json.load(f)
    if kind == "1":
        direct = names(data, {"Optimize"})
        first = []
    else:
        direct = names(data, {"Optimize", "Allow"})
        default = names(data, {"Default"})
        first = [d for d in default if d not in direct and any(
            "*" in p and fnmatch.fnmatchcase(d, p) for p in direct)]
    sys.stdout.write(
        "// This PAC file will provide proxy config to Microsoft 365 services\n"
        "//  using data from the public web service for all endpoints\n"
        "function FindProxyForURL(url, host)\n{\n"
        '    var direct = "DIRECT";\n'
        f'    var proxyServer = "PROXY {proxy}";\n\n'
        "    host = host.toLowerCase();\n\n"
        + block(first, "proxyServer")
        + block(direct, "direct")
        + "    return proxyServer;\n}\n")


if __name__ == "__main__":
    main()
