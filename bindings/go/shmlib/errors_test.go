package shmlib_test

import (
	"errors"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/libshm/libshm/bindings/go/shmlib"
)

// TestCodesMatchHeader: a Go process and a C process report a failure with
// the same number, the SHMLIB_E* values of include/shmlib.h.
func TestCodesMatchHeader(t *testing.T) {
	header, err := os.ReadFile("../../../include/shmlib.h")
	if err != nil {
		t.Fatal(err)
	}
	defines := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^#define (SHMLIB_E[A-Z]+)\s+(-?\d+)`).FindAllSubmatch(header, -1) {
		v, _ := strconv.Atoi(string(m[2]))
		defines[string(m[1])] = v
	}
	for name, code := range map[string]shmlib.Code{
		"SHMLIB_EINVAL":       shmlib.ErrInvalid,
		"SHMLIB_ENOENT":       shmlib.ErrNotExist,
		"SHMLIB_EEXIST":       shmlib.ErrExist,
		"SHMLIB_EACCES":       shmlib.ErrPermission,
		"SHMLIB_ENOMEM":       shmlib.ErrNoMemory,
		"SHMLIB_ERANGE":       shmlib.ErrRange,
		"SHMLIB_ENOTATTACHED": shmlib.ErrNotAttached,
		"SHMLIB_ENOTSUP":      shmlib.ErrNotSupported,
		"SHMLIB_EFAULT":       shmlib.ErrFault,
		"SHMLIB_EOS":          shmlib.ErrOS,
		"SHMLIB_EINTERNAL":    shmlib.ErrInternal,
	} {
		if v, ok := defines[name]; !ok || v != int(code) {
			t.Errorf("%s is %d in the header, %d (%v) here", name, v, int(code), code)
		}
	}
}

func TestErrorFields(t *testing.T) {
	name := uniqueName()
	_, err := shmlib.Attach(name, nil)
	var e *shmlib.Error
	if !errors.As(err, &e) {
		t.Fatalf("%v (%T) is not an *shmlib.Error", err, err)
	}
	if e.Op != "attach" || e.Key != "posix:"+name || e.Code != shmlib.ErrNotExist || e.Msg != "no such segment" || e.Err == nil {
		t.Errorf("error fields %+v", *e)
	}
	if e.Code.Error() != "no such segment" {
		t.Errorf("ErrNotExist reads %q, want shmlib_strerror's %q", e.Code.Error(), "no such segment")
	}
	// One code does not match another, nor another io/fs sentinel.
	if errors.Is(err, shmlib.ErrExist) || errors.Is(err, os.ErrExist) {
		t.Errorf("%v matches ErrExist", err)
	}
}
