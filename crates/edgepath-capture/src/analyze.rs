//! The streaming analysis: one pass over the packets, a flow table keyed by the two
//! endpoints and the transport, and per flow only what the report needs (counts, the
//! first handshake bytes of TCP streams, STUN summaries, RTP statistics). Memory grows
//! with the number of flows, never with the file: TCP handshake buffers are capped and
//! dropped once read.

use std::net::IpAddr;

use edgepath_model::MediaRanges;
use edgepath_wire::demux::{self, Kind};
use edgepath_wire::ms::{parse_pseudo_tls, Multiplexed};
use edgepath_wire::rtp::{parse_rtcp, RtcpPacket, RtpHeader};
use edgepath_wire::stun::looks_like_stun;
use edgepath_wire::turn::ChannelData;

use crate::hash::FxMap;
use crate::packet::{self, Segment, Skip, Transport};
use crate::reader::Packet;
use crate::rtpstats::{RtcpReport, RtpStream};
use crate::stunflow::StunSummary;
use crate::tls::{self, ClientHello, Parse, ServerHello, MAX_HANDSHAKE};

/// RTP streams kept per flow; more are counted, not followed.
const MAX_STREAMS: usize = 16;
/// Names kept from DNS answers.
const MAX_NAMES: usize = 200_000;
/// Out-of-order TCP segments held per direction while waiting for a gap to fill.
const MAX_PENDING: usize = 8;

/// One side of a flow.
pub type Endpoint = (IpAddr, u16);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    lo: Endpoint,
    hi: Endpoint,
    transport: Transport,
}

impl Key {
    /// The same key for both directions of a flow.
    fn of(seg: &Segment<'_>) -> Key {
        let a = (seg.src, seg.sport);
        let b = (seg.dst, seg.dport);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        Key {
            lo,
            hi,
            transport: seg.transport,
        }
    }
}

/// Which flows an analysis follows: all of them, or one of `count` disjoint shares,
/// so that several threads can each read the whole capture and analyse their own
/// flows, with nothing shared and nothing locked (see [`Analyzer::merge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This share, from 0.
    pub index: u32,
    /// How many shares there are.
    pub count: u32,
}

impl Shard {
    /// Every flow.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    fn owns(self, key: &Key) -> bool {
        if self.count <= 1 {
            return true;
        }
        let mut h = crate::hash::FxHasher::default();
        std::hash::Hash::hash(key, &mut h);
        // The high bits: the flow table's buckets use the low ones, which would then
        // be the same for every key of a shard.
        ((std::hash::Hasher::finish(&h) >> 40) % u64::from(self.count)) as u32 == self.index
    }
}

/// Payload kinds seen on a flow (bit set).
pub mod kinds {
    /// STUN / TURN / MS-TURN.
    pub const STUN: u16 = 1;
    /// TURN ChannelData.
    pub const CHANNEL_DATA: u16 = 2;
    /// MS-TURN 0xFF10 multiplexed frames.
    pub const MS_MULTIPLEXED: u16 = 4;
    /// RTP.
    pub const RTP: u16 = 8;
    /// RTCP.
    pub const RTCP: u16 = 16;
    /// DTLS.
    pub const DTLS: u16 = 32;
    /// DNS.
    pub const DNS: u16 = 64;
}

/// An HTTP CONNECT tunnel through a proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// `host:port` asked for.
    pub target: String,
    /// The proxy's status code, when seen.
    pub status: Option<u16>,
}

#[derive(Debug, Default, Clone)]
struct TcpDir {
    next: Option<u32>,
    data: Vec<u8>,
    pending: Vec<(u32, Vec<u8>)>,
    done: bool,
}

