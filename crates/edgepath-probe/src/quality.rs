//! An audio-like stream through the relay and back: allocate with credentials, bind a
//! channel to the allocation's own relayed address, and send 200-byte packets every
//! 20 ms (50 packets/s, never more than 100/s) for the asked duration. Every packet
//! leaves through the relay and comes back to the client: loss, burst loss in any
//! 200 ms, round-trip time, jitter (RFC 3550) and reorder, overall and per 5 s window,
//! graded against Microsoft's targets (DOMAIN.md section 5).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use edgepath_model::{PortRange, Status};
use edgepath_wire::transaction::Transport;
use edgepath_wire::turn_client::{TurnClient, TurnEvent};
use serde::Serialize;

use crate::driver::{drive_link, Link, Machine, StreamClock};
use crate::error::ProbeError;

/// Packets per second of the stream (an audio codec's 20 ms frames).
pub const PACKETS_PER_SECOND: u32 = 50;
/// Payload bytes per packet.
pub const PAYLOAD: usize = 200;
/// The per-window span of the report.
pub const WINDOW: Duration = Duration::from_secs(5);

/// Statistics over a span of the stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Seconds from the stream's start.
    pub start_s: f64,
    /// Packets sent.
    pub sent: u32,
    /// Packets that came back.
    pub received: u32,
    /// Lost, percent.
    pub loss_pct: f64,
    /// Worst loss in any 200 ms, percent.
    pub burst_loss_pct: f64,
    /// Mean round trip, ms.
    pub rtt_ms: f64,
    /// 95th percentile round trip, ms.
    pub rtt_p95_ms: f64,
    /// Worst round trip, ms.
    pub rtt_max_ms: f64,
    /// Jitter: RFC 3550's smoothed estimate over consecutive packets in sending order,
    /// averaged over the span, ms.
    pub jitter_ms: f64,
    /// Out-of-order arrivals, percent of those received.
    pub reorder_pct: f64,
}

/// Who follows a measurement while it runs: progress, each 5 s window as it ends, and
/// whether to stop early (Ctrl-C). Every method has a default that does nothing.
pub trait Watch {
    /// The fraction sent so far, about once a second.
    fn progress(&mut self, _done: f64) {}
    /// A window's figures, once its last packet's answer could have come back.
    fn window(&mut self, _window: &Stats) {}
    /// Whether to stop sending now; what was sent is still measured and reported.
    fn stopped(&self) -> bool {
        false
    }
}

/// Nobody watching.
pub struct Unwatched;

impl Watch for Unwatched {}

/// Hands each 5 s window to the watcher once it is complete.
pub(crate) struct Windows {
    per: usize,
    next: usize,
}

impl Windows {
    /// Windows of a stream sent at `rate` per second.
    pub(crate) fn new(rate: u32) -> Self {
        Windows {
            per: ((WINDOW.as_secs_f64() * f64::from(rate)) as usize).max(1),
            next: 0,
        }
    }

    /// Every window whose last packet left more than `grace` before `now` (both from
    /// the stream's start).
    pub(crate) fn emit_ready(
        &mut self,
        slots: &[Sent],
        now: Duration,
        grace: Duration,
        watch: &mut dyn Watch,
    ) {
        while let Some(last) = slots.get((self.next + 1) * self.per - 1) {
            if now < last.at + grace {
                break;
            }
            self.emit(slots, watch);
        }
    }

    /// The windows not yet handed over, the last one partial.
    pub(crate) fn emit_rest(&mut self, slots: &[Sent], watch: &mut dyn Watch) {
        while self.next * self.per < slots.len() {
            self.emit(slots, watch);
        }
    }

    fn emit(&mut self, slots: &[Sent], watch: &mut dyn Watch) {
        let from = self.next * self.per;
        let to = (from + self.per).min(slots.len());
        watch.window(&stats(
            &slots[from..to],
            self.next as f64 * WINDOW.as_secs_f64(),
        ));
        self.next += 1;
    }
}

/// One target and how the stream did against it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grade {
    /// What was graded.
    pub metric: Metric,
    /// The measured value.
    pub value: f64,
    /// Microsoft's target (client to Microsoft edge): the value must be below it.
    pub target: f64,
    /// Whether it met the target.
    pub ok: bool,
}

