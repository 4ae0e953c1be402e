//! Reads `nft -j list ruleset` (libnftables-json(5), nftables' stable interface) into
//! the audit's rules. Tables, chains (hook, priority, policy), rules, named sets and
//! verdict maps; matches on addresses, ports, the layer-4 protocol, the family, the
//! conntrack state and the interfaces (`iifname`, `oifname`, `iif`, `oif`; `"eth*"`
//! for a prefix), with single values, prefixes, ranges, anonymous and named sets and
//! concatenations. Anything else in a rule becomes an unknown match or verdict, named,
//! and counted as a warning.

use std::collections::HashMap;
use std::net::IpAddr;

use super::json::Json as Value;
use edgepath_model::Family;

use super::ir::{
    addr, ifname_range, loopback, prefix, protocol_number, service_port, Action, Base, Chain,
    Condition, Dim, Hook, Match, Origin, Rule, Ruleset, Slot, Values,
};
use super::AuditError;

/// A named set or map: its elements, each a set of values per field, with the map's
/// verdict where it is one.
#[derive(Debug, Default)]
struct Named {
    elements: Vec<(Vec<Values>, Option<Action>)>,
}

/// Reads the JSON text of `file`.
pub fn read(file: &str, text: &str) -> Result<Ruleset, AuditError> {
    let doc = Value::parse(text).map_err(|e| AuditError::Syntax {
        file: file.to_owned(),
        line: e.line(),
        what: format!("not JSON: {e}"),
    })?;
    let Some(items) = doc.get("nftables").and_then(Value::as_array) else {
        return Err(AuditError::Syntax {
            file: file.to_owned(),
            line: 1,
            what: "no \"nftables\" array: not the output of `nft -j list ruleset`".into(),
        });
    };
    // The whole ruleset of every family: a family without a chain is open.
    let mut rs = Ruleset::describing(&[Family::Ipv4, Family::Ipv6]);
    let mut named: HashMap<(String, String, String), Named> = HashMap::new();
    let key = |o: &Value| (str_of(o, "family"), str_of(o, "table"), str_of(o, "name"));
    // Sets and chains first: rules refer to them wherever they are listed.
    for item in items {
        if let Some(s) = item.get("set").or_else(|| item.get("map")) {
            let mut n = Named::default();
            let names = set_interfaces(s);
            for e in s
                .get("elem")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let (k, verdict) = match e.as_array() {
                    // A map's element: [key, data].
                    Some(pair) if pair.len() == 2 && item.get("map").is_some() => {
                        (&pair[0], action(&pair[1]).ok())
                    }
                    _ => (e, None),
                };
                match element(k, &names) {
                    Ok(v) => n.elements.push((v, verdict)),
                    Err(what) => rs.warnings.push(format!(
                        "{file}: set {} in table {}: element {what}",
                        str_of(s, "name"),
                        str_of(s, "table")
                    )),
                }
            }
            named.insert(key(s), n);
        }
        if let Some(c) = item.get("chain") {
            rs.chains.push(chain(file, c));
        }
    }
    let index: HashMap<(String, String, String), usize> = rs
        .chains
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let fam = c.table.split_once(' ').map_or("", |p| p.0).to_owned();
            let table = c.table.split_once(' ').map_or("", |p| p.1).to_owned();
            ((fam, table, c.name.clone()), i)
        })
        .collect();
    for item in items {
        let Some(r) = item.get("rule") else { continue };
        let (fam, table, chain_name) =
            (str_of(r, "family"), str_of(r, "table"), str_of(r, "chain"));
        let Some(&c) = index.get(&(fam.clone(), table.clone(), chain_name.clone())) else {
            rs.warnings.push(format!(
                "{file}: a rule of chain {chain_name} in table {fam} {table}, which is not listed"
            ));
            continue;
        };
        let ctx = Ctx {
            named: &named,
            family: fam.clone(),
            table: table.clone(),
        };
        // Chains that are not evaluated (NAT, other hooks) keep their rules, but what is
        // not understood there is no warning: it decides nothing the audit asks.
        let evaluated = rs.chains[c]
            .base
            .as_ref()
            .is_none_or(|b| b.hook != Hook::Other);
        let mut warnings = Vec::new();
        let rule = rule(file, r, &ctx, &mut warnings);
        if evaluated {
            rs.warnings.append(&mut warnings);
        }
        rs.chains[c].rules.push(rule);
    }
    Ok(rs)
}