impl TcpDir {
    /// Adds a segment in sequence order; returns whether new bytes arrived.
    fn add(&mut self, seq: u32, payload: &[u8]) -> bool {
        let Some(next) = self.next else {
            self.next = Some(seq.wrapping_add(payload.len() as u32));
            self.push(payload);
            return true;
        };
        let ahead = seq.wrapping_sub(next);
        if ahead == 0 {
            self.next = Some(next.wrapping_add(payload.len() as u32));
            self.push(payload);
            self.drain_pending();
            true
        } else if ahead < 0x8000_0000 {
            if self.pending.len() < MAX_PENDING {
                self.pending.push((seq, payload.to_vec()));
            }
            false
        } else {
            // A retransmission that may carry some new bytes at its end.
            let behind = next.wrapping_sub(seq) as usize;
            if behind < payload.len() {
                self.next = Some(next.wrapping_add((payload.len() - behind) as u32));
                self.push(&payload[behind..]);
                self.drain_pending();
                return true;
            }
            false
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = MAX_HANDSHAKE.saturating_sub(self.data.len());
        self.data.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn drain_pending(&mut self) {
        while let Some(i) = self.pending.iter().position(|(s, _)| Some(*s) == self.next) {
            let (_, seg) = self.pending.swap_remove(i);
            self.next = self.next.map(|n| n.wrapping_add(seg.len() as u32));
            self.push(&seg);
        }
    }
}

/// What is known about one flow.
#[derive(Debug, Clone)]
pub struct FlowState {
    /// The index of its first packet in the capture (from 0): the report's order.
    pub first_packet: u64,
    /// The side that opened it.
    pub client: Endpoint,
    /// The side it was opened to.
    pub server: Endpoint,
    /// TCP or UDP.
    pub transport: Transport,
    /// First packet, ns since the epoch.
    pub first_ns: u64,
    /// Last packet.
    pub last_ns: u64,
    /// Packets client-to-server and server-to-client.
    pub packets: [u64; 2],
    /// IP bytes both ways.
    pub bytes: [u64; 2],
    /// DSCP marks seen per direction: (value, packets), in order of first sight (at
    /// most 64 values: DSCP is six bits; one in nearly every flow).
    pub dscp: [Vec<(u8, u64)>; 2],
    /// Payload kinds seen.
    pub kinds: u16,
    /// The ClientHello, when the client spoke TLS.
    pub client_hello: Option<ClientHello>,
    /// The server's hello and chain.
    pub server_hello: Option<ServerHello>,
    /// MS-TURN pseudo-TLS on TCP 443 (TURN over TCP to a Microsoft relay).
    pub pseudo_tls: bool,
    /// A CONNECT tunnel, when the flow goes to a proxy.
    pub connect: Option<Connect>,
    /// STUN / TURN summary.
    pub stun: Option<StunSummary>,
    /// RTP streams.
    pub rtp: Vec<RtpStream>,
    /// RTP streams beyond the kept ones.
    pub rtp_overflow: u64,
    /// RTCP packets.
    pub rtcp: u64,
    /// What RTCP reports said, per reporter and source.
    pub rtcp_reports: Vec<RtcpReport>,
    /// SIP messages seen (UDP or cleartext TCP).
    pub sip: bool,
    tcp: Option<Box<[TcpDir; 2]>>,
}

/// Counters over the whole capture.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    /// Packets read.
    pub packets: u64,
    /// Captured bytes read.
    pub bytes: u64,
    /// Packets skipped: not IP.
    pub not_ip: u64,
    /// Packets skipped: not TCP or UDP.
    pub other_protocol: u64,
    /// Packets skipped: non-first fragments.
    pub fragments: u64,
    /// Packets skipped: malformed headers.
    pub malformed: u64,
    /// First and last packet time.
    pub first_ns: Option<u64>,
    /// Last packet time.
    pub last_ns: u64,
}

/// The analysis in progress.
pub struct Analyzer {
    table: FxMap<Key, u32>,
    /// Every flow, in order of first packet.
    pub flows: Vec<FlowState>,
    /// Address -> the names DNS answers gave it (several names may share an address).
    pub names: FxMap<IpAddr, Vec<String>>,
    /// Packets and bytes read, and packets not followed by reason.
    pub counters: Counters,
    ranges: MediaRanges,
    certs: tls::CertCache,
    shard: Shard,
    /// Packets seen, this shard's or not.
    seen: u64,
}

/// Ports whose side of a UDP flow is the server.
fn udp_service_port(p: u16) -> bool {
    matches!(p, 53 | 67 | 123 | 443 | 3478..=3481 | 5060 | 5061)
}

impl Analyzer {
    /// An empty analysis; `ranges` are the media source ranges (to tell the client of a
    /// media flow).
    pub fn new(ranges: MediaRanges) -> Self {
        Self::sharded(ranges, Shard::ALL)
    }

