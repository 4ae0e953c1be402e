//! RTP stream statistics per SSRC, as RFC 3550 defines them: extended sequence
//! numbers, expected and lost packets, sequence errors and interarrival jitter (where
//! the payload type's clock rate is known).

use serde::Serialize;

/// The RTP clock rate of a payload type: RFC 3551's static types, and the dynamic
/// types Microsoft's clients use by default ([MS-SDPEXT] 3.1.5.3, [MS-RTPRAD] example
/// SDP). A capture whose SDP maps them otherwise would need that SDP; unknown types
/// get no jitter figure rather than a wrong one.
pub fn clock_rate(pt: u8) -> Option<(u32, &'static str)> {
    Some(match pt {
        0 => (8000, "PCMU"),
        3 => (8000, "GSM"),
        4 => (8000, "G723"),
        8 => (8000, "PCMA"),
        9 => (8000, "G722"),
        13 => (8000, "CN"),
        18 => (8000, "G729"),
        26 => (90000, "JPEG"),
        31 => (90000, "H261"),
        34 => (90000, "H263"),
        97 => (8000, "RED (Microsoft)"),
        101 => (8000, "telephone-event (Microsoft)"),
        103 => (8000, "SILK/8000 (Microsoft)"),
        104 => (16000, "SILK/16000 (Microsoft)"),
        111 => (16000, "SIREN (Microsoft)"),
        112 => (16000, "G7221 (Microsoft)"),
        114 => (16000, "x-msrta/16000 (Microsoft)"),
        115 => (8000, "x-msrta/8000 (Microsoft)"),
        116 => (8000, "AAL2-G726-32 (Microsoft)"),
        118 => (16000, "CN/16000 (Microsoft)"),
        121 => (90000, "x-rtvc1 (Microsoft)"),
        122 => (90000, "X-H264UC (Microsoft)"),
        123 => (90000, "x-ulpfecuc (Microsoft)"),
        127 => (90000, "x-data (Microsoft)"),
        _ => return None,
    })
}

/// Which way packets travelled between a flow's client and its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client (who opened the flow) to the server.
    ClientToServer,
    /// Back.
    ServerToClient,
}

impl Direction {
    /// `ClientToServer` when `to_server`.
    pub fn of(to_server: bool) -> Self {
        if to_server {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        }
    }

    /// `client-to-server` or `server-to-client`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::ClientToServer => "client-to-server",
            Direction::ServerToClient => "server-to-client",
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Direction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Statistics of one RTP stream (one SSRC, one direction).
#[derive(Debug, Clone, Serialize)]
pub struct RtpStream {
    /// The SSRC, as hex.
    pub ssrc: String,
    /// Which way: `client-to-server` or `server-to-client`.
    pub direction: Direction,
    /// Payload type(s) seen, first first.
    pub payload_types: Vec<u8>,
    /// The codec name of the first payload type, when known.
    pub codec: Option<&'static str>,
    /// Packets received.
    pub packets: u64,
    /// Packets expected from the sequence numbers.
    pub expected: u64,
    /// Expected minus received (never below 0).
    pub lost: u64,
    /// Lost as a percentage of expected.
    pub loss_pct: f64,
    /// Duplicates and packets that went backwards.
    pub sequence_errors: u64,
    /// RFC 3550 interarrival jitter, milliseconds (null when the clock rate is unknown).
    pub jitter_ms: Option<f64>,
    /// Mean packets per second over the stream's life.
    pub packets_per_s: f64,
    #[serde(skip)]
    state: State,
}

#[derive(Debug, Clone, Default)]
struct State {
    ssrc: u32,
    base_seq: u32,
    max_seq: u32,
    cycles: u32,
    first_ns: u64,
    last_ns: u64,
    last_transit: Option<f64>,
    jitter: f64,
    clock: Option<u32>,
}

impl RtpStream {
    /// A stream starting with this packet.
    pub fn new(ssrc: u32, to_server: bool, pt: u8, seq: u16, ts: u32, now_ns: u64) -> Self {
        let clock = clock_rate(pt);
        let mut s = RtpStream {
            ssrc: format!("{ssrc:08x}"),
            direction: Direction::of(to_server),
            payload_types: vec![pt],
            codec: clock.map(|c| c.1),
            packets: 0,
            expected: 0,
            lost: 0,
            loss_pct: 0.0,
            sequence_errors: 0,
            jitter_ms: None,
            packets_per_s: 0.0,
            state: State {
                ssrc,
                base_seq: u32::from(seq),
                max_seq: u32::from(seq),
                first_ns: now_ns,
                clock: clock.map(|c| c.0),
                ..State::default()
            },
        };
        s.packets = 1;
        s.transit(ts, now_ns);
        s
    }

