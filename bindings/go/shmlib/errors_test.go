package shmlib_test

import (
	"errors"
	"os"
	"testing"

	"github.com/libshm/libshm/bindings/go/shmlib"
)

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