fn str_of(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn family_of(s: &str) -> Option<Family> {
    match s {
        "ip" => Some(Family::Ipv4),
        "ip6" => Some(Family::Ipv6),
        _ => None,
    }
}

fn chain(file: &str, c: &Value) -> Chain {
    let fam = str_of(c, "family");
    let table = str_of(c, "table");
    let name = str_of(c, "name");
    let base = c.get("hook").and_then(Value::as_str).map(|hook| {
        let hook = match hook {
            "forward" => Hook::Forward,
            "output" => Hook::Output,
            _ => Hook::Other,
        };
        // Only filter chains filter; nat and route chains are out of scope.
        let hook = if str_of(c, "type") == "filter" {
            hook
        } else {
            Hook::Other
        };
        let priority = c
            .get("prio")
            .and_then(Value::as_i64)
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or(0);
        let policy = match str_of(c, "policy").as_str() {
            "drop" => Action::Drop,
            _ => Action::Accept,
        };
        Base {
            hook,
            priority,
            policy_origin: Origin::Nftables {
                file: file.to_owned(),
                text: format!(
                    "policy {}",
                    if policy == Action::Drop {
                        "drop"
                    } else {
                        "accept"
                    }
                ),
                table: format!("{fam} {table}"),
                chain: name.clone(),
                slot: Slot::Policy,
            },
            policy,
        }
    });
    Chain {
        // Tables are named with their family: `ip filter` and `ip6 filter` differ.
        table: format!("{fam} {table}"),
        family: family_of(&fam),
        name,
        base,
        rules: Vec::new(),
    }
}

struct Ctx<'a> {
    named: &'a HashMap<(String, String, String), Named>,
    family: String,
    table: String,
}

fn rule(file: &str, r: &Value, ctx: &Ctx<'_>, warnings: &mut Vec<String>) -> Rule {
    let exprs: &[Value] = r.get("expr").and_then(Value::as_array).unwrap_or(&[]);
    let mut matches = Vec::new();
    let mut act = Action::Continue;
    let mut text = Vec::new();
    for e in exprs {
        text.push(render_stmt(e));
        if let Some(m) = e.get("match") {
            match condition(m, ctx) {
                Ok(mut ms) => {
                    if let Some(Match::Share(what)) =
                        ms.iter().find(|m| matches!(m, Match::Share(_)))
                    {
                        warnings.push(format!("{file}: a rule matches a random share of packets ({what}): loss, not a block; it decides no path"));
                    }
                    matches.append(&mut ms)
                }
                Err(what) => {
                    warnings.push(format!("{file}: {what}"));
                    matches.push(Match::Unknown(what));
                }
            }
            continue;
        }
        if let Some(v) = e.get("vmap") {
            act = match vmap(v, ctx) {
                Ok(a) => a,
                Err(what) => {
                    warnings.push(format!("{file}: {what}"));
                    Action::Unknown(what)
                }
            };
            continue;
        }
        if e.get("limit").is_some() {
            let what = format!("limit {}", render_expr(&e["limit"]));
            warnings.push(format!("{file}: a rule matches at a rate ({what}): rate limiting, not a block; it decides no path"));
            matches.push(Match::Share(what));
            continue;
        }
        match action(e) {
            Ok(Action::Continue) => {}
            Ok(a) => act = a,
            Err(what) => {
                // A statement that is neither a match nor a verdict we know (limit,
                // queue, xt): unknown if it decides or filters.
                warnings.push(format!("{file}: {what}"));
                matches.push(Match::Unknown(what));
            }
        }
    }
    Rule {
        matches,
        action: act,
        origin: Origin::Nftables {
            file: file.to_owned(),
            text: text
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
            table: format!("{} {}", ctx.family, ctx.table),
            chain: str_of(r, "chain"),
            slot: Slot::Rule(r.get("handle").and_then(Value::as_u64)),
        },
    }
}

