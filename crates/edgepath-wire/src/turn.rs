//! TURN framing (RFC 8656): ChannelData messages, and splitting a TURN
//! byte stream (TCP or TLS) into STUN and ChannelData messages.

use crate::stun::HEADER_LEN;
use crate::DecodeError;

/// The first channel number a client may bind (RFC 8656 section 12).
pub const MIN_CHANNEL: u16 = 0x4000;
/// The last channel number a client may bind.
pub const MAX_CHANNEL: u16 = 0x4FFF;

/// A checked view of one ChannelData message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelData<'a> {
    channel: u16,
    data: &'a [u8],
    wire_len: usize,
}

impl<'a> ChannelData<'a> {
    /// Reads a ChannelData message at the start of `buf`. Over UDP the
    /// padding is optional; over a stream (`stream`) it is required and
    /// counted in [`ChannelData::wire_len`].
    pub fn parse(buf: &'a [u8], stream: bool) -> Result<Self, DecodeError> {
        if buf.len() < 4 {
            return Err(DecodeError::new(
                0,
                format!("{} bytes is too short for a ChannelData header", buf.len()),
            ));
        }
        let channel = u16::from_be_bytes([buf[0], buf[1]]);
        if !(0x4000..=0x7FFF).contains(&channel) {
            return Err(DecodeError::new(
                0,
                format!("channel 0x{channel:04X} is outside ChannelData's range 0x4000-0x7FFF"),
            ));
        }
        let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        if 4 + len > buf.len() {
            return Err(DecodeError::new(
                2,
                format!(
                    "ChannelData length {len} runs past the end: {} bytes follow the header",
                    buf.len() - 4
                ),
            ));
        }
        let padded = (4 + len + 3) & !3;
        let wire_len = if stream {
            padded
        } else {
            (4 + len).max(padded.min(buf.len()))
        };
        if stream && padded > buf.len() {
            return Err(DecodeError::new(
                buf.len(),
                "ChannelData padding missing at the end of the stream data",
            ));
        }
        Ok(ChannelData {
            channel,
            data: &buf[4..4 + len],
            wire_len,
        })
    }

    /// The channel number.
    pub fn channel(&self) -> u16 {
        self.channel
    }

    /// Whether the channel lies in the range a client may bind (0x4000-0x4FFF).
    pub fn channel_is_valid(&self) -> bool {
        (MIN_CHANNEL..=MAX_CHANNEL).contains(&self.channel)
    }

    /// The application data.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Bytes the message takes on the wire, padding included where present.
    pub fn wire_len(&self) -> usize {
        self.wire_len
    }
}

/// Builds a ChannelData message; `pad` rounds it to 4 bytes (required on
/// streams, optional over UDP). Data over 65535 bytes is cut at the limit.
pub fn channel_data(channel: u16, data: &[u8], pad: bool) -> Vec<u8> {
    let len = data.len().min(usize::from(u16::MAX));
    let mut out = Vec::with_capacity(len + 7);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&data[..len]);
    if pad {
        while out.len() % 4 != 0 {
            out.push(0);
        }
    }
    out
}

/// One message split off a TURN stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    /// A STUN/TURN message, exactly as on the wire.
    Stun(Vec<u8>),
    /// A ChannelData message: channel and data (padding dropped).
    ChannelData {
        /// The channel.
        channel: u16,
        /// The data.
        data: Vec<u8>,
    },
}

/// Splits a TURN-over-TCP/TLS byte stream: push bytes as they arrive, pop
/// whole messages. Several messages in one segment and one message across
/// segments both work. A stream cannot resynchronise, so bytes that are
/// neither STUN nor ChannelData are an error that ends it.
#[derive(Debug, Default)]
pub struct TurnStreamDecoder {
    buf: Vec<u8>,
    consumed: usize,
}

impl TurnStreamDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.consumed > 0 && self.consumed * 2 >= self.buf.len() {
            self.buf.drain(..self.consumed);
            self.consumed = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as messages.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.consumed
    }

    /// The next whole message, `Ok(None)` when more bytes are needed.
    /// Offsets in errors count from the start of the stream's unread bytes.
    pub fn next_item(&mut self) -> Result<Option<StreamItem>, DecodeError> {
        let rest = &self.buf[self.consumed..];
        if rest.len() < 4 {
            return Ok(None);
        }
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        match rest[0] >> 6 {
            0 => {
                let total = HEADER_LEN + len;
                if rest.len() < total {
                    return Ok(None);
                }
                let item = StreamItem::Stun(rest[..total].to_vec());
                self.consumed += total;
                Ok(Some(item))
            }
            1 => {
                let total = (4 + len + 3) & !3;
                if rest.len() < total {
                    return Ok(None);
                }
                let channel = u16::from_be_bytes([rest[0], rest[1]]);
                let item = StreamItem::ChannelData {
                    channel,
                    data: rest[4..4 + len].to_vec(),
                };
                self.consumed += total;
                Ok(Some(item))
            }
            _ => Err(DecodeError::new(
                0,
                format!(
                    "first byte 0x{:02X} starts neither a STUN nor a ChannelData message",
                    rest[0]
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_data_udp_and_stream() {
        let b = channel_data(0x4001, b"abcde", true);
        assert_eq!(b.len(), 12);
        let c = ChannelData::parse(&b, true).unwrap();
        assert_eq!(
            (c.channel(), c.data(), c.wire_len()),
            (0x4001, &b"abcde"[..], 12)
        );
        let u = channel_data(0x4001, b"abcde", false);
        assert_eq!(ChannelData::parse(&u, false).unwrap().wire_len(), 9);
        assert!(
            ChannelData::parse(&u, true).is_err(),
            "a stream needs the padding"
        );
        assert!(ChannelData::parse(&[0x80, 0, 0, 0], false).is_err());
        assert!(
            ChannelData::parse(&[0x40, 0, 0, 9, 1], false)
                .unwrap_err()
                .offset
                == 2
        );
        assert!(!ChannelData::parse(&channel_data(0x6000, b"", true), true)
            .unwrap()
            .channel_is_valid());
    }

    #[test]
    fn stream_splits_across_and_within_segments() {
        let stun = crate::stun::MessageBuilder::new(1, crate::stun::Class::Request, [1; 12])
            .add(0x8022, b"x")
            .build();
        let cd = channel_data(0x4000, b"hello", true);
        let mut wire = Vec::new();
        wire.extend_from_slice(&stun);
        wire.extend_from_slice(&cd);
        wire.extend_from_slice(&stun);
        // Byte by byte: one message across many segments.
        let mut d = TurnStreamDecoder::new();
        let mut got = Vec::new();
        for b in &wire {
            d.push(std::slice::from_ref(b));
            while let Some(item) = d.next_item().unwrap() {
                got.push(item);
            }
        }
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[1],
            StreamItem::ChannelData {
                channel: 0x4000,
                data: b"hello".to_vec()
            }
        );
        // All at once: several messages in one segment.
        let mut d = TurnStreamDecoder::new();
        d.push(&wire);
        let mut n = 0;
        while d.next_item().unwrap().is_some() {
            n += 1;
        }
        assert_eq!((n, d.pending()), (3, 0));
        d.push(&[0xC0, 0, 0, 0]);
        assert!(d.next_item().is_err());
    }
}