/// A figure Microsoft sets a target for (DOMAIN.md section 5); serialised in
/// snake_case (`rtt`, `loss`, `burst_loss`, `jitter`, `reorder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Mean round-trip time, ms (target below 100).
    Rtt,
    /// Packets lost, % (target below 1).
    Loss,
    /// Worst loss in any 200 ms window, % (target below 10).
    BurstLoss,
    /// Jitter, ms (target below 30).
    Jitter,
    /// Packets out of order, % (target below 0.05).
    Reorder,
}

impl Metric {
    /// Whether the figure means anything over TCP, where retransmission turns
    /// loss (and reordering) into delay: only delay and jitter do.
    pub fn meaningful_over_tcp(self) -> bool {
        matches!(self, Metric::Rtt | Metric::Jitter)
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Metric::Rtt => "rtt",
            Metric::Loss => "loss",
            Metric::BurstLoss => "burst_loss",
            Metric::Jitter => "jitter",
            Metric::Reorder => "reorder",
        })
    }
}

/// How a measurement was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// With TURN credentials: packets out through the relay and back (one allocation).
    RelayedStream,
    /// Without credentials: STUN Binding requests and their answers (round-trip
    /// figures; the relay answers them without an account).
    StunRoundTrip,
    /// Over a TCP path: STUN Binding requests on one TCP connection to the relay (round
    /// trips; TCP turns loss into delay).
    TcpRoundTrip,
    /// Over a TCP path with TURN credentials: the relayed stream on one TCP (or TLS)
    /// connection to the relay (TCP turns loss into delay).
    TcpRelayedStream,
}

impl Method {
    /// Whether the figures came over TCP (only delay and jitter speak there).
    pub fn over_tcp(self) -> bool {
        matches!(self, Method::TcpRoundTrip | Method::TcpRelayedStream)
    }
}

/// The whole measurement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quality {
    /// `relayed-stream` (with credentials) or `stun-round-trip` (without): the figures
    /// of the latter are round trips, graded against Microsoft's targets as such.
    pub method: Method,
    /// Packets (or requests) per second sent.
    pub rate_per_s: u32,
    /// When answers stopped after a run of them, as rate limiting does: said instead of
    /// counted as loss (the silent tail is left out of the figures); over TCP, why the
    /// connection ended early.
    pub rate_limited: Option<String>,
    /// Why the figures are not what was asked for: the relayed stream failed (its
    /// error), so they are STUN round trips instead; `null` when measured as asked.
    pub fallback: Option<String>,
    /// The relay used.
    pub relay: SocketAddr,
    /// The relayed address the stream looped through (`relayed-stream` only).
    pub relayed: Option<SocketAddr>,
    /// Over the whole stream.
    pub overall: Stats,
    /// Per 5 s.
    pub windows: Vec<Stats>,
    /// Against the targets.
    pub grades: Vec<Grade>,
    /// `good` when every target is met, `degraded` otherwise, `failing` when nothing
    /// came back.
    pub status: Status,
    /// Success answers from the relay whose MESSAGE-INTEGRITY did not verify with our
    /// credentials: ignored, not believed (a forged or misdirected answer).
    pub integrity_failures: u32,
}

/// One packet of a stream: when it left, when its echo or answer came back (from the
/// stream's start), and in which place among the arrivals.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    pub(crate) at: Duration,
    pub(crate) back: Option<Duration>,
    pub(crate) order: u32,
}

