//! Parameter arrays from the wire: validating raw little-endian float64 bytes against their
//! shape, and broadcasting parameter and observable shapes into per-execution indices.

/// A shape written as Python writes tuples: `()`, `(3,)`, `(2, 3)`.
pub fn shape_text(shape: &[usize]) -> String {
    match shape {
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Check that `data` holds `prod(shape)` finite little-endian float64 values whose last axis is
/// `num_parameters` wide. An empty shape means "no parameters": `num_parameters` must be 0 and
/// `data` empty.
pub fn validate_parameter_bytes(
    data: &[u8],
    shape: &[usize],
    num_parameters: usize,
) -> Result<(), String> {
    let text = shape_text(shape);
    let count = match shape.last() {
        None if num_parameters != 0 => {
            return Err(format!(
                "parameter values have shape () but the circuit has {num_parameters} \
                 parameters; expected a last axis of {num_parameters}"
            ))
        }
        None => 0,
        Some(&width) if width != num_parameters => {
            return Err(format!(
                "parameter values have shape {text} whose last axis is {width}; \
                 expected {num_parameters} (the circuit's number of parameters)"
            ))
        }
        Some(_) => shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| format!("parameter values shape {text} is too large"))?,
    };
    let expected = count
        .checked_mul(8)
        .ok_or_else(|| format!("shape {text} is too large"))?;
    if data.len() != expected {
        return Err(format!(
            "parameter values have {} bytes; shape {text} needs {expected} (8 per float64)",
            data.len()
        ));
    }
    if let Some(index) = data
        .chunks_exact(8)
        .position(|b| !f64::from_le_bytes(b.try_into().unwrap()).is_finite())
    {
        let value = f64::from_le_bytes(data[8 * index..8 * index + 8].try_into().unwrap());
        return Err(format!(
            "parameter value at flat index {index} is not finite ({value})"
        ));
    }
    Ok(())
}

/// Decode validated bytes into float64 values (one copy).
pub fn decode_into(data: &[u8], out: &mut [f64]) {
    for (o, b) in out.iter_mut().zip(data.chunks_exact(8)) {
        *o = f64::from_le_bytes(b.try_into().unwrap());
    }
}

/// A broadcast shape with, per flat element, the flat indices into both operands.
pub type Broadcast = (Vec<usize>, Vec<i64>, Vec<i64>);

/// The numpy broadcast of `a` and `b` and, for every flat element of it in C order, the flat
/// index into an array of shape `a` and into an array of shape `b`.
pub fn broadcast_indices(a: &[usize], b: &[usize]) -> Result<Broadcast, String> {
    let ndim = a.len().max(b.len());
    let pad = |s: &[usize]| -> Vec<usize> {
        std::iter::repeat_n(1, ndim - s.len())
            .chain(s.iter().copied())
            .collect()
    };
    let (pa, pb) = (pad(a), pad(b));
    let mut shape = Vec::with_capacity(ndim);
    for (&x, &y) in pa.iter().zip(&pb) {
        shape.push(match (x, y) {
            _ if x == y => x,
            (1, _) => y,
            (_, 1) => x,
            _ => {
                return Err(format!(
                    "parameter shape {} and observables shape {} cannot be broadcast together",
                    shape_text(a),
                    shape_text(b)
                ))
            }
        });
    }
    // Strides over each operand, zero along broadcast axes.
    let strides = |s: &[usize]| -> Vec<i64> {
        let mut st = vec![0i64; ndim];
        let mut acc = 1i64;
        for k in (0..ndim).rev() {
            st[k] = if s[k] == 1 { 0 } else { acc };
            acc *= s[k] as i64;
        }
        st
    };
    let (sa, sb) = (strides(&pa), strides(&pb));
    let size: usize = shape.iter().product();
    let mut ia = Vec::with_capacity(size);
    let mut ib = Vec::with_capacity(size);
    let mut index = vec![0usize; ndim];
    let (mut fa, mut fb) = (0i64, 0i64);
    for _ in 0..size {
        ia.push(fa);
        ib.push(fb);
        for k in (0..ndim).rev() {
            index[k] += 1;
            fa += sa[k];
            fb += sb[k];
            if index[k] < shape[k] {
                break;
            }
            fa -= sa[k] * shape[k] as i64;
            fb -= sb[k] * shape[k] as i64;
            index[k] = 0;
        }
    }
    Ok((shape, ia, ib))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(values: &[f64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn valid_values_decode() {
        let data = bytes(&[1.0, -2.5, 3.0, 0.0]);
        validate_parameter_bytes(&data, &[2, 2], 2).unwrap();
        let mut out = [0.0; 4];
        decode_into(&data, &mut out);
        assert_eq!(out, [1.0, -2.5, 3.0, 0.0]);
    }

    #[test]
    fn wrong_byte_length_is_rejected() {
        let err = validate_parameter_bytes(&bytes(&[1.0, 2.0]), &[3], 3).unwrap_err();
        assert!(err.contains("16 bytes") && err.contains("24"), "{err}");
    }

    #[test]
    fn wrong_width_names_expected_and_got() {
        let err = validate_parameter_bytes(&bytes(&[1.0, 2.0]), &[1, 2], 3).unwrap_err();
        assert!(err.contains("is 2") && err.contains("expected 3"), "{err}");
    }

    #[test]
    fn non_finite_values_name_their_flat_index() {
        let err =
            validate_parameter_bytes(&bytes(&[1.0, 2.0, f64::INFINITY]), &[3, 1], 1).unwrap_err();
        assert!(err.contains("flat index 2"), "{err}");
    }

    #[test]
    fn empty_shape_means_no_parameters() {
        validate_parameter_bytes(&[], &[], 0).unwrap();
        assert!(validate_parameter_bytes(&[], &[], 2).is_err());
        validate_parameter_bytes(&[], &[5, 0], 0).unwrap();
    }

    #[test]
    fn broadcasting_follows_numpy() {
        let (shape, ia, ib) = broadcast_indices(&[2, 1], &[3]).unwrap();
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(ia, vec![0, 0, 0, 1, 1, 1]);
        assert_eq!(ib, vec![0, 1, 2, 0, 1, 2]);
        let (shape, ia, ib) = broadcast_indices(&[], &[2]).unwrap();
        assert_eq!((shape, ia, ib), (vec![2], vec![0, 0], vec![0, 1]));
        let (shape, ia, ib) = broadcast_indices(&[], &[]).unwrap();
        assert_eq!((shape, ia, ib), (vec![], vec![0], vec![0]));
        let (shape, ia, _) = broadcast_indices(&[0, 3], &[1]).unwrap();
        assert_eq!((shape, ia.len()), (vec![0, 3], 0));
    }

    #[test]
    fn incompatible_shapes_name_both() {
        let err = broadcast_indices(&[2, 3], &[4]).unwrap_err();
        assert!(err.contains("(2, 3)") && err.contains("(4,)"), "{err}");
    }
}
