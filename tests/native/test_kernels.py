"""The milestone-1 kernels of qsession._native against numpy and Qiskit references."""

import numpy as np
import pytest
from qiskit.primitives import BitArray as QiskitBitArray

from qsession import _native


def unpacked_reference(outcomes: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Packed rows built bit by bit with numpy (register bit i <- outcome bit positions[i])."""
    bits = np.zeros((outcomes.size, positions.size), dtype=bool)
    for i, p in enumerate(positions):
        if p >= 0:
            bits[:, i] = (outcomes >> np.uint64(p)) & np.uint64(1)
    return QiskitBitArray.from_bool_array(bits, order="little").array


def diagonal_reference(bits: np.ndarray, terms: list[str], coeffs: np.ndarray):
    """Per-shot observable values from unpacked bits (column j = register bit j)."""
    term_values = []
    for label in terms:
        value = np.ones(bits.shape[0])
        for j, c in enumerate(reversed(label)):
            b = bits[:, j]
            if c == "Z":
                value *= np.where(b, -1.0, 1.0)
            elif c == "0":
                value *= ~b
            elif c == "1":
                value *= b
        term_values.append(value)
    v = coeffs @ np.array(term_values)
    return v.mean(axis=1), np.sqrt(v.var(axis=1) / bits.shape[0])


def test_sampled_frequencies_match_probabilities_within_five_sigma():
    p = np.array([0.05, 0.0, 0.4, 0.15, 0.0, 0.3, 0.1, 0.0])
    shots = 200_000
    counts = np.bincount(_native.sample_outcomes(p, shots, 1234), minlength=p.size)
    sigma = np.sqrt(p * (1 - p) / shots)
    assert np.all(np.abs(counts / shots - p) <= 5 * sigma)
    assert np.all(counts[p == 0] == 0)


def test_sampling_normalises_and_tolerates_rounding_noise():
    p = np.array([3.0, -1e-15, 1.0])
    shots = _native.sample_outcomes(p, 100_000, 7)
    assert shots.dtype == np.uint64 and shots.shape == (100_000,)
    assert abs(np.mean(shots == 0) - 0.75) < 0.01
    assert not np.any(shots == 1)


def test_sampling_is_deterministic_per_seed():
    p = np.full(1024, 1 / 1024)
    a = _native.sample_outcomes(p, 50_000, 42)
    assert np.array_equal(a, _native.sample_outcomes(p, 50_000, 42))
    assert not np.array_equal(a, _native.sample_outcomes(p, 50_000, 43))


@pytest.mark.parametrize("p", [[], [0.0, 0.0], [0.5, np.nan], [0.5, -0.1]])
def test_sampling_rejects_invalid_probabilities(p):
    with pytest.raises(ValueError):
        _native.sample_outcomes(np.asarray(p, dtype=np.float64), 10, 0)


@pytest.mark.parametrize(
    "positions",
    [list(range(5)), list(range(20)), [3, -1, 0, 63, -1, 7, 8, 9, 10, 11, 12], [-1, -1, -1]],
)
def test_pack_outcomes_matches_bitwise_reference(positions):
    rng = np.random.default_rng(len(positions))
    outcomes = rng.integers(0, 2**63, size=1000, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    positions = np.asarray(positions, dtype=np.int64)
    packed = _native.pack_outcomes(outcomes, positions)
    assert packed.dtype == np.uint8
    assert np.array_equal(packed, unpacked_reference(outcomes, positions))


def test_pack_outcomes_rejects_positions_beyond_64_bits():
    with pytest.raises(ValueError, match="positions"):
        _native.pack_outcomes(np.zeros(3, dtype=np.uint64), np.array([64], dtype=np.int64))


@pytest.mark.parametrize("num_bits", [1, 7, 8, 9, 20, 64, 65, 133])
def test_hex_memory_packs_like_qiskit_from_samples(num_bits):
    rng = np.random.default_rng(num_bits)
    values = [int(x) for x in rng.integers(0, 2**62, size=500)]
    memory = [hex(v % (1 << num_bits) | (v << 64) % (1 << num_bits)) for v in values]
    expected = QiskitBitArray.from_samples(memory, num_bits).array
    assert np.array_equal(_native.hex_to_packed(memory, num_bits), expected)


def test_hex_memory_keeps_only_the_low_bits():
    assert np.array_equal(_native.hex_to_packed(["0xfff"], 10), [[0x03, 0xFF]])


def test_hex_memory_names_the_bad_string():
    with pytest.raises(ValueError, match=r"memory\[1\]"):
        _native.hex_to_packed(["0x1", "0xz"], 4)


@pytest.mark.parametrize("num_bits", [1, 5, 8, 13, 64, 70, 133])
def test_diagonal_expectations_match_numpy_reference(num_bits):
    rng = np.random.default_rng(num_bits)
    bits = rng.random((3000, num_bits)) < 0.3
    packed = QiskitBitArray.from_bool_array(bits, order="little").array.copy()
    packed[:, 0] |= np.uint8(~((1 << (num_bits % 8 or 8)) - 1) & 0xFF)  # set padding bits
    terms = ["".join(rng.choice(list("IZ01"), size=num_bits)) for _ in range(4)] + ["Z" * num_bits]
    coeffs = rng.normal(size=(3, len(terms)))
    means, errors = _native.diagonal_expectations(packed, num_bits, terms, coeffs)
    ref_means, ref_errors = diagonal_reference(bits, terms, coeffs)
    np.testing.assert_allclose(means, ref_means, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(errors, ref_errors, rtol=1e-9, atol=1e-12)


def test_diagonal_expectations_reject_non_diagonal_labels():
    with pytest.raises(ValueError, match="diagonal"):
        _native.diagonal_expectations(np.zeros((4, 1), np.uint8), 2, ["XZ"], np.ones((1, 1)))


def test_parameter_values_decode_as_a_view_of_the_bytes():
    values = np.arange(12.0).reshape(3, 4)
    decoded = _native.decode_parameter_values(values.tobytes(), (3, 4), 4)
    assert decoded.dtype == np.float64 and decoded.shape == (3, 4)
    assert np.array_equal(decoded, values)
    assert not decoded.flags.writeable


def test_parameter_values_without_parameters_are_empty():
    assert _native.decode_parameter_values(b"", (), 0).shape == (0,)
    assert _native.decode_parameter_values(b"", (5, 0), 0).shape == (5, 0)


@pytest.mark.parametrize(
    ("data", "shape", "num_parameters", "message"),
    [
        (np.zeros(5).tobytes(), (2, 3), 3, "40 bytes"),
        (np.zeros(6).tobytes(), (3, 2), 3, "expected 3"),
        (np.array([1.0, np.inf, 2.0]).tobytes(), (3, 1), 1, "flat index 1"),
        (np.array([np.nan]).tobytes(), (1,), 1, "flat index 0"),
        (b"", (), 2, "expected a last axis of 2"),
        (b"", (-1, 2), 2, "negative"),
    ],
)
def test_parameter_values_that_do_not_fit_are_rejected(data, shape, num_parameters, message):
    with pytest.raises(ValueError, match=message):
        _native.decode_parameter_values(data, shape, num_parameters)


@pytest.mark.parametrize(
    ("a", "b"),
    [((), ()), ((3,), ()), ((2, 1), (3,)), ((1, 4), (5, 1)), ((0, 2), (2,)), ((2, 3, 1), (1, 4))],
)
def test_broadcast_indices_follow_numpy(a, b):
    shape, ia, ib = _native.broadcast_indices(a, b)
    expected_a, expected_b = np.broadcast_arrays(
        np.arange(int(np.prod(a))).reshape(a), np.arange(int(np.prod(b))).reshape(b)
    )
    assert shape == expected_a.shape
    assert np.array_equal(ia, expected_a.ravel()) and np.array_equal(ib, expected_b.ravel())


def test_broadcast_indices_name_both_shapes_when_incompatible():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        _native.broadcast_indices((2, 3), (4,))
