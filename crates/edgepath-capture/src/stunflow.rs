//! What the STUN / TURN / MS-TURN messages of one flow say: the dialect, the methods
//! seen, relay allocations (with the relayed and reflexive addresses), permissions
//! and channel binds, ICE connectivity checks and errors.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use edgepath_wire::stun::{attr_type, method, AttrValue, Class, Message, Variant};
use serde::Serialize;

/// The most addresses and errors kept per flow.
const KEEP: usize = 16;

/// How an Allocate transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocationResult {
    /// A success answer: an allocation.
    Success,
    /// An error answer (401 first, without credentials).
    Error,
    /// No answer seen.
    NoAnswer,
}

impl AllocationResult {
    /// `success`, `error`, `no answer`.
    pub fn name(self) -> &'static str {
        match self {
            AllocationResult::Success => "success",
            AllocationResult::Error => "error",
            AllocationResult::NoAnswer => "no answer",
        }
    }
}

impl Serialize for AllocationResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

fn ser_variant<S: serde::Serializer>(v: &Option<Variant>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.map_or("", Variant::name))
}

/// One Allocate transaction's outcome.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Allocation {
    /// `success`, `error` or `no answer`.
    pub result: AllocationResult,
    /// The error code, for errors (401 is the normal first answer without credentials).
    pub code: Option<u16>,
    /// The relayed address the relay gave.
    pub relayed: Option<String>,
    /// The client's address as the relay saw it.
    pub reflexive: Option<String>,
    /// The lifetime granted, seconds.
    pub lifetime: Option<u32>,
}

/// STUN-family traffic of one flow.
#[derive(Debug, Clone, Serialize, Default)]
pub struct StunSummary {
    /// `stun`, `ms-turn` or `classic-stun` (the first message's); none until a message
    /// decodes (written as `""`, as the JSON always had it).
    #[serde(serialize_with = "ser_variant")]
    pub variant: Option<Variant>,
    /// Messages decoded.
    pub messages: u64,
    /// Count per `method class` (`allocate request`, `binding success`, ...).
    pub methods: BTreeMap<String, u64>,
    /// Allocate transactions, in order.
    pub allocations: Vec<Allocation>,
    /// Peer addresses of CreatePermission / ChannelBind / Send.
    pub permissions: Vec<String>,
    /// ICE connectivity checks (Binding requests with ICE attributes).
    pub ice_checks: u64,
    /// ICE checks answered with a success.
    pub ice_successes: u64,
    /// ICE checks the flow's client sent with Microsoft's own attributes
    /// (IMPLEMENTATION-VERSION 0x8070, CANDIDATE-IDENTIFIER 0x8054, or MS-TURN's
    /// MS-VERSION 0x8008 / MS-SEQUENCE-NUMBER 0x8050): a Teams or Skype for Business
    /// client, relay or not.
    pub microsoft_ice: u64,
    /// Error codes seen in any error response.
    pub errors: Vec<u16>,
    /// The server's SOFTWARE, when given.
    pub software: Option<String>,
    /// Messages that looked like STUN but did not decode.
    pub malformed: u64,
    /// Allocate requests by transaction id, not yet answered.
    #[serde(skip)]
    open: Vec<[u8; 12]>,
    /// Allocate answers by transaction id (a relay pool may answer from another address).
    #[serde(skip)]
    answered: Vec<[u8; 12]>,
}

/// Microsoft's ICE attributes ([MS-ICE2]) and MS-TURN's in a check (MS-VERSION,
/// MS-SEQUENCE-NUMBER): only Microsoft's clients send them.
const MS_IMPLEMENTATION_VERSION: u16 = 0x8070;
const MS_CANDIDATE_IDENTIFIER: u16 = 0x8054;
const MS_VERSION: u16 = 0x8008;
const MS_SEQUENCE_NUMBER: u16 = 0x8050;

fn fmt(a: SocketAddr) -> String {
    a.to_string()
}

