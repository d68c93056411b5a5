// Package pattern is the content the cross-language tests write and check,
// defined so that C, Python and Go compute it identically (see
// tests/peers/PROTOCOL.md):
//
//	pattern(seed): byte i = (seed + i*31) & 0xff
//	step(n):       every byte b becomes (b*3 + n) & 0xff
//
// A recipe "SEED+N1+N2..." is pattern(SEED) followed by step(N1), step(N2)
// and so on. step does not commute (step a then b differs from b then a
// unless a-b is a multiple of 128), so a recipe also proves the order in
// which a pipeline's stages ran.
//
// Both are byte-wise functions with period 256 in i, so a buffer is
// written and checked by copying and comparing whole chunks of one
// template: fast for 256 MiB, and a loop of function calls (copy,
// bytes.Equal), which matters in a process where libshm's runtime has taken
// SIGURG away and with it async preemption. Step loops byte by byte: the
// pipeline's buffers are small.
package pattern

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// chunk is the template's length, a multiple of the period 256.
const chunk = 64 << 10

// Recipe is a seed and the steps applied to its pattern, in order.
type Recipe struct {
	Seed  byte
	Steps []byte
}

// Parse reads "SEED" or "SEED+N1+N2...", each number 0..255.
func Parse(s string) (Recipe, error) {
	var r Recipe
	for i, f := range strings.Split(s, "+") {
		n, err := strconv.ParseUint(f, 10, 8)
		if err != nil {
			return Recipe{}, fmt.Errorf("recipe %q: %v", s, err)
		}
		if i == 0 {
			r.Seed = byte(n)
		} else {
			r.Steps = append(r.Steps, byte(n))
		}
	}
	return r, nil
}

// At is the recipe's byte at offset i.
func (r Recipe) At(i int) byte {
	b := r.Seed + byte(i*31)
	for _, n := range r.Steps {
		b = b*3 + n
	}
	return b
}

func (r Recipe) template() []byte {
	t := make([]byte, chunk)
	for i := range t {
		t[i] = r.At(i)
	}
	return t
}

// Fill writes the recipe's content over all of mem.
func Fill(mem []byte, r Recipe) {
	t := r.template()
	for off := 0; off < len(mem); off += chunk {
		copy(mem[off:], t)
	}
}

// Step applies step(n) to every byte of mem, in place.
func Step(mem []byte, n byte) {
	var table [256]byte
	for b := range table {
		table[b] = byte(b)*3 + n
	}
	for i, b := range mem {
		mem[i] = table[b]
	}
}

// Mismatch is the first byte of a buffer that differs from its recipe.
type Mismatch struct {
	Offset    int
	Got, Want byte
}

// Check compares every byte of mem with the recipe; nil if all match.
func Check(mem []byte, r Recipe) *Mismatch {
	t := r.template()
	for off := 0; off < len(mem); off += chunk {
		c := mem[off:min(off+chunk, len(mem))]
		if bytes.Equal(c, t[:len(c)]) {
			continue
		}
		for i := range c {
			if c[i] != t[i] {
				return &Mismatch{Offset: off + i, Got: c[i], Want: t[i]}
			}
		}
	}
	return nil
}

// String is the recipe as Parse reads it.
func (r Recipe) String() string {
	s := strconv.Itoa(int(r.Seed))
	for _, n := range r.Steps {
		s += "+" + strconv.Itoa(int(n))
	}
	return s
}
