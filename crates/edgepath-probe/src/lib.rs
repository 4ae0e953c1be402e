//! edgepath's active checks, on tokio: DNS, TCP and TLS to the signalling and web
//! services (interception detection), HTTP proxies (CONNECT, 407), the relay paths
//! (UDP 3478-3481 from each modality's source range, TURN over TLS, MS pseudo-TLS and plain
//! TCP to 443, directly and through the proxy), NAT behaviour, and a media
//! stream through the relay. The protocol state machines are edgepath-wire's, driven
//! here; this crate only owns sockets and clocks.
// Denied, not forbidden: on Windows route/windows.rs calls the IP Helper API and
// registry.rs reads the registry (the only unsafe code, each module allowing it).
#![deny(unsafe_code)]

pub mod check;
pub mod cloud_proxy;
pub mod dhcp_lease;
pub mod dns;
mod driver;
pub mod error;
pub mod family;
#[doc(hidden)]
pub mod fuzzing;
pub mod ids;
pub mod nat;
pub mod pac;
pub mod proxy;
pub mod qos;
pub mod quality;
#[cfg(windows)]
mod registry;
pub mod relay;
pub mod relay_tcp;
pub mod roundtrip;
pub mod route;
pub mod system_proxy;
pub mod tls;
pub mod verdict;
pub mod vpn;
pub mod wpad;
