package proxyproto

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// v2 builds a version 2 header: verCmd, famProto, then block.
func v2(verCmd, famProto byte, block []byte) []byte {
	b := append([]byte(nil), sigV2...)
	b = append(b, verCmd, famProto)
	b = binary.BigEndian.AppendUint16(b, uint16(len(block)))
	return append(b, block...)
}

func inet4Block(tlv []byte) []byte {
	b := []byte{10, 0, 0, 1, 10, 0, 0, 2, 0x1F, 0x90, 0x00, 0x50} // 10.0.0.1:8080 -> 10.0.0.2:80
	return append(b, tlv...)
}

func TestParse(t *testing.T) {
	src4, dst4 := netip.MustParseAddrPort("10.0.0.1:8080"), netip.MustParseAddrPort("10.0.0.2:80")
	v6block := append(append(netip.MustParseAddr("2001:db8::1").AsSlice(), netip.MustParseAddr("2001:db8::2").AsSlice()...), 0, 1, 0, 2)
	tests := []struct {
		name     string
		in       []byte
		want     Header
		n        int
		need     bool  // ok == false, err == nil
		wantErr  error // ErrNoHeader or ErrMalformed
		hasAddrs bool
	}{
		{name: "v1 tcp4", in: []byte("PROXY TCP4 10.0.0.1 10.0.0.2 8080 80\r\nrest"), want: Header{1, Proxy, src4, dst4}, n: 38, hasAddrs: true},
		{name: "v1 tcp6", in: []byte("PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n"), want: Header{1, Proxy, netip.MustParseAddrPort("[2001:db8::1]:1"), netip.MustParseAddrPort("[2001:db8::2]:2")}, n: 40, hasAddrs: true},
		{name: "v1 unknown short", in: []byte("PROXY UNKNOWN\r\n"), want: Header{Version: 1, Command: Local}, n: 15},
		{name: "v1 unknown long", in: []byte("PROXY UNKNOWN ffff::1 ffff::2 65535 65535\r\n"), want: Header{Version: 1, Command: Local}, n: 43},
		{name: "v1 port 0 and 65535", in: []byte("PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n"), want: Header{1, Proxy, netip.MustParseAddrPort("1.2.3.4:0"), netip.MustParseAddrPort("5.6.7.8:65535")}, n: 36, hasAddrs: true},
		{name: "v1 partial", in: []byte("PROXY TCP4 10.0.0.1 10.0"), need: true},
		{name: "v1 partial signature", in: []byte("PRO"), need: true},
		{name: "v1 empty", in: nil, need: true},
		{name: "v1 not proxy", in: []byte("PROXZ TCP4"), wantErr: ErrNoHeader},
		{name: "v1 lowercase", in: []byte("proxy TCP4"), wantErr: ErrNoHeader},
		{name: "v1 bare LF", in: []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), wantErr: ErrMalformed},
		{name: "v1 no CRLF in 107 bytes", in: []byte("PROXY UNKNOWN " + strings.Repeat("f", 100)), wantErr: ErrMalformed},
		{name: "v1 line of 108 bytes", in: []byte("PROXY UNKNOWN " + strings.Repeat("f", 92) + "\r\n"), wantErr: ErrMalformed},
		{name: "v1 line of 107 bytes", in: []byte("PROXY UNKNOWN " + strings.Repeat("f", 91) + "\r\n"), want: Header{Version: 1, Command: Local}, n: 107},
		{name: "v1 tcp4 with v6 address", in: []byte("PROXY TCP4 ::1 ::2 1 2\r\n"), wantErr: ErrMalformed},
		{name: "v1 tcp6 with v4 address", in: []byte("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n"), wantErr: ErrMalformed},
		{name: "v1 leading zero port", in: []byte("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), wantErr: ErrMalformed},
		{name: "v1 leading zero address", in: []byte("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"), wantErr: ErrMalformed},
		{name: "v1 port over 65535", in: []byte("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), wantErr: ErrMalformed},
		{name: "v1 signed port", in: []byte("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n"), wantErr: ErrMalformed},
		{name: "v1 double space", in: []byte("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), wantErr: ErrMalformed},
		{name: "v1 trailing space", in: []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"), wantErr: ErrMalformed},
		{name: "v1 zone", in: []byte("PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n"), wantErr: ErrMalformed},
		{name: "v1 too few fields", in: []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), wantErr: ErrMalformed},
		{name: "v1 udp", in: []byte("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), wantErr: ErrMalformed},
		{name: "v2 proxy tcp4", in: v2(0x21, 0x11, inet4Block(nil)), want: Header{2, Proxy, src4, dst4}, n: 28, hasAddrs: true},
		{name: "v2 proxy tcp4 with TLVs", in: v2(0x21, 0x11, inet4Block([]byte{0x04, 0x00, 0x03, 1, 2, 3})), want: Header{2, Proxy, src4, dst4}, n: 34, hasAddrs: true},
		{name: "v2 proxy tcp6", in: v2(0x21, 0x21, v6block), want: Header{2, Proxy, netip.MustParseAddrPort("[2001:db8::1]:1"), netip.MustParseAddrPort("[2001:db8::2]:2")}, n: 52, hasAddrs: true},
		{name: "v2 local", in: v2(0x20, 0x00, nil), want: Header{Version: 2, Command: Local}, n: 16},
		{name: "v2 local with addresses ignored", in: v2(0x20, 0x11, inet4Block(nil)), want: Header{Version: 2, Command: Local}, n: 28},
		{name: "v2 proxy unspec", in: v2(0x21, 0x00, nil), want: Header{Version: 2, Command: Proxy}, n: 16},
		{name: "v2 proxy udp4 falls back to unspec", in: v2(0x21, 0x12, inet4Block(nil)), want: Header{Version: 2, Command: Proxy}, n: 28},
		{name: "v2 proxy unix falls back to unspec", in: v2(0x21, 0x31, make([]byte, 216)), want: Header{Version: 2, Command: Proxy}, n: 232},
		{name: "v2 largest block", in: v2(0x21, 0x11, inet4Block(make([]byte, MaxV2Length-12))), want: Header{2, Proxy, src4, dst4}, n: MaxLength, hasAddrs: true},
		{name: "v2 block over the bound", in: v2(0x21, 0x11, inet4Block(make([]byte, MaxV2Length-11)))[:16], wantErr: ErrMalformed},
		{name: "v2 partial signature", in: sigV2[:7], need: true},
		{name: "v2 partial header", in: v2(0x21, 0x11, inet4Block(nil))[:15], need: true},
		{name: "v2 partial block", in: v2(0x21, 0x11, inet4Block(nil))[:27], need: true},
		{name: "v2 bad signature", in: []byte("\r\n\r\n\x00\r\nQUIX\n"), wantErr: ErrNoHeader},
		{name: "v2 version 1", in: v2(0x11, 0x11, inet4Block(nil)), wantErr: ErrMalformed},
		{name: "v2 version 3 seen early", in: append(append([]byte(nil), sigV2...), 0x31), wantErr: ErrMalformed},
		{name: "v2 command 2", in: v2(0x22, 0x11, inet4Block(nil)), wantErr: ErrMalformed},
		{name: "v2 short inet block", in: v2(0x21, 0x11, make([]byte, 11)), wantErr: ErrMalformed},
		{name: "v2 short inet6 block", in: v2(0x21, 0x21, make([]byte, 35)), wantErr: ErrMalformed},
		{name: "binproto frame", in: []byte{0x00, 0x01, 0x3f, 0xc0, 0, 0}, wantErr: ErrNoHeader},
		{name: "TLS ClientHello", in: []byte{0x16, 0x03, 0x01, 0x00, 0xa5}, wantErr: ErrNoHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, n, ok, err := Parse(tt.in)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) || ok {
					t.Fatalf("Parse = ok %v, err %v; want error %v", ok, err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("Parse: %v", err)
			case tt.need:
				if ok {
					t.Fatalf("Parse = ok, %+v; want need more bytes", h)
				}
				return
			case !ok:
				t.Fatal("Parse: need more bytes; want a header")
			}
			if h != tt.want || n != tt.n {
				t.Fatalf("Parse = %+v, %d; want %+v, %d", h, n, tt.want, tt.n)
			}
			if h.HasAddress() != tt.hasAddrs {
				t.Fatalf("HasAddress = %v, want %v", h.HasAddress(), tt.hasAddrs)
			}
			// Every shorter prefix of a header asks for more bytes.
			for i := range n {
				if _, _, ok, err := Parse(tt.in[:i]); ok || err != nil {
					t.Fatalf("Parse(first %d of %d bytes) = ok %v, err %v; want need more", i, n, ok, err)
				}
			}
		})
	}
}

type golden struct {
	File                string `json:"file"`
	Version             int    `json:"version"`
	Command             int    `json:"command"`
	Source, Destination string
	Rest                string `json:"rest"`
}

func loadGolden(t testing.TB) ([]golden, map[string][]byte) {
	raw, err := os.ReadFile(filepath.Join("testdata", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gs []golden
	if err := json.Unmarshal(raw, &gs); err != nil {
		t.Fatal(err)
	}
	files := make(map[string][]byte)
	for _, g := range gs {
		b, err := os.ReadFile(filepath.Join("testdata", g.File))
		if err != nil {
			t.Fatal(err)
		}
		files[g.File] = b
	}
	return gs, files
}

// TestGolden parses the headers HAProxy wrote (testdata/README.md), all
// at once and one byte at a time.
func TestGolden(t *testing.T) {
	gs, files := loadGolden(t)
	for _, g := range gs {
		t.Run(g.File, func(t *testing.T) {
			want := Header{Version: g.Version, Command: Command(g.Command),
				Source: netip.MustParseAddrPort(g.Source), Destination: netip.MustParseAddrPort(g.Destination)}
			h, rest, err := Read(bytes.NewReader(files[g.File]))
			if err != nil || h != want || string(rest) != g.Rest {
				t.Fatalf("Read = %+v, rest %q, %v; want %+v, %q", h, rest, err, want, g.Rest)
			}
			// One byte at a time, Read stops at the header's last byte.
			r := bytes.NewReader(files[g.File])
			h, rest, err = Read(iotest.OneByteReader(r))
			if err != nil || h != want || len(rest) != 0 || r.Len() != len(g.Rest) {
				t.Fatalf("Read one byte at a time = %+v, rest %q, %v, %d bytes unread; want %+v, %d", h, rest, err, r.Len(), want, len(g.Rest))
			}
		})
	}
}

func TestRead(t *testing.T) {
	hdr := "PROXY TCP4 10.0.0.1 10.0.0.2 8080 80\r\n"
	tests := []struct {
		name    string
		in      string
		rest    string
		wantErr error
	}{
		{name: "header alone", in: hdr},
		{name: "header and payload", in: hdr + "payload", rest: "payload"},
		{name: "nothing", in: "", wantErr: io.EOF},
		{name: "cut short", in: hdr[:20], wantErr: io.ErrUnexpectedEOF},
		{name: "not a header", in: "GET / HTTP/1.1\r\n", wantErr: ErrNoHeader},
		{name: "payload bytes are not read past MaxLength", in: hdr + strings.Repeat("x", 2*MaxLength), rest: strings.Repeat("x", MaxLength-len(hdr))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := strings.NewReader(tt.in)
			_, rest, err := Read(r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Read: %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(rest) != tt.rest {
				t.Fatalf("Read = rest %q, %v; want %q", rest, err, tt.rest)
			}
			if r.Len() != len(tt.in)-len(hdr)-len(tt.rest) {
				t.Fatalf("Read consumed %d bytes, want %d", len(tt.in)-r.Len(), len(hdr)+len(tt.rest))
			}
		})
	}
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	if _, _, err := Read(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Fatalf("Read: %v, want %v", err, boom)
	}
}

func TestHasSignature(t *testing.T) {
	for in, want := range map[string]bool{"PROXY TCP4": true, "PROXY ": true, "PROXY": false, string(sigV2): true, string(sigV2[:11]): false, "\x00\x01": false} {
		if got := HasSignature([]byte(in)); got != want {
			t.Errorf("HasSignature(%q) = %v, want %v", in, got, want)
		}
	}
}

// FuzzParse checks that Parse never panics, never claims more bytes than
// it was given or than MaxLength, that a header parses the same with bytes
// after it, and that no prefix of a header is an error.
func FuzzParse(f *testing.F) {
	_, files := loadGolden(f)
	for _, b := range files {
		f.Add(b)
	}
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2(0x20, 0x00, nil))
	f.Add(v2(0x21, 0x21, make([]byte, 36)))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, ok, err := Parse(b)
		if err != nil {
			if ok || !errors.Is(err, ErrNoHeader) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse: ok %v, err %v", ok, err)
			}
			return
		}
		if !ok {
			if n != 0 || len(b) >= MaxLength {
				t.Fatalf("Parse: need more after %d bytes (n %d)", len(b), n)
			}
			return
		}
		if n <= 0 || n > len(b) || n > MaxLength || h.Version < 1 || h.Version > 2 {
			t.Fatalf("Parse = %+v, %d of %d bytes", h, n, len(b))
		}
		if h.HasAddress() && (!h.Destination.IsValid() || h.Source.Addr().Is4() != h.Destination.Addr().Is4()) {
			t.Fatalf("Parse = %+v: addresses of different families", h)
		}
		h2, n2, ok2, err2 := Parse(append(b[:n:n], "more"...))
		if h2 != h || n2 != n || !ok2 || err2 != nil {
			t.Fatalf("Parse with bytes after = %+v, %d, %v, %v; want %+v, %d", h2, n2, ok2, err2, h, n)
		}
		for i := range n {
			if _, _, ok, err := Parse(b[:i]); ok || err != nil {
				t.Fatalf("Parse(first %d of %d header bytes) = ok %v, err %v", i, n, ok, err)
			}
		}
	})
}
