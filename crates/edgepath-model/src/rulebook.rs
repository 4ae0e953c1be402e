//! The rules `check` (the probe) and `audit` (the policy lens) both apply, in one place
//! so that neither can drift from the other: which services both ask about, the order
//! in which a client falls back from one media path to the next, which of several
//! families' paths counts, and what a VPN tunnel does to media. Each rule has its table
//! test here; the lenses only feed it what they found.

use crate::service::ServiceId;
use crate::vocab::{MediaPath, Status};

/// The services a client reaches over TCP 443, which both lenses ask about (the A/V
/// edge, the relays, is asked per modality instead).
pub const SERVICES_OVER_TCP_443: [ServiceId; 5] = [
    ServiceId::Sip,
    ServiceId::WebServices,
    ServiceId::DataEdge,
    ServiceId::Ews,
    ServiceId::OfficeWebApps,
];

/// The path a client ends on, given which ways to the relay work: UDP first, then TCP
/// 443 directly, then TCP 443 through the proxy (DOMAIN.md section 5).
pub fn path_from(udp: bool, tcp_direct: bool, tcp_proxy: bool) -> MediaPath {
    if udp {
        MediaPath::RelayUdp
    } else if tcp_direct {
        MediaPath::RelayTcp
    } else if tcp_proxy {
        MediaPath::RelayTcpProxy
    } else {
        MediaPath::None
    }
}

/// A path's place on the ladder, 0 the best; peer-to-peer UDP counts as UDP to the relay
/// (the client needs the relay whenever the peer is out of reach).
pub fn rank(p: MediaPath) -> usize {
    let p = if p == MediaPath::P2pUdp {
        MediaPath::RelayUdp
    } else {
        p
    };
    MediaPath::LADDER
        .iter()
        .position(|x| *x == p)
        .unwrap_or(MediaPath::LADDER.len())
}

/// The best of the paths several families give: a client with both uses whichever
/// works best (ICE tries every candidate). `None` when there are none.
pub fn best_path(paths: impl IntoIterator<Item = MediaPath>) -> Option<MediaPath> {
    paths.into_iter().min_by_key(|p| rank(*p))
}

/// The status of media that a VPN tunnel carries: degraded at best, whatever path it
/// takes (the hairpin through the company adds delay and load, and often a proxy).
pub fn status_through_tunnel(status: Status) -> Status {
    match status {
        Status::Good => Status::Degraded,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ladder_a_client_falls_down() {
        use MediaPath::*;
        let cases = [
            ((true, true, true), RelayUdp),
            ((true, false, false), RelayUdp),
            ((false, true, true), RelayTcp),
            ((false, false, true), RelayTcpProxy),
            ((false, false, false), None),
        ];
        for ((udp, tcp, proxy), want) in cases {
            assert_eq!(path_from(udp, tcp, proxy), want, "{udp} {tcp} {proxy}");
            assert_eq!(want.base_status(), path_from(udp, tcp, proxy).base_status());
        }
    }

    #[test]
    fn the_best_family_and_the_tunnel() {
        use MediaPath::*;
        assert_eq!(best_path([None, RelayTcp]), Some(RelayTcp));
        assert_eq!(
            best_path([RelayTcpProxy, RelayUdp, RelayTcp]),
            Some(RelayUdp)
        );
        assert_eq!(best_path([P2pUdp, RelayTcp]), Some(P2pUdp));
        assert_eq!(best_path([]), Option::None);
        assert!(rank(P2pUdp) == rank(RelayUdp) && rank(RelayUdp) < rank(None));
        let cases = [
            (Status::Good, Status::Degraded),
            (Status::Degraded, Status::Degraded),
            (Status::Failing, Status::Failing),
        ];
        for (before, after) in cases {
            assert_eq!(status_through_tunnel(before), after);
        }
    }
}
