package schemafile

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/binproto/binproto/schema"
)

// gatewayFile is the sample schema of the README's walk-through.
var gatewayFile = filepath.Join("..", "..", "..", "..", "examples", "schema", "gateway.yaml")

func TestLoadGateway(t *testing.T) {
	s, err := Load(gatewayFile)
	if err != nil {
		t.Fatal(err)
	}
	if s.Header != ">H" || s.Checksum != ChecksumCRC32 || s.MaxPayload != 65536 {
		t.Errorf("settings %q %q %d", s.Header, s.Checksum, s.MaxPayload)
	}
	want := []struct {
		name     string
		code     uint64
		fields   int
		variable bool
		size     int
	}{
		{"reading", 1, 7, false, 4 + 8 + 4 + 2 + 2 + 1 + 4},
		{"log", 2, 4, true, 4 + 1 + 4 + 4},
		{"ack", 3, 2, false, 10},
	}
	if len(s.Types) != len(want) {
		t.Fatalf("%d types, want %d", len(s.Types), len(want))
	}
	for i, w := range want {
		ty := s.Types[i]
		if ty.Name != w.name || ty.Code != w.code || len(ty.Fields) != w.fields ||
			ty.Structure().Variable() != w.variable || ty.Structure().Size() != w.size {
			t.Errorf("type %d: %s %d, %d fields, variable %v, size %d; want %+v", i, ty.Name, ty.Code,
				len(ty.Fields), ty.Structure().Variable(), ty.Structure().Size(), w)
		}
	}
	if f := s.Types[0].Fields[6]; f.Kind != schema.KindString || f.FixedLength != 4 || f.Line == 0 {
		t.Errorf("unit field %+v", f)
	}
	p, err := s.Protocol()
	if err != nil {
		t.Fatal(err)
	}
	if p.Config().Checksum == nil || p.NotFound() != 0xFFFF {
		t.Errorf("protocol: checksum %v, not found %d", p.Config().Checksum, p.NotFound())
	}
	if s.Type("log") != s.Types[1] || s.TypeByCode(3) != s.Types[2] || s.Type("nope") != nil || s.TypeByCode(9) != nil {
		t.Error("lookups")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"syntax", "types: [\n", "f.yaml:1: YAML: did not find expected node content"},
		{"not a mapping", "- a\n", "f.yaml:1: the schema must be a mapping"},
		{"no types", "header: \">H\"\n", "f.yaml:1: no types"},
		{"empty types", "types: []\n", "f.yaml:1: types: want a non-empty list"},
		{"unknown top key", "typez: []\ntypes: [{name: a, code: 1}]\n", `f.yaml:1: unknown key "typez"`},
		{"bad header", "header: \">f\"\ntypes: [{name: a, code: 1}]\n", `f.yaml:1: header ">f": not an integer format`},
		{"bad checksum", "checksum: md5\ntypes: [{name: a, code: 1}]\n", `f.yaml:1: checksum "md5": want none, crc32 or crc32c`},
		{"max payload string", "max_payload: big\ntypes: [{name: a, code: 1}]\n", `f.yaml:1: max_payload: want a whole number`},
		{"code too big", "header: \">B\"\ntypes:\n  - name: a\n    code: 256\n", `f.yaml:4: type a: code 256 does not fit header ">B" (at most 255)`},
		{"code is not found", "types:\n  - name: a\n    code: 65535\n", "f.yaml:3: type a: code 65535 is the not-found type"},
		{"duplicate code", "types:\n  - {name: a, code: 1}\n  - {name: b, code: 1}\n", "f.yaml:3: type b: code 1 already used by type a"},
		{"duplicate name", "types:\n  - {name: a, code: 1}\n  - {name: a, code: 2}\n", "f.yaml:3: type a: name already used by the type on line 2"},
		{"bad type name", "types:\n  - {name: 1a, code: 1}\n", `f.yaml:2: type name "1a"`},
		{"no code", "types:\n  - {name: a}\n", "f.yaml:2: type a: no code"},
		{"unknown type key", "types:\n  - {name: a, code: 1, feilds: []}\n", `f.yaml:2: type a: unknown key "feilds"`},
		{"duplicate key", "types:\n  - name: a\n    code: 1\n    code: 2\n", `f.yaml:4: type a: key "code" given twice`},
		{"bad format", "types:\n  - name: readings\n    code: 1\n    fields:\n      - {name: temp, format: \">x\"}\n", `f.yaml:5: type readings: field temp: format ">x"`},
		{"no format", "types:\n  - name: a\n    code: 1\n    fields:\n      - {name: temp}\n", "f.yaml:5: type a: field temp: no format"},
		{"both", "types:\n  - name: a\n    code: 1\n    fields:\n      - {name: t, format: \">f\", type: str}\n", "f.yaml:5: type a: field t: give either format"},
		{"bad kind", "types:\n  - name: a\n    code: 1\n    fields:\n      - {name: t, type: int}\n", `f.yaml:5: type a: field t: type "int": want str or bytes`},
		{"length on number", "types:\n  - name: a\n    code: 1\n    fields:\n      - {name: t, format: \">f\", length: 4}\n", "f.yaml:5: type a: field t: length applies to str and bytes"},
		{"zero length", "types:\n  - name: a\n    code: 1\n    fields:\n      - {name: t, type: str, length: 0}\n", "f.yaml:5: type a: field t: length: 0 is out of range"},
		{"duplicate field", "types:\n  - name: a\n    code: 1\n    fields:\n      - {name: t, type: str}\n      - {name: t, type: bytes}\n", "f.yaml:6: type a: field t: name already used on line 5"},
		{"unknown field key", "types:\n  - name: a\n    code: 1\n    fields:\n      - {name: t, type: str, size: 3}\n", `f.yaml:5: type a: field t: unknown key "size"`},
		{"over max payload", "max_payload: 8\ntypes:\n  - name: a\n    code: 1\n    fields:\n      - {name: t, type: bytes, length: 9}\n", "f.yaml:3: type a: fixed payload of 9 bytes is over max_payload 8"},
		{"not found out of range", "header: \">B\"\nnot_found: 300\ntypes: [{name: a, code: 1}]\n", "f.yaml:2: not_found 300 does not fit header"},
		{"doc of two lines", "types:\n  - name: a\n    code: 1\n    doc: \"x\\ny\"\n", "f.yaml:4: type a: doc: want one line"},
		{"fields not a list", "types:\n  - name: a\n    code: 1\n    fields: {x: 1}\n", "f.yaml:4: type a: fields: want a list, got a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\nwant it to contain %q", err, tt.want)
			}
			var se *Error
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &se) || se.File != "f.yaml" {
				t.Errorf("error %v is not an *Error wrapping ErrInvalid", err)
			}
		})
	}
}

func TestParseReportsEveryError(t *testing.T) {
	_, err := Parse("f.yaml", []byte("types:\n  - {name: a, code: 1, x: 1}\n  - {name: b, code: 2, y: 2}\n"))
	for _, want := range []string{`f.yaml:2: type a: unknown key "x"`, `f.yaml:3: type b: unknown key "y"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	s, err := Parse("f.yaml", []byte("types:\n  - {name: empty, code: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Header != DefaultHeader || s.Checksum != ChecksumNone || s.MaxPayload != DefaultMaxPayload || s.ChecksumFunc() != nil {
		t.Errorf("defaults %+v", s)
	}
	if _, err := s.Protocol(); err != nil {
		t.Error(err)
	}
}
