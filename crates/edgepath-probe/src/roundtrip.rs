//! Media quality without an account: STUN Binding requests to the relay, from the
//! audio source range, at [`RATE`] per second for the asked duration; every answer's
//! round trip. Microsoft's relays (and every STUN server) answer Bindings without
//! credentials, so this works for every user where the relayed stream
//! ([`crate::quality::measure`]) needs TURN credentials nobody has for Microsoft's
//! relays.
//!
//! The figures are round trips: loss of a request or of its answer, the worst loss in
//! any 200 ms, RTT mean / p95 / max, jitter as RFC 3550's smoothing applied to the RTT
//! variation, and reorder (an answer arriving after the answer to a later request).
//! They are graded against Microsoft's client-to-edge targets as they are, and the
//! report says so. Answers that stop for good after a run of them (rate limiting)
//! are reported as that, not as loss.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use edgepath_model::PortRange;
use edgepath_wire::stun::{method, Class, Message, MessageBuilder};

use crate::driver::{drive, drive_link, Ended, Link, Machine, StreamClock};
use crate::error::ProbeError;
use crate::quality::{summarize, Method, Quality, Sent, Watch, Windows};
use crate::relay_tcp::{Framing, TcpTarget};

/// Requests per second: half an audio stream's 50 packets/s, and five in every 200 ms
/// so that the burst-loss window is measured.
pub const RATE: u32 = 25;

// Never above an audio stream's rate, and five requests in every 200 ms window.
const _: () = assert!(RATE <= crate::quality::PACKETS_PER_SECOND && RATE * 200 / 1000 >= 5);

/// How long answers may still come after the last request: three times the slowest
/// round trip seen, at least [`GRACE_MIN`], at most [`GRACE_MAX`]; and not at all once
/// every request is answered.
const GRACE_MIN: Duration = Duration::from_millis(250);
/// See [`GRACE_MIN`].
const GRACE_MAX: Duration = Duration::from_millis(1000);

/// A silent tail this long after a run of answers reads as rate limiting.
const RATE_LIMIT_SILENCE: Duration = Duration::from_secs(2);

/// Whether the stream's answers stopped for good after a run of them: at least 20
/// answered, at least 95 % of those sent until the last answer, and nothing for
/// [`RATE_LIMIT_SILENCE`] of requests after it. Returns the index of the last answered
/// request then.
pub(crate) fn rate_limited_after(slots: &[Sent]) -> Option<usize> {
    let last = slots.iter().rposition(|s| s.back.is_some())?;
    let answered = slots[..=last].iter().filter(|s| s.back.is_some()).count();
    let silent_for = slots.last()?.at.saturating_sub(slots[last].at);
    (answered >= 20 && answered * 100 >= (last + 1) * 95 && silent_for >= RATE_LIMIT_SILENCE)
        .then_some(last)
}

/// The bookkeeping both round-trip methods share: the requests sent (with their
/// transaction ids), the answers matched to them, progress, the windows handed to the
/// watcher, an early stop, and the report at the end.
pub(crate) struct Requests {
    start: Instant,
    total: u32,
    slots: Vec<Sent>,
    ids: HashMap<[u8; 12], usize>,
    arrivals: u32,
    windows: Windows,
    last_progress: Instant,
}

impl Requests {
    /// Requests for `duration` from `start`; every method takes the caller's `now`, so
    /// the machine on top stays free of the clock.
    pub(crate) fn new(duration: Duration, start: Instant) -> Self {
        let total = (duration.as_secs_f64() * f64::from(RATE)).round().max(1.0) as u32;
        Requests {
            start,
            total,
            slots: Vec::with_capacity(total as usize),
            ids: HashMap::with_capacity(total as usize),
            arrivals: 0,
            windows: Windows::new(RATE),
            last_progress: start,
        }
    }

    /// The pacing and the end of the asked duration, shared with the UDP stream: a
    /// stall never brings a burst, nothing is sent after the duration.
    fn clock(&self, duration: Duration) -> StreamClock {
        StreamClock::new(
            self.start,
            Duration::from_millis(1000 / u64::from(RATE)),
            duration,
        )
    }