    /// An analysis of one share of the flows; it must still be given every packet.
    pub fn sharded(ranges: MediaRanges, shard: Shard) -> Self {
        Analyzer {
            table: FxMap::default(),
            flows: Vec::new(),
            names: FxMap::default(),
            counters: Counters::default(),
            ranges,
            certs: tls::CertCache::default(),
            shard,
            seen: 0,
        }
    }

    /// Takes one packet.
    pub fn packet(&mut self, p: &Packet<'_>) {
        let index = self.seen;
        self.seen += 1;
        let c = &mut self.counters;
        // Every shard sees every packet, so each knows the capture's span.
        c.first_ns.get_or_insert(p.ts_ns);
        c.last_ns = c.last_ns.max(p.ts_ns);
        let seg = match packet::decode(p.link, p.data) {
            Ok(seg) => seg,
            Err(skip) => {
                // Packets of no flow are counted by the first shard.
                if self.shard.index == 0 {
                    c.packets += 1;
                    c.bytes += p.data.len() as u64;
                    match skip {
                        Skip::NotIp => c.not_ip += 1,
                        Skip::OtherProtocol => c.other_protocol += 1,
                        Skip::Fragment => c.fragments += 1,
                        Skip::Malformed => c.malformed += 1,
                    }
                }
                return;
            }
        };
        let key = Key::of(&seg);
        if !self.shard.owns(&key) {
            // Every shard learns every name, so each classifies alike.
            self.learn_names(&seg);
            return;
        }
        c.packets += 1;
        c.bytes += p.data.len() as u64;
        self.segment(&seg, key, p.ts_ns, index);
    }

    /// The names a DNS answer gives addresses.
    fn learn_names(&mut self, seg: &Segment<'_>) {
        if seg.transport != Transport::Udp
            || !(seg.sport == 53 || seg.dport == 53)
            || self.names.len() >= MAX_NAMES
        {
            return;
        }
        if let Some((name, addrs)) = crate::dns::answers(seg.payload) {
            for addr in addrs {
                let known = self.names.entry(addr).or_default();
                if known.len() < 4 && !known.contains(&name) {
                    known.push(name.clone());
                }
            }
        }
    }

    /// A copy of the analysis so far, to report on while packets still come (a live
    /// capture's summary); it takes no packets itself.
    pub fn snapshot(&self) -> Analyzer {
        Analyzer {
            table: FxMap::default(),
            flows: self.flows.clone(),
            names: self.names.clone(),
            counters: self.counters,
            ranges: self.ranges,
            certs: tls::CertCache::default(),
            shard: Shard::ALL,
            seen: self.seen,
        }
    }

    /// One analysis from the shards that read the same capture: their flows in the
    /// order of first packet, their counts added. It takes no more packets.
    pub fn merge(shards: Vec<Analyzer>) -> Option<Analyzer> {
        let mut shards = shards.into_iter();
        let mut all = shards.next()?;
        for s in shards {
            all.flows.extend(s.flows);
            let (c, o) = (&mut all.counters, s.counters);
            c.packets += o.packets;
            c.bytes += o.bytes;
            c.not_ip += o.not_ip;
            c.other_protocol += o.other_protocol;
            c.fragments += o.fragments;
            c.malformed += o.malformed;
        }
        all.flows.sort_by_key(|f| f.first_packet);
        all.table.clear();
        all.shard = Shard::ALL;
        Some(all)
    }