impl StunSummary {
    /// Adds one message (`from_client`: sent by the flow's client).
    pub fn add(&mut self, bytes: &[u8], from_client: bool) {
        let Ok(msg) = Message::parse(bytes) else {
            self.malformed += 1;
            return;
        };
        if self.messages == 0 {
            self.variant = Some(msg.variant());
        }
        self.messages += 1;
        let name = msg.method_name().unwrap_or("unknown");
        let key = format!("{name} {}", msg.class().name());
        if self.methods.len() < 32 || self.methods.contains_key(&key) {
            *self.methods.entry(key).or_insert(0) += 1;
        }
        let mut tid = [0u8; 12];
        let t = msg.transaction_id();
        let n = t.len().min(12);
        tid[..n].copy_from_slice(&t[t.len() - n..]);
        // The addresses, lifetime and error code in the message's own dialect.
        let (relayed, reflexive, lifetime) = (
            msg.relayed_address(),
            msg.reflexive_address(),
            msg.lifetime(),
        );
        let code = msg.error_code().map(|(c, _)| c);
        let mut ice = false;
        let mut microsoft = false;
        for a in msg.decoded() {
            let typ = a.raw.typ;
            match (&a.value, typ) {
                (AttrValue::Address(addr), attr_type::XOR_PEER_ADDRESS) if from_client => {
                    let s = fmt(*addr);
                    if self.permissions.len() < KEEP && !self.permissions.contains(&s) {
                        self.permissions.push(s);
                    }
                }
                (AttrValue::Text(s), attr_type::SOFTWARE) if !from_client => {
                    self.software
                        .get_or_insert_with(|| s.chars().take(64).collect());
                }
                (
                    _,
                    attr_type::PRIORITY
                    | attr_type::USE_CANDIDATE
                    | attr_type::ICE_CONTROLLED
                    | attr_type::ICE_CONTROLLING,
                ) => ice = true,
                (
                    _,
                    MS_IMPLEMENTATION_VERSION
                    | MS_CANDIDATE_IDENTIFIER
                    | MS_VERSION
                    | MS_SEQUENCE_NUMBER,
                ) => microsoft = true,
                _ => {}
            }
        }
        if let Some(c) = code {
            if self.errors.len() < KEEP && !self.errors.contains(&c) {
                self.errors.push(c);
            }
        }
        match (msg.method(), msg.class()) {
            (method::ALLOCATE, Class::Request)
                if self.open.len() < 64 && !self.open.contains(&tid) =>
            {
                self.open.push(tid);
            }
            (method::ALLOCATE, class @ (Class::Success | Class::Error)) => {
                if let Some(i) = self.open.iter().position(|t| *t == tid) {
                    self.open.remove(i);
                }
                if self.answered.len() < 64 {
                    self.answered.push(tid);
                }
                // Addresses in an error answer are not an allocation's.
                let ok = class == Class::Success;
                if self.allocations.len() < KEEP {
                    self.allocations.push(Allocation {
                        result: if ok {
                            AllocationResult::Success
                        } else {
                            AllocationResult::Error
                        },
                        code,
                        relayed: relayed.filter(|_| ok).map(fmt),
                        reflexive: reflexive.filter(|_| ok).map(fmt),
                        lifetime: lifetime.filter(|_| ok),
                    });
                }
            }
            (method::BINDING, Class::Request) if ice => {
                self.ice_checks += 1;
                if microsoft && from_client {
                    self.microsoft_ice += 1;
                }
            }
            (method::BINDING, Class::Success) if self.ice_checks > 0 => self.ice_successes += 1,
            _ => {}
        }
    }

    /// Transaction ids of the Allocate answers this flow carried.
    pub fn answered(&self) -> &[[u8; 12]] {
        &self.answered
    }

    /// Closes the summary: Allocate requests never answered, on this flow or (as
    /// `elsewhere` says) from another address of the relay pool, become `no answer`.
    pub fn finish(&mut self, elsewhere: &[[u8; 12]]) {
        self.open.retain(|t| !elsewhere.contains(t));
        for _ in self.open.drain(..) {
            if self.allocations.len() < KEEP {
                self.allocations.push(Allocation {
                    result: AllocationResult::NoAnswer,
                    code: None,
                    relayed: None,
                    reflexive: None,
                    lifetime: None,
                });
            }
        }
    }

    /// Whether any Allocate was answered with a success.
    pub fn allocated(&self) -> bool {
        self.allocations
            .iter()
            .any(|a| a.result == AllocationResult::Success)
    }

    /// Whether the flow is TURN towards a relay (Allocate, permissions, channels).
    pub fn is_turn(&self) -> bool {
        !self.allocations.is_empty()
            || self.methods.keys().any(|k| {
                k.starts_with("allocate")
                    || k.starts_with("create-permission")
                    || k.starts_with("channel-bind")
                    || k.starts_with("refresh")
            })
    }
}