/// A verdict statement; `Continue` for statements that decide nothing (counter, log,
/// comment, NAT: out of scope); `Err` for what is not modelled.
fn action(e: &Value) -> Result<Action, String> {
    let Some((k, v)) = e.as_object().and_then(<[_]>::first) else {
        return Err(format!("statement {e}"));
    };
    Ok(match k.as_ref() {
        "accept" => Action::Accept,
        "drop" => Action::Drop,
        "reject" => Action::Reject,
        "return" => Action::Return,
        "continue" => Action::Continue,
        "jump" => Action::Jump(str_of(v, "target")),
        "goto" => Action::Goto(str_of(v, "target")),
        "counter" | "log" | "comment" | "masquerade" | "snat" | "dnat" | "redirect" | "notrack"
        | "mangle" | "quota" | "set" | "ct count" => Action::Continue,
        other => return Err(format!("statement `{other}` (not modelled)")),
    })
}

/// The family or protocol a payload expression implies, whatever its field.
fn implied_by(left: &Value) -> Option<Match> {
    let proto = str_of(left.get("payload")?, "protocol");
    let n = match proto.as_str() {
        "ip" => return Some(Match::Family(Family::Ipv4)),
        "ip6" => return Some(Match::Family(Family::Ipv6)),
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "icmpv6" => 58,
        "sctp" => 132,
        _ => return None,
    };
    Some(Match::Fields(Condition::is(Dim::L4Proto, Values::one(n))))
}

/// A field an expression reads, with the family and protocol it implies.
fn field(left: &Value) -> Result<(Vec<Match>, Dim), String> {
    if let Some(p) = left.get("payload") {
        let proto = str_of(p, "protocol");
        let f = str_of(p, "field");
        let mut implied = Vec::new();
        let dim = match (proto.as_str(), f.as_str()) {
            ("ip", "saddr") | ("ip6", "saddr") => Dim::SrcAddr,
            ("ip", "daddr") | ("ip6", "daddr") => Dim::DstAddr,
            ("ip", "protocol") | ("ip6", "nexthdr") => Dim::L4Proto,
            ("tcp" | "udp" | "th" | "sctp", "sport") => Dim::SrcPort,
            ("tcp" | "udp" | "th" | "sctp", "dport") => Dim::DstPort,
            _ => return Err(format!("match on {proto} {f} (not modelled)")),
        };
        if let Some(fam) = family_of(&proto) {
            implied.push(Match::Family(fam));
        }
        match proto.as_str() {
            "tcp" => implied.push(Match::Fields(Condition::is(Dim::L4Proto, Values::one(6)))),
            "udp" => implied.push(Match::Fields(Condition::is(Dim::L4Proto, Values::one(17)))),
            "sctp" => implied.push(Match::Fields(Condition::is(Dim::L4Proto, Values::one(132)))),
            _ => {}
        }
        return Ok((implied, dim));
    }
    if let Some(m) = left.get("meta") {
        return match str_of(m, "key").as_str() {
            "l4proto" => Ok((Vec::new(), Dim::L4Proto)),
            // By name or by index, the JSON names the interface.
            "iifname" | "iif" => Ok((Vec::new(), Dim::InIface)),
            "oifname" | "oif" => Ok((Vec::new(), Dim::OutIface)),
            other => Err(format!("match on meta {other} (not modelled)")),
        };
    }
    Err(format!("match on {} (not modelled)", render_expr(left)))
}

