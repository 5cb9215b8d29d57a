//! A small real JPEG for the demo: a greyscale picture of 8×8 blocks (each block one shade,
//! so only DC coefficients are coded), written as a baseline JFIF file that any decoder
//! reads. It stands in for a camera photo, so the demo attaches and fetches a real file.

/// Luminance DC Huffman table of the JPEG standard (Annex K.3): code lengths 1..=16.
const DC_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
/// An AC table holding only end-of-block (symbol 0), coded `0`: every block is flat.
const AC_BITS: [u8; 16] = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
/// DC quantiser 8 makes a block's coefficient equal to its shade minus 128.
const DC_QUANT: u8 = 8;

/// A `width`×`height` picture (rounded up to whole 8×8 blocks) whose shades follow `shade`,
/// called with the block's column and row.
pub fn blocks(width: u16, height: u16, shade: impl Fn(u16, u16) -> u8) -> Vec<u8> {
    let (bw, bh) = (width.div_ceil(8).max(1), height.div_ceil(8).max(1));
    let mut out = vec![0xFF, 0xD8];
    // APP0 JFIF 1.01, no density units, no thumbnail.
    segment(&mut out, 0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    // One quantisation table: DC as above, AC 1 (unused).
    let mut dqt = vec![0u8; 65];
    dqt[1] = DC_QUANT;
    dqt[2..].fill(1);
    segment(&mut out, 0xDB, &dqt);
    // Baseline frame, 8-bit, one component (id 1, no subsampling, table 0).
    let [h1, h0] = (bh * 8).to_be_bytes();
    let [w1, w0] = (bw * 8).to_be_bytes();
    segment(&mut out, 0xC0, &[8, h1, h0, w1, w0, 1, 1, 0x11, 0]);
    let mut dht = vec![0x00];
    dht.extend_from_slice(&DC_BITS);
    dht.extend_from_slice(&DC_VALUES);
    dht.push(0x10);
    dht.extend_from_slice(&AC_BITS);
    dht.push(0x00);
    segment(&mut out, 0xC4, &dht);
    segment(&mut out, 0xDA, &[1, 1, 0x00, 0, 63, 0]);

    let dc_codes = canonical_codes(&DC_BITS);
    let mut bits = BitWriter::default();
    let mut previous = 0i32;
    for row in 0..bh {
        for col in 0..bw {
            let q = i32::from(shade(col, row)) - 128;
            let diff = q - previous;
            previous = q;
            let category = if diff == 0 {
                0
            } else {
                32 - diff.unsigned_abs().leading_zeros()
            };
            let (code, len) = dc_codes[category as usize];
            bits.put(u32::from(code), u32::from(len));
            if category > 0 {
                // Negative differences are sent as their one's complement in `category` bits.
                let extra = if diff < 0 { diff - 1 } else { diff };
                bits.put(extra as u32 & ((1 << category) - 1), category);
            }
            bits.put(0, 1); // end of block
        }
    }
    out.extend(bits.finish());
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

fn segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// (code, length) per symbol index, assigned in order as the standard's Annex C does.
fn canonical_codes(counts: &[u8; 16]) -> Vec<(u16, u8)> {
    let mut codes = Vec::new();
    let mut code = 0u16;
    for (i, &n) in counts.iter().enumerate() {
        for _ in 0..n {
            codes.push((code, i as u8 + 1));
            code += 1;
        }
        code <<= 1;
    }
    codes
}

/// Entropy-coded bytes: most significant bit first, 0xFF followed by a stuffed 0x00, the
/// last byte padded with ones.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    acc: u32,
    used: u32,
}

impl BitWriter {
    fn put(&mut self, value: u32, len: u32) {
        for i in (0..len).rev() {
            self.acc = (self.acc << 1) | ((value >> i) & 1);
            self.used += 1;
            if self.used == 8 {
                self.emit();
            }
        }
    }

    fn emit(&mut self) {
        let b = self.acc as u8;
        self.bytes.push(b);
        if b == 0xFF {
            self.bytes.push(0);
        }
        self.acc = 0;
        self.used = 0;
    }

    fn finish(mut self) -> Vec<u8> {
        if self.used > 0 {
            let pad = 8 - self.used;
            self.acc = (self.acc << pad) | ((1 << pad) - 1);
            self.emit();
        }
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_dc_codes_come_out_of_the_counts() {
        let c = canonical_codes(&DC_BITS);
        assert_eq!(c[0], (0b00, 2));
        assert_eq!(c[5], (0b110, 3));
        assert_eq!(c[6], (0b1110, 4));
        assert_eq!(c[11], (0b1_1111_1110, 9));
    }

    #[test]
    fn a_picture_is_a_jfif_file_core_takes_as_jpeg() {
        let j = blocks(64, 48, |c, r| (c * 30 + r * 10) as u8);
        assert_eq!(&j[..4], &[0xFF, 0xD8, 0xFF, 0xE0]);
        assert_eq!(&j[j.len() - 2..], &[0xFF, 0xD9]);
        assert_eq!(
            outpost_core::sync::blobs::sniff_mime(&j),
            Some("image/jpeg")
        );
        // Inside the entropy-coded data no 0xFF is left unstuffed.
        let sos = j.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        let data = &j[sos + 10..j.len() - 2];
        for (i, w) in data.windows(2).enumerate() {
            assert!(w[0] != 0xFF || w[1] == 0, "unstuffed 0xFF at {i}");
        }
        assert_ne!(j, blocks(64, 48, |c, r| (c * 31 + r * 10) as u8));
    }
}
