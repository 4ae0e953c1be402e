//! The attributes a client reads most, by meaning rather than by type number: the
//! dialect decides the number (MS-TURN swaps REALM and NONCE, numbers its
//! XOR-MAPPED-ADDRESS 0x8020, and puts the relayed address of an Allocate answer in
//! MAPPED-ADDRESS), so the probe, the TURN client and the capture ask here instead of
//! matching (type, value) pairs each on their own.

use std::net::SocketAddr;

use super::attr_type as t;
use super::{method, AttrValue, Class, Message, Variant};

impl<'a> Message<'a> {
    /// The first attribute of type `typ`, decoded in this message's dialect.
    fn value_of(&self, typ: u16) -> Option<AttrValue<'a>> {
        self.decoded().find(|a| a.raw.typ == typ).map(|a| a.value)
    }

    fn address_of(&self, typ: u16) -> Option<SocketAddr> {
        match self.value_of(typ)? {
            AttrValue::Address(a) => Some(a),
            _ => None,
        }
    }

    /// The client's address as the server saw it: XOR-MAPPED-ADDRESS in RFC numbering
    /// (0x0020) or MS-TURN's (0x8020), else MAPPED-ADDRESS (classic STUN) unless that
    /// carries the relayed address (an MS-TURN Allocate answer).
    pub fn reflexive_address(&self) -> Option<SocketAddr> {
        self.address_of(t::XOR_MAPPED_ADDRESS)
            .or_else(|| self.address_of(t::MS_XOR_MAPPED_ADDRESS))
            .or_else(|| {
                (!self.mapped_is_relayed())
                    .then(|| self.address_of(t::MAPPED_ADDRESS))
                    .flatten()
            })
    }

    /// Whether MAPPED-ADDRESS holds the relayed address: MS-TURN Allocate answers.
    fn mapped_is_relayed(&self) -> bool {
        self.variant() == Variant::MsTurn
            && self.method() == method::ALLOCATE
            && self.class() == Class::Success
    }

    /// The relayed address of an Allocate answer: XOR-RELAYED-ADDRESS, or MS-TURN's
    /// MAPPED-ADDRESS.
    pub fn relayed_address(&self) -> Option<SocketAddr> {
        self.address_of(t::XOR_RELAYED_ADDRESS).or_else(|| {
            self.mapped_is_relayed()
                .then(|| self.address_of(t::MAPPED_ADDRESS))
                .flatten()
        })
    }

    /// ERROR-CODE: the code and the reason phrase.
    pub fn error_code(&self) -> Option<(u16, &'a str)> {
        match self.value_of(t::ERROR_CODE)? {
            AttrValue::Error { code, reason } => Some((code, reason)),
            _ => None,
        }
    }

    /// LIFETIME, seconds.
    pub fn lifetime(&self) -> Option<u32> {
        match self.value_of(t::LIFETIME)? {
            AttrValue::U32(v) => Some(v),
            _ => None,
        }
    }

    fn raw_value(&self, typ: u16) -> Option<&'a [u8]> {
        self.attribute(typ).map(|a| a.value)
    }

    /// REALM's value: 0x0014 in RFC numbering, 0x0015 in MS-TURN's.
    pub fn realm(&self) -> Option<&'a [u8]> {
        self.raw_value(if self.variant() == Variant::MsTurn {
            t::NONCE
        } else {
            t::REALM
        })
    }

    /// NONCE's value: 0x0015 in RFC numbering, 0x0014 in MS-TURN's.
    pub fn nonce(&self) -> Option<&'a [u8]> {
        self.raw_value(if self.variant() == Variant::MsTurn {
            t::REALM
        } else {
            t::NONCE
        })
    }

    /// ALTERNATE-SERVER (a 300 redirect): 0x8023 in RFC numbering, 0x000E in MS-TURN's.
    pub fn alternate_server(&self) -> Option<SocketAddr> {
        self.address_of(if self.variant() == Variant::MsTurn {
            0x000E
        } else {
            t::ALTERNATE_SERVER
        })
    }
}
