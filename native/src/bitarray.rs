//! Building and reshaping packed BitArray rows: from integer outcomes and Aer's hex memory
//! strings; slicing, concatenating and post-selecting bits without unpacking them.

use rayon::prelude::*;

use crate::layout::{
    copy_runs, deposit_bits, extract_bits, first_byte_mask, load_row, num_bytes, num_words,
    runs_from_pairs, store_row, BitRun,
};

/// Rows per parallel task.
pub const ROW_CHUNK: usize = 1 << 13;

/// Pack integer outcomes: register bit `i` of shot `s` is bit `positions[i]` of `outcomes[s]`,
/// or 0 where `positions[i] < 0`. Returns `outcomes.len() * ceil(positions.len() / 8)` bytes.
///
/// Errors when a position is 64 or more (outcomes have 64 bits).
pub fn pack_outcomes(outcomes: &[u64], positions: &[i64]) -> Result<Vec<u8>, String> {
    if let Some((i, &p)) = positions.iter().enumerate().find(|(_, &p)| p >= 64) {
        return Err(format!(
            "positions[{i}] = {p} is out of range; outcomes have 64 bits"
        ));
    }
    let num_bits = positions.len();
    let nbytes = num_bytes(num_bits);
    let runs = runs_from_pairs(
        positions
            .iter()
            .enumerate()
            .filter(|(_, &p)| p >= 0)
            .map(|(i, &p)| (i, p as usize)),
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
        let bits = extract_bits(std::slice::from_ref(&shot), run.src, run.len);
        deposit_bits(buf, run.dst, run.len, bits);
    }
}

/// A memory string that is not hexadecimal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexError {
    pub index: usize,
}

/// Hex digit values by ASCII code; 0xFF marks a character that is not a hex digit.
const HEX_VALUES: [u8; 256] = {
    let mut table = [0xFFu8; 256];
    let mut c = 0;
    while c < 10 {
        table[b'0' as usize + c] = c as u8;
        c += 1;
    }
    let mut c = 0;
    while c < 6 {
        table[b'a' as usize + c] = 10 + c as u8;
        table[b'A' as usize + c] = 10 + c as u8;
        c += 1;
    }
    table
};

/// Parse one hex string (optional `0x`/`0X` prefix) into the zeroed `row`, keeping the low bits
/// that fit and clearing the padding of byte 0 with `first_mask`. False if it is not hexadecimal.
#[inline]
fn parse_hex_row(text: &[u8], row: &mut [u8], first_mask: u8) -> bool {
    let digits = match text {
        [b'0', b'x' | b'X', rest @ ..] => rest,
        _ => text,
    };
    let nbytes = row.len();
    let mut invalid = 0u8;
    for (j, &c) in digits.iter().rev().enumerate() {
        let v = HEX_VALUES[c as usize];
        invalid |= v;
        if j / 2 < nbytes {
            row[nbytes - 1 - j / 2] |= (v & 0x0F) << (4 * (j % 2));
        }
    }
    if let Some(first) = row.first_mut() {
        *first &= first_mask;
    }
    !digits.is_empty() && invalid & 0xF0 == 0
}

/// Pack hex memory strings (`"0x1a3"`) into rows of `num_bits` bits, keeping the low `num_bits`
/// bits of each value. Errors with the index of the first string that is not hexadecimal.
pub fn hex_to_packed(memory: &[&[u8]], num_bits: usize) -> Result<Vec<u8>, HexError> {
    hex_to_packed_with(memory.len(), num_bits, |i| Some(memory[i]))
}

/// [`hex_to_packed`] over `count` strings given by `text(i)` (None: not a string). Errors with
/// the lowest index that is not a hexadecimal string.
pub fn hex_to_packed_with<'a>(
    count: usize,
    num_bits: usize,
    text: impl Fn(usize) -> Option<&'a [u8]> + Sync,
) -> Result<Vec<u8>, HexError> {
    let nbytes = num_bytes(num_bits);
    let mask = first_byte_mask(num_bits);
    let parse = |i: usize, row: &mut [u8]| text(i).is_some_and(|t| parse_hex_row(t, row, mask));
    let mut out = vec![0u8; count * nbytes];
    let bad = if nbytes == 0 {
        (0..count).find(|&i| !parse(i, &mut []))
    } else {
        out.par_chunks_mut(ROW_CHUNK * nbytes)
            .enumerate()
            .filter_map(|(chunk, rows)| {
                let first = chunk * ROW_CHUNK;
                rows.chunks_exact_mut(nbytes)
                    .enumerate()
                    .position(|(r, row)| !parse(first + r, row))
                    .map(|r| first + r)
            })
            .min()
    };
    match bad {
        Some(index) => Err(HexError { index }),
        None => Ok(out),
    }
}

