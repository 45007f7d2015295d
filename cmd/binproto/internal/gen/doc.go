// Package gen generates code from a schema file (package schemafile): Go
// types with binproto struct tags, type constants, codecs and a
// configuration, with a test that round-trips every type against the bytes
// the schema prescribes; and a Python module defining the same protocol for
// the Python package binary_protocol 0.2.x (its IntEnum, MessageStructures
// and ProtocolConfig), so that both ends share one source of truth.
package gen
