//! A TURN client allocation, sans-IO (RFC 8656 with long-term credentials).
//!
//! It handles the 401 challenge (retry with USERNAME, REALM, NONCE and
//! MESSAGE-INTEGRITY), 438 Stale Nonce (retry with the new nonce), 300 Try
//! Alternate (move to ALTERNATE-SERVER), refreshes before the allocation
//! expires, and creates permissions and channel bindings. Time and bytes come
//! in through `handle_*`; what to send, when to wake and what happened come
//! out through `poll_*`. Transaction ids come from the caller's source
//! ([`TurnClient::set_id_source`]: the probe gives the operating system's random
//! generator, as RFC 8489 section 6 asks), or else from a seeded generator, so that a
//! whole run replays exactly in tests and fuzzing. A success answer whose
//! MESSAGE-INTEGRITY does not verify with our credentials is counted and ignored,
//! never believed.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::stun::{
    attr_type, long_term_key, method, AttrValue, Check, Class, Credentials, Message, MessageBuilder,
};
use crate::transaction::{StunTransaction, TransactionEvent, Transport};
use crate::turn::{channel_data, ChannelData, MIN_CHANNEL};

/// Something to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub destination: SocketAddr,
    /// The bytes.
    pub payload: Vec<u8>,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEvent {
    /// The relay allocated an address.
    Allocated {
        /// The relayed transport address peers send to.
        relayed: SocketAddr,
        /// The client's address as the relay saw it (server-reflexive).
        mapped: Option<SocketAddr>,
        /// Granted lifetime.
        lifetime: Duration,
    },
    /// A refresh succeeded; lifetime zero means the allocation was released.
    Refreshed {
        /// Granted lifetime.
        lifetime: Duration,
    },
    /// A permission for a peer address now exists.
    PermissionCreated(IpAddr),
    /// A channel is bound to a peer.
    ChannelBound {
        /// The peer.
        peer: SocketAddr,
        /// The channel.
        channel: u16,
    },
    /// Data from a peer (Data indication or ChannelData).
    Data {
        /// The peer.
        peer: SocketAddr,
        /// The data.
        data: Vec<u8>,
    },
    /// The server sent us elsewhere (300 Try Alternate).
    Redirected {
        /// The new server.
        to: SocketAddr,
    },
    /// A request failed with an error response.
    Failed {
        /// What was asked.
        request: &'static str,
        /// The error code.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
    /// A request got no answer.
    TimedOut {
        /// What was asked.
        request: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Purpose {
    Allocate,
    Refresh(u32),
    Permission(IpAddr),
    ChannelBind(SocketAddr, u16),
}

impl Purpose {
    fn name(&self) -> &'static str {
        match self {
            Purpose::Allocate => "allocate",
            Purpose::Refresh(_) => "refresh",
            Purpose::Permission(_) => "create-permission",
            Purpose::ChannelBind(..) => "channel-bind",
        }
    }
}

/// How many stale-nonce or challenge retries one request may take.
const MAX_RETRIES: u8 = 3;
/// How many redirections an allocation may follow.
const MAX_REDIRECTS: u8 = 3;

impl std::fmt::Debug for TurnClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnClient")
            .field("server", &self.server)
            .field("relayed", &self.relayed)
            .field("pending", &self.pending.len())
            .field("integrity_failures", &self.integrity_failures)
            .finish_non_exhaustive()
    }
}

/// Where transaction ids come from, when the caller gives a source.
pub type IdSource = Box<dyn FnMut() -> [u8; 12] + Send>;

/// One allocation on one TURN server.
pub struct TurnClient {
    server: SocketAddr,
    username: String,
    password: String,
    transport: Transport,
    lifetime: u32,
    realm: Option<String>,
    nonce: Option<Vec<u8>>,
    rng: u64,
    ids: Option<IdSource>,
    integrity_failures: u32,
    pending: Vec<(Purpose, u8, StunTransaction)>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TurnEvent>,
    relayed: Option<SocketAddr>,
    refresh_at: Option<Instant>,
    channels: HashMap<SocketAddr, u16>,
    next_channel: u16,
    redirects: u8,
}

