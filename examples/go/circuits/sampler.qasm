OPENQASM 3.0;
include "stdgates.inc";
// One parameter, bound by name from ParameterValues.parameters = ["theta"].
input float[64] theta;
qubit[10] q;
bit[10] c;
// q[0] and q[1] agree, each 1 with probability sin^2(theta/2); q[9] is always 1,
// so every bitstring (bit 0 rightmost) starts with "1" and spans two bytes.
ry(theta) q[0];
cx q[0], q[1];
x q[9];
c[0] = measure q[0];
c[1] = measure q[1];
c[2] = measure q[2];
c[3] = measure q[3];
c[4] = measure q[4];
c[5] = measure q[5];
c[6] = measure q[6];
c[7] = measure q[7];
c[8] = measure q[8];
c[9] = measure q[9];
