package main

import (
	"fmt"
	"sort"

	qsessionv1 "github.com/qsession/qsession/examples/go/gen/qsession/v1"
)

// byteBits[b] is b as eight binary digits, most significant first.
var byteBits = func() (t [256]string) {
	for b := range t {
		t[b] = fmt.Sprintf("%08b", b)
	}
	return t
}()

// Count is how many shots of one parameter point gave one bitstring.
type Count struct {
	// Bitstring has num_bits characters, bit 0 of the register rightmost (as Qiskit prints it).
	Bitstring string
	// Shots is the number of shots that measured Bitstring.
	Shots int
}

// countsPerPoint decodes a register's packed samples (Qiskit's BitArray layout:
// uint8 of shape (*shape, num_shots, ceil(num_bits/8)), big-endian within a
// shot) into counts per parameter point, points in C order over shape, each
// point's counts sorted by bitstring. It fails when the data length does not
// match the shape, or a shot has a padding bit set.
func countsPerPoint(p *qsessionv1.PackedBits) ([][]Count, error) {
	numBits := int(p.GetNumBits())
	width := (numBits + 7) / 8
	shots := int(p.GetNumShots())
	points := int(product(p.GetShape()))
	if len(p.GetData()) != points*shots*width {
		return nil, fmt.Errorf("packed bits of shape %v x %d shots x %d bytes: got %d bytes",
			p.GetShape(), shots, width, len(p.GetData()))
	}
	padding := 8*width - numBits
	paddingMask := byte(0xff) << (8 - padding)
	result := make([][]Count, points)
	for point := range points {
		tally := map[string]int{}
		block := p.GetData()[point*shots*width : (point+1)*shots*width]
		for shot := 0; shot < len(block); shot += width {
			raw := block[shot : shot+width]
			if padding > 0 && raw[0]&paddingMask != 0 {
				return nil, fmt.Errorf("point %d shot %d: padding bits set in %08b", point, shot/width, raw[0])
			}
			tally[string(raw)]++
		}
		counts := make([]Count, 0, len(tally))
		for raw, n := range tally {
			counts = append(counts, Count{Bitstring: bitstring([]byte(raw), padding), Shots: n})
		}
		sort.Slice(counts, func(i, j int) bool { return counts[i].Bitstring < counts[j].Bitstring })
		result[point] = counts
	}
	return result, nil
}

// bitstring writes one shot's bytes as binary digits without the leading padding bits.
func bitstring(raw []byte, padding int) string {
	s := make([]byte, 0, 8*len(raw))
	for _, b := range raw {
		s = append(s, byteBits[b]...)
	}
	return string(s[padding:])
}