    /// Whether more requests are due.
    fn sending(&self) -> bool {
        (self.slots.len() as u32) < self.total
    }

    /// The next Binding request, recorded as sent at `now`.
    fn next_request(&mut self, now: Instant) -> Vec<u8> {
        let id = crate::ids::transaction_id();
        self.ids.insert(id, self.slots.len());
        self.slots.push(Sent {
            at: now.saturating_duration_since(self.start),
            back: None,
            order: u32::MAX,
        });
        MessageBuilder::new(method::BINDING, Class::Request, id).build()
    }

    /// Bytes that may answer a request: matched by transaction id, the first answer
    /// counts; anything else is ignored.
    fn answer(&mut self, bytes: &[u8], now: Instant) {
        let Ok(m) = Message::parse(bytes) else { return };
        if !matches!(m.class(), Class::Success | Class::Error) {
            return;
        }
        let Ok(id) = <[u8; 12]>::try_from(m.transaction_id()) else {
            return;
        };
        if let Some(s) = self.ids.get(&id).and_then(|&i| self.slots.get_mut(i)) {
            if s.back.is_none() {
                s.back = Some(now.saturating_duration_since(self.start));
                s.order = self.arrivals;
                self.arrivals += 1;
            }
        }
    }

    /// Every request sent has its answer.
    fn all_answered(&self) -> bool {
        self.arrivals as usize == self.slots.len()
    }

    /// The wait after the last request: three times the slowest round trip seen, from
    /// [`GRACE_MIN`] to [`GRACE_MAX`].
    fn grace(&self) -> Duration {
        let slowest = self
            .slots
            .iter()
            .filter_map(|s| s.back.map(|b| b - s.at))
            .max()
            .unwrap_or(GRACE_MAX);
        (slowest * 3).clamp(GRACE_MIN, GRACE_MAX)
    }

    /// Progress and finished windows for the watcher; true when it asks to stop, after
    /// which no more requests are sent.
    fn follow(&mut self, watch: &mut dyn Watch, now: Instant) -> bool {
        if now.saturating_duration_since(self.last_progress) >= Duration::from_secs(1) {
            watch.progress((self.slots.len() as f64 / f64::from(self.total)).min(1.0));
            self.last_progress = now;
        }
        let since = now.saturating_duration_since(self.start);
        self.windows
            .emit_ready(&self.slots, since, GRACE_MAX, watch);
        let stop = watch.stopped();
        if stop {
            self.total = self.slots.len() as u32;
        }
        stop
    }

    /// The report: remaining windows to the watcher, a silent tail told as rate limiting
    /// (`cut` says why the figures stop, when they stop for another reason), the figures.
    fn finish(
        mut self,
        watch: &mut dyn Watch,
        method: Method,
        relay: SocketAddr,
        cut: Option<String>,
    ) -> Quality {
        watch.progress(1.0);
        self.windows.emit_rest(&self.slots, watch);
        let slots = &mut self.slots;
        let rate_limited = cut.or_else(|| {
            rate_limited_after(slots).map(|last| {
                let note = format!(
                    "the relay answered {} requests, then none for {:.1} s: rate limiting, not loss; the figures stop at the last answer",
                    slots[..=last].iter().filter(|s| s.back.is_some()).count(),
                    slots.last().map_or(0.0, |l| (l.at - slots[last].at).as_secs_f64())
                );
                slots.truncate(last + 1);
                note
            })
        });
        let (overall, windows, grades, status) = summarize(&self.slots, RATE);
        Quality {
            method,
            rate_per_s: RATE,
            rate_limited,
            fallback: None,
            relay,
            relayed: None,
            overall,
            windows,
            grades,
            status,
            integrity_failures: 0,
        }
    }
}

