// Package schemafile reads a protocol from a schema file: the YAML form of
// the Python ProtocolConfig (message types with their codes and fields, the
// header format, the checksum, the maximum payload), checked strictly and
// reported with file, line, type and field. A Schema converts to the core's
// binproto.Config of dynamic structures, so that every command of the CLI
// (serve, call, decode, bench) serves and speaks any protocol; it also
// converts message values to and from JSON, generates sample values of a
// type's shape, and compares two schemas for changes that break peers.
//
// A schema file:
//
//	header: ">H"          # struct format of the type header (default ">H")
//	checksum: crc32       # none (default), crc32 or crc32c
//	max_payload: 65536    # bytes (default 1 MiB)
//	types:
//	  - name: reading     # letters, digits and _; starts with a letter
//	    code: 1           # must fit the header format
//	    fields:
//	      - {name: device_id, format: ">I"}     # a number: one struct code
//	      - {name: temp, format: ">f"}
//	      - {name: unit, type: str, length: 4}  # fixed-length string
//	      - {name: note, type: str}             # variable-length string
//	      - {name: blob, type: bytes}
package schemafile