fn stats(slots: &[Sent], start_s: f64) -> Stats {
    let sent = slots.len() as u32;
    let back: Vec<&Sent> = slots.iter().filter(|s| s.back.is_some()).collect();
    let received = back.len() as u32;
    let rtts: Vec<f64> = back
        .iter()
        .filter_map(|s| s.back.map(|b| (b - s.at).as_secs_f64() * 1000.0))
        .collect();
    // RFC 3550's estimator, J += (|D| - J) / 16, with D the change in transit between
    // consecutive answered packets in *sending* order (RFC 3550 takes arrival order, all
    // a receiver knows; we know the order we sent in, and in it D is the path's delay
    // variation alone: in arrival order a reordering path's figure would depend on the
    // packet rate). Reported as the mean of J over the span, as Microsoft's call quality
    // reports average it: J at one instant swings by several ms with a 1/16 gain. J
    // starts at the first |D|, not 0, or a 5 s window's mean would lean towards 0.
    let transit = |s: &Sent| s.back.map_or(0.0, |b| (b - s.at).as_secs_f64() * 1000.0);
    let d = |w: &[&Sent]| (transit(w[1]) - transit(w[0])).abs();
    let (mut j, mut j_sum) = (back.get(..2).map_or(0.0, d), 0.0f64);
    for w in back.windows(2) {
        j += (d(w) - j) / 16.0;
        j_sum += j;
    }
    let mut by_arrival = back.clone();
    by_arrival.sort_by_key(|s| s.order);
    let jitter = if back.len() > 1 {
        j_sum / (back.len() - 1) as f64
    } else {
        0.0
    };
    // Reordered: arrived after a packet sent later than it.
    let mut reordered = 0;
    let mut latest_sent = None::<Duration>;
    for s in &by_arrival {
        match latest_sent {
            Some(l) if s.at < l => reordered += 1,
            _ => latest_sent = Some(s.at),
        }
    }
    // Worst loss in any 200 ms of sending.
    let mut burst = 0.0f64;
    for (i, s) in slots.iter().enumerate() {
        let window: Vec<&Sent> = slots[i..]
            .iter()
            .take_while(|x| x.at < s.at + Duration::from_millis(200))
            .collect();
        if window.len() >= 5 {
            let lost = window.iter().filter(|x| x.back.is_none()).count();
            burst = burst.max(lost as f64 * 100.0 / window.len() as f64);
        }
    }
    let pct = |a: u32, b: u32| {
        if b == 0 {
            0.0
        } else {
            f64::from(a) * 100.0 / f64::from(b)
        }
    };
    Stats {
        start_s,
        sent,
        received,
        loss_pct: pct(sent - received, sent),
        burst_loss_pct: burst,
        rtt_ms: if rtts.is_empty() {
            0.0
        } else {
            rtts.iter().sum::<f64>() / rtts.len() as f64
        },
        rtt_p95_ms: percentile(&rtts, 0.95),
        rtt_max_ms: rtts.iter().copied().fold(0.0, f64::max),
        jitter_ms: jitter,
        reorder_pct: pct(reordered, received),
    }
}

/// The `q` quantile (nearest rank) of `values`; 0 when empty.
fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// The overall figures, the 5 s windows, the grades and the status of a stream sent
/// at `rate` packets per second.
pub(crate) fn summarize(slots: &[Sent], rate: u32) -> (Stats, Vec<Stats>, Vec<Grade>, Status) {
    let overall = stats(slots, 0.0);
    let per = (WINDOW.as_secs_f64() * f64::from(rate)) as usize;
    let windows = slots
        .chunks(per.max(1))
        .enumerate()
        .map(|(i, c)| stats(c, i as f64 * WINDOW.as_secs_f64()))
        .collect();
    let grades = grade(&overall);
    let status = if overall.received == 0 {
        Status::Failing
    } else if grades.iter().all(|g| g.ok) {
        Status::Good
    } else {
        Status::Degraded
    };
    (overall, windows, grades, status)
}

fn grade(s: &Stats) -> Vec<Grade> {
    // Microsoft's targets for client -> Microsoft edge (DOMAIN.md section 5).
    [
        (Metric::Rtt, s.rtt_ms, 100.0),
        (Metric::Loss, s.loss_pct, 1.0),
        (Metric::BurstLoss, s.burst_loss_pct, 10.0),
        (Metric::Jitter, s.jitter_ms, 30.0),
        (Metric::Reorder, s.reorder_pct, 0.05),
    ]
    .into_iter()
    .map(|(metric, value, target)| Grade {
        metric,
        value,
        target,
        ok: value < target,
    })
    .collect()
}

/// The TURN client on the driver until it tells `want`, fails, or `within` passes.
async fn until(
    link: &mut Link<'_>,
    client: &mut TurnClient,
    within: Duration,
    want: fn(&TurnEvent) -> bool,
) -> Result<TurnEvent, ProbeError> {
    let mut m = UntilEvent {
        client,
        want,
        got: None,
    };
    drive_link(link, &mut m, Instant::now() + within).await;
    m.got.unwrap_or_else(|| {
        Err(ProbeError::Timeout {
            what: "the relay".to_owned(),
            within,
        })
    })
}

/// The TURN client until an event `want` accepts, or a failure.
struct UntilEvent<'a> {
    client: &'a mut TurnClient,
    want: fn(&TurnEvent) -> bool,
    got: Option<Result<TurnEvent, ProbeError>>,
}

