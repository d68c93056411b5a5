package peer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The array message, as bindings/python/shmlib/framing.py documents it
// (and Channel.send_array writes it), implemented here from that text
// alone, so that a Go peer proves the format can be written and read
// without numpy. All integers are little-endian:
//
//	0  7  magic "LSHMARR"
//	7  1  version 1
//	8  4  data offset D, a multiple of 16, at least 16 + 8*ndim + L
//	12 2  ndim, 0..64
//	14 2  L, the length of the dtype string, 1..255
//	16    the shape, one u64 per dimension, then the dtype string (numpy's
//	      dtype.str, e.g. "<u2"), then zero padding up to D
//	D     the elements in C order; the message is exactly D + nbytes long
const (
	arrayMagic   = "LSHMARR"
	arrayVersion = 1
	arrayFixed   = 16
	arrayAlign   = 16
	arrayMaxNdim = 64
)

// arrayHeader is the header of an array message of dtype and shape,
// padded to its data offset (the smallest the format allows, as the
// Python writer uses), and the number of bytes of elements that follow.
func arrayHeader(dtype string, shape []uint64) (head []byte, nbytes int, err error) {
	item, err := itemSize(dtype)
	if err != nil {
		return nil, 0, err
	}
	if len(shape) > arrayMaxNdim || len(dtype) > 255 {
		return nil, 0, fmt.Errorf("ndim %d, dtype %q: beyond the format", len(shape), dtype)
	}
	end := arrayFixed + 8*len(shape) + len(dtype)
	offset := (end + arrayAlign - 1) / arrayAlign * arrayAlign
	head = make([]byte, offset)
	copy(head, arrayMagic)
	head[7] = arrayVersion
	binary.LittleEndian.PutUint32(head[8:], uint32(offset))
	binary.LittleEndian.PutUint16(head[12:], uint16(len(shape)))
	binary.LittleEndian.PutUint16(head[14:], uint16(len(dtype)))
	nbytes = item
	for i, n := range shape {
		binary.LittleEndian.PutUint64(head[arrayFixed+8*i:], n)
		nbytes *= int(n)
	}
	copy(head[arrayFixed+8*len(shape):], dtype)
	return head, nbytes, nil
}

// parseArray reads the header of an array message: its dtype string, its
// shape and where its elements start. Every rule of the format is
// checked, including that the elements fill the rest of the message
// exactly.
func parseArray(msg []byte) (dtype string, shape []uint64, offset int, err error) {
	if len(msg) < arrayFixed {
		return "", nil, 0, fmt.Errorf("%d bytes, shorter than the 16-byte header", len(msg))
	}
	if string(msg[:7]) != arrayMagic {
		return "", nil, 0, fmt.Errorf("magic %q, want %q", msg[:7], arrayMagic)
	}
	if msg[7] != arrayVersion {
		return "", nil, 0, fmt.Errorf("version %d, want %d", msg[7], arrayVersion)
	}
	offset = int(binary.LittleEndian.Uint32(msg[8:]))
	ndim := int(binary.LittleEndian.Uint16(msg[12:]))
	length := int(binary.LittleEndian.Uint16(msg[14:]))
	if ndim > arrayMaxNdim || length < 1 || length > 255 {
		return "", nil, 0, fmt.Errorf("ndim %d, dtype length %d", ndim, length)
	}
	end := arrayFixed + 8*ndim + length
	if offset%arrayAlign != 0 || offset < end || offset > len(msg) {
		return "", nil, 0, fmt.Errorf("data offset %d (a multiple of 16 from %d to %d)", offset, end, len(msg))
	}
	count := 1
	for i := range ndim {
		n := binary.LittleEndian.Uint64(msg[arrayFixed+8*i:])
		shape = append(shape, n)
		count *= int(n)
	}
	dtype = string(msg[end-length : end])
	item, err := itemSize(dtype)
	if err != nil {
		return "", nil, 0, err
	}
	if offset+count*item != len(msg) {
		return "", nil, 0, fmt.Errorf("%v of %s needs %d bytes after offset %d, the message has %d",
			shape, dtype, count*item, offset, len(msg)-offset)
	}
	return dtype, shape, offset, nil
}

// itemSize is the size of one element of a plain numpy dtype string:
// byte order (<, >, | or =), kind (b bool, i, u, f, c), size in bytes.
// Other dtypes (strings, datetimes, structures) are not needed here.
func itemSize(dtype string) (int, error) {
	if len(dtype) < 3 || !strings.ContainsRune("<>|=", rune(dtype[0])) || !strings.ContainsRune("biufc", rune(dtype[1])) {
		return 0, fmt.Errorf("dtype %q: not a plain numeric dtype this peer reads", dtype)
	}
	n, err := strconv.Atoi(dtype[2:])
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("dtype %q: bad size", dtype)
	}
	return n, nil
}

// parseShape reads a shape as the protocol writes it: "3x5x7", or "-" for
// the 0-dimensional shape ().
func parseShape(s string) ([]uint64, error) {
	if s == "-" {
		return nil, nil
	}
	var shape []uint64
	for _, f := range strings.Split(s, "x") {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, errors.New("shape " + s + ": " + err.Error())
		}
		shape = append(shape, n)
	}
	return shape, nil
}

// formatShape writes a shape as parseShape reads it.
func formatShape(shape []uint64) string {
	if len(shape) == 0 {
		return "-"
	}
	parts := make([]string, len(shape))
	for i, n := range shape {
		parts[i] = strconv.FormatUint(n, 10)
	}
	return strings.Join(parts, "x")
}
