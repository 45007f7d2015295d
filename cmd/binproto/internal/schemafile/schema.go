package schemafile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/schema"
	"github.com/binproto/binproto/wire"
	"go.yaml.in/yaml/v3"
)

// Defaults of the optional settings of a schema file.
const (
	DefaultHeader     = ">H"
	DefaultMaxPayload = 1 << 20
)

// Checksum names accepted in a schema file.
const (
	ChecksumNone   = "none"
	ChecksumCRC32  = "crc32"
	ChecksumCRC32C = "crc32c"
)

// maxFileSize bounds the schema files Load reads.
const maxFileSize = 4 << 20

// ErrInvalid is wrapped by every error that a schema file's content causes.
var ErrInvalid = errors.New("invalid schema")

// Error is one problem of a schema file, located by file, line, and the
// type and field it concerns (empty when it concerns none).
type Error struct {
	File  string
	Line  int
	Type  string
	Field string
	Msg   string
}

// Error returns "file:line: type T: field F: msg".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Type != "" {
		fmt.Fprintf(&b, "type %s: ", e.Type)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "field %s: ", e.Field)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns ErrInvalid.
func (e *Error) Unwrap() error { return ErrInvalid }

// Schema is a checked protocol description.
type Schema struct {
	// File is the name the schema was read from, for messages.
	File string
	// Header is the struct format of the type header, e.g. ">H".
	Header string
	// Checksum is ChecksumNone, ChecksumCRC32 or ChecksumCRC32C.
	Checksum string
	// MaxPayload is the largest payload in bytes.
	MaxPayload int
	// NotFound is the not-found type; zero: the largest header value.
	NotFound uint64
	// Types are the message types, in file order.
	Types []*Type
}

// Type is one message type.
type Type struct {
	Name   string
	Code   uint64
	Doc    string // optional description
	Line   int    // where the type begins in its file
	Fields []Field

	structure *schema.Structure
}

// Field is one field of a type, with the line it was declared on.
type Field struct {
	schema.Field
	Line int
}

// Structure returns the type's compiled structure.
func (t *Type) Structure() *schema.Structure { return t.structure }

// MessageType returns the type's code as a binproto.MessageType.
func (t *Type) MessageType() binproto.MessageType { return binproto.MessageType(t.Code) }

// Load reads and checks the schema file at path.
func Load(path string) (*Schema, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("larger than %d bytes", maxFileSize)}
	}
	return Parse(path, data)
}

// Parse checks the schema in data, read from file (a name for messages).
// Every problem found is an *Error; several are joined with errors.Join.
func Parse(file string, data []byte) (*Schema, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{File: file, Line: yamlLine(err), Msg: yamlMsg(err)}
	}
	p := &parser{file: file}
	s := p.document(&doc)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return s, nil
}

var lineRE = regexp.MustCompile(`line (\d+)`)

// yamlLine extracts the line of a YAML syntax error, or 0.
func yamlLine(err error) int {
	m := lineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	var n int
	fmt.Sscan(m[1], &n)
	return n
}

// yamlMsg strips the library's prefix from a YAML syntax error.
func yamlMsg(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "line ") {
		msg = msg[i+2:]
	}
	return "YAML: " + msg
}

// parser walks the YAML tree, collecting errors.
type parser struct {
	file string
	errs []error
}

func (p *parser) fail(n *yaml.Node, typ, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Type: typ, Field: field, Msg: fmt.Sprintf(format, args...)})
}

var nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// maxNameLen bounds type and field names.
const maxNameLen = 64

