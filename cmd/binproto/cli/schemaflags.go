package cli

import (
	"github.com/spf13/cobra"

	"github.com/binproto/binproto/cmd/binproto/internal/schemafile"
	"github.com/binproto/binproto/cmd/binproto/internal/target/binprototarget"
)

// loadSchema loads the schema file of a --schema flag; problems of the file
// are usage errors.
func loadSchema(file string) (*schemafile.Schema, error) {
	if file == "" {
		return nil, usagef("--schema FILE is required")
	}
	s, err := schemafile.Load(file)
	if err != nil {
		return nil, usageError{err}
	}
	return s, nil
}

// loadServeSchema sets cfg.Schema from `serve --schema`. Without
// --max-payload the schema's max_payload applies.
func loadServeSchema(cmd *cobra.Command, cfg *binprototarget.ServeConfig, file string) error {
	if file == "" {
		return nil
	}
	s, err := loadSchema(file)
	if err != nil {
		return err
	}
	cfg.Schema = s
	if !cmd.Flags().Changed("max-payload") {
		cfg.MaxPayload = 0
	}
	return nil
}

// checksumFlag checks the value of a --checksum flag of call and decode:
// "" (the schema's), none, crc32 or crc32c.
func checksumFlag(v string) error {
	switch v {
	case "", schemafile.ChecksumNone, schemafile.ChecksumCRC32, schemafile.ChecksumCRC32C:
		return nil
	}
	return usagef("--checksum must be none, crc32 or crc32c, got %q", v)
}