impl UntilEvent<'_> {
    fn collect(&mut self) {
        while self.got.is_none() {
            let Some(e) = self.client.poll_event() else {
                return;
            };
            self.got = match e {
                e if (self.want)(&e) => Some(Ok(e)),
                TurnEvent::Failed {
                    request,
                    code,
                    reason,
                } => Some(Err(ProbeError::Refused {
                    request: request.to_string(),
                    code,
                    reason,
                })),
                TurnEvent::TimedOut { request } => {
                    Some(Err(ProbeError::Unanswered(request.to_string())))
                }
                _ => None,
            };
        }
    }
}

impl Machine for UntilEvent<'_> {
    fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.client
            .poll_transmit()
            .map(|t| (t.destination, t.payload))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.client.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.client.handle_timeout(now);
        self.collect();
    }

    fn handle_input(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.client.handle_input(now, from, bytes);
        self.collect();
    }

    fn handle_socket_error(&mut self, error: std::io::Error) {
        self.got.get_or_insert(Err(ProbeError::Receive(error)));
    }

    fn is_done(&self) -> bool {
        self.got.is_some()
    }
}

/// Where in the modality's range the next measurement binds (see [`measure`]).
static NEXT_PORT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);

/// Measures the path to `relay` for `duration`, from a source port in `range`.
/// `progress` is told the fraction done, about once a second.
pub async fn measure(
    relay: SocketAddr,
    username: &str,
    password: &str,
    range: PortRange,
    duration: Duration,
    watch: &mut dyn Watch,
) -> Result<Quality, ProbeError> {
    // Each measurement starts at the next port of the range: a relay keeps a released
    // allocation's 5-tuple for a moment (coturn answers an Allocate from it with 437
    // Allocation Mismatch), and `serve` measures again right after.
    let offset = NEXT_PORT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let sock = crate::relay::bind_in_range(range, relay.is_ipv6(), offset)
        .await
        .ok_or(ProbeError::NoFreePort(range))?;
    measure_on(
        &mut Link::Udp(&sock),
        relay,
        (username, password),
        Method::RelayedStream,
        duration,
        watch,
    )
    .await
}

/// The relayed stream over a TCP path (relay-tcp, relay-tcp-proxy): the allocation, its
/// channel and the stream on one connection to the relay's 443 in `framing` (TLS,
/// pseudo-TLS or plain; directly from the audio range, or through the proxy's tunnel).
/// TCP retransmits: loss shows as delay and jitter, not as missing packets.
pub async fn measure_tcp(
    target: &crate::relay_tcp::TcpTarget<'_>,
    framing: crate::relay_tcp::Framing,
    credentials: (&str, &str),
    duration: Duration,
    watch: &mut dyn Watch,
) -> Result<Quality, ProbeError> {
    // Past the probes' ports (and the round trips'), so none of theirs in TIME_WAIT is
    // in the way.
    let open = crate::relay_tcp::open_stream(target, framing, 11)
        .await
        .map_err(ProbeError::Connect)?;
    let (mut halves, mut pending, inner) = open.split();
    let mut link = Link::Stream {
        halves: &mut halves,
        pending: &mut pending,
        inner,
        peer: target.dest,
    };
    measure_on(
        &mut link,
        target.dest,
        credentials,
        Method::TcpRelayedStream,
        duration,
        watch,
    )
    .await
}

