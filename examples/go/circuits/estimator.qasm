OPENQASM 3.0;
include "stdgates.inc";
// The state cos(theta/2)|00> + sin(theta/2)|11>: <ZZ> = 1, <XX> = sin(theta), <IZ> = cos(theta).
input float[64] theta;
qubit[2] q;
ry(theta) q[0];
cx q[0], q[1];
