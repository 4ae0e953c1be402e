//! Microsoft 365 endpoint data: the JSON of the "Microsoft 365 IP address and
//! URL web service" (`/endpoints/{instance}`), read strictly with errors that
//! name the JSON path, and the address categories resolved across sets.
//!
//! We walk a `serde_json::Value` by hand instead of deriving `Deserialize`:
//! that keeps every shape error pointed at its path (`[3].ips[2]`) without an
//! extra crate, and lets unknown fields Microsoft may add pass untouched.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::ports::{PortError, PortSet};

/// Microsoft's connectivity category of an endpoint set. Ordered so that the
/// highest wins: `Optimize > Allow > Default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Needed, but tolerant of proxies and inspection.
    Default,
    /// Needed and sensitive to latency; should bypass inspection.
    Allow,
    /// Most sensitive: real-time media; send directly, never through a proxy.
    Optimize,
}

impl Category {
    /// The name as Microsoft writes it.
    pub fn name(self) -> &'static str {
        match self {
            Category::Default => "Default",
            Category::Allow => "Allow",
            Category::Optimize => "Optimize",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "Default" => Some(Category::Default),
            "Allow" => Some(Category::Allow),
            "Optimize" => Some(Category::Optimize),
            _ => None,
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Category {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One endpoint set of Microsoft's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointSet {
    /// Microsoft's stable id of the set (11 = Skype/Teams media relays, ...).
    pub id: u32,
    /// `Exchange`, `SharePoint`, `Skype` or `Common`.
    pub service_area: String,
    /// The area's display name, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_area_display_name: Option<String>,
    /// Connectivity category.
    pub category: Category,
    /// Whether Microsoft marks the set as required for the service to work.
    pub required: bool,
    /// Whether the set is reachable over ExpressRoute.
    pub express_route: bool,
    /// Host names and wildcards (`*.lync.com`), lower case.
    pub urls: Vec<String>,
    /// Address ranges, IPv4 and IPv6, normalised to their network address.
    #[serde(serialize_with = "ser_nets")]
    pub ips: Vec<IpNet>,
    /// Destination TCP ports.
    pub tcp_ports: PortSet,
    /// Destination UDP ports.
    pub udp_ports: PortSet,
    /// Microsoft's notes, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

fn ser_nets<S: Serializer>(nets: &[IpNet], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(nets.iter().map(ToString::to_string))
}

/// Why endpoint data could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The text is not JSON at all.
    #[error("not valid JSON at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's description.
        message: String,
    },
    /// JSON, but not of the shape Microsoft's web service returns.
    #[error("at {path}: {message}")]
    Shape {
        /// JSON path of the offending value, e.g. `[3].ips[2]`.
        path: String,
        /// What was wrong there.
        message: String,
    },
    /// A valid document that lists no endpoint set.
    #[error("the endpoint data lists no endpoint set (an empty array)")]
    Empty,
}

/// A note about something in the data that was accepted but changed or odd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointWarning {
    /// JSON path of the value concerned.
    pub path: String,
    /// What was noticed and what was done.
    pub message: String,
}

/// A whole endpoint document: every set, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointData {
    sets: Vec<EndpointSet>,
    warnings: Vec<EndpointWarning>,
}

impl EndpointData {
    /// Reads the web service's JSON (an array of endpoint sets).
    pub fn parse(json: &str) -> Result<Self, EndpointError> {
        let value: Value = serde_json::from_str(json).map_err(|e| EndpointError::Syntax {
            line: e.line(),
            column: e.column(),
            message: strip_position(&e.to_string()),
        })?;
        Self::from_value(&value)
    }