impl TurnClient {
    /// A client for `server` with long-term credentials, asking for
    /// `lifetime` seconds. `seed` drives transaction ids.
    pub fn new(
        server: SocketAddr,
        username: &str,
        password: &str,
        transport: Transport,
        seed: u64,
    ) -> Self {
        TurnClient {
            server,
            username: username.to_owned(),
            password: password.to_owned(),
            transport,
            lifetime: 600,
            realm: None,
            nonce: None,
            rng: seed | 1,
            ids: None,
            integrity_failures: 0,
            pending: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            relayed: None,
            refresh_at: None,
            channels: HashMap::new(),
            next_channel: MIN_CHANNEL,
            redirects: 0,
        }
    }

    /// The server in use (changes after a redirect).
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The relayed address, once allocated.
    pub fn relayed(&self) -> Option<SocketAddr> {
        self.relayed
    }

    /// Takes transaction ids from `ids` from now on (the operating system's random
    /// generator in the probe).
    pub fn set_id_source(&mut self, ids: IdSource) {
        self.ids = Some(ids);
    }

    /// How many success answers failed MESSAGE-INTEGRITY (and were ignored).
    pub fn integrity_failures(&self) -> u32 {
        self.integrity_failures
    }

    fn txid(&mut self) -> [u8; 12] {
        if let Some(ids) = self.ids.as_mut() {
            return ids();
        }
        // xorshift64*: deterministic and seedable, for tests and fuzzing only.
        let mut out = [0u8; 12];
        for chunk in out.chunks_mut(4) {
            self.rng ^= self.rng >> 12;
            self.rng ^= self.rng << 25;
            self.rng ^= self.rng >> 27;
            let v = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
            chunk.copy_from_slice(&v.to_be_bytes()[..4]);
        }
        out
    }

    fn request(&mut self, purpose: &Purpose) -> Vec<u8> {
        let (m, txid) = match purpose {
            Purpose::Allocate => (method::ALLOCATE, self.txid()),
            Purpose::Refresh(_) => (method::REFRESH, self.txid()),
            Purpose::Permission(_) => (method::CREATE_PERMISSION, self.txid()),
            Purpose::ChannelBind(..) => (method::CHANNEL_BIND, self.txid()),
        };
        let mut b = MessageBuilder::new(m, Class::Request, txid);
        match purpose {
            Purpose::Allocate => {
                b.add(attr_type::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
                b.add_u32(attr_type::LIFETIME, self.lifetime);
            }
            Purpose::Refresh(l) => {
                b.add_u32(attr_type::LIFETIME, *l);
            }
            Purpose::Permission(ip) => {
                b.add_address(attr_type::XOR_PEER_ADDRESS, SocketAddr::new(*ip, 0), true);
            }
            Purpose::ChannelBind(peer, ch) => {
                b.add(
                    attr_type::CHANNEL_NUMBER,
                    &[(ch >> 8) as u8, *ch as u8, 0, 0],
                );
                b.add_address(attr_type::XOR_PEER_ADDRESS, *peer, true);
            }
        }
        if let (Some(realm), Some(nonce)) = (self.realm.clone(), self.nonce.clone()) {
            b.add(attr_type::USERNAME, self.username.as_bytes());
            b.add(attr_type::REALM, realm.as_bytes());
            b.add(attr_type::NONCE, &nonce);
            b.add_integrity(&long_term_key(&self.username, &realm, &self.password));
        }
        b.build()
    }

    fn start(&mut self, now: Instant, purpose: Purpose, retries: u8) {
        let req = self.request(&purpose);
        self.pending.push((
            purpose,
            retries,
            StunTransaction::new(req, now, self.transport),
        ));
        self.flush();
    }

    fn flush(&mut self) {
        let dest = self.server;
        for (_, _, tx) in &mut self.pending {
            while let Some(bytes) = tx.poll_transmit() {
                self.transmits.push_back(Transmit {
                    destination: dest,
                    payload: bytes.to_vec(),
                });
            }
        }
    }

    /// Starts the allocation.
    pub fn allocate(&mut self, now: Instant) {
        self.start(now, Purpose::Allocate, 0);
    }

    /// Refreshes the allocation with `lifetime` seconds (0 releases it).
    pub fn refresh(&mut self, now: Instant, lifetime: u32) {
        self.start(now, Purpose::Refresh(lifetime), 0);
    }

    /// Asks for a permission for `peer`.
    pub fn create_permission(&mut self, now: Instant, peer: IpAddr) {
        self.start(now, Purpose::Permission(peer), 0);
    }

    /// Binds a channel to `peer` and returns its number.
    pub fn channel_bind(&mut self, now: Instant, peer: SocketAddr) -> u16 {
        let ch = self.next_channel;
        self.next_channel = self.next_channel.saturating_add(1);
        self.start(now, Purpose::ChannelBind(peer, ch), 0);
        ch
    }

    /// Queues `data` for `peer`: ChannelData when a channel is bound, else a
    /// Send indication.
    pub fn send_to(&mut self, peer: SocketAddr, data: &[u8]) {
        let stream = self.transport == Transport::Tcp;
        let payload = match self.channels.get(&peer) {
            Some(&ch) => channel_data(ch, data, stream),
            None => {
                let txid = self.txid();
                let mut b = MessageBuilder::new(method::SEND, Class::Indication, txid);
                b.add_address(attr_type::XOR_PEER_ADDRESS, peer, true);
                b.add(attr_type::DATA, data);
                b.build()
            }
        };
        self.transmits.push_back(Transmit {
            destination: self.server,
            payload,
        });
    }

    /// The next thing to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next thing that happened.
    pub fn poll_event(&mut self) -> Option<TurnEvent> {
        self.events.pop_front()
    }

    /// When to call [`TurnClient::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending
            .iter()
            .filter_map(|(_, _, tx)| tx.poll_timeout())
            .chain(self.refresh_at)
            .min()
    }

