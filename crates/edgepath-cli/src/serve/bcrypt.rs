//! Verifying a bcrypt hash (`$2y$10$...`), as exporter-toolkit's basic-auth users are
//! written (`htpasswd -nBC 10 USER`). Only verification: the exporter never makes
//! hashes. Built on the `blowfish` crate's bcrypt primitives (EksBlowfishSetup) rather
//! than the `bcrypt` crate, whose current release pulls a second `getrandom` and whose
//! older ones a second `crypto-common` into the tree, for the hashing we do not need.

use blowfish::Blowfish;

/// bcrypt's own base64 alphabet (not RFC 4648's), without padding.
const ALPHABET: &[u8; 64] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A hash that cannot be used, and why.
#[derive(Debug, PartialEq, Eq)]
pub struct BadHash(pub String);

/// A parsed `$2?$CC$<22 salt><31 hash>` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hash {
    cost: u32,
    salt: [u8; 16],
    digest: [u8; 23],
}

impl Hash {
    /// Reads a modular-crypt bcrypt string: versions 2a, 2b, 2x, 2y (the same
    /// computation for passwords without 8-bit bugs), cost 4 to 31.
    pub fn parse(text: &str) -> Result<Hash, BadHash> {
        let bad = |why: &str| {
            BadHash(format!(
                "not a bcrypt hash ($2y$10$ and 53 characters): {why}"
            ))
        };
        let rest = ["$2a$", "$2b$", "$2x$", "$2y$"]
            .iter()
            .find_map(|p| text.strip_prefix(p))
            .ok_or_else(|| bad("it does not start with $2a$, $2b$ or $2y$"))?;
        let (cost, rest) = rest.split_once('$').ok_or_else(|| bad("no cost"))?;
        let cost: u32 = match cost.parse() {
            Ok(c) if cost.len() == 2 && (4..=31).contains(&c) => c,
            _ => return Err(bad("the cost is not two digits, 04 to 31")),
        };
        if rest.len() != 53 {
            return Err(bad("the salt and hash are not 53 characters"));
        }
        let salt = decode(&rest[..22]).ok_or_else(|| bad("the salt is not bcrypt base64"))?;
        let digest = decode(&rest[22..]).ok_or_else(|| bad("the hash is not bcrypt base64"))?;
        Ok(Hash {
            cost,
            salt: salt[..16].try_into().map_err(|_| bad("short salt"))?,
            digest: digest[..23].try_into().map_err(|_| bad("short hash"))?,
        })
    }

    /// Whether `password` is the one hashed, compared in constant time.
    pub fn verify(&self, password: &[u8]) -> bool {
        let out = bcrypt(self.cost, &self.salt, password);
        let mut diff = 0u8;
        for (a, b) in out[..23].iter().zip(self.digest.iter()) {
            diff |= a ^ b;
        }
        diff == 0
    }
}

/// The raw bcrypt: EksBlowfishSetup with 2^cost rounds, then "OrpheanBeholderScryDoubt"
/// encrypted 64 times. The key is the password with its terminating NUL, at most 72
/// bytes (as OpenBSD's, which every $2b$/$2y$ implementation follows).
fn bcrypt(cost: u32, salt: &[u8; 16], password: &[u8]) -> [u8; 24] {
    let mut key: Vec<u8> = password.iter().copied().take(72).collect();
    if key.len() < 72 {
        key.push(0);
    }
    let mut state = Blowfish::bc_init_state();
    state.salted_expand_key(salt, &key);
    for _ in 0..(1u64 << cost) {
        state.bc_expand_key(&key);
        state.bc_expand_key(salt);
    }
    let mut text: [u32; 6] = [
        0x4f72_7068,
        0x6561_6e42,
        0x6568_6f6c,
        0x6465_7253,
        0x6372_7944,
        0x6f75_6274,
    ];
    for pair in text.chunks_exact_mut(2) {
        for _ in 0..64 {
            let [l, r] = state.bc_encrypt([pair[0], pair[1]]);
            pair[0] = l;
            pair[1] = r;
        }
    }
    let mut out = [0u8; 24];
    for (chunk, word) in out.chunks_exact_mut(4).zip(text) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// bcrypt base64 to bytes (the last group may be 2 or 3 characters); `None` on a
/// character outside the alphabet.
fn decode(text: &str) -> Option<Vec<u8>> {
    decode_base64(ALPHABET, text)
}

/// Base64 in `alphabet`, unpadded (a last group of 2 or 3 characters); `None` on a
/// character outside it or a lone last character. RFC 4648's and bcrypt's differ only in
/// the alphabet.
pub(super) fn decode_base64(alphabet: &[u8; 64], text: &str) -> Option<Vec<u8>> {
    let values: Vec<u32> = text
        .bytes()
        .map(|c| alphabet.iter().position(|&a| a == c).map(|p| p as u32))
        .collect::<Option<_>>()?;
    if values.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(values.len() * 3 / 4);
    for group in values.chunks(4) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, v)| acc | (v << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..group.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published vectors (OpenWall's crypt_blowfish test suite) and hashes made by
    /// Python's bcrypt.
    const VECTORS: &[(&str, &str)] = &[
        ("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
        ("U*U*", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK"),
        ("U*U*U", "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a"),
        ("", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy"),
        (
            "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored",
            "$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
        ),
        // Python's bcrypt 5 (hashpw with gensalt(10) and gensalt(4)).
        ("correct horse", "$2b$10$yQNbQ9NG2J6RGatNfA1oRe4dsc1/WxXxZCZiZS7UuwNOLTRe2.OS6"),
        ("scrape-secret", "$2b$04$szVMNpquV3m1K/JD9sv0tOTc/J/NpJzEn2tnpFd1A42.ag0YSB1gu"),
    ];

    #[test]
    fn published_vectors_verify_and_a_wrong_password_does_not() {
        for (password, hash) in VECTORS {
            let h = Hash::parse(hash).unwrap_or_else(|e| panic!("{hash}: {e:?}"));
            assert!(h.verify(password.as_bytes()), "{password:?} against {hash}");
            assert!(!h.verify(format!("{password}x").as_bytes()) || password.len() >= 72);
            assert!(!h.verify(b"wrong"), "{hash}");
        }
    }

    #[test]
    fn malformed_hashes_say_why() {
        let cases = [
            ("plain", "does not start"),
            ("$2y$1$x", "cost"),
            (
                "$2y$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
                "cost",
            ),
            ("$2y$10$short", "53 characters"),
            (
                "$2y$10$CCCCCCCCCCCCCCCCCCCCC!E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
                "salt",
            ),
            (
                "$2y$10$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe+",
                "hash",
            ),
        ];
        for (text, why) in cases {
            let e = Hash::parse(text).unwrap_err();
            assert!(e.0.contains(why), "{text}: {}", e.0);
        }
    }
}