/// Gather bits of every row: output bit `j` of row `r` is input bit `indices[j]`. Input rows
/// have `num_bits` bits; output rows have `indices.len()` bits, padding zero. Indices must be
/// `< num_bits` (checked by the caller).
///
/// Long runs of consecutive indices are copied up to 64 bits at a time; scattered indices go
/// through per-byte lookup tables (one table lookup per input byte that holds a selected bit).
pub fn slice_bits(packed: &[u8], num_bits: usize, indices: &[usize]) -> Vec<u8> {
    let runs = runs_from_pairs(indices.iter().copied().enumerate());
    let gather = ByteGather::new(num_bits, indices);
    if runs.len() <= gather.positions.len() {
        map_rows(packed, num_bits, indices.len(), |row, src, dst| {
            load_row(row, num_bits, src);
            copy_runs(src, &runs, dst)
        })
    } else {
        map_rows(packed, num_bits, indices.len(), |row, _, dst| {
            gather.apply(row, dst)
        })
    }
}

/// Lookup tables from the value of each input byte holding selected bits to the output words
/// those bits set.
struct ByteGather {
    /// Byte positions within an input row that hold at least one selected bit.
    positions: Vec<usize>,
    /// `positions.len() * 256 * out_words` words.
    tables: Vec<u64>,
    out_words: usize,
}

impl ByteGather {
    fn new(num_bits: usize, indices: &[usize]) -> Self {
        let nbytes = num_bytes(num_bits);
        let out_words = num_words(indices.len());
        // single[pos][bit]: the output words set by input bit `bit` of byte `pos`.
        let mut single = vec![0u64; nbytes * 8 * out_words];
        let mut used = vec![false; nbytes];
        for (j, &i) in indices.iter().enumerate() {
            let pos = nbytes - 1 - i / 8;
            used[pos] = true;
            single[(pos * 8 + i % 8) * out_words + j / 64] |= 1u64 << (j % 64);
        }
        let positions: Vec<usize> = (0..nbytes).filter(|&p| used[p]).collect();
        let mut tables = vec![0u64; positions.len() * 256 * out_words];
        for (k, &pos) in positions.iter().enumerate() {
            let table = &mut tables[k * 256 * out_words..(k + 1) * 256 * out_words];
            for v in 1..256usize {
                let (rest, bit) = (v & (v - 1), v.trailing_zeros() as usize);
                for w in 0..out_words {
                    table[v * out_words + w] =
                        table[rest * out_words + w] | single[(pos * 8 + bit) * out_words + w];
                }
            }
        }
        ByteGather {
            positions,
            tables,
            out_words,
        }
    }

    #[inline]
    fn apply(&self, row: &[u8], dst: &mut [u64]) {
        let w = self.out_words;
        for (k, &pos) in self.positions.iter().enumerate() {
            let entry = (k * 256 + row[pos] as usize) * w;
            for (d, &t) in dst.iter_mut().zip(&self.tables[entry..entry + w]) {
                *d |= t;
            }
        }
    }
}

/// Apply `f(source row, source word scratch, zeroed destination words)` to every row, in
/// parallel.
fn map_rows(
    packed: &[u8],
    num_bits: usize,
    out_bits: usize,
    f: impl Fn(&[u8], &mut [u64], &mut [u64]) + Sync,
) -> Vec<u8> {
    let (in_bytes, out_bytes) = (num_bytes(num_bits), num_bytes(out_bits));
    let rows = packed.len().checked_div(in_bytes).unwrap_or(0);
    let mut out = vec![0u8; rows * out_bytes];
    if rows == 0 || out_bytes == 0 {
        return out;
    }
    out.par_chunks_mut(ROW_CHUNK * out_bytes)
        .zip(packed.par_chunks(ROW_CHUNK * in_bytes))
        .for_each(|(dst_rows, src_rows)| {
            let mut src = vec![0u64; num_words(num_bits)];
            let mut dst = vec![0u64; num_words(out_bits)];
            for (d, s) in dst_rows
                .chunks_exact_mut(out_bytes)
                .zip(src_rows.chunks_exact(in_bytes))
            {
                dst.iter_mut().for_each(|w| *w = 0);
                f(s, &mut src, &mut dst);
                store_row(&dst, d);
            }
        });
    out
}

/// Join rows bitwise: part 0 supplies the lowest bits, then part 1, and so on (Qiskit's
/// `concatenate_bits`). Each part is `(packed rows, num_bits)`, all with the same row count.
pub fn concatenate_bits(parts: &[(&[u8], usize)], rows: usize) -> Vec<u8> {
    let total: usize = parts.iter().map(|p| p.1).sum();
    let out_bytes = num_bytes(total);
    let mut out = vec![0u8; rows * out_bytes];
    if out_bytes == 0 {
        return out;
    }
    let offsets: Vec<usize> = parts
        .iter()
        .scan(0, |acc, p| {
            let o = *acc;
            *acc += p.1;
            Some(o)
        })
        .collect();
    out.par_chunks_mut(ROW_CHUNK * out_bytes)
        .enumerate()
        .for_each(|(chunk, dst_rows)| {
            let first = chunk * ROW_CHUNK;
            let mut dst = vec![0u64; num_words(total)];
            let mut src: Vec<Vec<u64>> = parts.iter().map(|p| vec![0u64; num_words(p.1)]).collect();
            for (r, d) in dst_rows.chunks_exact_mut(out_bytes).enumerate() {
                dst.iter_mut().for_each(|w| *w = 0);
                for ((&(data, bits), words), &offset) in parts.iter().zip(&mut src).zip(&offsets) {
                    if bits == 0 {
                        continue;
                    }
                    let nb = num_bytes(bits);
                    load_row(&data[(first + r) * nb..(first + r + 1) * nb], bits, words);
                    let mut done = 0;
                    while done < bits {
                        let len = (bits - done).min(64);
                        deposit_bits(&mut dst, offset + done, len, extract_bits(words, done, len));
                        done += len;
                    }
                }
                store_row(&dst, d);
            }
        });
    out
}

