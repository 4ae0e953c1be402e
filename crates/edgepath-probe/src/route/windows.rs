//! Route lookup on Windows through the IP Helper API: `GetBestRoute2` where the system
//! has it (Windows' own choice, policy included), else the routing table from
//! `GetIpForwardTable2` decided by [`super::table::best`] (Wine 8 answers
//! `GetBestRoute2` with ERROR_NOT_SUPPORTED); the interface from `GetAdaptersAddresses`
//! either way (its name, driver description and type say whether it is a tunnel).
//!
//! The only `unsafe` in the workspace: calling these functions and reading the buffers
//! they fill, each read bounded by the counts and pointers the API returns.
#![allow(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use windows_sys::Win32::Foundation::{ERROR_BUFFER_OVERFLOW, ERROR_NOT_SUPPORTED, NO_ERROR};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    FreeMibTable, GetAdaptersAddresses, GetBestRoute2, GetIpForwardTable2, GAA_FLAG_SKIP_ANYCAST,
    GAA_FLAG_SKIP_DNS_SERVER, GAA_FLAG_SKIP_MULTICAST, IP_ADAPTER_ADDRESSES_LH, MIB_IPFORWARD_ROW2,
    MIB_IPFORWARD_TABLE2,
};
use windows_sys::Win32::Networking::WinSock::{
    AF_INET, AF_INET6, AF_UNSPEC, SOCKADDR, SOCKADDR_IN, SOCKADDR_IN6, SOCKADDR_INET,
};

use super::table::{self, Adapter, TableRoute};
use super::{Query, Route, RouteError};

/// Looks up every query; one answer per query, in order.
pub fn lookup(queries: &[Query]) -> Vec<Result<Route, RouteError>> {
    let adapters = match adapters() {
        Ok(a) => a,
        Err(e) => return queries.iter().map(|_| Err(e.clone())).collect(),
    };
    // The table is read once, and only when GetBestRoute2 is missing.
    let mut table: Option<Result<Vec<TableRoute>, RouteError>> = None;
    queries
        .iter()
        .map(|q| match best_route(q.destination) {
            Ok(Some((row, source))) => {
                let mut route = table::best(&[row], &adapters, q.destination)
                    .ok_or_else(|| RouteError::NoRoute(q.destination, "no route".into()))?;
                route.source = source.or(route.source);
                Ok(route)
            }
            Ok(None) => {
                let rows = table.get_or_insert_with(forward_table).clone()?;
                table::best(&rows, &adapters, q.destination).ok_or_else(|| {
                    RouteError::NoRoute(q.destination, "no route in the routing table".into())
                })
            }
            Err(e) => Err(e),
        })
        .collect()
}

/// `GetBestRoute2`'s route and source address; `Ok(None)` where it is not supported.
fn best_route(destination: IpAddr) -> Result<Option<(TableRoute, Option<IpAddr>)>, RouteError> {
    let dst = to_sockaddr(destination);
    let mut row = MIB_IPFORWARD_ROW2::default();
    let mut source = SOCKADDR_INET::default();
    // SAFETY: every pointer is to a live local of the type the function takes; a null
    // LUID and index 0 mean "any interface", a null source "any source".
    let err = unsafe {
        GetBestRoute2(
            std::ptr::null(),
            0,
            std::ptr::null(),
            &dst,
            0,
            &mut row,
            &mut source,
        )
    };
    match err {
        NO_ERROR => Ok(Some((to_table_route(&row), from_sockaddr(&source)))),
        ERROR_NOT_SUPPORTED => Ok(None),
        e => Err(RouteError::NoRoute(
            destination,
            format!("GetBestRoute2: error {e}"),
        )),
    }
}

/// The whole routing table of both families.
fn forward_table() -> Result<Vec<TableRoute>, RouteError> {
    let mut table: *mut MIB_IPFORWARD_TABLE2 = std::ptr::null_mut();
    // SAFETY: the function allocates the table and stores its address in `table`.
    let err = unsafe { GetIpForwardTable2(AF_UNSPEC, &mut table) };
    if err != NO_ERROR || table.is_null() {
        return Err(RouteError::System(format!(
            "GetIpForwardTable2: error {err}"
        )));
    }
    // SAFETY: on success `table` points to a MIB_IPFORWARD_TABLE2 whose `Table` array
    // holds `NumEntries` rows; it is read before FreeMibTable releases it.
    let rows = unsafe {
        let n = (*table).NumEntries as usize;
        let first = std::ptr::addr_of!((*table).Table).cast::<MIB_IPFORWARD_ROW2>();
        let rows = std::slice::from_raw_parts(first, n)
            .iter()
            .map(to_table_route)
            .collect();
        FreeMibTable(table.cast());
        rows
    };
    Ok(rows)
}

