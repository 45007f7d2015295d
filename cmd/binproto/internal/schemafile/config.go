package schemafile

import (
	"github.com/binproto/binproto"
	"github.com/binproto/binproto/wire"
)

// Config returns the protocol as the core's configuration: every type a
// dynamic structure, the header, checksum, maximum payload and not-found
// type of the file. The caller may set the other options (timeouts,
// Transport, Replies) before binproto.NewProtocol.
func (s *Schema) Config() binproto.Config {
	types := make(map[binproto.MessageType]*binproto.Structure, len(s.Types))
	for _, t := range s.Types {
		types[t.MessageType()] = t.structure
	}
	return binproto.Config{
		Types:          types,
		HeaderFormat:   s.Header,
		MaxPayloadSize: s.MaxPayload,
		NotFoundType:   binproto.MessageType(s.NotFound),
		Checksum:       s.ChecksumFunc(),
	}
}

// Protocol returns the protocol of Config.
func (s *Schema) Protocol() (*binproto.Protocol, error) { return binproto.NewProtocol(s.Config()) }

// ChecksumFunc returns the checksum the file names, or nil for none.
func (s *Schema) ChecksumFunc() wire.Checksum {
	switch s.Checksum {
	case ChecksumCRC32:
		return binproto.CRC32
	case ChecksumCRC32C:
		return binproto.CRC32C
	}
	return nil
}

// Type returns the type called name, or nil.
func (s *Schema) Type(name string) *Type {
	for _, t := range s.Types {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// TypeByCode returns the type with code c, or nil.
func (s *Schema) TypeByCode(c uint64) *Type {
	for _, t := range s.Types {
		if t.Code == c {
			return t
		}
	}
	return nil
}

// TypeNames returns the names of the types, in file order.
func (s *Schema) TypeNames() []string {
	out := make([]string, len(s.Types))
	for i, t := range s.Types {
		out[i] = t.Name
	}
	return out
}
