//! lz4 frame compression of sealed batches into reused buffers. The frame is written here (header, then
//! independent blocks of just under 64 KiB compressed with `lz4_flex::block`, then the end mark): a fresh
//! `FrameEncoder` per batch sized its blocks to the 1 MiB body and allocated and zeroed 4 MiB buffers every seal,
//! and even a reused one copies the input into its own buffer first. Blocks below 64 KiB let `lz4_flex` use its
//! small 16-bit hash table, which stays in L1. The frame is a standard lz4 frame (no checksums, like the
//! one-shot encoder's): any lz4 frame decoder reads it.

use lz4_flex::block::{compress_into, get_maximum_output_size};
use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};

/// Uncompressed bytes per block: `lz4_flex` takes its 16-bit hash table path only below `u16::MAX`.
const BLOCK: usize = u16::MAX as usize - 1;
/// Frame magic, descriptor (version 1, independent blocks, no checksums, 64 KiB max block) and its checksum:
/// the 7 bytes `lz4_flex`'s own encoder writes for that [`FrameInfo`] (see [`header`]).
const HEADER_LEN: usize = 7;
/// Block-size flag of an uncompressed (stored) block.
const STORED: u32 = 0x8000_0000;

/// Compresses one batch after another into a reused output buffer.
#[derive(Debug)]
pub struct Lz4Frames {
    header: [u8; HEADER_LEN],
    out: Vec<u8>,
    block: Vec<u8>,
}

impl Default for Lz4Frames {
    fn default() -> Self {
        Lz4Frames {
            header: header(),
            out: Vec::new(),
            block: vec![0; get_maximum_output_size(BLOCK)],
        }
    }
}

/// The frame header `lz4_flex` writes for independent 64 KiB blocks without checksums.
fn header() -> [u8; HEADER_LEN] {
    let mut info = FrameInfo::new();
    info.block_size = BlockSize::Max64KB;
    info.block_mode = BlockMode::Independent;
    info.block_checksums = false;
    info.content_checksum = false;
    let mut h = [0u8; HEADER_LEN];
    // An empty frame is the header plus the 4-byte end mark; writing into a Vec cannot fail.
    if let Ok(empty) = FrameEncoder::with_frame_info(info, Vec::new()).finish() {
        if empty.len() == HEADER_LEN + 4 {
            h.copy_from_slice(&empty[..HEADER_LEN]);
        }
    }
    h
}

impl Lz4Frames {
    /// `data` as one complete lz4 frame (valid until the next call).
    pub fn compress(&mut self, data: &[u8]) -> &[u8] {
        let out = &mut self.out;
        out.clear();
        out.reserve(data.len() / 2 + 64);
        out.extend_from_slice(&self.header);
        for block in data.chunks(BLOCK) {
            match compress_into(block, &mut self.block) {
                Ok(n) if n < block.len() => {
                    out.extend_from_slice(&(n as u32).to_le_bytes());
                    out.extend_from_slice(&self.block[..n]);
                }
                // Incompressible (or, impossibly, too large for the bound-sized buffer): stored as is.
                _ => {
                    out.extend_from_slice(&(block.len() as u32 | STORED).to_le_bytes());
                    out.extend_from_slice(block);
                }
            }
        }
        out.extend_from_slice(&0u32.to_le_bytes());
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use logmind_protocol::lz4_decompress;
    use proptest::prelude::*;

    #[test]
    fn header_is_the_lz4_flex_one_and_empty_input_is_a_valid_frame() {
        let z = Lz4Frames::default();
        assert_eq!(&z.header[..4], &[0x04, 0x22, 0x4d, 0x18]);
        assert_eq!(
            z.header[4], 0b0110_0000,
            "version 1, independent blocks, no checksums"
        );
        assert_eq!(z.header[5], 0x40, "64 KiB blocks");
        let mut z = z;
        assert!(lz4_decompress(z.compress(b""), 16).unwrap().is_empty());
        let noise: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(lz4_decompress(z.compress(&noise), 1 << 20).unwrap(), noise);
    }

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
        #![proptest_config(ProptestConfig::with_cases(24))]
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
