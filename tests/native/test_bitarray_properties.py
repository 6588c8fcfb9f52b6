"""qsession.BitArray gives exactly Qiskit's BitArray results (property tests with hypothesis).

Inputs are random bytes, so the padding bits of the first byte are set in most rows; widths
run from 1 to 200 bits, batch shapes from () to two axes, and shot counts include zero.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qiskit.primitives import BitArray as QiskitBitArray

from qsession.bitarray import BitArray

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def bit_arrays(draw, min_shots: int = 0, shape=None, num_bits=None, num_shots=None):
    """A (qiskit, qsession) pair over the same random bytes."""
    shape = draw(st.lists(st.integers(1, 3), max_size=2).map(tuple)) if shape is None else shape
    num_shots = draw(st.integers(min_shots, 24)) if num_shots is None else num_shots
    num_bits = draw(st.integers(1, 200)) if num_bits is None else num_bits
    seed = draw(st.integers(0, 2**32 - 1))
    data = np.random.default_rng(seed).integers(
        0, 256, size=shape + (num_shots, (num_bits + 7) // 8), dtype=np.uint8
    )
    # Few distinct outcomes too: repeat rows so that counts are not all ones.
    if draw(st.booleans()) and num_shots > 1:
        data[..., 1::2, :] = data[..., :1, :]
    return QiskitBitArray(data, num_bits), BitArray(data, num_bits)


def locs_of(shape: tuple[int, ...]):
    """None or one valid position of ``shape``."""
    return st.one_of(
        st.none(), st.tuples(*(st.integers(0, n - 1) for n in shape)) if shape else st.just(())
    )


def assert_same_bit_array(ours, theirs) -> None:
    assert type(ours) is BitArray
    assert ours.num_bits == theirs.num_bits
    assert np.array_equal(ours.array, theirs.array)


@SETTINGS
@given(st.data())
def test_counts_equal_qiskits_including_key_order(data):
    qiskit, ours = data.draw(bit_arrays())
    loc = data.draw(locs_of(ours.shape))
    assert list(ours.get_counts(loc).items()) == list(qiskit.get_counts(loc).items())


@SETTINGS
@given(st.data())
def test_int_counts_equal_qiskits_including_key_order(data):
    qiskit, ours = data.draw(bit_arrays())
    loc = data.draw(locs_of(ours.shape))
    assert list(ours.get_int_counts(loc).items()) == list(qiskit.get_int_counts(loc).items())


@SETTINGS
@given(st.data())
def test_bitstrings_equal_qiskits(data):
    qiskit, ours = data.draw(bit_arrays())
    loc = data.draw(locs_of(ours.shape))
    assert ours.get_bitstrings(loc) == qiskit.get_bitstrings(loc)


@SETTINGS
@given(st.data())
def test_slice_bits_equals_qiskits(data):
    qiskit, ours = data.draw(bit_arrays())
    indices = data.draw(st.lists(st.integers(0, ours.num_bits - 1), max_size=80))
    assert_same_bit_array(ours.slice_bits(indices), qiskit.slice_bits(indices))


@SETTINGS
@given(st.data())
def test_slice_bits_of_a_contiguous_range_equals_qiskits(data):
    qiskit, ours = data.draw(bit_arrays())
    start = data.draw(st.integers(0, ours.num_bits - 1))
    stop = data.draw(st.integers(start + 1, ours.num_bits))
    indices = list(range(start, stop))
    assert_same_bit_array(ours.slice_bits(indices), qiskit.slice_bits(indices))


def test_slice_bits_rejects_out_of_range_indices_like_qiskit():
    ours = BitArray(np.zeros((3, 1), dtype=np.uint8), 5)
    with pytest.raises(IndexError, match="index 5 is out of bounds"):
        ours.slice_bits([0, 5])


@SETTINGS
@given(st.data())
def test_postselect_equals_qiskits(data):
    qiskit, ours = data.draw(bit_arrays())
    n = ours.num_bits
    indices = data.draw(st.lists(st.integers(-n, n - 1), max_size=6))
    selection = data.draw(st.lists(st.booleans(), min_size=len(indices), max_size=len(indices)))
    assert_same_bit_array(
        ours.postselect(indices, selection), qiskit.postselect(indices, selection)
    )


@SETTINGS
@given(st.data())
def test_concatenate_bits_equals_qiskits(data):
    first_q, first = data.draw(bit_arrays())
    pairs = [(first_q, first)]
    for _ in range(data.draw(st.integers(0, 3))):
        pairs.append(data.draw(bit_arrays(shape=first.shape, num_shots=first.num_shots)))
    theirs = QiskitBitArray.concatenate_bits([q for q, _ in pairs])
    assert_same_bit_array(BitArray.concatenate_bits([o for _, o in pairs]), theirs)


def diagonal_observable(num_bits: int):
    label = st.text(alphabet="IZ01", min_size=num_bits, max_size=num_bits)
    coeff = st.floats(-2, 2, allow_nan=False).filter(lambda c: abs(c) > 1e-3)
    return st.dictionaries(label, coeff, min_size=1, max_size=3)


@SETTINGS
@given(st.data())
def test_expectation_values_equal_qiskits_over_broadcast_shapes(data):
    qiskit, ours = data.draw(bit_arrays(min_shots=1))
    # An observables shape that broadcasts with the array's: some axes set to 1, maybe fewer.
    obs_shape = tuple(n if data.draw(st.booleans()) else 1 for n in ours.shape)
    obs_shape = obs_shape[data.draw(st.integers(0, len(obs_shape))) :]
    if len(obs_shape) == len(ours.shape) and data.draw(st.booleans()):
        obs_shape = (data.draw(st.integers(1, 2)),) + obs_shape  # a new leading axis
    elements = data.draw(
        st.lists(
            diagonal_observable(ours.num_bits),
            min_size=int(np.prod(obs_shape)),
            max_size=int(np.prod(obs_shape)),
        )
    )
    observables = np.empty(int(np.prod(obs_shape)), dtype=object)
    observables[:] = elements
    observables = observables.reshape(obs_shape)
    try:
        expected = qiskit.expectation_values(observables)
    except ValueError as error:
        with pytest.raises(ValueError, match="broadcast"):
            ours.expectation_values(observables)
        assert "broadcast" in str(error)
        return
    got = ours.expectation_values(observables)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("observable", "message"),
    [("ZX0", "Input operator ZX0 is not diagonal"), ("ZZ", r"not same length \(3\)")],
)
def test_expectation_values_reject_like_qiskit(observable, message):
    ours = BitArray(np.zeros((4, 1), dtype=np.uint8), 3)
    with pytest.raises(ValueError, match=message):
        ours.expectation_values(observable)


def test_zero_copy_over_received_bytes():
    received = bytes(range(12))
    view = np.frombuffer(received, dtype=np.uint8).reshape(2, 3, 2)
    ours = BitArray(view, 12)
    assert np.shares_memory(ours.array, view)
    assert ours.get_int_counts(0) == QiskitBitArray(view, 12).get_int_counts(0)


def test_qiskit_constructors_and_views_return_qsession_bit_arrays():
    ours = BitArray.from_samples(["0x1", "0x7", "0x2", "0x0"], 3).reshape(2, 2)
    assert all(
        type(x) is BitArray
        for x in (
            ours,
            ours[0],
            ours.transpose(),
            ours.slice_shots([0]),
            ~ours,
            ours & ours,
            ours | ours,
            ours ^ ours,
            BitArray.from_counts({"01": 2}),
            BitArray.from_bool_array([[True, False]]),
            BitArray.concatenate([ours, ours]),
            BitArray.concatenate_shots([ours, ours]),
            ours.postselect(0, 1),
        )
    )


@pytest.mark.parametrize("num_bits", [1, 9, 20, 133])
def test_hex_memory_builds_the_same_bit_array_as_from_samples(num_bits):
    rng = np.random.default_rng(num_bits)
    memory = [hex(int(v) % (1 << num_bits)) for v in rng.integers(0, 2**62, size=300)]
    ours = BitArray.from_hex_memory(memory, num_bits)
    assert_same_bit_array(ours, QiskitBitArray.from_samples(memory, num_bits))