/// Measures round trips to `relay` for `duration` from a port in `range` (the audio
/// range), telling `watch` about progress and windows.
pub async fn measure(
    relay: SocketAddr,
    range: PortRange,
    duration: Duration,
    watch: &mut dyn Watch,
) -> Result<Quality, ProbeError> {
    // The middle of the range: the relay probes and the NAT probe took its ends.
    let sock = crate::relay::bind_in_range(range, relay.is_ipv6(), range.len() as u16 / 2)
        .await
        .ok_or(ProbeError::NoFreePort(range))?;
    sock.connect(relay)
        .await
        .map_err(|source| ProbeError::Send { to: relay, source })?;
    let start = Instant::now();
    let mut m = RoundTrips::new(relay, start, duration, watch);
    // Bounded whatever happens: the requests, the longest grace, and a margin.
    drive(
        &sock,
        &mut m,
        start + duration + GRACE_MAX + Duration::from_secs(5),
    )
    .await;
    Ok(m.r.finish(m.watch, Method::StunRoundTrip, relay, None))
}

/// Binding requests to the relay at [`RATE`] per second, each answer matched by its
/// transaction id; after the last (or Ctrl-C) a grace for the answers in flight, cut
/// short when every request has its answer. A refused send is a lost request.
pub(crate) struct RoundTrips<'a> {
    pub(crate) r: Requests,
    pub(crate) relay: SocketAddr,
    pub(crate) clock: StreamClock,
    pub(crate) next: Option<Vec<u8>>,
    pub(crate) done: bool,
    pub(crate) watch: &'a mut dyn Watch,
}

impl<'a> RoundTrips<'a> {
    /// Requests to `relay` for `duration` from `start`.
    pub(crate) fn new(
        relay: SocketAddr,
        start: Instant,
        duration: Duration,
        watch: &'a mut dyn Watch,
    ) -> Self {
        let r = Requests::new(duration, start);
        RoundTrips {
            clock: r.clock(duration),
            r,
            relay,
            next: None,
            done: false,
            watch,
        }
    }

    /// The transport broke (a TCP connection closed): nothing more is sent or can come.
    fn closed(&mut self) {
        self.r.total = self.r.slots.len() as u32;
        self.done = true;
    }

    fn step(&mut self, now: Instant) {
        self.clock.last_step = now;
        if self.r.follow(self.watch, now) && self.clock.drain.is_none() {
            // Ctrl-C: stop sending; what is in flight still counts.
            self.clock.drain = Some(now + GRACE_MAX);
        }
        if self.r.sending() && self.clock.over(now) {
            // Stalls delayed the requests past the duration: no more are sent.
            self.r.total = self.r.slots.len() as u32;
            self.clock.drain.get_or_insert(now + self.r.grace());
        }
        if self.r.sending() && self.clock.take(now) {
            self.next = Some(self.r.next_request(now));
            if !self.r.sending() {
                self.clock.drain = Some(now + self.r.grace());
            }
        }
        if self.clock.drained(now) {
            self.done = true;
        }
    }
}

