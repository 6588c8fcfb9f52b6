"""Proto <-> Qiskit conversions, used by the client and the server alike (one place, no drift).

Bytes stay bytes: circuits travel as QPY (or OpenQASM 3 text), parameter values and expectation
values as little-endian float64 buffers, samples as packed uint8 in Qiskit's BitArray layout.
"""

from qsession.wire.arrays import decode_bits, decode_float64, encode_bits, encode_float64
from qsession.wire.circuits import circuit_digest, decode_circuit, encode_circuit
from qsession.wire.errors import WireError
from qsession.wire.pubs import (
    DEFAULT_PRECISION,
    DEFAULT_SHOTS,
    decode_estimator_pub,
    decode_job_pubs,
    decode_observables,
    decode_sampler_pub,
    encode_estimator_pub,
    encode_sampler_pub,
)
from qsession.wire.results import decode_result, encode_result
from qsession.wire.structs import dict_to_struct, struct_to_dict
from qsession.wire.times import from_timestamp, to_timestamp

__all__ = [
    "DEFAULT_PRECISION",
    "DEFAULT_SHOTS",
    "WireError",
    "circuit_digest",
    "decode_bits",
    "decode_circuit",
    "decode_estimator_pub",
    "decode_float64",
    "decode_job_pubs",
    "decode_observables",
    "decode_result",
    "decode_sampler_pub",
    "dict_to_struct",
    "encode_bits",
    "encode_circuit",
    "encode_estimator_pub",
    "encode_float64",
    "encode_result",
    "encode_sampler_pub",
    "from_timestamp",
    "struct_to_dict",
    "to_timestamp",
]