    /// Advances time: retransmissions, timeouts, the refresh before expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut ended = Vec::new();
        for (i, (purpose, _, tx)) in self.pending.iter_mut().enumerate() {
            tx.handle_timeout(now);
            if let Some(TransactionEvent::TimedOut) = tx.poll_event() {
                self.events.push_back(TurnEvent::TimedOut {
                    request: purpose.name(),
                });
                ended.push(i);
            }
        }
        for i in ended.into_iter().rev() {
            self.pending.remove(i);
        }
        if self.refresh_at.is_some_and(|t| now >= t) {
            self.refresh_at = None;
            self.refresh(now, self.lifetime);
        }
        self.flush();
    }

    /// Offers bytes received from `from`; returns whether they were ours.
    pub fn handle_input(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> bool {
        if from != self.server {
            return false;
        }
        if let Some(0x40..=0x7F) = bytes.first() {
            let Ok(cd) = ChannelData::parse(bytes, false) else {
                return false;
            };
            let Some(peer) = self
                .channels
                .iter()
                .find(|(_, c)| **c == cd.channel())
                .map(|(p, _)| *p)
            else {
                return false;
            };
            self.events.push_back(TurnEvent::Data {
                peer,
                data: cd.data().to_vec(),
            });
            return true;
        }
        let Ok(msg) = Message::parse(bytes) else {
            return false;
        };
        if msg.class() == Class::Indication && msg.method() == method::DATA {
            let mut peer = None;
            let mut data = None;
            for a in msg.decoded() {
                match (a.raw.typ, a.value) {
                    (attr_type::XOR_PEER_ADDRESS, AttrValue::Address(p)) => peer = Some(p),
                    (attr_type::DATA, _) => data = Some(a.raw.value.to_vec()),
                    _ => {}
                }
            }
            if let (Some(peer), Some(data)) = (peer, data) {
                self.events.push_back(TurnEvent::Data { peer, data });
                return true;
            }
            return false;
        }
        // Once we authenticate, success answers must carry our MESSAGE-INTEGRITY: one
        // that does not verify is someone else's (or forged) and is not believed; the
        // transaction goes on retransmitting as if nothing came.
        if msg.class() == Class::Success {
            if let Some(realm) = self.realm.as_deref() {
                let creds = Credentials::LongTerm {
                    username: &self.username,
                    realm,
                    password: &self.password,
                };
                if msg.check_integrity(Some(&creds)) == Check::Bad {
                    self.integrity_failures += 1;
                    return true;
                }
            }
        }
        let Some(idx) = self
            .pending
            .iter_mut()
            .position(|(_, _, tx)| tx.handle_input(bytes))
        else {
            return false;
        };
        let (purpose, retries, _) = self.pending.remove(idx);
        self.on_response(now, purpose, retries, &msg);
        self.flush();
        true
    }

    fn on_response(&mut self, now: Instant, purpose: Purpose, retries: u8, msg: &Message<'_>) {
        if msg.class() == Class::Error {
            let (code, reason) = msg.error_code().map_or_else(
                || (0, "error response without ERROR-CODE".to_owned()),
                |(c, r)| (c, r.to_owned()),
            );
            let realm = msg
                .realm()
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(str::to_owned);
            let nonce = msg.nonce().map(<[u8]>::to_vec);
            let retry = match code {
                // A challenge we have not yet answered, or a nonce gone stale.
                401 if realm.is_some()
                    && nonce.is_some()
                    && retries < MAX_RETRIES
                    && (self.nonce.is_none() || self.nonce != nonce) =>
                {
                    true
                }
                438 if nonce.is_some() && retries < MAX_RETRIES => true,
                300 if purpose == Purpose::Allocate && self.redirects < MAX_REDIRECTS => {
                    if let Some(to) = msg.alternate_server() {
                        self.redirects += 1;
                        self.server = to;
                        self.realm = None;
                        self.nonce = None;
                        self.events.push_back(TurnEvent::Redirected { to });
                        self.start(now, Purpose::Allocate, retries);
                        return;
                    }
                    false
                }
                _ => false,
            };
            if retry {
                if realm.is_some() {
                    self.realm = realm;
                }
                self.nonce = nonce;
                self.start(now, purpose, retries + 1);
            } else {
                self.events.push_back(TurnEvent::Failed {
                    request: purpose.name(),
                    code,
                    reason,
                });
            }
            return;
        }
        let lifetime = msg.lifetime();
        match purpose {
            Purpose::Allocate => {
                let Some(relayed) = msg.relayed_address() else {
                    self.events.push_back(TurnEvent::Failed {
                        request: "allocate",
                        code: 0,
                        reason: "success without XOR-RELAYED-ADDRESS".into(),
                    });
                    return;
                };
                let l = lifetime.unwrap_or(self.lifetime);
                self.relayed = Some(relayed);
                self.schedule_refresh(now, l);
                self.events.push_back(TurnEvent::Allocated {
                    relayed,
                    mapped: msg.reflexive_address(),
                    lifetime: Duration::from_secs(u64::from(l)),
                });
            }
            Purpose::Refresh(asked) => {
                let l = lifetime.unwrap_or(asked);
                if l == 0 {
                    self.relayed = None;
                    self.refresh_at = None;
                } else {
                    self.schedule_refresh(now, l);
                }
                self.events.push_back(TurnEvent::Refreshed {
                    lifetime: Duration::from_secs(u64::from(l)),
                });
            }
            Purpose::Permission(ip) => self.events.push_back(TurnEvent::PermissionCreated(ip)),
            Purpose::ChannelBind(peer, channel) => {
                self.channels.insert(peer, channel);
                self.events
                    .push_back(TurnEvent::ChannelBound { peer, channel });
            }
        }
    }

    fn schedule_refresh(&mut self, now: Instant, lifetime: u32) {
        // Refresh a minute early, or at three quarters of a short lifetime.
        let secs = u64::from(lifetime);
        let early = if secs > 240 { secs - 60 } else { secs * 3 / 4 };
        self.refresh_at = Some(now + Duration::from_secs(early));
    }
}

#[cfg(test)]
mod tests;
