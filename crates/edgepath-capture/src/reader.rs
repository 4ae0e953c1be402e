//! A streaming reader for pcap (both byte orders, micro- and nanosecond stamps) and
//! pcapng (several sections and interfaces, each section's byte order, `if_tsresol`).
//!
//! One record is held at a time in a reused buffer, so memory does not grow with the
//! file. A record cut short by the end of the file, or a block whose lengths cannot
//! be, ends the stream with [`CaptureError::Truncated`] / [`CaptureError::Malformed`]
//! carrying the byte offset; the caller keeps what it has read so far.

use std::io::{self, Read};

/// The largest record edgepath accepts (pcapng allows more, no real link does).
const MAX_RECORD: usize = 1 << 20;

/// A link-layer header type (LINKTYPE_*).
pub type LinkType = u16;

/// Why a capture cannot be read (further).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// Reading failed.
    #[error("read error: {0}")]
    Io(#[from] io::Error),
    /// The file is empty.
    #[error("the file is empty")]
    Empty,
    /// The first bytes are not a pcap or pcapng header.
    #[error("not a pcap or pcapng file (first bytes {0})")]
    NotACapture(String),
    /// The file ends inside a record.
    #[error("the capture is cut short at byte {offset}: {what}")]
    Truncated {
        /// Where the cut record starts.
        offset: u64,
        /// What was being read.
        what: String,
    },
    /// A header or block that cannot be right.
    #[error("malformed capture at byte {offset}: {what}")]
    Malformed {
        /// Where it starts.
        offset: u64,
        /// What is wrong.
        what: String,
    },
}

/// One captured packet, borrowed from the reader until the next call.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The link type of its interface.
    pub link: LinkType,
    /// The captured bytes.
    pub data: &'a [u8],
    /// The length on the wire.
    pub orig_len: u32,
}

#[derive(Debug, Clone, Copy)]
struct Iface {
    link: LinkType,
    /// Timestamp units per second.
    units_per_sec: u64,
}

/// Where a packet sits in a pcapng block body.
#[derive(Debug, Clone, Copy)]
struct Record {
    ts: u64,
    data_at: usize,
    caplen: usize,
    orig_len: u32,
}

#[derive(Debug)]
enum Format {
    Pcap {
        big: bool,
        nanos: bool,
        link: LinkType,
    },
    Pcapng {
        big: bool,
        ifaces: Vec<Iface>,
    },
}

/// Reads packets from a pcap or pcapng stream.
pub struct CaptureReader<R: Read> {
    src: Chunks<R>,
    format: Format,
    offset: u64,
}

fn u16_at(b: &[u8], at: usize, big: bool) -> u16 {
    let v = [b[at], b[at + 1]];
    if big {
        u16::from_be_bytes(v)
    } else {
        u16::from_le_bytes(v)
    }
}

