package segment

import "testing"

// TestMappingAt: an address inside any mapping libshm holds, attached or
// mapped for a layer of its own, names that segment, up to the end of its
// last page; once the mapping ends, it names nothing.
func TestMappingAt(t *testing.T) {
	key := mustCreate(t, uniquePosix(t), 10007, CreateOptions{})
	a, err := Attach(key, AttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Map(key, AttachOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, base := range []uintptr{uintptr(a.Addr), uintptr(m.Addr)} {
		for _, off := range []uintptr{0, 10006, 12287} {
			if got, ok := MappingAt(base + off); !ok || got != key {
				t.Errorf("MappingAt(start+%d) = %q, %v; want %q", off, got, ok, key)
			}
		}
		// The kernel may have put the two mappings side by side.
		past := base + 12288
		if past == uintptr(a.Addr) || past == uintptr(m.Addr) {
			continue
		}
		if got, ok := MappingAt(past); ok && got == key {
			t.Errorf("MappingAt(past the last page) = %q", got)
		}
	}
	if err := Detach(a.Addr); err != nil {
		t.Fatal(err)
	}
	if err := Unmap(m); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []uintptr{uintptr(a.Addr), uintptr(m.Addr)} {
		if got, ok := MappingAt(addr); ok {
			t.Errorf("MappingAt(%#x) = %q after the mapping ended", addr, got)
		}
	}
}