func (p *parser) document(doc *yaml.Node) *Schema {
	s := &Schema{File: p.file, Header: DefaultHeader, Checksum: ChecksumNone, MaxPayload: DefaultMaxPayload}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		p.fail(doc, "", "", "the schema must be a mapping with a types list")
		return nil
	}
	var types *yaml.Node
	for key, val := range p.mapping(doc.Content[0], "", "", "header", "checksum", "max_payload", "not_found", "types") {
		switch key {
		case "header":
			s.Header = p.str(val, "", "", "header")
		case "checksum":
			s.Checksum = p.str(val, "", "", "checksum")
			if s.Checksum != ChecksumNone && s.Checksum != ChecksumCRC32 && s.Checksum != ChecksumCRC32C {
				p.fail(val, "", "", "checksum %q: want none, crc32 or crc32c", s.Checksum)
			}
		case "max_payload":
			s.MaxPayload = int(p.uint(val, "", "", "max_payload", 1, 1<<31-1))
		case "not_found":
			s.NotFound = p.uint(val, "", "", "not_found", 1, 1<<64-1)
		case "types":
			types = val
		}
	}
	header, err := wire.ParseFormat(s.Header)
	if err == nil && header.Class() != wire.ClassUint && header.Class() != wire.ClassInt {
		err = errors.New("not an integer format")
	}
	if err != nil {
		p.fail(p.valueNode(doc.Content[0], "header"), "", "", "header %q: %v", s.Header, err)
		return nil
	}
	notFound := header.MaxUint()
	if s.NotFound != 0 {
		if header.CheckUint(s.NotFound) != nil {
			p.fail(p.valueNode(doc.Content[0], "not_found"), "", "", "not_found %d does not fit header %q", s.NotFound, s.Header)
		}
		notFound = s.NotFound
	}
	if types == nil {
		p.fail(doc.Content[0], "", "", "no types: add a types list")
		return nil
	}
	s.Types = p.types(types, header, notFound, s.MaxPayload)
	return s
}

// mapping returns the key/value pairs of n in order, reporting keys not in
// allowed, repeated keys and a node that is not a mapping.
func (p *parser) mapping(n *yaml.Node, typ, field string, allowed ...string) func(func(string, *yaml.Node) bool) {
	return func(yield func(string, *yaml.Node) bool) {
		if n.Kind != yaml.MappingNode {
			p.fail(n, typ, field, "want a mapping of %s", strings.Join(allowed, ", "))
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch {
			case !contains(allowed, k.Value):
				p.fail(k, typ, field, "unknown key %q (known: %s)", k.Value, strings.Join(allowed, ", "))
			case seen[k.Value]:
				p.fail(k, typ, field, "key %q given twice", k.Value)
			default:
				seen[k.Value] = true
				if !yield(k.Value, v) {
					return
				}
			}
		}
	}
}

// valueNode returns the value of key in mapping n, or n.
func (p *parser) valueNode(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return n
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// str returns the string scalar n.
func (p *parser) str(n *yaml.Node, typ, field, key string) string {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		p.fail(n, typ, field, "%s: want a string, got %s", key, describe(n))
		return ""
	}
	return n.Value
}

// uint returns the integer scalar n, checked to lie in [lo, hi].
func (p *parser) uint(n *yaml.Node, typ, field, key string, lo, hi uint64) uint64 {
	var v uint64
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil {
		p.fail(n, typ, field, "%s: want a whole number from %d to %d, got %s", key, lo, hi, describe(n))
		return 0
	}
	if v < lo || v > hi {
		p.fail(n, typ, field, "%s: %d is out of range %d..%d", key, v, lo, hi)
		return 0
	}
	return v
}

// describe names what n holds, for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

// types reads the types list.
func (p *parser) types(n *yaml.Node, header wire.Format, notFound uint64, maxPayload int) []*Type {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.fail(n, "", "", "types: want a non-empty list of types")
		return nil
	}
	var out []*Type
	names, codes := map[string]int{}, map[uint64]string{}
	for _, tn := range n.Content {
		t := p.typ(tn, header, notFound, maxPayload)
		if t == nil {
			continue
		}
		if line, ok := names[t.Name]; ok {
			p.fail(tn, t.Name, "", "name already used by the type on line %d", line)
			continue
		}
		if other, ok := codes[t.Code]; ok {
			p.fail(p.valueNode(tn, "code"), t.Name, "", "code %d already used by type %s", t.Code, other)
			continue
		}
		names[t.Name], codes[t.Code] = t.Line, t.Name
		out = append(out, t)
	}
	return out
}