/// Allocation, permission, channel, the stream and the release, on `link`.
async fn measure_on(
    link: &mut Link<'_>,
    relay: SocketAddr,
    (username, password): (&str, &str),
    method: Method,
    duration: Duration,
    watch: &mut dyn Watch,
) -> Result<Quality, ProbeError> {
    let transport = match link {
        Link::Udp(_) => Transport::UDP_DEFAULT,
        // Reliable: a request is sent once (RFC 8489 section 6.2.2).
        Link::Stream { .. } => Transport::Tcp,
    };
    let mut client = TurnClient::new(relay, username, password, transport, 1);
    // Unpredictable ids (RFC 8489 section 6); the seed above is then unused.
    client.set_id_source(Box::new(crate::ids::transaction_id));
    client.allocate(Instant::now());
    let allocated = until(link, &mut client, Duration::from_secs(6), |e| {
        matches!(e, TurnEvent::Allocated { .. })
    });
    let TurnEvent::Allocated { relayed, .. } = allocated.await? else {
        unreachable!("until returns the event asked for")
    };
    client.create_permission(Instant::now(), relayed.ip());
    until(link, &mut client, Duration::from_secs(4), |e| {
        matches!(e, TurnEvent::PermissionCreated(_))
    })
    .await?;
    client.channel_bind(Instant::now(), relayed);
    until(link, &mut client, Duration::from_secs(4), |e| {
        matches!(e, TurnEvent::ChannelBound { .. })
    })
    .await?;

    let start = Instant::now();
    let total = (duration.as_secs_f64() * f64::from(PACKETS_PER_SECOND)).round() as u32;
    let mut stream = RelayedStream {
        client: &mut client,
        relayed,
        start,
        clock: StreamClock::new(
            start,
            Duration::from_millis(1000 / u64::from(PACKETS_PER_SECOND)),
            duration,
        ),
        total,
        slots: Vec::with_capacity(total as usize),
        arrivals: 0,
        windows: Windows::new(PACKETS_PER_SECOND),
        watch,
        last_progress: start,
        done: false,
    };
    // Bounded whatever happens: the stream, its drain, and a margin.
    let ended = drive_link(
        link,
        &mut stream,
        start + duration + Duration::from_secs(10),
    )
    .await;
    let slots = std::mem::take(&mut stream.slots);
    // A TCP or TLS connection that ended early: the figures stop there, and say why.
    let cut = match ended {
        crate::driver::Ended::Closed(why) => Some(format!(
            "{why} after {} of {} packets; the figures stop there",
            stream.arrivals,
            slots.len()
        )),
        _ => None,
    };
    stream.watch.progress(1.0);
    stream.windows.emit_rest(&slots, stream.watch);
    // Release the allocation (RFC 8656 section 7: a Refresh with lifetime 0), and wait
    // for the relay to confirm, retransmitting: an allocation left behind makes the
    // next check from the same port fail (437 Allocation Mismatch) until it expires.
    client.refresh(Instant::now(), 0);
    let _ = until(link, &mut client, Duration::from_secs(2), |e| {
        matches!(e, TurnEvent::Refreshed { .. })
    })
    .await;
    let (overall, windows, grades, status) = summarize(&slots, PACKETS_PER_SECOND);
    Ok(Quality {
        method,
        rate_per_s: PACKETS_PER_SECOND,
        rate_limited: cut,
        fallback: None,
        relay,
        relayed: Some(relayed),
        overall,
        windows,
        grades,
        status,
        integrity_failures: client.integrity_failures(),
    })
}

/// The audio-like stream through the relay and back: 200-byte packets at
/// [`PACKETS_PER_SECOND`] on the bound channel, each numbered, each echo matched to its
/// number; after the last packet (or Ctrl-C) one second for the echoes in flight.
struct RelayedStream<'a> {
    client: &'a mut TurnClient,
    relayed: SocketAddr,
    start: Instant,
    total: u32,
    slots: Vec<Sent>,
    arrivals: u32,
    windows: Windows,
    watch: &'a mut dyn Watch,
    last_progress: Instant,
    clock: StreamClock,
    done: bool,
}

impl RelayedStream<'_> {
    /// Echoes in, progress and windows out, Ctrl-C, the next packet when due.
    fn step(&mut self, now: Instant) {
        self.clock.last_step = now;
        while let Some(e) = self.client.poll_event() {
            let TurnEvent::Data { data, .. } = e else {
                continue;
            };
            let Some(seq) = data.get(..4) else { continue };
            let seq = u32::from_be_bytes([seq[0], seq[1], seq[2], seq[3]]) as usize;
            if let Some(s) = self.slots.get_mut(seq) {
                if s.back.is_none() {
                    s.back = Some(now - self.start);
                    s.order = self.arrivals;
                    self.arrivals += 1;
                }
            }
        }
        if now - self.last_progress >= Duration::from_secs(1) {
            let done = self.slots.len() as f64 / f64::from(self.total.max(1));
            self.watch.progress(done.min(1.0));
            self.last_progress = now;
        }
        self.windows.emit_ready(
            &self.slots,
            now - self.start,
            Duration::from_secs(1),
            self.watch,
        );
        if self.clock.drain.is_none() && self.watch.stopped() {
            // Ctrl-C: stop sending; what is in flight still counts.
            self.total = self.slots.len() as u32;
            self.clock.drain = Some(now + Duration::from_secs(1));
        }
        if (self.slots.len() as u32) < self.total && self.clock.over(now) {
            // Stalls delayed the packets past the duration: no more are sent.
            self.total = self.slots.len() as u32;
            self.clock.drain.get_or_insert(now + Duration::from_secs(1));
        }
        if (self.slots.len() as u32) < self.total && self.clock.take(now) {
            let mut payload = vec![0u8; PAYLOAD];
            payload[..4].copy_from_slice(&(self.slots.len() as u32).to_be_bytes());
            self.slots.push(Sent {
                at: now - self.start,
                back: None,
                order: u32::MAX,
            });
            self.client.send_to(self.relayed, &payload);
            if self.slots.len() as u32 == self.total {
                self.clock.drain = Some(now + Duration::from_secs(1));
            }
        }
        if self.clock.drained(now) {
            self.done = true;
        }
    }
}

