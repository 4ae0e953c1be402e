//! Name resolution through the system resolver (so `/etc/resolv.conf`, split-DNS
//! and VPN resolvers apply as they do for the client), every wait bounded.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

/// The outcome of resolving one name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolution {
    /// The name asked for.
    pub name: String,
    /// Its addresses (IPv4 first), empty on failure.
    pub addresses: Vec<IpAddr>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub ms: u64,
}

impl Resolution {
    /// Whether any address came back.
    pub fn ok(&self) -> bool {
        !self.addresses.is_empty()
    }
}

/// Resolves `name`, giving up after `timeout`.
pub async fn resolve(name: &str, timeout: Duration) -> Resolution {
    let start = Instant::now();
    let result = tokio::time::timeout(timeout, tokio::net::lookup_host((name, 0))).await;
    let ms = start.elapsed().as_millis() as u64;
    let (addresses, error) = match result {
        Err(_) => (
            Vec::new(),
            Some(format!(
                "no answer from the DNS resolver within {} ms",
                timeout.as_millis()
            )),
        ),
        Ok(Err(e)) => (Vec::new(), Some(describe(&e))),
        Ok(Ok(addrs)) => {
            let mut v: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            v.sort_by_key(|a| (a.is_ipv6(), *a));
            v.dedup();
            (v, None)
        }
    };
    Resolution {
        name: name.to_owned(),
        addresses,
        error,
        ms,
    }
}

/// getaddrinfo's errors, in words an admin can act on.
fn describe(e: &std::io::Error) -> String {
    let m = e.to_string();
    if m.contains("not known") || m.contains("No address associated") {
        "the name does not exist (NXDOMAIN) for this resolver".into()
    } else if m.contains("Temporary failure") {
        "the DNS resolver cannot be reached or did not answer".into()
    } else {
        format!("resolution failed: {m}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn localhost_resolves_and_nonsense_does_not() {
        let r = resolve("localhost", Duration::from_secs(2)).await;
        assert!(r.ok(), "{r:?}");
        let r = resolve("no-such-name.invalid", Duration::from_secs(3)).await;
        assert!(!r.ok());
        assert!(r.error.is_some());
    }
}