    fn orientation(&self, seg: &Segment<'_>) -> bool {
        // true: the sender is the client.
        let (s, d) = (seg.sport, seg.dport);
        if let Some(t) = seg.tcp {
            if t.syn {
                return !t.ack;
            }
        }
        let service = |p: u16| match seg.transport {
            Transport::Udp => udp_service_port(p),
            Transport::Tcp => p < 1024 || (3478..=3481).contains(&p) || p == 3128 || p == 8080,
        };
        match (service(s), service(d)) {
            (false, true) => return true,
            (true, false) => return false,
            _ => {}
        }
        let media = |p: u16| self.ranges.media.contains(p);
        match (media(s), media(d)) {
            (true, false) => true,
            (false, true) => false,
            _ => true,
        }
    }

    fn segment(&mut self, seg: &Segment<'_>, key: Key, now: u64, index: u64) {
        let a = (seg.src, seg.sport);
        let b = (seg.dst, seg.dport);
        let idx = match self.table.get(&key) {
            Some(&i) => i as usize,
            None => {
                let sender_is_client = self.orientation(seg);
                let (client, server) = if sender_is_client { (a, b) } else { (b, a) };
                let i = self.flows.len();
                self.flows.push(FlowState {
                    first_packet: index,
                    client,
                    server,
                    transport: seg.transport,
                    first_ns: now,
                    last_ns: now,
                    packets: [0; 2],
                    bytes: [0; 2],
                    dscp: [Vec::new(), Vec::new()],
                    kinds: 0,
                    client_hello: None,
                    server_hello: None,
                    pseudo_tls: false,
                    connect: None,
                    stun: None,
                    rtp: Vec::new(),
                    rtp_overflow: 0,
                    rtcp: 0,
                    rtcp_reports: Vec::new(),
                    sip: false,
                    tcp: (seg.transport == Transport::Tcp).then(Default::default),
                });
                self.table.insert(key, i as u32);
                i
            }
        };
        let f = &mut self.flows[idx];
        let from_client = a == f.client;
        let d = usize::from(!from_client);
        f.packets[d] += 1;
        f.bytes[d] += seg.ip_len as u64;
        match f.dscp[d].iter_mut().find(|(v, _)| *v == seg.dscp) {
            Some((_, n)) => *n += 1,
            None => f.dscp[d].push((seg.dscp, 1)),
        }
        f.last_ns = f.last_ns.max(now);
        match seg.transport {
            Transport::Tcp => tcp_segment(f, seg, from_client, &mut self.certs),
            Transport::Udp => {
                if seg.sport == 53 || seg.dport == 53 {
                    f.kinds |= kinds::DNS;
                    self.learn_names(seg);
                } else {
                    let media_ports = seg.sport >= 1024 && seg.dport >= 1024;
                    udp_payload(f, seg.payload, from_client, now, media_ports);
                }
            }
        }
    }