fn condition(m: &Value, ctx: &Ctx<'_>) -> Result<Vec<Match>, String> {
    let op = str_of(m, "op");
    let (left, right) = (&m["left"], &m["right"]);
    let negated = match op.as_str() {
        "==" | "in" => false,
        "!=" => true,
        "<" | ">" | "<=" | ">=" => false,
        other => return Err(format!("operator {other}")),
    };
    // Conntrack state: the first packet of a connection is `new`.
    if left.get("ct").is_some_and(|c| str_of(c, "key") == "state") {
        let states: Vec<String> = match right {
            Value::Str(s) => vec![s.to_string()],
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Value::Object(_) if right.get("set").is_some() => right["set"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => return Err(format!("ct state {right}")),
        };
        let new = states.iter().any(|s| s == "new");
        return Ok(vec![Match::NewConnection(new != negated)]);
    }
    // The family: `meta nfproto ipv4`.
    if left
        .get("meta")
        .is_some_and(|c| str_of(c, "key") == "nfproto")
    {
        let fam = match right.as_str() {
            Some("ipv4") => Family::Ipv4,
            Some("ipv6") => Family::Ipv6,
            _ => return Err(format!("meta nfproto {right}")),
        };
        let other = if fam == Family::Ipv4 {
            Family::Ipv6
        } else {
            Family::Ipv4
        };
        return Ok(vec![Match::Family(if negated { other } else { fam })]);
    }
    // A random share of packets: loss, not a block.
    if left.get("numgen").is_some() {
        return Ok(vec![Match::Share(format!(
            "numgen {} {op} {right}",
            render_expr(&left["numgen"])
        ))]);
    }
    // The loopback interface: the loopback addresses.
    if let Some(key) = left.get("meta").map(|m| str_of(m, "key")) {
        if (key == "oifname" || key == "iifname") && right.as_str() == Some("lo") {
            let d = if key == "oifname" {
                Dim::DstAddr
            } else {
                Dim::SrcAddr
            };
            let c = if negated {
                Condition::is_not(d, loopback())
            } else {
                Condition::is(d, loopback())
            };
            return Ok(vec![Match::Fields(c)]);
        }
    }
    // A concatenation: `ip daddr . udp dport @set`.
    let parts: Vec<&Value> = match left.get("concat").and_then(Value::as_array) {
        Some(a) => a.iter().collect(),
        None => vec![left],
    };
    let mut out = Vec::new();
    let mut dims = Vec::new();
    for p in parts {
        let (mut implied, d) = match field(p) {
            Ok(f) => f,
            // A field not modelled still says which packets it can be about: `icmpv6
            // type ...` is no UDP packet's, `ip dscp ...` no IPv6 packet's.
            Err(what) => {
                return Ok(implied_by(p)
                    .into_iter()
                    .chain([Match::Unknown(what)])
                    .collect())
            }
        };
        out.append(&mut implied);
        dims.push(d);
    }
    let mut elements = match right.as_str() {
        Some(name) if name.starts_with('@') => {
            let key = (ctx.family.clone(), ctx.table.clone(), name[1..].to_owned());
            let set = ctx
                .named
                .get(&key)
                .ok_or_else(|| format!("set {name} is not listed"))?;
            set.elements.iter().map(|(v, _)| v.clone()).collect()
        }
        _ => {
            let values: Vec<&Value> = match right.get("set").and_then(Value::as_array) {
                Some(a) => a.iter().collect(),
                None => vec![right],
            };
            let names = interfaces(&dims);
            values
                .into_iter()
                .map(|v| element(v, &names))
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    // Comparisons: `tcp dport < 1024` and the like.
    if matches!(op.as_str(), "<" | ">" | "<=" | ">=") {
        let [one] = elements.as_slice() else {
            return Err(format!("{op} on a set"));
        };
        let v = one
            .first()
            .and_then(|v| v.0.first())
            .map(|p| p.0)
            .ok_or("an empty value")?;
        let range = match op.as_str() {
            "<" => (0, v.checked_sub(1).ok_or("< 0")?),
            "<=" => (0, v),
            ">" => (v + 1, u128::MAX),
            _ => (v, u128::MAX),
        };
        elements = vec![vec![Values(vec![range])]];
    }
    for el in &elements {
        if el.len() != dims.len() {
            return Err(format!(
                "a set of {} fields matched against {} fields",
                el.len(),
                dims.len()
            ));
        }
    }
    out.push(Match::Fields(Condition {
        dims,
        elements,
        negated,
    }));
    Ok(out)
}

fn vmap(v: &Value, ctx: &Ctx<'_>) -> Result<Action, String> {
    let left = &v["key"];
    let parts: Vec<&Value> = match left.get("concat").and_then(Value::as_array) {
        Some(a) => a.iter().collect(),
        None => vec![left],
    };
    let mut key = Vec::new();
    for p in parts {
        // The implied family and protocol of a map's key cannot be required of the
        // whole rule: a map on `udp dport` simply has no entry for TCP.
        let (_, d) = field(p)?;
        key.push(d);
    }
    let data = &v["data"];
    let entries = if let Some(name) = data.as_str().filter(|n| n.starts_with('@')) {
        let k = (ctx.family.clone(), ctx.table.clone(), name[1..].to_owned());
        let map = ctx
            .named
            .get(&k)
            .ok_or_else(|| format!("map {name} is not listed"))?;
        map.elements
            .iter()
            .map(|(vals, a)| {
                Ok((
                    vals.clone(),
                    a.clone().ok_or("a map element without a verdict")?,
                ))
            })
            .collect::<Result<Vec<_>, String>>()?
    } else {
        let list = data
            .get("set")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("verdict map {data}"))?;
        let mut entries = Vec::new();
        for pair in list {
            let pair = pair
                .as_array()
                .filter(|p| p.len() == 2)
                .ok_or("a map entry")?;
            entries.push((element(&pair[0], &interfaces(&key))?, action(&pair[1])?));
        }
        entries
    };
    Ok(Action::Map { key, entries })
}

/// Which of the fields are interface names (their values are names, not addresses).
fn interfaces(dims: &[Dim]) -> Vec<bool> {
    dims.iter().map(|d| d.is_interface()).collect()
}

/// Which fields of a named set's `type` (`"ifname"`, or a list for a concatenation)
/// are interface names.
fn set_interfaces(set: &Value) -> Vec<bool> {
    match &set["type"] {
        Value::Array(a) => a.iter().map(|t| t.as_str() == Some("ifname")).collect(),
        t => vec![t.as_str() == Some("ifname")],
    }
}

/// One set element or match value, as a set per field (one field unless a
/// concatenation); `names[i]` says field `i` is an interface name.
fn element(v: &Value, names: &[bool]) -> Result<Vec<Values>, String> {
    if let Some(inner) = v.get("elem") {
        return element(&inner["val"], names);
    }
    if let Some(parts) = v.get("concat").and_then(Value::as_array) {
        if parts.is_empty() {
            return Err("an empty concatenation".into());
        }
        return parts
            .iter()
            .enumerate()
            .map(|(i, p)| element(p, &names[i.min(names.len())..]).map(|mut e| e.remove(0)))
            .collect();
    }
    if names.first() == Some(&true) {
        return Ok(vec![Values::new(vec![interface(v)?])]);
    }
    Ok(vec![Values::new(vec![value(v)?])])
}

/// An interface name as an interval of [`crate::audit::ir::ifname`] numbers: one name,
/// or with a trailing `*` every name starting with what comes before it (`\*` is a
/// star in the name).
fn interface(v: &Value) -> Result<(u128, u128), String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("interface name {v} (not a string)"))?;
    let (stem, prefix) = match s.strip_suffix('*') {
        Some(stem) if !stem.ends_with('\\') => (stem.to_owned(), true),
        _ => (s.replace("\\*", "*"), false),
    };
    ifname_range(&stem, prefix).ok_or_else(|| format!("interface name {s:?}: 1 to 15 characters"))
}