impl Machine for RoundTrips<'_> {
    fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.next.take().map(|b| (self.relay, b))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.clock.wake(self.r.sending())
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.step(now);
    }

    fn handle_input(&mut self, now: Instant, _from: SocketAddr, bytes: &[u8]) {
        // The socket is connected to the relay: nothing else arrives.
        self.r.answer(bytes, now);
        if self.clock.drain.is_some() && self.r.all_answered() {
            self.done = true; // every request answered: nothing more to wait for
        } else {
            self.step(now);
        }
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

/// Quality over a TCP path (relay-tcp, relay-tcp-proxy): STUN Binding requests over one
/// connection to the relay's 443 (directly from the audio range, or through the proxy's
/// CONNECT tunnel), in the framing the relay answered (TLS, pseudo-TLS or plain; MS frames
/// or RFC inside), at [`RATE`] per second: round trip and jitter per request, windows as
/// for UDP. TCP retransmits, so loss shows as delay, not as missing answers.
pub async fn measure_tcp(
    target: &TcpTarget<'_>,
    framing: Framing,
    duration: Duration,
    watch: &mut dyn Watch,
) -> Result<Quality, ProbeError> {
    let dest = target.dest;
    // Past the probes' ports, so a probe's connection in TIME_WAIT is not in the way.
    let open = crate::relay_tcp::open_stream(target, framing, 10)
        .await
        .map_err(ProbeError::Connect)?;
    let (mut halves, mut pending, inner) = open.split();
    let mut link = Link::Stream {
        halves: &mut halves,
        pending: &mut pending,
        inner,
        peer: dest,
    };
    // The same machine as over UDP (pace, duration, grace, Ctrl-C) on the one driver,
    // which frames its requests onto the connection and cuts the answers out of it.
    let start = Instant::now();
    let mut m = RoundTrips::new(dest, start, duration, watch);
    let deadline = start + duration + GRACE_MAX + Duration::from_secs(5);
    let cut = match drive_link(&mut link, &mut m, deadline).await {
        Ended::Closed(why) => {
            m.closed();
            Some(format!(
                "{why} after {} answers; the figures stop there",
                m.r.arrivals
            ))
        }
        Ended::Done | Ended::Deadline => None,
    };
    Ok(m.r.finish(m.watch, Method::TcpRoundTrip, dest, cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(pattern: &[bool]) -> Vec<Sent> {
        pattern
            .iter()
            .enumerate()
            .map(|(i, &ok)| {
                let at = Duration::from_millis(40 * i as u64);
                Sent {
                    at,
                    back: ok.then(|| at + Duration::from_millis(20)),
                    order: i as u32,
                }
            })
            .collect()
    }

    /// The round-trip machine run by hand on a simulated clock (no socket): what it
    /// sends goes to the relay only, at most [`RATE`] a second, never after the asked
    /// duration; it ends after the grace when answers stop.
    #[test]
    fn round_trips_keep_the_pace_the_address_and_the_duration() {
        let relay: SocketAddr = "203.0.113.10:3478".parse().unwrap();
        let t0 = Instant::now();
        let mut watch = crate::quality::Unwatched;
        let mut m = RoundTrips::new(relay, t0, Duration::from_secs(3), &mut watch);
        let mut sends: Vec<Instant> = Vec::new();
        let mut now = t0;
        for _ in 0..10_000 {
            if m.is_done() {
                break;
            }
            now = m.poll_timeout().unwrap().max(now);
            m.handle_timeout(now);
            while let Some((to, bytes)) = m.poll_transmit() {
                assert_eq!(to, relay);
                assert_eq!(Message::parse(&bytes).unwrap().class(), Class::Request);
                sends.push(now);
                // Every other request is answered at once.
                if sends.len() % 2 == 0 {
                    let id: [u8; 12] = bytes[8..20].try_into().unwrap();
                    let answer = MessageBuilder::new(method::BINDING, Class::Success, id).build();
                    m.handle_input(now, relay, &answer);
                }
            }
        }
        assert!(m.is_done());
        assert_eq!(sends.len(), 75, "25 a second for 3 s");
        assert!(sends.iter().all(|&t| t < t0 + Duration::from_secs(3)));
        for second in sends.windows(26) {
            assert!(
                second[25] - second[0] >= Duration::from_secs(1),
                "more than 25 in a second"
            );
        }
        // Unanswered requests: it waits the longest grace after the last send, no more.
        assert!(now - sends[74] <= GRACE_MAX);
        assert_eq!(m.r.arrivals, 37);
    }

    #[test]
    fn rate_limiting_is_a_run_of_answers_then_silence() {
        // 100 answers, then 3 s of silence: rate limited after index 99.
        let mut p = vec![true; 100];
        p.extend(vec![false; 75]);
        assert_eq!(rate_limited_after(&slots(&p)), Some(99));
        // Scattered loss all along is loss, not a limit.
        let scattered: Vec<bool> = (0..175).map(|i| i % 10 != 0).collect();
        assert_eq!(rate_limited_after(&slots(&scattered)), None);
        // A short silence at the end is ordinary loss.
        let mut short = vec![true; 100];
        short.extend(vec![false; 10]);
        assert_eq!(rate_limited_after(&slots(&short)), None);
        // Too few answers to tell.
        let mut few = vec![true; 10];
        few.extend(vec![false; 100]);
        assert_eq!(rate_limited_after(&slots(&few)), None);
        assert_eq!(rate_limited_after(&[]), None);
    }
}