    /// Closes every flow's summaries.
    pub fn finish(&mut self) {
        // Allocate answers per client endpoint, across flows: Microsoft's relays may
        // answer a request from another address of the pool.
        let mut answered: FxMap<Endpoint, Vec<[u8; 12]>> = FxMap::default();
        for f in &self.flows {
            if let Some(s) = f.stun.as_ref().filter(|s| !s.answered().is_empty()) {
                answered
                    .entry(f.client)
                    .or_default()
                    .extend_from_slice(s.answered());
            }
        }
        for f in &mut self.flows {
            if let Some(s) = &mut f.stun {
                s.finish(answered.get(&f.client).map_or(&[], Vec::as_slice));
            }
            for r in &mut f.rtp {
                r.finish();
            }
            f.tcp = None;
        }
    }
}

fn stun(f: &mut FlowState, bytes: &[u8], from_client: bool) {
    f.kinds |= kinds::STUN;
    f.stun
        .get_or_insert_with(Default::default)
        .add(bytes, from_client);
}

fn udp_payload(f: &mut FlowState, payload: &[u8], from_client: bool, now: u64, media_ports: bool) {
    match demux::classify(payload) {
        Kind::Stun
            if looks_like_stun(payload) || edgepath_wire::stun::Message::parse(payload).is_ok() =>
        {
            stun(f, payload, from_client)
        }
        Kind::ChannelData => {
            if let Ok(cd) = ChannelData::parse(payload, false) {
                f.kinds |= kinds::CHANNEL_DATA;
                media(f, cd.data(), from_client, now);
            }
        }
        Kind::MsMultiplexed => {
            if let Ok(m) = Multiplexed::parse(payload) {
                f.kinds |= kinds::MS_MULTIPLEXED;
                if looks_like_stun(m.inner()) {
                    stun(f, m.inner(), from_client);
                } else {
                    media(f, m.inner(), from_client, now);
                }
            }
        }
        Kind::Rtp | Kind::Rtcp if media_ports => media(f, payload, from_client, now),
        Kind::Dtls => f.kinds |= kinds::DTLS,
        _ => {
            if !f.sip && is_sip(payload) {
                f.sip = true;
            }
        }
    }
}

/// A SIP request or response line (RFC 3261), as on UDP/TCP 5060.
fn is_sip(payload: &[u8]) -> bool {
    const METHODS: &[&[u8]] = &[
        b"INVITE ",
        b"REGISTER ",
        b"ACK ",
        b"BYE ",
        b"CANCEL ",
        b"OPTIONS ",
        b"SUBSCRIBE ",
        b"NOTIFY ",
        b"INFO ",
        b"PRACK ",
        b"UPDATE ",
        b"MESSAGE ",
        b"REFER ",
        b"PUBLISH ",
    ];
    payload.starts_with(b"SIP/2.0 ")
        || METHODS.iter().any(|m| {
            payload.starts_with(m) && payload.windows(8).take(256).any(|w| w == b" SIP/2.0")
        })
}

fn media(f: &mut FlowState, bytes: &[u8], from_client: bool, now: u64) {
    match demux::classify(bytes) {
        Kind::Rtcp => {
            f.kinds |= kinds::RTCP;
            f.rtcp += 1;
            for p in parse_rtcp(bytes).unwrap_or_default() {
                let (RtcpPacket::SenderReport { ssrc, reports, .. }
                | RtcpPacket::ReceiverReport { ssrc, reports }) = p
                else {
                    continue;
                };
                for b in &reports {
                    RtcpReport::update(&mut f.rtcp_reports, ssrc, b, from_client);
                }
            }
        }
        Kind::Rtp => {
            let Ok(h) = RtpHeader::parse(bytes) else {
                return;
            };
            f.kinds |= kinds::RTP;
            let ssrc = h.ssrc();
            let (pt, seq, ts) = (h.payload_type(), h.sequence(), h.timestamp());
            if let Some(s) = f
                .rtp
                .iter_mut()
                .find(|s| s.ssrc_value() == ssrc && s.to_server() == from_client)
            {
                s.add(pt, seq, ts, now);
            } else if f.rtp.len() < MAX_STREAMS {
                f.rtp
                    .push(RtpStream::new(ssrc, from_client, pt, seq, ts, now));
            } else {
                f.rtp_overflow += 1;
            }
        }
        _ => {}
    }
}

fn tcp_segment(
    f: &mut FlowState,
    seg: &Segment<'_>,
    from_client: bool,
    certs: &mut tls::CertCache,
) {
    let Some(dirs) = f.tcp.as_mut() else { return };
    let Some(t) = seg.tcp else { return };
    let dir = &mut dirs[usize::from(!from_client)];
    if t.syn {
        dir.next = Some(t.seq.wrapping_add(1));
        return;
    }
    if dir.done || seg.payload.is_empty() || !dir.add(t.seq, seg.payload) {
        return;
    }
    let done = if from_client {
        client_bytes(f)
    } else {
        server_bytes(f, certs)
    };
    if let Some(dirs) = f.tcp.as_mut() {
        let dir = &mut dirs[usize::from(!from_client)];
        dir.done = done || dir.data.len() >= MAX_HANDSHAKE;
        if dir.done {
            dir.data = Vec::new();
            dir.pending = Vec::new();
        }
        if dirs[0].done && dirs[1].done {
            f.tcp = None;
        }
    }
}

/// Strips an HTTP header block (CONNECT request or its answer) off the front; returns
/// its first line, or `None` when the block is not complete yet.
fn take_http_head(data: &mut Vec<u8>) -> Option<String> {
    let end = data.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&data[..end]).into_owned();
    data.drain(..end + 4);
    Some(
        head.lines()
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect(),
    )
}

