//! The one driver of the probe's sans-IO UDP machines (as quinn drives quinn-proto): it
//! owns the socket and the clock, the machines own every decision. A machine says what
//! to send and when it next wants the clock; the driver sends, waits for a datagram or
//! that moment, and hands over what happened. Relay probes, the NAT test, the TURN
//! client's handshakes and both quality streams all run through [`drive`]; over a TCP
//! or TLS connection to the relay, [`drive_link`] frames each datagram as one message
//! on the stream, so the same machines measure the TCP paths.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::UdpSocket;

/// A protocol machine on one UDP socket, free of I/O and of the clock.
pub(crate) trait Machine {
    /// The next datagram to send, and where.
    fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)>;
    /// When the machine next wants [`Machine::handle_timeout`]; `None`: only input
    /// moves it.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The moment asked for (or later) has come.
    fn handle_timeout(&mut self, now: Instant);
    /// A datagram arrived from `from`.
    fn handle_input(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]);
    /// The socket reported an error on a send or a receive: on a connected socket, an
    /// ICMP error from the network. Ignored unless the machine cares.
    fn handle_socket_error(&mut self, _error: io::Error) {}
    /// Finished: the driver returns.
    fn is_done(&self) -> bool;
}

/// How a drive ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The machine said it was done.
    Done,
    /// The deadline came first.
    Deadline,
    /// The stream to the relay ended (TCP and TLS links only): why.
    Closed(String),
}

/// Where a machine's datagrams go: a UDP socket, or a stream to `peer` (TCP, a proxy's
/// tunnel, TLS) on which each datagram is one message in the stream's framing.
pub(crate) enum Link<'a> {
    /// A UDP socket.
    Udp(&'a UdpSocket),
    /// An open stream to the relay.
    Stream {
        /// Its halves.
        halves: &'a mut crate::relay_tcp::StreamHalves,
        /// Bytes read and not yet a whole message.
        pending: &'a mut Vec<u8>,
        /// How messages are framed on it.
        inner: crate::relay_tcp::Inner,
        /// The relay (every message comes from it).
        peer: SocketAddr,
    },
}

/// Runs `machine` on `link` until it is done, `deadline` passes, or the stream closes.
pub(crate) async fn drive_link(
    link: &mut Link<'_>,
    machine: &mut dyn Machine,
    deadline: Instant,
) -> Ended {
    match link {
        Link::Udp(sock) => drive(sock, machine, deadline).await,
        Link::Stream {
            halves,
            pending,
            inner,
            peer,
        } => drive_stream(halves, pending, *inner, *peer, machine, deadline).await,
    }
}

/// [`drive`] on a stream: each datagram written in `inner`'s framing, each whole message
/// read handed over as a datagram from `peer`. A framing error or the end of the stream
/// ends the drive (told to the machine as a socket error).
async fn drive_stream(
    (rd, wr): &mut crate::relay_tcp::StreamHalves,
    pending: &mut Vec<u8>,
    inner: crate::relay_tcp::Inner,
    peer: SocketAddr,
    machine: &mut dyn Machine,
    deadline: Instant,
) -> Ended {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let deadline = tokio::time::Instant::from_std(deadline);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while let Some((_, bytes)) = machine.poll_transmit() {
            if let Err(e) = wr.write_all(&inner.encode(&bytes)).await {
                let why = format!("sending to the relay failed: {e}");
                machine.handle_socket_error(e);
                return Ended::Closed(why);
            }
        }
        if machine.is_done() {
            return Ended::Done;
        }
        let wake = machine
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .map_or(deadline, |w| w.min(deadline));
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) => {
                    let why = "the relay closed the connection";
                    machine.handle_socket_error(io::Error::new(io::ErrorKind::ConnectionReset, why));
                    return Ended::Closed(why.to_owned());
                }
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    loop {
                        match inner.cut(pending) {
                            Ok(Some(msg)) => machine.handle_input(Instant::now(), peer, &msg),
                            Ok(None) => break,
                            Err(e) => {
                                let why = format!("the relay sent what is not TURN: {e}");
                                machine.handle_socket_error(io::Error::new(
                                    io::ErrorKind::InvalidData,
                                    why.clone(),
                                ));
                                return Ended::Closed(why);
                            }
                        }
                    }
                }
                Err(e) => {
                    let why = format!("reading from the relay failed: {e}");
                    machine.handle_socket_error(e);
                    return Ended::Closed(why);
                }
            },
            _ = tokio::time::sleep_until(wake) => {
                if tokio::time::Instant::now() >= deadline {
                    return Ended::Deadline;
                }
                machine.handle_timeout(Instant::now());
            }
        }
    }
}