/// One value as an interval: a number, an address, a prefix, a range, a protocol or
/// service name.
fn value(v: &Value) -> Result<(u128, u128), String> {
    if let Some(n) = v.as_u64() {
        return Ok((u128::from(n), u128::from(n)));
    }
    if let Some(s) = v.as_str() {
        if let Ok(ip) = s.parse::<IpAddr>() {
            let x = addr(ip);
            return Ok((x, x));
        }
        let n = protocol_number(s)
            .or_else(|| service_port(s))
            .ok_or_else(|| format!("value {s:?} (not modelled)"))?;
        return Ok((n, n));
    }
    if let Some(p) = v.get("prefix") {
        let ip: IpAddr = str_of(p, "addr")
            .parse()
            .map_err(|_| format!("prefix {p}"))?;
        let len = p
            .get("len")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("prefix {p}"))?;
        return u32::try_from(len)
            .ok()
            .and_then(|len| prefix(ip, len))
            .ok_or_else(|| format!("prefix length {len}"));
    }
    if let Some(r) = v.get("range").and_then(Value::as_array) {
        if r.len() == 2 {
            let (a, _) = value(&r[0])?;
            let (_, b) = value(&r[1])?;
            return Ok((a, b));
        }
    }
    Err(format!("value {v} (not modelled)"))
}