/// Looks at what the client sent so far; returns whether this direction is finished.
fn client_bytes(f: &mut FlowState) -> bool {
    let Some(dirs) = f.tcp.as_mut() else {
        return true;
    };
    let data = &mut dirs[0].data;
    if f.connect.is_none() && data.starts_with(b"CONNECT ") {
        let Some(line) = take_http_head(data) else {
            return data.len() > 8192;
        };
        let target = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        f.connect = Some(Connect {
            target,
            status: None,
        });
    }
    if data.is_empty() {
        return false;
    }
    if data[0] == 0x16 {
        return match tls::client_hello(data) {
            Parse::NeedMore => false,
            Parse::Done(h) => {
                f.client_hello = Some(h);
                true
            }
            Parse::No => true,
        };
    }
    turn_stream(f, true)
}

/// Looks at what the server sent so far; returns whether this direction is finished.
fn server_bytes(f: &mut FlowState, certs: &mut tls::CertCache) -> bool {
    let Some(dirs) = f.tcp.as_mut() else {
        return true;
    };
    let data = &mut dirs[1].data;
    if let Some(c) = f.connect.as_mut().filter(|c| c.status.is_none()) {
        if data.starts_with(b"HTTP/") {
            let Some(line) = take_http_head(data) else {
                return data.len() > 8192;
            };
            c.status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok());
        }
    }
    if data.is_empty() {
        return false;
    }
    if data[0] == 0x16 {
        if let Ok(Some(p)) = parse_pseudo_tls(data) {
            if p.is_server_answer() {
                f.pseudo_tls = true;
                return true;
            }
        }
        return match tls::server_hello(data, certs) {
            Parse::NeedMore => false,
            Parse::Done(h) => {
                f.server_hello = Some(h);
                true
            }
            Parse::No => true,
        };
    }
    turn_stream(f, false)
}

/// TURN over TCP in RFC framing: STUN messages back to back at the start of a stream.
fn turn_stream(f: &mut FlowState, from_client: bool) -> bool {
    let Some(dirs) = f.tcp.as_mut() else {
        return true;
    };
    let data = std::mem::take(&mut dirs[usize::from(!from_client)].data);
    let mut at = 0;
    let mut seen = 0;
    while data.len() - at >= 20 && looks_like_stun(&data[at..]) && seen < 16 {
        let total = 20 + usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
        if data.len() - at < total {
            break;
        }
        stun(f, &data[at..at + total], from_client);
        at += total;
        seen += 1;
    }
    // Finished after enough messages, or when what follows is not STUN (ChannelData
    // media, or another protocol altogether).
    let rest = &data[at..];
    let finished = seen >= 16 || (rest.len() >= 20 && !looks_like_stun(rest));
    if let Some(dirs) = f.tcp.as_mut() {
        dirs[usize::from(!from_client)].data = data[at..].to_vec();
    }
    finished
}