    /// Reads endpoint sets from an already parsed JSON value.
    pub fn from_value(value: &Value) -> Result<Self, EndpointError> {
        let Value::Array(items) = value else {
            return Err(shape(
                "$",
                format!(
                    "expected an array of endpoint sets, found {}",
                    kind_of(value)
                ),
            ));
        };
        if items.is_empty() {
            return Err(EndpointError::Empty);
        }
        let mut data = EndpointData {
            sets: Vec::with_capacity(items.len()),
            warnings: Vec::new(),
        };
        let mut seen = BTreeSet::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("[{i}]");
            let set = read_set(item, &path, &mut data.warnings)?;
            if !seen.insert(set.id) {
                return Err(shape(
                    &format!("{path}.id"),
                    format!("endpoint set id {} appears twice", set.id),
                ));
            }
            data.sets.push(set);
        }
        Ok(data)
    }

    /// The endpoint sets, in document order.
    pub fn sets(&self) -> &[EndpointSet] {
        &self.sets
    }

    /// The set with Microsoft's id `id`.
    pub fn set(&self, id: u32) -> Option<&EndpointSet> {
        self.sets.iter().find(|s| s.id == id)
    }

    /// Things accepted but worth a look (normalised CIDRs and the like).
    pub fn warnings(&self) -> &[EndpointWarning] {
        &self.warnings
    }

    /// Whether any set belongs to the `Skype` service area (Skype for Business
    /// Online / Teams). Data without it cannot describe a client's needs.
    pub fn has_skype_area(&self) -> bool {
        self.sets.iter().any(|s| s.service_area == "Skype")
    }

    /// Every listed address range with the highest category any set gives it
    /// and the ids of those sets, sorted by network.
    pub fn address_table(&self) -> Vec<AddressEntry> {
        let mut table: Vec<AddressEntry> = Vec::new();
        for set in &self.sets {
            for net in &set.ips {
                match table.iter_mut().find(|e| e.net == *net) {
                    Some(e) => {
                        e.category = e.category.max(set.category);
                        e.set_ids.insert(set.id);
                    }
                    None => table.push(AddressEntry {
                        net: *net,
                        category: set.category,
                        set_ids: BTreeSet::from([set.id]),
                    }),
                }
            }
        }
        table.sort_by_key(|e| e.net);
        table
    }

    /// The highest category of any set whose ranges contain `ip`, or `None`
    /// when no set lists it.
    pub fn category_of(&self, ip: IpAddr) -> Option<Category> {
        self.sets
            .iter()
            .filter(|s| s.ips.iter().any(|n| n.contains(&ip)))
            .map(|s| s.category)
            .max()
    }
}

/// One address range and the category it ends up with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressEntry {
    /// The range.
    #[serde(serialize_with = "ser_net")]
    pub net: IpNet,
    /// The highest category among the sets that list it.
    pub category: Category,
    /// The sets that list it.
    pub set_ids: BTreeSet<u32>,
}

fn ser_net<S: Serializer>(net: &IpNet, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(net)
}

fn shape(path: &str, message: impl Into<String>) -> EndpointError {
    EndpointError::Shape {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// serde_json appends " at line L column C"; we report those separately.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn read_set(
    item: &Value,
    path: &str,
    warnings: &mut Vec<EndpointWarning>,
) -> Result<EndpointSet, EndpointError> {
    let Value::Object(obj) = item else {
        return Err(shape(
            path,
            format!("expected an endpoint set object, found {}", kind_of(item)),
        ));
    };
    let id_path = format!("{path}.id");
    let id = match obj.get("id") {
        Some(Value::Number(n)) => {
            n.as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| {
                    shape(
                        &id_path,
                        format!("id {n} is not a whole number 0-4294967295"),
                    )
                })?
        }
        Some(other) => {
            return Err(shape(
                &id_path,
                format!("expected a number, found {}", kind_of(other)),
            ))
        }
        None => return Err(shape(path, "endpoint set has no `id`")),
    };
    let service_area = req_str(obj, "serviceArea", path)?.to_owned();
    let category_text = req_str(obj, "category", path)?;
    let category = Category::parse(category_text).ok_or_else(|| {
        shape(
            &format!("{path}.category"),
            format!("unknown category `{category_text}` (Optimize, Allow or Default)"),
        )
    })?;
    let urls = opt_str_array(obj, "urls", path)?
        .into_iter()
        .map(|(p, u)| read_url(&u, &p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ips = Vec::new();
    for (p, text) in opt_str_array(obj, "ips", path)? {
        ips.push(read_net(&text, &p, warnings)?);
    }
    let tcp_ports = opt_ports(obj, "tcpPorts", path)?;
    let udp_ports = opt_ports(obj, "udpPorts", path)?;
    if tcp_ports.is_empty() && udp_ports.is_empty() {
        warnings.push(EndpointWarning {
            path: path.to_owned(),
            message: format!("endpoint set {id} lists no TCP or UDP port"),
        });
    }
    Ok(EndpointSet {
        id,
        service_area,
        service_area_display_name: opt_str(obj, "serviceAreaDisplayName", path)?,
        category,
        required: opt_bool(obj, "required", path)?.unwrap_or(false),
        express_route: opt_bool(obj, "expressRoute", path)?.unwrap_or(false),
        urls,
        ips,
        tcp_ports,
        udp_ports,
        notes: opt_str(obj, "notes", path)?,
    })
}

fn req_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, EndpointError> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(shape(
            &format!("{path}.{key}"),
            format!("expected a string, found {}", kind_of(other)),
        )),
        None => Err(shape(path, format!("endpoint set has no `{key}`"))),
    }
}

