//! decode -> encode -> decode gives the same message: type, transaction id,
//! and every attribute's type and value.
#![no_main]

use edgepath_wire::stun::{Message, MessageBuilder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Message::parse(data) else { return };
    // Classic STUN has no cookie; the builder writes RFC 5389 headers.
    if !m.has_magic_cookie() {
        return;
    }
    let Ok(txid) = <[u8; 12]>::try_from(m.transaction_id()) else {
        return;
    };
    let mut b = MessageBuilder::with_type(m.message_type(), txid);
    for a in m.attributes() {
        b.add(a.typ, a.value);
    }
    let bytes = b.build();
    let again = Message::parse(&bytes).expect("what we encode decodes");
    assert_eq!(again.message_type(), m.message_type());
    assert_eq!(again.transaction_id(), m.transaction_id());
    assert_eq!(again.variant(), m.variant());
    let before: Vec<_> = m.decoded().map(|a| (a.raw.typ, a.value)).collect();
    let after: Vec<_> = again.decoded().map(|a| (a.raw.typ, a.value)).collect();
    assert_eq!(before, after);
});