    /// The SSRC as a number.
    pub fn ssrc_value(&self) -> u32 {
        self.state.ssrc
    }

    /// Whether the stream runs the given way.
    pub fn to_server(&self) -> bool {
        self.direction == Direction::ClientToServer
    }

    fn transit(&mut self, ts: u32, now_ns: u64) {
        let st = &mut self.state;
        st.last_ns = now_ns;
        let Some(clock) = st.clock else { return };
        // Arrival in RTP units, relative to the first packet (keeps f64 precise).
        // Captures are not always in time order: a signed difference, never an underflow.
        let arrival = (now_ns as f64 - st.first_ns as f64) * f64::from(clock) / 1e9;
        let transit = arrival - f64::from(ts);
        if let Some(prev) = st.last_transit {
            let mut d = (transit - prev).abs();
            // A timestamp that wrapped or jumped by more than a minute is a new talkspurt
            // base, not jitter.
            if d > f64::from(clock) * 60.0 {
                d = 0.0;
            }
            st.jitter += (d - st.jitter) / 16.0;
        }
        st.last_transit = Some(transit);
    }

    /// Adds a packet.
    pub fn add(&mut self, pt: u8, seq: u16, ts: u32, now_ns: u64) {
        self.packets += 1;
        if !self.payload_types.contains(&pt) && self.payload_types.len() < 8 {
            self.payload_types.push(pt);
        }
        let st = &mut self.state;
        let seq = u32::from(seq);
        let max_low = st.max_seq & 0xFFFF;
        let delta = seq.wrapping_sub(max_low) & 0xFFFF;
        if delta == 0 {
            self.sequence_errors += 1; // duplicate
        } else if delta < 0x8000 {
            if seq < max_low {
                st.cycles += 1;
            }
            st.max_seq = (st.cycles << 16) | seq;
        } else {
            self.sequence_errors += 1; // late or reordered
        }
        self.transit(ts, now_ns);
    }

