package wire_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/binproto/binproto/wire"
)

// TestTooLargeErrorNamesType: a payload over the maximum is reported with
// its message type and both sizes, on the encode side and on the decode
// side (ParseFrame and FrameReader), and still matches ErrTooLarge.
func TestTooLargeErrorNamesType(t *testing.T) {
	f := newFraming(">B", nil)
	f.MaxPayload = 1 << 20
	const want = "binproto: message type 70: payload of 2097152 bytes exceeds the maximum of 1048576"
	check := func(what string, err error) {
		t.Helper()
		var tle *wire.TooLargeError
		if !errors.As(err, &tle) || !errors.Is(err, wire.ErrTooLarge) {
			t.Fatalf("%s: %v, want a *TooLargeError wrapping ErrTooLarge", what, err)
		}
		if tle.Type != typeBig || tle.Length != 2<<20 || tle.Max != 1<<20 {
			t.Errorf("%s: %+v", what, *tle)
		}
		if err.Error() != want {
			t.Errorf("%s:\n got %q\nwant %q", what, err.Error(), want)
		}
	}

	_, err := f.AppendFrame(nil, typeBig, make([]byte, 2<<20))
	check("AppendFrame", err)

	header := []byte{typeBig, 0x00, 0x20, 0x00, 0x00} // type 70, length 2 MiB
	_, _, _, err = f.ParseFrame(header)
	check("ParseFrame", err)

	_, err = wire.NewFrameReader(bytes.NewReader(header), f, 0).ReadFrame()
	check("FrameReader.ReadFrame", err)
}

// TestTypeOutOfRangeErrorText: a message type the header cannot hold reads
// with one "binproto:" prefix and matches ErrRange.
func TestTypeOutOfRangeErrorText(t *testing.T) {
	_, err := newFraming(">B", nil).AppendFrame(nil, 5000, []byte{1})
	want := `binproto: value out of range: message type 5000 does not fit header format ">B"`
	if !errors.Is(err, wire.ErrRange) || err == nil || err.Error() != want {
		t.Errorf("AppendFrame of type 5000:\n got %v\nwant %q", err, want)
	}
}