fn opt_str(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, EndpointError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(shape(
            &format!("{path}.{key}"),
            format!("expected a string, found {}", kind_of(other)),
        )),
    }
}

fn opt_bool(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<bool>, EndpointError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(shape(
            &format!("{path}.{key}"),
            format!("expected true or false, found {}", kind_of(other)),
        )),
    }
}

/// An optional array of strings, each with its own JSON path.
fn opt_str_array(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Vec<(String, String)>, EndpointError> {
    let key_path = format!("{path}.{key}");
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let p = format!("{key_path}[{i}]");
                match v {
                    Value::String(s) => Ok((p, s.clone())),
                    other => Err(shape(
                        &p,
                        format!("expected a string, found {}", kind_of(other)),
                    )),
                }
            })
            .collect(),
        Some(other) => Err(shape(
            &key_path,
            format!("expected an array of strings, found {}", kind_of(other)),
        )),
    }
}

fn opt_ports(obj: &Map<String, Value>, key: &str, path: &str) -> Result<PortSet, EndpointError> {
    let key_path = format!("{path}.{key}");
    match obj.get(key) {
        None | Some(Value::Null) => Ok(PortSet::new()),
        Some(Value::String(s)) => PortSet::parse_list(s)
            .map_err(|e: PortError| shape(&key_path, format!("invalid port list `{s}`: {e}"))),
        Some(other) => Err(shape(
            &key_path,
            format!(
                "expected a port list string like \"80,443\", found {}",
                kind_of(other)
            ),
        )),
    }
}

fn read_url(text: &str, path: &str) -> Result<String, EndpointError> {
    let t = text.trim();
    let ok = !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'*' | b'_'));
    if !ok {
        return Err(shape(
            path,
            format!("`{text}` is not a host name or wildcard"),
        ));
    }
    Ok(t.to_ascii_lowercase())
}