fn to_table_route(row: &MIB_IPFORWARD_ROW2) -> TableRoute {
    let prefix = from_sockaddr(&row.DestinationPrefix.Prefix)
        .and_then(|a| ipnet::IpNet::new(a, row.DestinationPrefix.PrefixLength).ok())
        // A row whose prefix cannot be read matches nothing: a host route to 0.0.0.0.
        .unwrap_or_else(|| ipnet::IpNet::from(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
    TableRoute {
        prefix,
        next_hop: from_sockaddr(&row.NextHop),
        interface: row.InterfaceIndex,
        metric: row.Metric,
    }
}

/// Every adapter, with its addresses.
fn adapters() -> Result<Vec<Adapter>, RouteError> {
    let flags = GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_DNS_SERVER;
    // Microsoft's advice: start with 15 KB, grow to what the call asks for.
    let mut size: u32 = 15 * 1024;
    for _ in 0..4 {
        // u64 elements keep the buffer aligned for the structures written into it.
        let mut buf = vec![0u64; (size as usize).div_ceil(8)];
        let head = buf.as_mut_ptr().cast::<IP_ADAPTER_ADDRESSES_LH>();
        // SAFETY: `head` points to `size` writable bytes, as `size` says.
        let err = unsafe {
            GetAdaptersAddresses(
                u32::from(AF_UNSPEC),
                flags,
                std::ptr::null(),
                head,
                &mut size,
            )
        };
        match err {
            NO_ERROR => {
                let mut out = Vec::new();
                let mut p = head.cast_const();
                while !p.is_null() {
                    // SAFETY: `p` is the head or a `Next` link of the list the call
                    // wrote into `buf`, which lives until the end of this block.
                    let a = unsafe { &*p };
                    out.push(to_adapter(a));
                    p = a.Next;
                }
                return Ok(out);
            }
            ERROR_BUFFER_OVERFLOW => continue,
            e => {
                return Err(RouteError::System(format!(
                    "GetAdaptersAddresses: error {e}"
                )))
            }
        }
    }
    Err(RouteError::System(
        "GetAdaptersAddresses: the adapter list kept growing".into(),
    ))
}

fn to_adapter(a: &IP_ADAPTER_ADDRESSES_LH) -> Adapter {
    let mut addresses = Vec::new();
    let mut u = a.FirstUnicastAddress.cast_const();
    while !u.is_null() {
        // SAFETY: a link of the unicast list inside the same buffer as `a`.
        let ua = unsafe { &*u };
        // SAFETY: lpSockaddr points to iSockaddrLength bytes of a socket address.
        if let Some(ip) =
            unsafe { socket_address(ua.Address.lpSockaddr, ua.Address.iSockaddrLength) }
        {
            addresses.push(ip);
        }
        u = ua.Next;
    }
    Adapter {
        // SAFETY: IfIndex is the union's interpretation the API documents for reading.
        index_v4: unsafe { a.Anonymous1.Anonymous.IfIndex },
        index_v6: a.Ipv6IfIndex,
        // SAFETY: both are null or NUL-terminated UTF-16 strings in the buffer.
        name: unsafe { wide(a.FriendlyName) },
        description: unsafe { wide(a.Description) },
        if_type: a.IfType,
        link_address: a.PhysicalAddressLength > 0,
        addresses,
        metric_v4: a.Ipv4Metric,
        metric_v6: a.Ipv6Metric,
    }
}

/// A NUL-terminated UTF-16 string, read up to 512 units.
///
/// # Safety
/// `p` is null or points to a NUL-terminated UTF-16 string.
unsafe fn wide(p: *const u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut n = 0;
    // SAFETY: the caller's promise; the bound stops a string that lost its NUL.
    while n < 512 && unsafe { *p.add(n) } != 0 {
        n += 1;
    }
    // SAFETY: the `n` units just read.
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, n) })
}

/// A socket address of `len` bytes at `p`, when it is IPv4 or IPv6.
///
/// # Safety
/// `p` is null or points to `len` readable bytes.
unsafe fn socket_address(p: *const SOCKADDR, len: i32) -> Option<IpAddr> {
    if p.is_null() {
        return None;
    }
    let len = usize::try_from(len).ok()?;
    // SAFETY: the family is the first field of every socket address; the lengths are
    // checked before the longer structures are read.
    unsafe {
        match (*p).sa_family {
            AF_INET if len >= std::mem::size_of::<SOCKADDR_IN>() => {
                let v4 = &*p.cast::<SOCKADDR_IN>();
                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    v4.sin_addr.S_un.S_addr,
                ))))
            }
            AF_INET6 if len >= std::mem::size_of::<SOCKADDR_IN6>() => {
                let v6 = &*p.cast::<SOCKADDR_IN6>();
                Some(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.u.Byte)))
            }
            _ => None,
        }
    }
}

fn from_sockaddr(s: &SOCKADDR_INET) -> Option<IpAddr> {
    // SAFETY: si_family shares its place with the family of both variants; the variant
    // read is the one it names.
    unsafe {
        match s.si_family {
            AF_INET => Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                s.Ipv4.sin_addr.S_un.S_addr,
            )))),
            AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(s.Ipv6.sin6_addr.u.Byte))),
            _ => None,
        }
    }
}

fn to_sockaddr(ip: IpAddr) -> SOCKADDR_INET {
    let mut s = SOCKADDR_INET::default();
    match ip {
        IpAddr::V4(a) => {
            s.Ipv4 = SOCKADDR_IN {
                sin_family: AF_INET,
                ..Default::default()
            };
            s.Ipv4.sin_addr.S_un.S_addr = u32::from(a).to_be();
        }
        IpAddr::V6(a) => {
            s.Ipv6 = SOCKADDR_IN6 {
                sin6_family: AF_INET6,
                ..Default::default()
            };
            s.Ipv6.sin6_addr.u.Byte = a.octets();
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The API answers on this system (Windows, or Wine from the host's or namespace's
    /// routes): adapters with names, a routing table, and a lookup of a destination the
    /// table has a route for. What was read is printed for `--nocapture`.
    #[test]
    fn adapters_and_routes_are_read() {
        let adapters = adapters().unwrap();
        for a in &adapters {
            println!("adapter {a:?}");
        }
        assert!(adapters.iter().all(|a| !a.name.is_empty()));
        let table = forward_table().unwrap();
        for r in &table {
            println!("route {r:?}");
        }
        assert!(!table.is_empty());
        let destination = table[0].prefix.network();
        let got = lookup(&[Query {
            destination,
            protocol: 17,
            source_port: None,
            destination_port: Some(3478),
        }]);
        println!("{destination}: {got:?}");
        assert!(
            got[0].as_ref().is_ok_and(|r| r.interface.is_some()),
            "{got:?}"
        );
    }
}