fn u32_at(b: &[u8], at: usize, big: bool) -> u32 {
    let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

/// The bytes read from the source, handed out record by record without a second copy:
/// a record is a range of the chunk it was read into (the kernel's copy is the only
/// one; before, every record was moved again out of a `BufReader`).
struct Chunks<R> {
    src: R,
    buf: Vec<u8>,
    /// The first byte not handed out yet.
    start: usize,
    /// The end of what was read.
    end: usize,
    /// The record handed out last.
    cur: std::ops::Range<usize>,
    eof: bool,
}

/// Bytes read from the source at a time (the buffer grows once for a larger record).
const CHUNK: usize = 4 << 20;

impl<R: Read> Chunks<R> {
    fn new(src: R) -> Self {
        Chunks {
            src,
            buf: vec![0; CHUNK],
            start: 0,
            end: 0,
            cur: 0..0,
            eof: false,
        }
    }

    /// Makes the next `n` bytes the current record; `Ok(false)` at a clean end of
    /// file before its first byte, `Truncated` (naming `offset` and `what`) in the
    /// middle.
    fn take(&mut self, n: usize, offset: u64, what: &str) -> Result<bool, CaptureError> {
        while self.end - self.start < n && !self.eof {
            if self.buf.len() - self.start < n {
                // Not enough room after the record's start: move the unread tail to
                // the front (less than one record), growing for a record this large.
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                if self.buf.len() < n {
                    self.buf.resize(n.next_power_of_two(), 0);
                }
            }
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(got) => self.end += got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        let have = self.end - self.start;
        if n > 0 && have == 0 {
            return Ok(false);
        }
        if have < n {
            return Err(CaptureError::Truncated {
                offset,
                what: format!("{what}: {have} of {n} bytes"),
            });
        }
        self.cur = self.start..self.start + n;
        self.start += n;
        Ok(true)
    }

    /// The current record.
    fn rec(&self) -> &[u8] {
        &self.buf[self.cur.clone()]
    }
}

const PCAPNG_SHB: u32 = 0x0A0D_0D0A;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

impl<R: Read> CaptureReader<R> {
    /// Reads the file header and detects the format.
    pub fn new(src: R) -> Result<Self, CaptureError> {
        let mut src = Chunks::new(src);
        if !src.take(4, 0, "file header")? {
            return Err(CaptureError::Empty);
        }
        let b = src.rec();
        let magic = [b[0], b[1], b[2], b[3]];
        let pcap = match magic {
            [0xD4, 0xC3, 0xB2, 0xA1] => Some((false, false)),
            [0xA1, 0xB2, 0xC3, 0xD4] => Some((true, false)),
            [0x4D, 0x3C, 0xB2, 0xA1] => Some((false, true)),
            [0xA1, 0xB2, 0x3C, 0x4D] => Some((true, true)),
            _ => None,
        };
        if let Some((big, nanos)) = pcap {
            if !src.take(20, 4, "pcap file header")? {
                return Err(CaptureError::Truncated {
                    offset: 0,
                    what: "pcap file header: 4 of 24 bytes".into(),
                });
            }
            // As libpcap (and so tshark) reads it: version 2 only, and the bits the
            // format reserves in the link-type field clear; anything else is not a
            // pcap file header, whatever its magic.
            let major = u16_at(src.rec(), 0, big);
            if major != 2 {
                return Err(CaptureError::Malformed {
                    offset: 4,
                    what: format!("pcap major version {major} (only version 2 exists)"),
                });
            }
            let network = u32_at(src.rec(), 16, big);
            if network & 0x03FF_0000 != 0 {
                return Err(CaptureError::Malformed {
                    offset: 20,
                    what: format!("pcap link-type field {network:#010x} has reserved bits set"),
                });
            }
            let link = (network & 0xFFFF) as u16;
            return Ok(CaptureReader {
                src,
                format: Format::Pcap { big, nanos, link },
                offset: 24,
            });
        }
        if u32::from_le_bytes(magic) == PCAPNG_SHB {
            let mut r = CaptureReader {
                src,
                format: Format::Pcapng {
                    big: false,
                    ifaces: Vec::new(),
                },
                offset: 0,
            };
            if !r.src.take(4, 4, "section header")? {
                return Err(CaptureError::Truncated {
                    offset: 0,
                    what: "section header".into(),
                });
            }
            let b = r.src.rec();
            let len = [b[0], b[1], b[2], b[3]];
            r.section_header(0, len)?;
            return Ok(r);
        }
        let shown: Vec<String> = magic.iter().map(|b| format!("{b:02x}")).collect();
        Err(CaptureError::NotACapture(shown.join(" ")))
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next packet, `Ok(None)` at the end.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        match self.format {
            Format::Pcap { big, nanos, link } => self.next_pcap(big, nanos, link),
            Format::Pcapng { .. } => self.next_pcapng(),
        }
    }

    fn next_pcap(
        &mut self,
        big: bool,
        nanos: bool,
        link: LinkType,
    ) -> Result<Option<Packet<'_>>, CaptureError> {
        let start = self.offset;
        if !self.src.take(16, start, "pcap record header")? {
            return Ok(None);
        }
        let h = self.src.rec();
        let secs = u64::from(u32_at(h, 0, big));
        let frac = u64::from(u32_at(h, 4, big));
        let caplen = u32_at(h, 8, big) as usize;
        let orig_len = u32_at(h, 12, big);
        if caplen > MAX_RECORD {
            return Err(CaptureError::Malformed {
                offset: start,
                what: format!("record length {caplen} is more than any link carries"),
            });
        }
        if !self.src.take(caplen, start, "packet data")? {
            return Err(CaptureError::Truncated {
                offset: start,
                what: format!("packet data: 0 of {caplen} bytes"),
            });
        }
        self.offset = start + 16 + caplen as u64;
        let ts_ns = secs * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
        Ok(Some(Packet {
            ts_ns,
            link,
            data: self.src.rec(),
            orig_len,
        }))
    }

    /// Reads the rest of a section header block whose type and length fields (`len`,
    /// in the section's still unknown byte order) were read: the byte-order magic says
    /// how to read the length, then the body is skipped and the section begins.
    fn section_header(&mut self, start: u64, len: [u8; 4]) -> Result<(), CaptureError> {
        let cut = || CaptureError::Truncated {
            offset: start,
            what: "section header".into(),
        };
        if !self.src.take(4, start + 8, "section header")? {
            return Err(cut());
        }
        let b = self.src.rec();
        let magic = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let big = magic != BYTE_ORDER_MAGIC;
        if big && magic.swap_bytes() != BYTE_ORDER_MAGIC {
            return Err(CaptureError::Malformed {
                offset: start + 8,
                what: format!("pcapng byte-order magic {magic:#010x}"),
            });
        }
        let total = if big {
            u32::from_be_bytes(len)
        } else {
            u32::from_le_bytes(len)
        } as usize;
        if !(28..=MAX_RECORD).contains(&total) || total % 4 != 0 {
            return Err(CaptureError::Malformed {
                offset: start,
                what: format!("section header block length {total}"),
            });
        }
        if !self.src.take(total - 12, start + 12, "section header")? {
            return Err(cut());
        }
        self.offset = start + total as u64;
        self.format = Format::Pcapng {
            big,
            ifaces: Vec::new(),
        };
        Ok(())
    }

    fn next_pcapng(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        loop {
            let start = self.offset;
            if !self.src.take(8, start, "block header")? {
                return Ok(None);
            }
            let b = self.src.rec();
            let raw_type = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            if raw_type == PCAPNG_SHB {
                let len = [b[4], b[5], b[6], b[7]];
                self.section_header(start, len)?;
                continue;
            }
            let Format::Pcapng { big, .. } = self.format else {
                return Ok(None);
            };
            let btype = u32_at(b, 0, big);
            let total = u32_at(b, 4, big) as usize;
            if !(12..=MAX_RECORD).contains(&total) || total % 4 != 0 {
                return Err(CaptureError::Malformed {
                    offset: start,
                    what: format!("block of type {btype:#x} with length {total}"),
                });
            }
            if !self.src.take(total - 8, start + 8, "block body")? {
                return Err(CaptureError::Truncated {
                    offset: start,
                    what: format!("block of type {btype:#x}: 8 of {total} bytes"),
                });
            }
            self.offset = start + total as u64;
            let body_len = total - 12;
            match btype {
                1 => self.interface(start, body_len, big)?,
                6 => return self.timed_block(start, body_len, big, false),
                3 => return self.simple(start, body_len, big),
                2 => return self.timed_block(start, body_len, big, true),
                _ => {} // name resolution, statistics, custom blocks: not needed
            }
        }
    }

    fn interface(&mut self, start: u64, body_len: usize, big: bool) -> Result<(), CaptureError> {
        if body_len < 8 {
            return Err(CaptureError::Malformed {
                offset: start,
                what: "interface description block too short".into(),
            });
        }
        let link = u16_at(self.src.rec(), 0, big);
        let mut units_per_sec = 1_000_000u64;
        // Options: code, length, value padded to 4.
        let mut at = 8;
        while at + 4 <= body_len {
            let code = u16_at(self.src.rec(), at, big);
            let len = usize::from(u16_at(self.src.rec(), at + 2, big));
            if code == 0 || at + 4 + len > body_len {
                break;
            }
            if code == 9 && len >= 1 {
                let v = self.src.rec()[at + 4];
                units_per_sec = if v & 0x80 == 0 {
                    10u64.checked_pow(u32::from(v)).unwrap_or(0)
                } else {
                    1u64.checked_shl(u32::from(v & 0x7F)).unwrap_or(0)
                };
                if units_per_sec == 0 {
                    return Err(CaptureError::Malformed {
                        offset: start,
                        what: format!("interface time resolution {v:#04x}"),
                    });
                }
            }
            at += 4 + ((len + 3) & !3);
        }
        if let Format::Pcapng { ifaces, .. } = &mut self.format {
            ifaces.push(Iface {
                link,
                units_per_sec,
            });
        }
        Ok(())
    }

    fn iface(&self, start: u64, id: usize) -> Result<Iface, CaptureError> {
        match &self.format {
            Format::Pcapng { ifaces, .. } => {
                ifaces
                    .get(id)
                    .copied()
                    .ok_or_else(|| CaptureError::Malformed {
                        offset: start,
                        what: format!(
                        "packet on interface {id}, which no interface description block declared"
                    ),
                    })
            }
            Format::Pcap { .. } => Err(CaptureError::Malformed {
                offset: start,
                what: "pcapng block in a pcap file".into(),
            }),
        }
    }

    fn packet_at(
        &self,
        start: u64,
        body_len: usize,
        iface: Iface,
        r: Record,
    ) -> Result<Option<Packet<'_>>, CaptureError> {
        let Record {
            ts,
            data_at,
            caplen,
            orig_len,
        } = r;
        if data_at + caplen > body_len {
            return Err(CaptureError::Malformed {
                offset: start,
                what: format!("captured length {caplen} overruns its block"),
            });
        }
        // ts units -> ns without overflow for any resolution up to 2^-127 / 10^-19.
        let ts_ns = (u128::from(ts) * 1_000_000_000 / u128::from(iface.units_per_sec)) as u64;
        Ok(Some(Packet {
            ts_ns,
            link: iface.link,
            data: &self.src.rec()[data_at..data_at + caplen],
            orig_len,
        }))
    }

    /// An enhanced packet block (6) or the obsolete packet block (2): the same layout
    /// but for the interface id, 32 bits in the first, 16 (then a drop count) in the
    /// second.
    fn timed_block(
        &self,
        start: u64,
        body_len: usize,
        big: bool,
        obsolete: bool,
    ) -> Result<Option<Packet<'_>>, CaptureError> {
        if body_len < 20 {
            return Err(CaptureError::Malformed {
                offset: start,
                what: format!(
                    "{} block too short",
                    if obsolete {
                        "packet"
                    } else {
                        "enhanced packet"
                    }
                ),
            });
        }
        let id = if obsolete {
            usize::from(u16_at(self.src.rec(), 0, big))
        } else {
            u32_at(self.src.rec(), 0, big) as usize
        };
        let iface = self.iface(start, id)?;
        let ts = (u64::from(u32_at(self.src.rec(), 4, big)) << 32)
            | u64::from(u32_at(self.src.rec(), 8, big));
        let caplen = u32_at(self.src.rec(), 12, big) as usize;
        let orig_len = u32_at(self.src.rec(), 16, big);
        self.packet_at(
            start,
            body_len,
            iface,
            Record {
                ts,
                data_at: 20,
                caplen,
                orig_len,
            },
        )
    }

    fn simple(
        &self,
        start: u64,
        body_len: usize,
        big: bool,
    ) -> Result<Option<Packet<'_>>, CaptureError> {
        if body_len < 4 {
            return Err(CaptureError::Malformed {
                offset: start,
                what: "simple packet block too short".into(),
            });
        }
        let iface = self.iface(start, 0)?;
        let orig = u32_at(self.src.rec(), 0, big);
        let caplen = (orig as usize).min(body_len - 4);
        self.packet_at(
            start,
            body_len,
            iface,
            Record {
                ts: 0,
                data_at: 4,
                caplen,
                orig_len: orig,
            },
        )
    }
}