fn read_net(
    text: &str,
    path: &str,
    warnings: &mut Vec<EndpointWarning>,
) -> Result<IpNet, EndpointError> {
    let t = text.trim();
    let net = match t.parse::<IpNet>() {
        Ok(n) => n,
        // A bare address is a host route.
        Err(_) => match t.parse::<IpAddr>() {
            Ok(a) => IpNet::from(a),
            Err(_) => {
                return Err(shape(
                    path,
                    format!("`{text}` is not an IPv4 or IPv6 address range (CIDR)"),
                ))
            }
        },
    };
    let trunc = net.trunc();
    if trunc != net {
        warnings.push(EndpointWarning {
            path: path.to_owned(),
            message: format!("{net} has host bits set; read as {trunc}"),
        });
    }
    Ok(trunc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> String {
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/fixtures/o365-endpoints-worldwide.json"
        );
        std::fs::read_to_string(p).expect("shared fixture present beside the project")
    }

    #[test]
    fn reads_the_real_snapshot() {
        let data = EndpointData::parse(&fixture()).unwrap();
        let relays = data.set(11).unwrap();
        assert_eq!(relays.service_area, "Skype");
        assert_eq!(relays.category, Category::Optimize);
        assert_eq!(relays.udp_ports.to_strings(), vec!["3478-3481"]);
        assert!(relays.tcp_ports.is_empty());
        let sig = data.set(12).unwrap();
        assert!(sig.urls.contains(&"*.lync.com".to_string()));
        assert_eq!(sig.tcp_ports.to_strings(), vec!["80", "443"]);
        assert!(data.has_skype_area());
        assert!(data.warnings().is_empty(), "{:?}", data.warnings());
    }

    #[test]
    fn highest_category_wins() {
        let data = EndpointData::parse(&fixture()).unwrap();
        // 52.112.0.0/14 is in set 11 (Optimize) and set 12 (Allow).
        let ip: IpAddr = "52.114.250.141".parse().unwrap();
        assert_eq!(data.category_of(ip), Some(Category::Optimize));
        let entry = data
            .address_table()
            .into_iter()
            .find(|e| e.net.to_string() == "52.112.0.0/14")
            .unwrap();
        assert_eq!(entry.category, Category::Optimize);
        assert!(entry.set_ids.contains(&11) && entry.set_ids.contains(&12));
        // An IPv6 address only set 12 (Allow) lists.
        let v6: IpAddr = "2603:1027::1".parse().unwrap();
        assert_eq!(data.category_of(v6), Some(Category::Allow));
        assert_eq!(data.category_of("192.0.2.1".parse().unwrap()), None);
    }

    fn err(json: &str) -> String {
        EndpointData::parse(json).unwrap_err().to_string()
    }

    #[test]
    fn bad_input_names_the_place() {
        assert_eq!(
            err(""),
            "not valid JSON at line 1, column 0: EOF while parsing a value"
        );
        assert!(err("{\"a\": 1}").contains("expected an array of endpoint sets, found an object"));
        assert!(err("[]").contains("no endpoint set"));
        assert!(err("[1]").starts_with("at [0]:"));
        let base = r#"{"id": 11, "serviceArea": "Skype", "category": "Optimize""#;
        assert!(err(&format!(
            "[{base}, \"ips\": [\"52.112.0.0/14\", \"300.1.1.1/8\"]}}]"
        ))
        .starts_with("at [0].ips[1]: `300.1.1.1/8` is not"));
        assert!(err(&format!("[{base}, \"udpPorts\": \"3478,,3479\"}}]"))
            .starts_with("at [0].udpPorts: invalid port list"));
        assert!(
            err(&format!("[{base}, \"udpPorts\": 3478}}]")).contains("expected a port list string")
        );
        assert!(
            err(r#"[{"id": 1, "serviceArea": "Skype", "category": "Fast"}]"#)
                .contains("unknown category `Fast`")
        );
        assert!(
            err(r#"[{"id": -1, "serviceArea": "Skype", "category": "Allow"}]"#)
                .starts_with("at [0].id:")
        );
        assert!(err(&format!(
            "[{base}, \"tcpPorts\": \"443\"}}, {base}, \"tcpPorts\": \"443\"}}]"
        ))
        .contains("appears twice"));
        assert!(err(&format!("[{base}, \"urls\": [\"bad host\"]}}]")).starts_with("at [0].urls[0]"));
    }

    #[test]
    fn host_bits_are_normalised_with_a_warning() {
        let data = EndpointData::parse(
            r#"[{"id": 11, "serviceArea": "Skype", "category": "Optimize",
                 "ips": ["52.112.1.2/14", "2603:1063::1"], "udpPorts": "3478"}]"#,
        )
        .unwrap();
        assert_eq!(data.sets()[0].ips[0].to_string(), "52.112.0.0/14");
        assert_eq!(data.sets()[0].ips[1].to_string(), "2603:1063::1/128");
        assert_eq!(data.warnings().len(), 1);
        assert_eq!(data.warnings()[0].path, "[0].ips[0]");
    }
}
