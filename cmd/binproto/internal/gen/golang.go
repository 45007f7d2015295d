package gen

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"go/format"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"

	"github.com/binproto/binproto/cmd/binproto/internal/schemafile"
	"github.com/binproto/binproto/schema"
	"github.com/binproto/binproto/wire"
)

// GoOptions configures Go.
type GoOptions struct {
	// Package is the Go package name. Default: "protocol".
	Package string
	// Samples is how many sample messages per type the generated test
	// round-trips. Default 3.
	Samples int
}

// GoFiles is the Go code of a schema.
type GoFiles struct {
	// Code declares the types, constants, codecs and configuration.
	Code []byte
	// Test round-trips samples of every type, checking them against the
	// bytes of the schema's dynamic structures computed at generation.
	Test []byte
}

// Go generates the Go code of s. The code is gofmt-clean; an error means
// that s has names Go cannot tell apart (or a bad package name).
func Go(s *schemafile.Schema, o GoOptions) (*GoFiles, error) {
	if o.Package == "" {
		o.Package = "protocol"
	}
	if o.Samples <= 0 {
		o.Samples = 3
	}
	if !token.IsIdentifier(o.Package) || token.IsKeyword(o.Package) {
		return nil, fmt.Errorf("package name %q is not a Go identifier", o.Package)
	}
	m, err := goModel(s, o)
	if err != nil {
		return nil, err
	}
	code, err := render(goCodeTmpl, m)
	if err != nil {
		return nil, err
	}
	test, err := render(goTestTmpl, m)
	if err != nil {
		return nil, err
	}
	return &GoFiles{Code: code, Test: test}, nil
}

// render executes t with m and gofmts the result.
func render(t *template.Template, m any) ([]byte, error) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, m); err != nil {
		return nil, err
	}
	out, err := format.Source(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("gofmt the generated code: %w\n%s", err, buf.Bytes())
	}
	return out, nil
}

type goFile struct {
	Package, Source, Header, Checksum string
	MaxPayload                        int
	NotFound                          uint64
	Types                             []goType
}

type goType struct {
	Name, GoName, Doc string
	Code              uint64
	Fields            []goField
	Samples           []goSample
}

type goField struct {
	Name, GoName, GoType, Tag string
}

type goSample struct {
	Literal, Hex string
}

func goModel(s *schemafile.Schema, o GoOptions) (*goFile, error) {
	m := &goFile{Package: o.Package, Source: filepath.Base(s.File), Header: s.Header, Checksum: goChecksum(s.Checksum),
		MaxPayload: s.MaxPayload, NotFound: s.NotFound}
	var top []string
	for _, t := range s.Types {
		top = append(top, t.Name, t.Name+"_Codec", "Type_"+t.Name)
	}
	if err := uniqueNames(append(top, "Protocol_Config", "New_Protocol"), goName, "Go names"); err != nil {
		return nil, err
	}
	for _, t := range s.Types {
		gt := goType{Name: t.Name, GoName: goName(t.Name), Doc: t.Doc, Code: t.Code}
		var names []string
		for _, f := range t.Fields {
			names = append(names, f.Name)
			gt.Fields = append(gt.Fields, goField{Name: f.Name, GoName: goName(f.Name), GoType: goFieldType(f.Field), Tag: goTag(f.Field)})
		}
		if err := uniqueNames(names, goName, "type "+t.Name+": field names"); err != nil {
			return nil, err
		}
		for i := range o.Samples {
			v := t.Sample(i, 5+i*3)
			p, err := t.Structure().AppendPayload(nil, v)
			if err != nil {
				return nil, fmt.Errorf("type %s: encode a sample: %w", t.Name, err)
			}
			gt.Samples = append(gt.Samples, goSample{Literal: goLiteral(gt, t, v), Hex: hex.EncodeToString(p)})
		}
		m.Types = append(m.Types, gt)
	}
	return m, nil
}

func goChecksum(name string) string {
	switch name {
	case schemafile.ChecksumCRC32:
		return "binproto.CRC32"
	case schemafile.ChecksumCRC32C:
		return "binproto.CRC32C"
	}
	return ""
}

// goFieldType returns the Go type that holds every value of f.
func goFieldType(f schema.Field) string {
	switch f.Kind {
	case schema.KindString:
		return "string"
	case schema.KindBytes:
		return "[]byte"
	}
	w := wire.MustParseFormat(f.Format)
	bits := strconv.Itoa(8 * w.Size())
	switch w.Class() {
	case wire.ClassInt:
		return "int" + bits
	case wire.ClassUint:
		return "uint" + bits
	case wire.ClassBool:
		return "bool"
	}
	if w.Size() == 8 {
		return "float64"
	}
	return "float32"
}

// goTag returns the binproto struct tag of f.
func goTag(f schema.Field) string {
	tag := f.Name
	if f.Kind == schema.KindNumber {
		tag += "," + f.Format
	}
	if f.FixedLength > 0 {
		tag += ",len=" + strconv.Itoa(f.FixedLength)
	}
	return "`binproto:" + strconv.Quote(tag) + "`"
}