fn render_expr(e: &Value) -> String {
    if let Some(p) = e.get("payload") {
        return format!("{} {}", str_of(p, "protocol"), str_of(p, "field"));
    }
    for k in ["meta", "ct"] {
        if let Some(m) = e.get(k) {
            return format!("{k} {}", str_of(m, "key"));
        }
    }
    if let Some(parts) = e.get("concat").and_then(Value::as_array) {
        return parts
            .iter()
            .map(render_expr)
            .collect::<Vec<_>>()
            .join(" . ");
    }
    if let Some(p) = e.get("prefix") {
        return format!("{}/{}", str_of(p, "addr"), p["len"]);
    }
    if let Some(r) = e.get("range").and_then(Value::as_array) {
        return r.iter().map(render_expr).collect::<Vec<_>>().join("-");
    }
    if let Some(s) = e.get("set").and_then(Value::as_array) {
        return format!(
            "{{ {} }}",
            s.iter().map(render_expr).collect::<Vec<_>>().join(", ")
        );
    }
    match e {
        Value::Str(s) => s.to_string(),
        Value::Array(a) => a.iter().map(render_expr).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn render_stmt(e: &Value) -> String {
    if let Some(m) = e.get("match") {
        let op = str_of(m, "op");
        let op = if op == "==" || op == "in" {
            String::new()
        } else {
            format!("{op} ")
        };
        return format!(
            "{} {op}{}",
            render_expr(&m["left"]),
            render_expr(&m["right"])
        );
    }
    if let Some(v) = e.get("vmap") {
        return format!(
            "{} vmap {}",
            render_expr(&v["key"]),
            render_expr(&v["data"])
        );
    }
    match e.as_object().and_then(<[_]>::first) {
        Some((k, _)) if k == "counter" || k == "comment" => String::new(),
        Some((k, v)) if k == "jump" || k == "goto" => format!("{k} {}", str_of(v, "target")),
        Some((k, _)) => k.to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `nft -j list ruleset` of one `inet lab` table: items are JSON objects as nft
    /// 1.0.6 writes them.
    fn ruleset(items: &[&str]) -> String {
        format!(
            r#"{{"nftables": [{{"metainfo": {{"version": "1.0.6", "json_schema_version": 1}}}}, {{"table": {{"family": "inet", "name": "lab", "handle": 1}}}}, {}]}}"#,
            items.join(", ")
        )
    }

    const FORWARD_DROP: &str = r#"{"chain": {"family": "inet", "table": "lab", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}"#;
    const NAT: &str = r#"{"chain": {"family": "inet", "table": "lab", "name": "post", "handle": 2, "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}}"#;
    const UDP_DROP: &str = r#"{"rule": {"family": "inet", "table": "lab", "chain": "forward", "handle": 7, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "udp"}}, {"drop": null}]}}"#;

    #[test]
    fn bad_documents_are_errors_that_say_where() {
        let cases: &[(&str, &str)] = &[
            ("{\"nftables\": [\n{", "t.json:2: not JSON"),
            ("{\"rules\": []}", "t.json:1: no \"nftables\" array"),
            ("[]", "t.json:1: no \"nftables\" array"),
        ];
        for (text, want) in cases {
            let e = read("t.json", text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{text}: {e}");
        }
    }

    #[test]
    fn base_chains_rules_and_their_origins() {
        let rs = read("r.json", &ruleset(&[FORWARD_DROP, NAT, UDP_DROP])).unwrap();
        assert!(rs.warnings.is_empty(), "{:?}", rs.warnings);
        assert_eq!(rs.described, vec![Family::Ipv4, Family::Ipv6]);
        let fwd = &rs.chains[0];
        assert_eq!(
            (fwd.table.as_str(), fwd.name.as_str()),
            ("inet lab", "forward")
        );
        assert_eq!(fwd.family, None);
        let base = fwd.base.as_ref().unwrap();
        assert_eq!(
            (base.hook, base.policy.clone()),
            (Hook::Forward, Action::Drop)
        );
        assert_eq!(
            base.policy_origin.to_string(),
            "r.json table inet lab chain forward: policy drop"
        );
        // A NAT chain filters nothing: its hook is not one the audit evaluates.
        assert_eq!(rs.chains[1].base.as_ref().unwrap().hook, Hook::Other);
        let rule = &fwd.rules[0];
        assert_eq!(rule.action, Action::Drop);
        assert_eq!(rule.origin.handle(), Some(7));
        assert_eq!(
            rule.origin.to_string(),
            "r.json table inet lab chain forward handle 7: meta l4proto udp drop"
        );
    }

    #[test]
    fn what_is_not_understood_is_named_where_it_decides() {
        let queue = |chain: &str| {
            format!(
                r#"{{"rule": {{"family": "inet", "table": "lab", "chain": "{chain}", "expr": [{{"queue": {{"num": 1}}}}]}}}}"#
            )
        };
        let cases: &[(&str, usize)] = &[
            // In a filter chain: a warning, and the rule's verdict is unknown.
            ("forward", 1),
            // In a NAT chain: kept, but it decides nothing the audit asks.
            ("post", 0),
            // A chain that is not listed: the rule cannot be placed.
            ("missing", 1),
        ];
        for (chain, warnings) in cases {
            let rs = read("r.json", &ruleset(&[FORWARD_DROP, NAT, &queue(chain)])).unwrap();
            assert_eq!(rs.warnings.len(), *warnings, "{chain}: {:?}", rs.warnings);
        }
        let rs = read("r.json", &ruleset(&[FORWARD_DROP, &queue("forward")])).unwrap();
        // The statement is neither a known match nor verdict: the rule's outcome is
        // unknown, never a match or a miss.
        assert!(rs.chains[0].rules[0]
            .matches
            .iter()
            .any(|m| matches!(m, Match::Unknown(w) if w.contains("queue"))));
        // Without a handle (hand-written JSON) a rule is still a rule, not a policy.
        assert_eq!(rs.chains[0].rules[0].origin.handle(), None);
        assert!(rs.chains[0].rules[0]
            .origin
            .to_string()
            .contains(" handle 0: "));
    }
}
