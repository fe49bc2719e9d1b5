//! The `deflate` capability: mesh frames compressed as one raw DEFLATE stream per direction of a
//! connection, each frame ending on a sync flush (the scheme of WebSocket permessage-deflate with
//! context takeover, RFC 7692, carried in binary WebSocket messages instead of an extension).
//!
//! Both sides announce [`CAP_DEFLATE`] in `Hello.caps`; only when both did does each side send
//! its frames after the handshake as binary messages holding [`Deflater::compress`] output, and
//! a side that did not announce it keeps receiving the JSON text it always did. Because the
//! compressor's 32 KiB window spans frames, a live event repeats little that the previous ones
//! did not already say (field names, ids, plates of the same site), which is where most of a
//! frame's bytes went. [`Inflater::decompress`] bounds its output, so a small message cannot
//! inflate into an unbounded allocation.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::frame::ProtocolError;

/// The capability name announced in `Hello.caps`.
pub const CAP_DEFLATE: &str = "deflate";

/// The four bytes a sync flush ends with; dropped on the wire and restored before inflating.
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Compression level: level 6 gave the fewest bytes per event for the cost (ARCHITECTURE.md).
const LEVEL: u32 = 6;

/// The sending half: compresses one frame at a time, keeping the window between frames.
pub struct Deflater {
    z: Compress,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("total_in", &self.z.total_in())
            .finish()
    }
}

impl Default for Deflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Deflater {
    /// A fresh stream (one per connection and direction).
    pub fn new() -> Self {
        Self {
            z: Compress::new(Compression::new(LEVEL), false),
        }
    }

    /// Compresses one frame's text; the result is what goes on the wire.
    pub fn compress(&mut self, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() / 3 + 64);
        let start_in = self.z.total_in();
        loop {
            let done = usize::try_from(self.z.total_in() - start_in).unwrap_or(text.len());
            let input = text.get(done..).unwrap_or_default();
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            // Compressing into a Vec with spare room cannot fail for a well-formed stream.
            let _ = self.z.compress_vec(input, &mut out, FlushCompress::Sync);
            let consumed = self.z.total_in() - start_in == text.len() as u64;
            // The flush is complete once the output ends with the sync marker and room is left.
            if consumed && out.ends_with(&SYNC_TAIL) && out.capacity() > out.len() {
                break;
            }
        }
        out.truncate(out.len() - SYNC_TAIL.len());
        out
    }
}

/// The receiving half: inflates one message at a time, keeping the window between messages.
pub struct Inflater {
    z: Decompress,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("total_out", &self.z.total_out())
            .finish()
    }
}

impl Default for Inflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Inflater {
    /// A fresh stream (one per connection and direction).
    pub fn new() -> Self {
        Self {
            z: Decompress::new(false),
        }
    }

    /// Inflates one message into the frame's text, refusing one that would exceed `max_bytes`
    /// or is not valid DEFLATE or UTF-8. After an error the stream is unusable: close the
    /// connection.
    pub fn decompress(&mut self, msg: &[u8], max_bytes: usize) -> Result<String, ProtocolError> {
        let mut out: Vec<u8> = Vec::with_capacity((msg.len() * 4).min(max_bytes) + 64);
        for part in [msg, &SYNC_TAIL[..]] {
            let start_in = self.z.total_in();
            loop {
                let done = usize::try_from(self.z.total_in() - start_in).unwrap_or(part.len());
                let input = part.get(done..).unwrap_or_default();
                if input.is_empty() {
                    break;
                }
                if out.len() > max_bytes {
                    return Err(ProtocolError::TooLarge {
                        len: out.len(),
                        max: max_bytes,
                    });
                }
                if out.capacity() == out.len() {
                    out.reserve(out.capacity().clamp(256, max_bytes + 1));
                }
                let before = (self.z.total_in(), self.z.total_out());
                let status = self
                    .z
                    .decompress_vec(input, &mut out, FlushDecompress::Sync)
                    .map_err(|e| ProtocolError::Malformed(format!("bad deflate data: {e}")))?;
                let stalled = (self.z.total_in(), self.z.total_out()) == before;
                if status == Status::StreamEnd || (stalled && out.capacity() > out.len()) {
                    return Err(ProtocolError::Malformed(
                        "deflate stream ended or stalled inside a message".into(),
                    ));
                }
            }
        }
        // Output still pending in the inflater after all input was taken.
        loop {
            if out.len() > max_bytes {
                return Err(ProtocolError::TooLarge {
                    len: out.len(),
                    max: max_bytes,
                });
            }
            out.reserve(4096);
            let before = self.z.total_out();
            self.z
                .decompress_vec(&[], &mut out, FlushDecompress::Sync)
                .map_err(|e| ProtocolError::Malformed(format!("bad deflate data: {e}")))?;
            if self.z.total_out() == before {
                break;
            }
        }
        if out.len() > max_bytes {
            return Err(ProtocolError::TooLarge {
                len: out.len(),
                max: max_bytes,
            });
        }
        String::from_utf8(out)
            .map_err(|_| ProtocolError::Malformed("deflated frame is not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_later_frames_reuse_the_window() {
        let (mut d, mut i) = (Deflater::new(), Inflater::new());
        let frame = r#"{"v":2,"type":"live","body":{"events":[{"id":{"origin":"central-a","incarnation":1,"seq":1}}]}}"#;
        let first = d.compress(frame.as_bytes());
        let second = d.compress(frame.as_bytes());
        assert!(
            second.len() < first.len() / 3,
            "{} vs {}",
            second.len(),
            first.len()
        );
        assert_eq!(i.decompress(&first, 1 << 20).unwrap(), frame);
        assert_eq!(i.decompress(&second, 1 << 20).unwrap(), frame);
        let empty = d.compress(b"");
        assert_eq!(i.decompress(&empty, 1 << 20).unwrap(), "");
    }

    #[test]
    fn large_frames_round_trip() {
        let (mut d, mut i) = (Deflater::new(), Inflater::new());
        let big: String = (0..200_000u32)
            .map(|n| format!("{:x},", n.wrapping_mul(2_654_435_761)))
            .collect();
        for _ in 0..2 {
            let wire = d.compress(big.as_bytes());
            assert!(wire.len() < big.len());
            assert_eq!(i.decompress(&wire, 4 << 20).unwrap(), big);
        }
    }

    #[test]
    fn a_bomb_is_refused_and_garbage_is_an_error() {
        let mut d = Deflater::new();
        let zeros = vec![b'0'; 2 << 20];
        let wire = d.compress(&zeros);
        assert!(wire.len() < 10_000);
        let err = Inflater::new().decompress(&wire, 64 << 10).unwrap_err();
        assert!(matches!(err, ProtocolError::TooLarge { .. }), "{err}");
        let err = Inflater::new()
            .decompress(&[0xff, 0xff, 0xff, 0xff, 0x12], 1 << 20)
            .unwrap_err();
        assert!(matches!(err, ProtocolError::Malformed(_)), "{err}");
    }
}
