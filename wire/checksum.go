package wire

import (
	"encoding/binary"
	"hash/crc32"
)

// Checksum computes the trailer appended to every frame when checksums are
// enabled. Implementations must be safe for concurrent use.
type Checksum interface {
	// Size returns the trailer length in bytes.
	Size() int
	// Append appends the Size()-byte checksum of frame to dst.
	Append(dst, frame []byte) []byte
}

// CRC32 is binproto's default checksum and the one the golden vectors use:
// CRC-32 (IEEE, as zlib computes it) packed as 4 bytes big-endian.
var CRC32 Checksum = NewCRC32(crc32.IEEETable)

// CRC32C is CRC-32 with the Castagnoli polynomial, 4 bytes big-endian. Its
// table is hardware accelerated on most CPUs.
var CRC32C Checksum = NewCRC32(crc32.MakeTable(crc32.Castagnoli))

// NewCRC32 returns a 4-byte big-endian CRC-32 checksum over table.
func NewCRC32(table *crc32.Table) Checksum { return crc32Checksum{table} }

type crc32Checksum struct{ table *crc32.Table }

func (crc32Checksum) Size() int { return 4 }

func (c crc32Checksum) Append(dst, frame []byte) []byte {
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(frame, c.table))
}
