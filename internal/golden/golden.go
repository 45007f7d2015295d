// Package golden reads the golden vectors of testdata/golden_vectors.jsonl,
// produced by running the Python binary_protocol package, for the tests of
// every binproto package that checks its bytes against them.
package golden

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// Vector is one line of the vectors file. Numbers in Data and Decoded are
// json.Number.
type Vector struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"` // "encode" or "decode"
	Config struct {
		HeaderFormat string  `json:"header_format"`
		Checksum     *string `json:"checksum"` // nil, "crc32_be4" or "enabled_no_func"
	} `json:"config"`
	Structure []Field `json:"structure"`

	MsgType       uint64         `json:"msg_type"`
	MsgTypeIsEnum bool           `json:"msg_type_is_enum"`
	Data          map[string]any `json:"data"`
	Hex           *string        `json:"hex"`
	Decoded       map[string]any `json:"decoded"`
	Error         *string        `json:"error"`
	DecodeError   *string        `json:"decode_error"`
}

// Field is one field of a vector's structure.
type Field struct {
	Name        string `json:"name"`
	Type        string `json:"type"` // "int", "float", "str" or "bytes"
	Format      string `json:"format"`
	FixedLength *int   `json:"fixed_length"`
}

// Fixed returns the field's fixed length, 0 for none.
func (f Field) Fixed() int {
	if f.FixedLength == nil {
		return 0
	}
	return *f.FixedLength
}

// Load reads every vector of the file at path, in file order.
func Load(path string) ([]*Vector, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var vs []*Vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		v := new(Vector)
		if err := dec.Decode(v); err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", path, len(vs)+1, err)
		}
		vs = append(vs, v)
	}
	return vs, sc.Err()
}
