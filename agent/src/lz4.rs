//! lz4 frame compression of sealed batches with one long-lived encoder: its block buffers and hash table are
//! allocated once instead of per batch (a fresh `FrameEncoder` sized its blocks to the 1 MiB batch, 4 MiB
//! buffers allocated and zeroed every seal). 64 KiB linked blocks keep the working set in cache and lose
//! nothing in ratio: lz4's match window is 64 KiB either way.

use std::io::Write;

use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};

/// Compresses one batch after another into a reused output buffer.
pub struct Lz4Frames {
    enc: FrameEncoder<Vec<u8>>,
}

impl std::fmt::Debug for Lz4Frames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lz4Frames").finish_non_exhaustive()
    }
}

impl Default for Lz4Frames {
    fn default() -> Self {
        let mut info = FrameInfo::new();
        info.block_size = BlockSize::Max64KB;
        info.block_mode = BlockMode::Linked;
        Lz4Frames {
            enc: FrameEncoder::with_frame_info(info, Vec::new()),
        }
    }
}

impl Lz4Frames {
    /// `data` as one complete lz4 frame (valid until the next call).
    pub fn compress(&mut self, data: &[u8]) -> &[u8] {
        self.enc.get_mut().clear();
        // An empty input opens no frame, and a reused encoder would then write only an end mark: take the
        // one-shot path. Writing into a Vec cannot fail, nor can closing a frame that declares no content size;
        // should it anyway, the one-shot path answers too, rather than a broken frame.
        if data.is_empty() || self.enc.write_all(data).is_err() || self.enc.try_finish().is_err() {
            *self = Lz4Frames::default();
            *self.enc.get_mut() = logmind_protocol::lz4_compress(data);
        }
        self.enc.get_ref()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use logmind_protocol::lz4_decompress;
    use proptest::prelude::*;

    #[test]
    fn one_encoder_makes_many_valid_frames() {
        let mut z = Lz4Frames::default();
        let big: Vec<u8> = (0..3_000_000u32)
            .flat_map(|i| format!("{{\"n\":{}}}\n", i % 977).into_bytes())
            .take(2_500_000)
            .collect();
        let inputs: Vec<Vec<u8>> = vec![
            b"hello\n".to_vec(),
            big.clone(),
            b"x".to_vec(),
            big[1000..200_000].to_vec(),
            Vec::new(),
            big,
        ];
        for data in &inputs {
            let frame = z.compress(data).to_vec();
            assert_eq!(&lz4_decompress(&frame, 8 << 20).unwrap(), data);
        }
    }

    proptest! {
        #[test]
        fn frames_round_trip(datas in proptest::collection::vec(
            proptest::collection::vec(prop_oneof![Just(b'a'), any::<u8>()], 0..200_000), 1..4)) {
            let mut z = Lz4Frames::default();
            for data in &datas {
                let frame = z.compress(data).to_vec();
                prop_assert_eq!(&lz4_decompress(&frame, 1 << 20).unwrap(), data);
            }
        }
    }
}
