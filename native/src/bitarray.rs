//! Building packed BitArray rows: from integer outcomes and from Aer's hex memory strings.

use rayon::prelude::*;

use crate::layout::{first_byte_mask, num_bytes, num_words, runs_from_pairs, store_row, BitRun};

/// Rows per parallel task.
pub const ROW_CHUNK: usize = 1 << 13;

/// Pack integer outcomes: register bit `i` of shot `s` is bit `positions[i]` of `outcomes[s]`,
/// or 0 where `positions[i] < 0`. Returns `outcomes.len() * ceil(positions.len() / 8)` bytes.
///
/// Errors when a position is 64 or more (outcomes have 64 bits).
pub fn pack_outcomes(outcomes: &[u64], positions: &[i64]) -> Result<Vec<u8>, String> {
    if let Some((i, &p)) = positions.iter().enumerate().find(|(_, &p)| p >= 64) {
        return Err(format!("positions[{i}] = {p} is out of range; outcomes have 64 bits"));
    }
    let num_bits = positions.len();
    let nbytes = num_bytes(num_bits);
    let runs = runs_from_pairs(
        positions.iter().enumerate().filter(|(_, &p)| p >= 0).map(|(i, &p)| (i, p as usize)),
    );
    let mut out = vec![0u8; outcomes.len() * nbytes];
    if nbytes == 0 {
        return Ok(out);
    }
    let words = num_words(num_bits);
    out.par_chunks_mut(ROW_CHUNK * nbytes)
        .zip(outcomes.par_chunks(ROW_CHUNK))
        .for_each(|(rows, shots)| {
            let mut buf = vec![0u64; words];
            for (row, &shot) in rows.chunks_exact_mut(nbytes).zip(shots) {
                buf.iter_mut().for_each(|w| *w = 0);
                deposit_runs(shot, &runs, &mut buf);
                store_row(&buf, row);
            }
        });
    Ok(out)
}

#[inline]
fn deposit_runs(shot: u64, runs: &[BitRun], buf: &mut [u64]) {
    for run in runs {
        let bits = crate::layout::extract_bits(std::slice::from_ref(&shot), run.src, run.len);
        crate::layout::deposit_bits(buf, run.dst, run.len, bits);
    }
}

/// A memory string that is not hexadecimal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexError {
    pub index: usize,
}

#[inline]
fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Parse one hex string (optional `0x`/`0X` prefix) into `row`, keeping the low bits that fit
/// and clearing the padding of byte 0 with `first_mask`.
#[inline]
fn parse_hex_row(text: &[u8], row: &mut [u8], first_mask: u8) -> bool {
    let digits = match text {
        [b'0', b'x' | b'X', rest @ ..] => rest,
        _ => text,
    };
    if digits.is_empty() {
        return false;
    }
    row.iter_mut().for_each(|b| *b = 0);
    let nbytes = row.len();
    for (j, &c) in digits.iter().rev().enumerate() {
        let Some(v) = hex_value(c) else { return false };
        let byte = j / 2;
        if byte < nbytes {
            row[nbytes - 1 - byte] |= v << (4 * (j % 2));
        }
    }
    if let Some(first) = row.first_mut() {
        *first &= first_mask;
    }
    true
}

/// Pack hex memory strings (`"0x1a3"`) into rows of `num_bits` bits, keeping the low `num_bits`
/// bits of each value. Errors with the index of the first string that is not hexadecimal.
pub fn hex_to_packed(memory: &[&[u8]], num_bits: usize) -> Result<Vec<u8>, HexError> {
    let nbytes = num_bytes(num_bits);
    let mut out = vec![0u8; memory.len() * nbytes];
    let mask = first_byte_mask(num_bits);
    let bad = if nbytes == 0 {
        memory.iter().position(|t| !parse_hex_row(t, &mut [], mask))
    } else {
        out.par_chunks_mut(ROW_CHUNK * nbytes)
            .zip(memory.par_chunks(ROW_CHUNK))
            .enumerate()
            .filter_map(|(chunk, (rows, texts))| {
                rows.chunks_exact_mut(nbytes)
                    .zip(texts.iter())
                    .position(|(row, text)| !parse_hex_row(text, row, mask))
                    .map(|i| chunk * ROW_CHUNK + i)
            })
            .min()
    };
    match bad {
        Some(index) => Err(HexError { index }),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_outcomes_puts_position_bits_into_register_bits() {
        // register bit 0 <- outcome bit 2, bit 1 <- unmeasured, bit 2 <- outcome bit 0
        let out = pack_outcomes(&[0b101, 0b100, 0b001, 0], &[2, -1, 0]).unwrap();
        assert_eq!(out, vec![0b101, 0b001, 0b100, 0]);
    }

    #[test]
    fn pack_outcomes_is_big_endian_across_bytes() {
        let positions: Vec<i64> = (0..12).collect();
        let out = pack_outcomes(&[0xABC], &positions).unwrap();
        assert_eq!(out, vec![0x0A, 0xBC]);
    }

    #[test]
    fn pack_outcomes_rejects_positions_beyond_64_bits() {
        assert!(pack_outcomes(&[1], &[64]).is_err());
    }

    #[test]
    fn pack_outcomes_with_wide_registers_matches_bitwise_reference() {
        let positions: Vec<i64> = (0..100).map(|i| if i % 7 == 3 { -1 } else { (i * 5) % 64 }).collect();
        let shots = [u64::MAX, 0x0123_4567_89AB_CDEF, 0];
        let out = pack_outcomes(&shots, &positions).unwrap();
        let nbytes = 13;
        for (s, &shot) in shots.iter().enumerate() {
            for (i, &p) in positions.iter().enumerate() {
                let expected = if p < 0 { 0 } else { (shot >> p) & 1 } as u8;
                let byte = out[s * nbytes + nbytes - 1 - i / 8];
                assert_eq!((byte >> (i % 8)) & 1, expected, "shot {s} bit {i}");
            }
            assert_eq!(out[s * nbytes] >> 4, 0, "padding");
        }
    }

    #[test]
    fn hex_strings_pack_low_bits_big_endian() {
        let memory: Vec<&[u8]> = vec![b"0x1a3", b"0x0", b"0xFFFF"];
        let out = hex_to_packed(&memory, 10).unwrap();
        assert_eq!(out, vec![0x01, 0xA3, 0, 0, 0x03, 0xFF]);
    }

    #[test]
    fn hex_strings_that_are_not_hex_report_their_index() {
        let memory: Vec<&[u8]> = vec![b"0x1", b"0x2", b"0xg", b"0x"];
        assert_eq!(hex_to_packed(&memory, 4), Err(HexError { index: 2 }));
    }
}
