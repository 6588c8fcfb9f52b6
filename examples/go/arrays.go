package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	qsessionv1 "github.com/qsession/qsession/examples/go/gen/qsession/v1"
)

// newFloat64Array packs values (C order) as a Float64Array of the given shape.
// It panics when len(values) != product(shape), which is a programming error.
func newFloat64Array(values []float64, shape ...uint32) *qsessionv1.Float64Array {
	if uint64(len(values)) != product(shape) {
		panic(fmt.Sprintf("%d values do not fill shape %v", len(values), shape))
	}
	data := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(data[8*i:], math.Float64bits(v))
	}
	return &qsessionv1.Float64Array{Data: data, Shape: shape}
}

// float64s unpacks a Float64Array into its values in C order. It fails when
// the byte length is not 8 * product(shape).
func float64s(a *qsessionv1.Float64Array) ([]float64, error) {
	n := product(a.GetShape())
	if uint64(len(a.GetData())) != 8*n {
		return nil, fmt.Errorf("float64 array of shape %v has %d bytes, want %d", a.GetShape(), len(a.GetData()), 8*n)
	}
	values := make([]float64, n)
	for i := range values {
		values[i] = math.Float64frombits(binary.LittleEndian.Uint64(a.GetData()[8*i:]))
	}
	return values, nil
}

// product is the number of elements of an array of this shape (1 for a scalar).
func product(shape []uint32) uint64 {
	n := uint64(1)
	for _, d := range shape {
		n *= uint64(d)
	}
	return n
}

// index formats the C-order multi-index of flat position i in shape, e.g. "1,3".
func index(i uint64, shape []uint32) string {
	parts := make([]string, len(shape))
	for axis := len(shape) - 1; axis >= 0; axis-- {
		parts[axis] = strconv.FormatUint(i%uint64(shape[axis]), 10)
		i /= uint64(shape[axis])
	}
	return strings.Join(parts, ",")
}