// typ reads one type; nil if it has errors.
func (p *parser) typ(n *yaml.Node, header wire.Format, notFound uint64, maxPayload int) *Type {
	t := &Type{Line: n.Line}
	nerr := len(p.errs)
	name := "?"
	if n.Kind == yaml.MappingNode {
		if v := p.valueNode(n, "name"); v != n {
			name = v.Value
		}
	}
	var fields *yaml.Node
	hasCode := false
	for key, val := range p.mapping(n, name, "", "name", "code", "doc", "fields") {
		switch key {
		case "name":
			t.Name = p.name(val, "", "", "type")
		case "code":
			t.Code, hasCode = p.uint(val, name, "", "code", 0, 1<<64-1), true
			if header.CheckUint(t.Code) != nil {
				p.fail(val, name, "", "code %d does not fit header %q (at most %d)", t.Code, header.String(), header.MaxUint())
			} else if t.Code == notFound {
				p.fail(val, name, "", "code %d is the not-found type", t.Code)
			}
		case "doc":
			t.Doc = p.str(val, name, "", "doc")
			if strings.ContainsAny(t.Doc, "\r\n") {
				p.fail(val, name, "", "doc: want one line")
			}
		case "fields":
			fields = val
		}
	}
	if n.Kind == yaml.MappingNode {
		if t.Name == "" && len(p.errs) == nerr {
			p.fail(n, "", "", "type without a name")
		}
		if !hasCode {
			p.fail(n, name, "", "no code")
		}
	}
	if fields != nil {
		t.Fields = p.fields(fields, name)
	}
	if len(p.errs) > nerr {
		return nil
	}
	s, err := schema.NewStructure(t.schemaFields()...)
	if err != nil {
		p.fail(n, name, "", "%v", err)
		return nil
	}
	if !s.Variable() && s.Size() > maxPayload {
		p.fail(n, name, "", "fixed payload of %d bytes is over max_payload %d", s.Size(), maxPayload)
		return nil
	}
	t.structure = s
	return t
}

// name reads a type or field name.
func (p *parser) name(n *yaml.Node, typ, field, what string) string {
	s := p.str(n, typ, field, "name")
	if s != "" && (!nameRE.MatchString(s) || len(s) > maxNameLen) {
		p.fail(n, typ, field, "%s name %q: want a letter, then letters, digits or _ (at most %d)", what, s, maxNameLen)
		return ""
	}
	return s
}

// schemaFields returns the fields as the schema package declares them.
func (t *Type) schemaFields() []schema.Field {
	out := make([]schema.Field, len(t.Fields))
	for i, f := range t.Fields {
		out[i] = f.Field
	}
	return out
}

// fields reads a type's fields list.
func (p *parser) fields(n *yaml.Node, typ string) []Field {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, typ, "", "fields: want a list, got %s", describe(n))
		return nil
	}
	var out []Field
	seen := map[string]int{}
	for _, fn := range n.Content {
		f, ok := p.field(fn, typ)
		if !ok {
			continue
		}
		if line, dup := seen[f.Name]; dup {
			p.fail(fn, typ, f.Name, "name already used on line %d", line)
			continue
		}
		seen[f.Name] = f.Line
		out = append(out, f)
	}
	return out
}

// field reads one field.
func (p *parser) field(n *yaml.Node, typ string) (Field, bool) {
	f := Field{Line: n.Line}
	nerr := len(p.errs)
	name := "?"
	if n.Kind == yaml.MappingNode {
		if v := p.valueNode(n, "name"); v != n {
			name = v.Value
		}
	}
	var kind, length *yaml.Node
	for key, val := range p.mapping(n, typ, name, "name", "format", "type", "length") {
		switch key {
		case "name":
			f.Name = p.name(val, typ, "", "field")
		case "format":
			f.Kind, f.Format = schema.KindNumber, p.str(val, typ, name, "format")
			if _, err := wire.ParseFormat(f.Format); f.Format != "" && err != nil {
				p.fail(val, typ, name, "format %q: %v", f.Format, err)
			}
		case "type":
			kind = val
		case "length":
			length = val
		}
	}
	if n.Kind != yaml.MappingNode || len(p.errs) > nerr {
		return f, false
	}
	switch {
	case f.Name == "":
		p.fail(n, typ, "", "field without a name")
	case kind != nil && f.Format != "":
		p.fail(kind, typ, name, "give either format (a number) or type (str or bytes), not both")
	case kind != nil:
		switch p.str(kind, typ, name, "type") {
		case "str":
			f.Kind = schema.KindString
		case "bytes":
			f.Kind = schema.KindBytes
		default:
			p.fail(kind, typ, name, "type %q: want str or bytes (numbers take a format such as \">f\")", kind.Value)
		}
	case f.Format == "":
		p.fail(n, typ, name, "no format (a number, e.g. \">I\") or type (str or bytes)")
	}
	if length != nil {
		if f.Kind == schema.KindNumber {
			p.fail(length, typ, name, "length applies to str and bytes fields only")
		} else {
			f.FixedLength = int(p.uint(length, typ, name, "length", 1, 1<<31-1))
		}
	}
	return f, len(p.errs) == nerr
}
