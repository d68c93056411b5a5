package segment

import (
	"errors"
	"strconv"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/keys"
)

// keyError reports a key that does not parse, quoting it: a malformed key
// may hold anything, control characters and invalid UTF-8 included.
func keyError(op, key string, err error) *errs.Error {
	var se *keys.SyntaxError
	msg := err.Error()
	if errors.As(err, &se) {
		msg = se.Reason
	}
	return &errs.Error{Op: op, Key: strconv.Quote(key), Code: errs.ErrInvalid, Msg: "malformed key: " + msg, Err: err}
}

// DisplayKey is how messages show a key the caller gave: canonical when it
// parses, "(new posix: segment)" for the forms that ask create to choose
// (not "create posix:: ..."), and quoted when it is malformed, since a
// malformed key may hold anything.
func DisplayKey(key string) string {
	k, err := keys.Parse(key)
	if err != nil {
		return strconv.Quote(key)
	}
	return display(k)
}

// display is DisplayKey of a key already parsed.
func display(k keys.Key) string {
	if k.CreateOnly() {
		return "(new " + k.String() + " segment)"
	}
	return k.String()
}

// NormalizeKey gives the canonical form of a key, the one String gives
// after Parse; a malformed key is an *errs.Error of op.
func NormalizeKey(op, key string) (string, error) {
	k, err := keys.Parse(key)
	if err != nil {
		return "", keyError(op, key, err)
	}
	return k.String(), nil
}

// parseKey parses a key that must name an existing segment.
func parseKey(op, key string) (keys.Key, error) {
	k, err := keys.Parse(key)
	if err != nil {
		return k, keyError(op, key, err)
	}
	if k.CreateOnly() {
		return k, errs.New(op, k.String(), errs.ErrInvalid, "this key only asks create to choose a segment; name an existing one (posix:/NAME, sysv:key=K, sysv:id=N)")
	}
	return k, nil
}