/// Keep the rows whose bits under `mask` equal `selection` (both rows of the packed width),
/// unchanged and in order.
pub fn postselect(packed: &[u8], mask: &[u8], selection: &[u8]) -> Vec<u8> {
    let nbytes = mask.len();
    if nbytes == 0 {
        return packed.to_vec();
    }
    let kept: Vec<Vec<u8>> = packed
        .par_chunks(ROW_CHUNK * nbytes)
        .map(|rows| {
            let mut out = Vec::new();
            for row in rows.chunks_exact(nbytes) {
                if row
                    .iter()
                    .zip(mask)
                    .zip(selection)
                    .all(|((&b, &m), &s)| b & m == s)
                {
                    out.extend_from_slice(row);
                }
            }
            out
        })
        .collect();
    kept.concat()
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
        let positions: Vec<i64> = (0..100)
            .map(|i| if i % 7 == 3 { -1 } else { (i * 5) % 64 })
            .collect();
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

    /// Bits of a packed row as bools, bit 0 first.
    fn bits_of(row: &[u8], num_bits: usize) -> Vec<bool> {
        (0..num_bits)
            .map(|j| (row[row.len() - 1 - j / 8] >> (j % 8)) & 1 == 1)
            .collect()
    }

    fn pseudo_random_rows(rows: usize, nbytes: usize, seed: u64) -> Vec<u8> {
        let mut state = seed;
        (0..rows * nbytes)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn slice_bits_gathers_arbitrary_indices_and_zeroes_padding() {
        for num_bits in [3usize, 8, 13, 64, 133, 200] {
            let nbytes = num_bytes(num_bits);
            let packed = pseudo_random_rows(50, nbytes, num_bits as u64);
            let indices: Vec<usize> = (0..num_bits)
                .rev()
                .step_by(3)
                .chain(0..num_bits.min(70))
                .chain([0, 0])
                .collect();
            let out = slice_bits(&packed, num_bits, &indices);
            let ob = num_bytes(indices.len());
            for r in 0..50 {
                let src = bits_of(&packed[r * nbytes..(r + 1) * nbytes], num_bits);
                let row = &out[r * ob..(r + 1) * ob];
                let got = bits_of(row, indices.len());
                let want: Vec<bool> = indices.iter().map(|&i| src[i]).collect();
                assert_eq!(got, want, "num_bits={num_bits}");
                assert_eq!(row[0] & !first_byte_mask(indices.len()), 0);
            }
        }
    }

    #[test]
    fn slice_bits_gives_the_same_rows_through_runs_and_lookup_tables() {
        let num_bits = 133;
        let packed = pseudo_random_rows(40, 17, 3);
        let contiguous: Vec<usize> = (5..125).collect();
        let scattered: Vec<usize> = (5..125).rev().collect();
        let a = slice_bits(&packed, num_bits, &contiguous);
        let b = slice_bits(&packed, num_bits, &scattered);
        for r in 0..40 {
            let mut ra = bits_of(&a[r * 15..(r + 1) * 15], 120);
            ra.reverse();
            assert_eq!(ra, bits_of(&b[r * 15..(r + 1) * 15], 120));
        }
    }

    #[test]
    fn concatenate_bits_puts_the_first_part_in_the_low_bits() {
        let widths = [3usize, 64, 1, 70, 9];
        let rows = 20;
        let data: Vec<Vec<u8>> = widths
            .iter()
            .enumerate()
            .map(|(i, &w)| pseudo_random_rows(rows, num_bytes(w), i as u64 + 1))
            .collect();
        let parts: Vec<(&[u8], usize)> = data.iter().map(|d| d.as_slice()).zip(widths).collect();
        let out = concatenate_bits(&parts, rows);
        let total: usize = widths.iter().sum();
        let ob = num_bytes(total);
        for r in 0..rows {
            let want: Vec<bool> = parts
                .iter()
                .flat_map(|&(d, w)| bits_of(&d[r * num_bytes(w)..(r + 1) * num_bytes(w)], w))
                .collect();
            assert_eq!(bits_of(&out[r * ob..(r + 1) * ob], total), want);
            assert_eq!(out[r * ob] & !first_byte_mask(total), 0);
        }
    }

    #[test]
    fn postselect_keeps_matching_rows_unchanged_and_in_order() {
        let packed = [0xF1u8, 0x03, 0x12, 0x05, 0x00, 0x07];
        // select bit 0 == 1 and bit 1 == 0 on 1-byte rows
        let out = postselect(&packed, &[0b11], &[0b01]);
        assert_eq!(out, vec![0xF1, 0x05]);
    }
}