impl Machine for RelayedStream<'_> {
    fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.client
            .poll_transmit()
            .map(|t| (t.destination, t.payload))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let sending = (self.slots.len() as u32) < self.total;
        [self.client.poll_timeout(), self.clock.wake(sending)]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.client.handle_timeout(now);
        self.step(now);
    }

    fn handle_input(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.client.handle_input(now, from, bytes);
        self.step(now);
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(at_ms: u64, back_ms: Option<u64>, order: u32) -> Sent {
        Sent {
            at: Duration::from_millis(at_ms),
            back: back_ms.map(Duration::from_millis),
            order,
        }
    }

    #[test]
    fn statistics_on_a_known_sequence() {
        // 20 packets, 20 ms apart; #5 lost, #8 and #9 swapped on arrival, RTT 10 ms.
        let mut slots: Vec<Sent> = (0..20)
            .map(|i| slot(i * 20, Some(i * 20 + 10), i as u32))
            .collect();
        slots[5].back = None;
        slots[8].order = 9;
        slots[9].order = 8;
        let s = stats(&slots, 0.0);
        assert_eq!((s.sent, s.received), (20, 19));
        assert!((s.loss_pct - 5.0).abs() < 1e-9);
        assert!(
            (s.burst_loss_pct - 10.0).abs() < 1e-9,
            "1 of 10 packets in the worst 200 ms: {}",
            s.burst_loss_pct
        );
        assert!((s.rtt_ms - 10.0).abs() < 1e-9);
        assert!(s.jitter_ms.abs() < 1e-9, "constant transit: no jitter");
        assert!((s.reorder_pct - 100.0 / 19.0).abs() < 1e-9);
        let g = grade(&s);
        assert!(g.iter().find(|g| g.metric == Metric::Rtt).unwrap().ok);
        assert!(!g.iter().find(|g| g.metric == Metric::Loss).unwrap().ok);
    }

    #[test]
    fn jitter_is_the_mean_of_rfc_3550_smoothing_in_sending_order() {
        // |D| is 0 for ten steps, then 32 for one (a spike), then 0 again: J jumps by
        // 32/16 = 2 and decays by 15/16 a step; arrival order plays no part.
        let mut slots: Vec<Sent> = (0..20)
            .map(|i| slot(i * 20, Some(i * 20 + 10), 19 - i as u32))
            .collect();
        for s in &mut slots[11..] {
            s.back = s.back.map(|b| b + Duration::from_millis(32));
        }
        let s = stats(&slots, 0.0);
        let js: Vec<f64> = (0..19)
            .map(|k| {
                if k < 10 {
                    0.0
                } else {
                    2.0 * (15.0f64 / 16.0).powi(k - 10)
                }
            })
            .collect();
        let mean = js.iter().sum::<f64>() / 19.0;
        assert!(
            (s.jitter_ms - mean).abs() < 1e-9,
            "{} != {mean}",
            s.jitter_ms
        );
    }

    #[test]
    fn jitter_follows_rfc_3550() {
        // Transit alternates 10 ms / 30 ms: |D| = 20 each step; J starts at the first
        // |D| and stays there.
        let slots: Vec<Sent> = (0..200)
            .map(|i| {
                slot(
                    i * 20,
                    Some(i * 20 + if i % 2 == 0 { 10 } else { 30 }),
                    i as u32,
                )
            })
            .collect();
        let s = stats(&slots, 0.0);
        assert!((s.jitter_ms - 20.0).abs() < 1e-9, "{}", s.jitter_ms);
    }
}
