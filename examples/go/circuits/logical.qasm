OPENQASM 3.0;
include "stdgates.inc";
// A logical circuit, not an ISA circuit of fake_torino: h and cx are not in its
// basis, and q[0]..q[3] are not coupled in a line there. The Go client sends it
// to TranspilerService.Transpile, then runs the ISA circuit it gets back.
qubit[4] q;
bit[4] c;
h q[0];
cx q[0], q[1];
cx q[1], q[2];
ry(0.7) q[3];
cx q[3], q[0];
c = measure q;
