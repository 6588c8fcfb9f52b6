package main

import (
	"reflect"
	"testing"

	qsessionv1 "github.com/qsession/qsession/examples/go/gen/qsession/v1"
)

func TestCountsPutBitZeroRightmostAcrossTwoBigEndianBytes(t *testing.T) {
	// 10-bit register, 2 points x 2 shots: bit 9 set in every shot, bits 0 and 1
	// set in the second point's first shot.
	p := &qsessionv1.PackedBits{
		Data:     []byte{0x02, 0x00, 0x02, 0x00, 0x02, 0x03, 0x02, 0x00},
		Shape:    []uint32{2},
		NumShots: 2,
		NumBits:  10,
	}
	got, err := countsPerPoint(p)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]Count{
		{{"1000000000", 2}},
		{{"1000000000", 1}, {"1000000011", 1}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("counts = %v, want %v", got, want)
	}
}

func TestCountsRejectSetPaddingBits(t *testing.T) {
	p := &qsessionv1.PackedBits{Data: []byte{0x04, 0x00}, NumShots: 1, NumBits: 10}
	if _, err := countsPerPoint(p); err == nil {
		t.Fatal("a shot with a padding bit set decoded without error")
	}
}

func TestCountsRejectDataThatDoesNotFillTheShape(t *testing.T) {
	p := &qsessionv1.PackedBits{Data: []byte{0x01, 0x00, 0x01}, Shape: []uint32{2}, NumShots: 1, NumBits: 3}
	if _, err := countsPerPoint(p); err == nil {
		t.Fatal("3 bytes decoded as 2 points x 1 shot x 1 byte without error")
	}
}

func TestFloat64ArrayRoundTripsLittleEndian(t *testing.T) {
	a := newFloat64Array([]float64{1, -0.5, 3, 4}, 4, 1)
	if a.GetData()[6] != 0xf0 || a.GetData()[7] != 0x3f {
		t.Fatalf("1.0 encoded as % x, want little-endian 00 .. f0 3f", a.GetData()[:8])
	}
	got, err := float64s(a)
	if err != nil || !reflect.DeepEqual(got, []float64{1, -0.5, 3, 4}) {
		t.Fatalf("round trip = %v, %v", got, err)
	}
}

func TestFloat64sRejectsWrongByteLength(t *testing.T) {
	if _, err := float64s(&qsessionv1.Float64Array{Data: make([]byte, 12), Shape: []uint32{2}}); err == nil {
		t.Fatal("12 bytes decoded as 2 float64 without error")
	}
}

func TestIndexIsCOrder(t *testing.T) {
	if got := index(5, []uint32{2, 4}); got != "1,1" {
		t.Fatalf("index(5, [2 4]) = %q, want \"1,1\"", got)
	}
	if got := index(0, nil); got != "" {
		t.Fatalf("index of a scalar = %q, want \"\"", got)
	}
}
