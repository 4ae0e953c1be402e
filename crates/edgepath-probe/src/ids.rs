//! Random bytes from the operating system: STUN transaction ids (RFC 8489 section 6
//! asks for cryptographically random ones, so that an off-path attacker cannot forge
//! answers) and the machine's ClientRequestId for Microsoft's web service.

/// `N` random bytes from the operating system's generator. Should the OS refuse (it
/// does not on any supported system), std's per-process hash keys, themselves seeded
/// from the OS, are hashed with the clock instead: still unpredictable from outside.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if getrandom::getrandom(&mut out).is_ok() {
        return out;
    }
    use std::hash::{BuildHasher, Hasher};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(now);
        let v = h.finish().to_be_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    out
}

/// A new STUN transaction id.
pub fn transaction_id() -> [u8; 12] {
    random_bytes()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_differ() {
        let ids: std::collections::HashSet<[u8; 12]> =
            (0..1000).map(|_| super::transaction_id()).collect();
        assert_eq!(ids.len(), 1000);
    }
}
