//! lz4 frame compression with a hard cap on the decompressed size.

use std::io::{Read, Write};

/// A compressed body that could not be decompressed.
#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    /// The body is not a valid lz4 frame.
    #[error("lz4: invalid frame: {0}")]
    Invalid(String),
    /// The body decompresses to more than the cap (an lz4 bomb or an oversized batch).
    #[error("lz4: decompressed size exceeds the cap of {cap} bytes")]
    TooLarge {
        /// The cap that was hit.
        cap: usize,
    },
}

/// Compresses `data` as one lz4 frame.
pub fn lz4_compress(data: &[u8]) -> Vec<u8> {
    let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(data.len() / 3 + 64));
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// Decompresses an lz4 frame, refusing (without allocating it) any output larger than `cap` bytes.
pub fn lz4_decompress(data: &[u8], cap: usize) -> Result<Vec<u8>, CompressError> {
    let dec = lz4_flex::frame::FrameDecoder::new(data);
    // NDJSON batches shrink 8-10× (each record repeats its metadata): sized for that, the buffer grows at most
    // once instead of twice or three times (each growth a copy).
    let mut out = Vec::with_capacity(data.len().saturating_mul(10).min(cap));
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    dec.take(limit)
        .read_to_end(&mut out)
        .map_err(|e| CompressError::Invalid(e.to_string()))?;
    if out.len() > cap {
        return Err(CompressError::TooLarge { cap });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bomb_is_refused() {
        let zeros = vec![0u8; 8 << 20];
        let bomb = lz4_compress(&zeros);
        assert!(bomb.len() < 100_000, "bomb compresses well: {}", bomb.len());
        match lz4_decompress(&bomb, 1 << 20) {
            Err(CompressError::TooLarge { cap }) => assert_eq!(cap, 1 << 20),
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert_eq!(lz4_decompress(&bomb, 8 << 20).expect("fits").len(), 8 << 20);
    }

    proptest! {
        #[test]
        fn round_trips(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let c = lz4_compress(&data);
            prop_assert_eq!(lz4_decompress(&c, 4096).expect("decompress"), data);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = lz4_decompress(&data, 1 << 16);
        }
    }
}
