//! MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT: computed and verified.
//!
//! Each is an HMAC (or CRC-32) over the message up to the attribute, with
//! the header's length field set as if the attribute were the last one
//! (RFC 8489 sections 14.5, 14.6, 14.7).

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;
use sha2::Sha256;

use super::{attr_type, Message};

/// The FINGERPRINT XOR constant ("STUN").
pub const FINGERPRINT_XOR: u32 = 0x5354_554E;

/// Credentials to verify or compute MESSAGE-INTEGRITY with.
#[derive(Clone, Copy)]
pub enum Credentials<'a> {
    /// Short-term: the key is the password.
    ShortTerm {
        /// The password.
        password: &'a str,
    },
    /// Long-term: the key is MD5(username ":" realm ":" password).
    LongTerm {
        /// The username.
        username: &'a str,
        /// The realm.
        realm: &'a str,
        /// The password.
        password: &'a str,
    },
}

// Hand-written so a stray `{:?}` can never print a password.
impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::ShortTerm { .. } => f.write_str("ShortTerm { password: <hidden> }"),
            Credentials::LongTerm {
                username, realm, ..
            } => write!(
                f,
                "LongTerm {{ username: {username:?}, realm: {realm:?}, password: <hidden> }}"
            ),
        }
    }
}

/// Hashes `username:realm:password` with digest `D`.
fn credential_digest<D: Digest>(username: &str, realm: &str, password: &str) -> D {
    let mut h = D::new();
    for (i, part) in [username, realm, password].iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(part.as_bytes());
    }
    h
}

/// The long-term credential key, MD5(username:realm:password) (RFC 8489
/// section 9.2.2 with the MD5 password algorithm).
pub fn long_term_key(username: &str, realm: &str, password: &str) -> [u8; 16] {
    credential_digest::<Md5>(username, realm, password)
        .finalize()
        .into()
}

/// The long-term key with RFC 8489's SHA-256 password algorithm:
/// SHA-256(username:realm:password).
pub fn long_term_key_sha256(username: &str, realm: &str, password: &str) -> [u8; 32] {
    credential_digest::<Sha256>(username, realm, password)
        .finalize()
        .into()
}

/// RFC 8489's password algorithm numbers.
const PASSWORD_ALGORITHM_SHA256: u16 = 0x0002;

impl Credentials<'_> {
    /// The HMAC key (long-term: with the MD5 password algorithm).
    pub fn key(&self) -> Vec<u8> {
        self.key_for(false)
    }

    fn key_for(&self, sha256_password: bool) -> Vec<u8> {
        match *self {
            Credentials::ShortTerm { password } => password.as_bytes().to_vec(),
            Credentials::LongTerm {
                username,
                realm,
                password,
            } if sha256_password => long_term_key_sha256(username, realm, password).to_vec(),
            Credentials::LongTerm {
                username,
                realm,
                password,
            } => long_term_key(username, realm, password).to_vec(),
        }
    }
}

/// The outcome of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The attribute is not in the message.
    Absent,
    /// Present, not checked (no credentials given).
    Unchecked,
    /// Present and verified with the credentials given.
    Ok,
    /// Present and wrong.
    Bad,
}

impl Check {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Check::Absent => "absent",
            Check::Unchecked => "unchecked",
            Check::Ok => "ok",
            Check::Bad => "bad",
        }
    }
}

/// The bytes a MAC covers: the message up to `attr_offset`, with the length
/// field covering up to the end of an attribute of `value_len` bytes there.
fn covered(buf: &[u8], attr_offset: usize, value_len: usize) -> Option<Vec<u8>> {
    let mut data = buf.get(..attr_offset)?.to_vec();
    let len = u16::try_from(attr_offset + 4 + value_len - super::HEADER_LEN).ok()?;
    data.get_mut(2..4)?.copy_from_slice(&len.to_be_bytes());
    Some(data)
}

/// HMAC-SHA1 (20 bytes) or HMAC-SHA256 (32 bytes) of `data` under `key`.
pub fn hmac(key: &[u8], data: &[u8], sha256: bool) -> Vec<u8> {
    if sha256 {
        // HMAC accepts keys of any length; new_from_slice cannot fail.
        let mut m =
            <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
        m.update(data);
        m.finalize().into_bytes().to_vec()
    } else {
        let mut m =
            <Hmac<Sha1> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }
}

/// CRC-32 of `data` XOR 0x5354554E.
pub fn fingerprint(data: &[u8]) -> u32 {
    crc32fast::hash(data) ^ FINGERPRINT_XOR
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Message<'_> {
    /// Verifies every MESSAGE-INTEGRITY and MESSAGE-INTEGRITY-SHA256 with
    /// `creds` (or reports them unchecked when `creds` is `None`).
    ///
    /// A 32-byte MESSAGE-INTEGRITY (MS-TURN version 3 and later) is checked
    /// as HMAC-SHA256 with the same key.
    pub fn check_integrity(&self, creds: Option<&Credentials<'_>>) -> Check {
        let mut result = Check::Absent;
        // PASSWORD-ALGORITHM (RFC 8489 section 14.12) picks the long-term key.
        let sha256_password = self
            .attribute(attr_type::PASSWORD_ALGORITHM)
            .is_some_and(|a| {
                a.value.get(..2) == Some(&PASSWORD_ALGORITHM_SHA256.to_be_bytes()[..])
            });
        let key = creds.map(|c| c.key_for(sha256_password));
        for a in self.attributes() {
            let sha256 = match a.typ {
                attr_type::MESSAGE_INTEGRITY => a.value.len() == 32,
                attr_type::MESSAGE_INTEGRITY_SHA256 => true,
                _ => continue,
            };
            let Some(key) = &key else {
                result = Check::Unchecked;
                continue;
            };
            let full = if sha256 { 32 } else { 20 };
            // MESSAGE-INTEGRITY-SHA256 may be truncated to 16..32 bytes.
            let ok = a.value.len() <= full
                && a.value.len() >= 16
                && covered(self.as_bytes(), a.offset, a.value.len())
                    .is_some_and(|d| ct_eq(&hmac(key, &d, sha256)[..a.value.len()], a.value));
            if !ok {
                return Check::Bad;
            }
            result = Check::Ok;
        }
        result
    }

    /// Verifies FINGERPRINT.
    pub fn check_fingerprint(&self) -> Check {
        let Some(a) = self.attribute(attr_type::FINGERPRINT) else {
            return Check::Absent;
        };
        let Ok(stored) = <[u8; 4]>::try_from(a.value) else {
            return Check::Bad;
        };
        match covered(self.as_bytes(), a.offset, 4) {
            Some(d) if fingerprint(&d) == u32::from_be_bytes(stored) => Check::Ok,
            _ => Check::Bad,
        }
    }
}

impl serde::Serialize for Check {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}
