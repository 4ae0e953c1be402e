//! A STUN client transaction, sans-IO (RFC 8489 section 6.2).
//!
//! Over UDP the request is retransmitted at RTO, 3 RTO, 7 RTO, ... (the
//! interval doubling), Rc = 7 sends in all, and the transaction fails Rm = 16
//! RTOs after the last: 39.5 s with the default RTO of 500 ms. Over TCP it is
//! sent once and fails after Ti = 39.5 s.

use std::time::{Duration, Instant};

use crate::stun::{Class, Message};

/// How the transaction's transport behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Unreliable: retransmit.
    Udp {
        /// The initial retransmission timeout.
        rto: Duration,
    },
    /// Reliable: send once.
    Tcp,
}

impl Transport {
    /// UDP with RFC 8489's default RTO of 500 ms.
    pub const UDP_DEFAULT: Transport = Transport::Udp {
        rto: Duration::from_millis(500),
    };
}

/// Sends over UDP (Rc).
pub const RC: u32 = 7;
/// The final wait over UDP, in RTOs (Rm).
pub const RM: u32 = 16;
/// The timeout over TCP (Ti).
pub const TI: Duration = Duration::from_millis(39_500);

/// What a transaction ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionEvent {
    /// A success or error response with the request's transaction id.
    Response(Vec<u8>),
    /// No response in time.
    TimedOut,
}

/// One client transaction.
#[derive(Debug, Clone)]
pub struct StunTransaction {
    request: Vec<u8>,
    transport: Transport,
    sends: u32,
    transmit_due: bool,
    next_send: Option<Instant>,
    deadline: Instant,
    interval: Duration,
    event: Option<TransactionEvent>,
    done: bool,
}

impl StunTransaction {
    /// Starts a transaction for `request` (a whole STUN request) at `now`.
    pub fn new(request: Vec<u8>, now: Instant, transport: Transport) -> Self {
        let (next_send, deadline, interval) = match transport {
            Transport::Udp { rto } => {
                (Some(now + rto), now + rto * ((1 << (RC - 1)) - 1 + RM), rto)
            }
            Transport::Tcp => (None, now + TI, TI),
        };
        StunTransaction {
            request,
            transport,
            sends: 0,
            transmit_due: true,
            next_send,
            deadline,
            interval,
            event: None,
            done: false,
        }
    }

    /// The transaction id bytes (those after the cookie, or all 16).
    pub fn transaction_id(&self) -> &[u8] {
        self.request.get(4..20).unwrap_or(&[])
    }

    /// The request bytes to send now, if a (re)transmission is due.
    pub fn poll_transmit(&mut self) -> Option<&[u8]> {
        if self.done || !self.transmit_due {
            return None;
        }
        self.transmit_due = false;
        self.sends += 1;
        Some(&self.request)
    }

    /// When [`StunTransaction::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        Some(match self.next_send {
            Some(t) if self.sends < RC => t.min(self.deadline),
            _ => self.deadline,
        })
    }

    /// Advances time.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.done {
            return;
        }
        if now >= self.deadline {
            self.done = true;
            self.event = Some(TransactionEvent::TimedOut);
            return;
        }
        if let (Transport::Udp { .. }, Some(t)) = (self.transport, self.next_send) {
            if now >= t && self.sends < RC {
                self.transmit_due = true;
                self.interval *= 2;
                self.next_send = Some(t + self.interval);
            }
        }
    }

    /// Offers received bytes; returns whether they answered this
    /// transaction (a success or error response with its id).
    pub fn handle_input(&mut self, bytes: &[u8]) -> bool {
        if self.done {
            return false;
        }
        let Ok(msg) = Message::parse(bytes) else {
            return false;
        };
        let same_id = bytes.get(4..20) == self.request.get(4..20);
        if !same_id || !matches!(msg.class(), Class::Success | Class::Error) {
            return false;
        }
        self.done = true;
        self.event = Some(TransactionEvent::Response(msg.as_bytes().to_vec()));
        true
    }

    /// The outcome, once.
    pub fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.event.take()
    }

    /// Whether the transaction has ended.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// How many times the request was handed out for sending.
    pub fn sends(&self) -> u32 {
        self.sends
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stun::{method, MessageBuilder};

    fn request() -> Vec<u8> {
        MessageBuilder::new(method::BINDING, Class::Request, [9; 12]).build()
    }

    /// Runs the machine with no answer and records when it sends.
    fn schedule(transport: Transport) -> (Vec<u128>, u128) {
        let t0 = Instant::now();
        let mut tx = StunTransaction::new(request(), t0, transport);
        let mut sends = Vec::new();
        let mut now = t0;
        loop {
            while tx.poll_transmit().is_some() {
                sends.push((now - t0).as_millis());
            }
            match tx.poll_timeout() {
                Some(t) => {
                    now = t;
                    tx.handle_timeout(now);
                }
                None => break,
            }
            if let Some(TransactionEvent::TimedOut) = tx.poll_event() {
                return (sends, (now - t0).as_millis());
            }
        }
        unreachable!("a transaction always times out without an answer")
    }

    #[test]
    fn udp_retransmits_per_rfc_8489() {
        let (sends, gave_up) = schedule(Transport::UDP_DEFAULT);
        assert_eq!(sends, [0, 500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(gave_up, 39_500);
    }

    #[test]
    fn tcp_sends_once() {
        let (sends, gave_up) = schedule(Transport::Tcp);
        assert_eq!(sends, [0]);
        assert_eq!(gave_up, 39_500);
    }

    #[test]
    fn answered_after_loss_and_ignores_strangers() {
        let t0 = Instant::now();
        let mut tx = StunTransaction::new(request(), t0, Transport::UDP_DEFAULT);
        assert!(tx.poll_transmit().is_some()); // lost
        tx.handle_timeout(t0 + Duration::from_millis(500));
        assert!(tx.poll_transmit().is_some()); // this one arrives
                                               // A response to another transaction, a request with our id, and junk.
        let other = MessageBuilder::new(method::BINDING, Class::Success, [8; 12]).build();
        assert!(!tx.handle_input(&other));
        assert!(!tx.handle_input(&request()));
        assert!(!tx.handle_input(b"junk"));
        let ours = MessageBuilder::new(method::BINDING, Class::Success, [9; 12]).build();
        assert!(tx.handle_input(&ours));
        assert_eq!(
            tx.poll_event(),
            Some(TransactionEvent::Response(ours.clone()))
        );
        assert!(tx.is_done() && tx.poll_timeout().is_none());
        // A duplicate answer after the end is not taken again.
        assert!(!tx.handle_input(&ours));
        assert_eq!(tx.sends(), 2);
    }
}
