//! Qiskit's packed BitArray row layout and its conversion to little-endian 64-bit words.
//!
//! A row of `num_bits` bits takes `ceil(num_bits / 8)` bytes, big-endian: register bit `j` is
//! bit `j % 8` of byte `nbytes - 1 - j / 8`. The unused high bits of byte 0 are padding and
//! are ignored on read and written as zero. In word form, bit `j` is bit `j % 64` of word `j / 64`.

/// Bytes per row for `num_bits` bits.
#[inline]
pub fn num_bytes(num_bits: usize) -> usize {
    num_bits.div_ceil(8)
}

/// 64-bit words per row for `num_bits` bits.
#[inline]
pub fn num_words(num_bits: usize) -> usize {
    num_bits.div_ceil(64)
}

/// The mask of the meaningful bits of byte 0 of a row.
#[inline]
pub fn first_byte_mask(num_bits: usize) -> u8 {
    match num_bits % 8 {
        0 => 0xFF,
        r => (1u8 << r) - 1,
    }
}

/// Read a packed row into `words` (length `num_words(num_bits)`), padding bits cleared.
#[inline]
pub fn load_row(row: &[u8], num_bits: usize, words: &mut [u64]) {
    let nbytes = row.len();
    let mut end = nbytes;
    for word in words.iter_mut() {
        if end >= 8 {
            *word = u64::from_be_bytes(row[end - 8..end].try_into().unwrap());
            end -= 8;
        } else {
            let mut w = 0u64;
            for &b in &row[..end] {
                w = (w << 8) | b as u64;
            }
            *word = w;
            end = 0;
        }
    }
    let tail = num_bits % 64;
    if tail != 0 {
        if let Some(last) = words.last_mut() {
            *last &= (1u64 << tail) - 1;
        }
    }
}

/// Write `words` into a packed row of `row.len()` bytes (padding must already be zero in
/// `words`).
#[inline]
pub fn store_row(words: &[u64], row: &mut [u8]) {
    let mut end = row.len();
    for &word in words {
        if end >= 8 {
            row[end - 8..end].copy_from_slice(&word.to_be_bytes());
            end -= 8;
        } else {
            let bytes = word.to_be_bytes();
            row[..end].copy_from_slice(&bytes[8 - end..]);
            end = 0;
        }
    }
}

/// A run of consecutive bits copied from a source row to a destination row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitRun {
    pub src: usize,
    pub dst: usize,
    pub len: usize,
}

/// Group `(dst, src)` bit pairs, in order, into runs of at most 64 bits where both sides
/// advance together.
pub fn runs_from_pairs(pairs: impl IntoIterator<Item = (usize, usize)>) -> Vec<BitRun> {
    let mut runs: Vec<BitRun> = Vec::new();
    for (dst, src) in pairs {
        match runs.last_mut() {
            Some(run) if run.src + run.len == src && run.dst + run.len == dst && run.len < 64 => {
                run.len += 1
            }
            _ => runs.push(BitRun { src, dst, len: 1 }),
        }
    }
    runs
}

/// Bits `start .. start + len` (len in 1..=64) of a word row.
#[inline]
pub fn extract_bits(words: &[u64], start: usize, len: usize) -> u64 {
    let (w, s) = (start / 64, start % 64);
    let mut bits = words[w] >> s;
    if s != 0 && s + len > 64 {
        bits |= words[w + 1] << (64 - s);
    }
    if len < 64 {
        bits &= (1u64 << len) - 1;
    }
    bits
}

/// OR `bits` (only the low `len` bits set) into a word row at bit `start`.
#[inline]
pub fn deposit_bits(words: &mut [u64], start: usize, len: usize, bits: u64) {
    let (w, s) = (start / 64, start % 64);
    words[w] |= bits << s;
    if s != 0 && s + len > 64 {
        words[w + 1] |= bits >> (64 - s);
    }
}

/// Apply `runs` from the word row `src` into the zeroed word row `dst`.
#[inline]
pub fn copy_runs(src: &[u64], runs: &[BitRun], dst: &mut [u64]) {
    for run in runs {
        deposit_bits(dst, run.dst, run.len, extract_bits(src, run.src, run.len));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_zero_is_the_low_bit_of_the_last_byte() {
        let mut words = [0u64; 1];
        load_row(&[0b0000_0010, 0b0000_0001], 10, &mut words);
        assert_eq!(words[0], 1 | 1 << 9);
    }

    #[test]
    fn padding_bits_are_ignored_on_load() {
        let mut words = [0u64; 1];
        load_row(&[0xFF, 0x00], 10, &mut words);
        assert_eq!(words[0], 0b11 << 8);
    }

    #[test]
    fn rows_round_trip_through_words_for_many_widths() {
        for num_bits in 1..200 {
            let nbytes = num_bytes(num_bits);
            let row: Vec<u8> = (0..nbytes).map(|i| (i * 37 + num_bits) as u8).collect();
            let mut words = vec![0u64; num_words(num_bits)];
            load_row(&row, num_bits, &mut words);
            let mut back = vec![0u8; nbytes];
            store_row(&words, &mut back);
            let mut expected = row.clone();
            expected[0] &= first_byte_mask(num_bits);
            assert_eq!(back, expected, "num_bits={num_bits}");
        }
    }

    #[test]
    fn runs_merge_consecutive_sources() {
        let runs = runs_from_pairs([3, 4, 5, 0, 9, 10].into_iter().enumerate());
        assert_eq!(
            runs,
            vec![
                BitRun {
                    src: 3,
                    dst: 0,
                    len: 3
                },
                BitRun {
                    src: 0,
                    dst: 3,
                    len: 1
                },
                BitRun {
                    src: 9,
                    dst: 4,
                    len: 2
                }
            ]
        );
    }

    #[test]
    fn runs_crossing_word_boundaries_copy_exactly() {
        let src = [0xDEAD_BEEF_0123_4567u64, 0x89AB_CDEF_FEDC_BA98, 0x5555];
        let mut dst = [0u64; 3];
        copy_runs(
            &src,
            &[BitRun {
                src: 60,
                dst: 70,
                len: 64,
            }],
            &mut dst,
        );
        for i in 0..64 {
            let s = (src[(60 + i) / 64] >> ((60 + i) % 64)) & 1;
            let d = (dst[(70 + i) / 64] >> ((70 + i) % 64)) & 1;
            assert_eq!(s, d, "bit {i}");
        }
    }
}