/// Runs `machine` on `sock` until it is done or `deadline` passes.
pub(crate) async fn drive(sock: &UdpSocket, machine: &mut dyn Machine, deadline: Instant) -> Ended {
    let deadline = tokio::time::Instant::from_std(deadline);
    let mut buf = vec![0u8; 2048];
    loop {
        while let Some((to, bytes)) = machine.poll_transmit() {
            if let Err(e) = sock.send_to(&bytes, to).await {
                machine.handle_socket_error(e);
            }
        }
        if machine.is_done() {
            return Ended::Done;
        }
        let wake = machine
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .map_or(deadline, |w| w.min(deadline));
        tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, from)) => machine.handle_input(Instant::now(), from, &buf[..n]),
                Err(e) => machine.handle_socket_error(e),
            },
            _ = tokio::time::sleep_until(wake) => {
                if tokio::time::Instant::now() >= deadline {
                    return Ended::Deadline;
                }
                machine.handle_timeout(Instant::now());
            }
        }
    }
}

/// A stream's pacing: one send every `period` from `start`. A timer is never exact: a
/// send up to [`Pace::SLACK`] late keeps the schedule (no drift); one later than that (a
/// stall) restarts it one period after the send, so a stall never brings a burst to
/// catch up, and two sends are never closer than a period minus the slack.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    next: Instant,
    period: std::time::Duration,
}

impl Pace {
    /// How late a send may be and still keep the schedule.
    pub(crate) const SLACK: std::time::Duration = std::time::Duration::from_millis(5);

    /// The first send is due at `start`.
    pub(crate) fn new(start: Instant, period: std::time::Duration) -> Self {
        Pace {
            next: start,
            period,
        }
    }

    /// When the next send is due.
    pub(crate) fn due(&self) -> Instant {
        self.next
    }

    /// Whether a send is due at `now`; if so the next one is scheduled.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        if now < self.next {
            return false;
        }
        self.next = if now - self.next <= Self::SLACK {
            self.next + self.period
        } else {
            now + self.period
        };
        true
    }
}

/// The timing both quality streams share: their pace, the end of the asked duration
/// (nothing is sent after it, whatever stalls delayed), the end of the drain after the
/// last send (or Ctrl-C), and when they last looked at the watcher.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamClock {
    pub(crate) pace: Pace,
    pub(crate) end: Instant,
    pub(crate) drain: Option<Instant>,
    pub(crate) last_step: Instant,
}

impl StreamClock {
    /// Sending every `period` from `start` for `duration`.
    pub(crate) fn new(
        start: Instant,
        period: std::time::Duration,
        duration: std::time::Duration,
    ) -> Self {
        StreamClock {
            pace: Pace::new(start, period),
            end: start + duration,
            drain: None,
            last_step: start,
        }
    }

    /// Whether a send is due at `now` (and within the duration); if so the next one is
    /// scheduled.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        now < self.end && self.pace.take(now)
    }

    /// Whether the asked duration is over at `now`.
    pub(crate) fn over(&self, now: Instant) -> bool {
        now >= self.end
    }

    /// The next moment the stream needs: its next send while `sending`, the drain's end,
    /// and at most 200 ms after it last looked (progress, windows and Ctrl-C).
    pub(crate) fn wake(&self, sending: bool) -> Option<Instant> {
        [
            sending.then(|| self.pace.due()),
            self.drain,
            Some(self.last_step + std::time::Duration::from_millis(200)),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether the drain has ended at `now`.
    pub(crate) fn drained(&self, now: Instant) -> bool {
        self.drain.is_some_and(|d| now >= d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pace_keeps_its_schedule_and_never_bursts_after_a_stall() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p = Pace::new(t0, ms(40));
        assert!(p.take(t0));
        assert!(!p.take(t0 + ms(39)));
        // 3 ms late: still on the schedule.
        assert!(p.take(t0 + ms(43)));
        assert_eq!(p.due(), t0 + ms(80));
        // A 130 ms stall: one send, the next a whole period after it.
        assert!(p.take(t0 + ms(210)));
        assert!(!p.take(t0 + ms(249)));
        assert_eq!(p.due(), t0 + ms(250));
    }
}
