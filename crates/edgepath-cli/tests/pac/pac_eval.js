// Evaluates a PAC file the way browsers do: FindProxyForURL in a sandbox with the
// standard PAC helper functions (Netscape's PAC definition, as Mozilla and Chromium
// implement it). Usage: node pac_eval.js FILE.pac HOST... ; prints {"host": "result"}.
"use strict";
const fs = require("fs");
const vm = require("vm");

function ipToInt(ip) {
  const p = ip.split(".").map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return null;
  return ((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3];
}

// An IPv6 (or IPv4) literal as a BigInt and its width in bits, or null.
function ipToBig(ip) {
  if (ipToInt(ip) !== null) return [BigInt(ipToInt(ip)), 32];
  if (!/^[0-9a-fA-F:]+$/.test(ip) || ip.split("::").length > 2) return null;
  const [head, tail] = ip.includes("::") ? ip.split("::") : [ip, null];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === null ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  if (groups.length !== 8 || groups.some((g) => g.length === 0 || g.length > 4)) return null;
  return [groups.reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g, 16)), 0n), 128];
}

const helpers = {
  isPlainHostName: (host) => host.indexOf(".") === -1,
  dnsDomainIs: (host, domain) =>
    host.length >= domain.length && host.substring(host.length - domain.length) === domain,
  localHostOrDomainIs: (host, hostdom) =>
    host === hostdom || hostdom.lastIndexOf(host + ".", 0) === 0,
  // No name is resolved in the test: a PAC file that needs DNS for a name fails here.
  dnsResolve: (host) => (ipToInt(host) === null ? null : host),
  isResolvable: (host) => ipToInt(host) !== null,
  myIpAddress: () => "127.0.0.1",
  dnsDomainLevels: (host) => host.split(".").length - 1,
  isInNet: (host, pattern, mask) => {
    const ip = ipToInt(helpers.dnsResolve(host) || "");
    const pat = ipToInt(pattern);
    const m = ipToInt(mask);
    if (ip === null || pat === null || m === null) return false;
    return ((ip & m) >>> 0) === ((pat & m) >>> 0);
  },
  shExpMatch: (str, shexp) => {
    const re = shexp
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".");
    return new RegExp("^" + re + "$").test(str);
  },
  // Microsoft's IPv6 extension (Chromium, Windows): isInNetEx(ip, "prefix/len").
  isInNetEx: (host, cidr) => {
    const [net, len] = cidr.split("/");
    const a = ipToBig(host);
    const b = ipToBig(net);
    if (a === null || b === null || a[1] !== b[1]) return false;
    const shift = BigInt(a[1] - Number(len));
    return a[0] >> shift === b[0] >> shift;
  },
  alert: () => {},
};
// PAC_NO_EX=1 plays a browser without the extension (Firefox).
if (process.env.PAC_NO_EX) delete helpers.isInNetEx;

const [file, ...hosts] = process.argv.slice(2);
const ctx = vm.createContext({ ...helpers });
vm.runInContext(fs.readFileSync(file, "utf8"), ctx, { filename: file, timeout: 1000 });
const out = {};
for (const h of hosts) {
  out[h] = ctx.FindProxyForURL("https://" + h + "/", h);
}
process.stdout.write(JSON.stringify(out) + "\n");
