//! The frame codec of each mesh connection: JSON text until the handshake agreed on `deflate`,
//! then binary messages that continue one DEFLATE stream per direction
//! (`parkmesh_protocol::Deflater`). A connection whose peer did not offer `deflate` (an older
//! build, or one with `mesh.compression` off) stays on text both ways.

use std::collections::HashMap;

use parkmesh_protocol::{CAP_DEFLATE, Deflater, Frame, Inflater};
use parkmesh_transport::LinkCmd;

/// The two streams of one compressed connection.
#[derive(Debug, Default)]
struct Streams {
    out: Deflater,
    inp: Inflater,
}

/// Codecs by connection id; a connection absent here speaks text.
#[derive(Debug, Default)]
pub(crate) struct Codecs {
    by_conn: HashMap<u64, Streams>,
}

impl Codecs {
    /// The handshake on `conn` finished with these shared capabilities.
    pub(crate) fn negotiated(&mut self, conn: u64, caps: &[String]) {
        if caps.iter().any(|c| c == CAP_DEFLATE) {
            self.by_conn.insert(conn, Streams::default());
        }
    }

    /// The command that sends `frame` on `conn`, and its length on the wire.
    pub(crate) fn encode(&mut self, conn: u64, frame: &Frame) -> (LinkCmd, usize) {
        let text = frame.encode();
        match self.by_conn.get_mut(&conn) {
            Some(s) => {
                let bytes = s.out.compress(text.as_bytes());
                let len = bytes.len();
                (LinkCmd::SendBinary(bytes), len)
            }
            None => {
                let len = text.len();
                (LinkCmd::Send(text), len)
            }
        }
    }

    /// The frame text of a binary message from `conn`, or why it cannot be one (binary before
    /// `deflate` was agreed, bad data, over `max` bytes inflated).
    pub(crate) fn decode(&mut self, conn: u64, bytes: &[u8], max: usize) -> Result<String, String> {
        let s = self.by_conn.get_mut(&conn).ok_or_else(|| {
            "binary message on a connection that did not agree on deflate".to_owned()
        })?;
        s.inp.decompress(bytes, max).map_err(|e| e.to_string())
    }

    /// `conn` is gone.
    pub(crate) fn closed(&mut self, conn: u64) {
        self.by_conn.remove(&conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_until_deflate_is_agreed_then_binary_that_round_trips() {
        let (mut a, mut b) = (Codecs::default(), Codecs::default());
        let frame = Frame::Ping { nonce: 7 };
        assert!(matches!(a.encode(1, &frame).0, LinkCmd::Send(_)));
        assert!(b.decode(1, b"xx", 1 << 20).is_err());
        a.negotiated(1, &["other".into()]);
        assert!(matches!(a.encode(1, &frame).0, LinkCmd::Send(_)));
        a.negotiated(1, &[CAP_DEFLATE.into()]);
        b.negotiated(1, &[CAP_DEFLATE.into()]);
        for _ in 0..3 {
            let (LinkCmd::SendBinary(bytes), len) = a.encode(1, &frame) else {
                panic!("expected a binary message");
            };
            assert_eq!(len, bytes.len());
            assert_eq!(b.decode(1, &bytes, 1 << 20).unwrap(), frame.encode());
        }
        b.closed(1);
        assert!(b.decode(1, b"xx", 1 << 20).is_err());
    }
}