    /// Computes the summary fields.
    pub fn finish(&mut self) {
        let st = &self.state;
        self.expected = u64::from(st.max_seq.wrapping_sub(st.base_seq)) + 1;
        self.lost = self.expected.saturating_sub(self.packets);
        self.loss_pct = if self.expected > 0 {
            (self.lost as f64 * 10_000.0 / self.expected as f64).round() / 100.0
        } else {
            0.0
        };
        self.jitter_ms = st
            .clock
            .map(|c| (st.jitter * 1000.0 / f64::from(c) * 100.0).round() / 100.0);
        let secs = (st.last_ns.saturating_sub(st.first_ns)) as f64 / 1e9;
        self.packets_per_s = if secs > 0.0 {
            ((self.packets - 1) as f64 / secs * 10.0).round() / 10.0
        } else {
            0.0
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_reorder_and_wrap() {
        // 20 ms packets of PCMU, sequence wrapping past 65535, one lost, one late.
        let mut s = RtpStream::new(1, true, 0, 65533, 0, 0);
        let ms = 1_000_000u64;
        s.add(0, 65534, 160, 20 * ms);
        // 65535 is lost
        s.add(0, 0, 480, 60 * ms);
        s.add(0, 2, 800, 100 * ms);
        s.add(0, 1, 640, 101 * ms); // late
        s.finish();
        assert_eq!(s.expected, 6); // 65533 ..= 2
        assert_eq!(s.packets, 5);
        assert_eq!(s.lost, 1);
        assert_eq!(s.sequence_errors, 1);
        assert!(s.jitter_ms.unwrap() < 5.0, "{:?}", s.jitter_ms);
    }

    #[test]
    fn rtcp_reports_keep_the_last_block_per_reporter_and_source() {
        let block = |fraction_lost, cumulative_lost| edgepath_wire::rtp::ReportBlock {
            ssrc: 0xb809_74d8,
            fraction_lost,
            cumulative_lost,
            highest_sequence: 100,
            jitter: 160,
            last_sr: 0,
            delay_since_last_sr: 0,
        };
        let mut list = Vec::new();
        RtcpReport::update(&mut list, 7, &block(0, 0), false);
        RtcpReport::update(&mut list, 7, &block(8, 3), false);
        RtcpReport::update(&mut list, 9, &block(0, 0), true);
        assert_eq!(list.len(), 2);
        assert_eq!(
            (list[0].reporter.as_str(), list[0].source.as_str()),
            ("00000007", "b80974d8")
        );
        assert_eq!(list[0].reports, 2);
        assert_eq!(list[0].fraction_lost_pct, 3.13); // 8/256
        assert_eq!(list[0].cumulative_lost, 3);
        assert_eq!(list[1].direction, Direction::ClientToServer);
    }

    #[test]
    fn time_going_backwards_is_no_panic() {
        let mut s = RtpStream::new(9, true, 0, 1, 160, 5_000_000_000);
        s.add(0, 2, 320, 1_000);
        s.add(0, 3, 480, 0);
        s.finish();
        assert_eq!(s.packets, 3);
        assert!(s.jitter_ms.is_some_and(f64::is_finite));
    }

    #[test]
    fn steady_stream_has_no_jitter() {
        let mut s = RtpStream::new(7, false, 8, 100, 1000, 0);
        for i in 1..50u64 {
            s.add(8, 100 + i as u16, 1000 + 160 * i as u32, i * 20_000_000);
        }
        s.finish();
        assert_eq!(s.lost, 0);
        assert_eq!(s.jitter_ms, Some(0.0));
        assert_eq!(s.packets_per_s, 50.0);
    }
}

/// What one RTCP reporter last said about one source (RFC 3550 6.4 report blocks): the
/// other end's view of a stream, which a capture on this side cannot measure itself.
#[derive(Debug, Clone, Serialize)]
pub struct RtcpReport {
    /// The reporter's SSRC, hex.
    pub reporter: String,
    /// The SSRC reported on, hex.
    pub source: String,
    /// Which way the reports travelled: `client-to-server` or `server-to-client`.
    pub direction: Direction,
    /// Report blocks seen.
    pub reports: u64,
    /// The last report's fraction lost, percent.
    pub fraction_lost_pct: f64,
    /// The last report's cumulative packets lost.
    pub cumulative_lost: i32,
    /// The last report's interarrival jitter, in RTP timestamp units.
    pub jitter_units: u32,
}

impl RtcpReport {
    /// Adds a report block from `reporter`.
    pub fn update(
        list: &mut Vec<RtcpReport>,
        reporter: u32,
        b: &edgepath_wire::rtp::ReportBlock,
        to_server: bool,
    ) {
        let (r, src) = (format!("{reporter:08x}"), format!("{:08x}", b.ssrc));
        let entry = match list.iter().position(|x| x.reporter == r && x.source == src) {
            Some(i) => &mut list[i],
            None if list.len() < 16 => {
                list.push(RtcpReport {
                    reporter: r,
                    source: src,
                    direction: Direction::of(to_server),
                    reports: 0,
                    fraction_lost_pct: 0.0,
                    cumulative_lost: 0,
                    jitter_units: 0,
                });
                let last = list.len() - 1;
                &mut list[last]
            }
            None => return,
        };
        entry.reports += 1;
        entry.fraction_lost_pct = (f64::from(b.fraction_lost) * 10_000.0 / 256.0).round() / 100.0;
        entry.cumulative_lost = b.cumulative_lost;
        entry.jitter_units = b.jitter;
    }
}
