//! A pcapng writer (draft-ietf-opsawg-pcapng): one section, one interface with
//! nanosecond timestamps, enhanced packet blocks. `capture --interface --write` keeps
//! what it saw in it, and [`crate::CaptureReader`] (or Wireshark) reads it back with
//! the same timestamps and bytes, so a live report and the file's report are the same.

use std::io::{self, Write};

use crate::reader::LinkType;

/// Writes packets to a pcapng stream.
pub struct Writer<W: Write> {
    out: W,
}

/// Block types.
const SECTION_HEADER: u32 = 0x0A0D_0D0A;
const INTERFACE_DESCRIPTION: u32 = 1;
const ENHANCED_PACKET: u32 = 6;

/// Option codes of the interface description block.
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;
const OPT_END: u16 = 0;

fn option(body: &mut Vec<u8>, code: u16, value: &[u8]) {
    body.extend_from_slice(&code.to_le_bytes());
    // Option values are at most 65535 bytes; an interface name is far shorter.
    let len = value.len().min(usize::from(u16::MAX));
    body.extend_from_slice(&(len as u16).to_le_bytes());
    body.extend_from_slice(&value[..len]);
    body.resize(body.len().next_multiple_of(4), 0);
}

impl<W: Write> Writer<W> {
    /// Starts the file: a section header and one interface (`link`, `snaplen`, its
    /// name) whose timestamps are in nanoseconds.
    pub fn new(mut out: W, link: LinkType, snaplen: u32, interface: &str) -> io::Result<Self> {
        // Section header: byte-order magic, version 1.0, section length unknown (-1).
        let mut shb = Vec::with_capacity(16);
        shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        block(&mut out, SECTION_HEADER, &shb)?;
        let mut idb = Vec::with_capacity(32);
        idb.extend_from_slice(&link.to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&snaplen.to_le_bytes());
        option(&mut idb, IF_NAME, interface.as_bytes());
        option(&mut idb, IF_TSRESOL, &[9]);
        option(&mut idb, OPT_END, &[]);
        block(&mut out, INTERFACE_DESCRIPTION, &idb)?;
        Ok(Writer { out })
    }

    /// One packet: its time (ns since the epoch), the captured bytes and the length
    /// it had on the wire.
    pub fn packet(&mut self, ts_ns: u64, data: &[u8], orig_len: u32) -> io::Result<()> {
        let caplen = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "packet over 4 GiB"))?;
        let padded = data.len().next_multiple_of(4);
        let total = 32 + padded as u32;
        let mut head = [0u8; 28];
        head[0..4].copy_from_slice(&ENHANCED_PACKET.to_le_bytes());
        head[4..8].copy_from_slice(&total.to_le_bytes());
        // Interface 0; the timestamp's high and low 32 bits.
        head[12..16].copy_from_slice(&((ts_ns >> 32) as u32).to_le_bytes());
        head[16..20].copy_from_slice(&(ts_ns as u32).to_le_bytes());
        head[20..24].copy_from_slice(&caplen.to_le_bytes());
        head[24..28].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(data)?;
        self.out.write_all(&[0; 3][..padded - data.len()])?;
        self.out.write_all(&total.to_le_bytes())
    }

    /// Flushes and gives the output back.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A whole block: type, total length, body (a multiple of 4), total length again.
fn block(out: &mut impl Write, typ: u32, body: &[u8]) -> io::Result<()> {
    let total = (12 + body.len()) as u32;
    out.write_all(&typ.to_le_bytes())?;
    out.write_all(&total.to_le_bytes())?;
    out.write_all(body)?;
    out.write_all(&total.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CaptureReader;

    #[test]
    fn what_is_written_reads_back_with_the_same_times_and_bytes() {
        let packets: Vec<(u64, Vec<u8>, u32)> = vec![
            (1_700_000_000_123_456_789, vec![1, 2, 3], 3),
            (1_700_000_001_000_000_001, vec![0xAB; 64], 1500),
            (1_700_000_002_999_999_999, Vec::new(), 60),
        ];
        let mut w = Writer::new(Vec::new(), 1, 262_144, "veth-client").unwrap();
        for (ts, data, orig) in &packets {
            w.packet(*ts, data, *orig).unwrap();
        }
        let bytes = w.finish().unwrap();
        let mut r = CaptureReader::new(&bytes[..]).unwrap();
        for (ts, data, orig) in &packets {
            let p = r.next_packet().unwrap().unwrap();
            assert_eq!(
                (p.ts_ns, p.data, p.orig_len, p.link),
                (*ts, &data[..], *orig, 1)
            );
        }
        assert!(r.next_packet().unwrap().is_none());
        assert_eq!(r.offset(), bytes.len() as u64);
    }
}