// goLiteral returns a composite literal of the sample v of t.
func goLiteral(gt goType, t *schemafile.Type, v map[string]any) string {
	var b strings.Builder
	b.WriteString(gt.GoName + "{")
	for i, f := range t.Fields {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(gt.Fields[i].GoName + ": ")
		switch x := v[f.Name].(type) {
		case string:
			b.WriteString(strconv.Quote(x))
		case []byte:
			b.WriteString("[]byte(" + strconv.Quote(string(x)) + ")")
		case float64:
			b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		default:
			fmt.Fprint(&b, x)
		}
	}
	b.WriteString("}")
	return b.String()
}

var goCodeTmpl = template.Must(template.New("go").Parse(`// Code generated by binproto gen go from {{.Source}}. DO NOT EDIT.

// Package {{.Package}} is the protocol of {{.Source}}: its message types as Go
// structs with binproto tags, their codes and codecs, and its configuration.
package {{.Package}}

import "github.com/binproto/binproto"

// The message types.
const (
{{- range .Types}}
	Type{{.GoName}} binproto.MessageType = {{.Code}} // {{.Name}}
{{- end}}
)
{{range .Types}}
// {{.GoName}} is the message type {{.Name}} (code {{.Code}}).{{if .Doc}}
// {{.Doc}}{{end}}
type {{.GoName}} struct {
{{- range .Fields}}
	{{.GoName}} {{.GoType}} {{.Tag}}
{{- end}}
}

// {{.GoName}}Codec encodes and decodes {{.GoName}} payloads.
var {{.GoName}}Codec = binproto.MustCodec[{{.GoName}}]()
{{end}}
// ProtocolConfig returns the protocol's configuration: every type with its
// structure, the header format, the checksum and the payload limit of
// {{.Source}}. Set the other options on it before binproto.NewProtocol.
func ProtocolConfig() binproto.Config {
	return binproto.Config{
		Types: map[binproto.MessageType]*binproto.Structure{
{{- range .Types}}
			Type{{.GoName}}: {{.GoName}}Codec.Structure(),
{{- end}}
		},
		HeaderFormat:   {{printf "%q" .Header}},
		MaxPayloadSize: {{.MaxPayload}},
{{- if .NotFound}}
		NotFoundType:   {{.NotFound}},
{{- end}}
{{- if .Checksum}}
		Checksum:       {{.Checksum}},
{{- end}}
	}
}

// NewProtocol returns the protocol of ProtocolConfig.
func NewProtocol() (*binproto.Protocol, error) { return binproto.NewProtocol(ProtocolConfig()) }
`))

var goTestTmpl = template.Must(template.New("gotest").Parse(`// Code generated by binproto gen go from {{.Source}}. DO NOT EDIT.

package {{.Package}}

import (
	"encoding/hex"
	"reflect"
	"testing"

	"github.com/binproto/binproto"
)

// TestRoundTrip encodes samples of every type with its codec, checks the
// payload against the bytes the schema's structure gave at generation,
// and decodes it back, alone and in a frame of the protocol.
func TestRoundTrip(t *testing.T) {
	p, err := NewProtocol()
	if err != nil {
		t.Fatal(err)
	}
{{- range .Types}}
	t.Run({{printf "%q" .Name}}, func(t *testing.T) {
		for i, tc := range []struct {
			v   {{.GoName}}
			hex string
		}{
{{- range .Samples}}
			{ {{.Literal}}, {{printf "%q" .Hex}} },
{{- end}}
		} {
			payload, err := {{.GoName}}Codec.AppendPayload(nil, &tc.v)
			if err != nil {
				t.Fatalf("sample %d: %v", i, err)
			}
			if got := hex.EncodeToString(payload); got != tc.hex {
				t.Errorf("sample %d: payload %s, want %s", i, got, tc.hex)
			}
			var back {{.GoName}}
			if err := {{.GoName}}Codec.DecodePayload(payload, &back); err != nil || !reflect.DeepEqual(back, tc.v) {
				t.Errorf("sample %d: decoded %+v (%v), want %+v", i, back, err, tc.v)
			}
			frame, err := p.AppendFrame(nil, binproto.Typed(Type{{.GoName}}, {{.GoName}}Codec, &tc.v))
			if err != nil {
				t.Fatal(err)
			}
			m, err := p.ParseFrame(frame)
			if err != nil || m.Type != Type{{.GoName}} {
				t.Fatalf("sample %d: frame %x: type %v, %v", i, frame, m, err)
			}
			var fromFrame {{.GoName}}
			if err := binproto.Decode(m, {{.GoName}}Codec, &fromFrame); err != nil || !reflect.DeepEqual(fromFrame, tc.v) {
				t.Errorf("sample %d: from the frame %+v (%v), want %+v", i, fromFrame, err, tc.v)
			}
		}
	})
{{- end}}
}
`))
