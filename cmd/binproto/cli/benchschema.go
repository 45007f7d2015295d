package cli

import (
	"github.com/spf13/cobra"

	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/cmd/binproto/internal/report"
	"github.com/binproto/binproto/cmd/binproto/internal/schemafile"
)

// defaultVarLen is the length of the generated variable-length strings and
// bytes of `bench --schema`.
const defaultVarLen = 64

// schemaFlags holds bench's --schema, --type and --var-len.
type schemaFlags struct {
	file, typ string
	varLen    int
	// schema is the loaded file, set by apply.
	schema *schemafile.Schema
	cmd    *cobra.Command
}

// add adds the flags to bench.
func (sf *schemaFlags) add(cmd *cobra.Command) {
	sf.cmd = cmd
	f := cmd.Flags()
	f.StringVar(&sf.file, "schema", "", "benchmark one message type of the schema `FILE` (with --type) instead of the built-in benchmarks: request/response of generated messages of its shape, echoed by the embedded servers (or `binproto serve --schema FILE` at --addr)")
	f.StringVar(&sf.typ, "type", "", "the message type of --schema to benchmark (default: the only one)")
	f.IntVar(&sf.varLen, "var-len", defaultVarLen, "with --schema: bytes of each generated variable-length str or bytes field")
}

// apply loads the schema and makes o run its benchmark when --schema is
// given, and, with capacity (--capacity), the capacity mode on its type.
func (sf *schemaFlags) apply(o *bench.Options, capacity bool) error {
	if sf.file == "" {
		if sf.typ != "" || sf.cmd.Flags().Changed("var-len") {
			return usagef("--type and --var-len need --schema")
		}
		return nil
	}
	for _, k := range []string{"fixed", "variable", "realistic", "all"} {
		if sf.cmd.Flags().Changed(k) {
			return usagef("--schema runs its own benchmark: it cannot be combined with --%s", k)
		}
	}
	s, err := schemafile.Load(sf.file)
	if err != nil {
		return usageError{err}
	}
	name := sf.typ
	if name == "" {
		if len(s.Types) != 1 {
			return usagef("--type: choose one of %v", s.TypeNames())
		}
		name = s.Types[0].Name
	}
	t := s.Type(name)
	if t == nil {
		return usagef("--type: %s has no type %q (types: %v)", sf.file, name, s.TypeNames())
	}
	if sf.varLen < 0 {
		return usagef("--var-len must not be negative, got %d", sf.varLen)
	}
	payload, err := t.Structure().AppendPayload(nil, t.Sample(0, sf.varLen))
	if err != nil {
		return usagef("--type %s: %v", name, err)
	}
	if len(payload) > s.MaxPayload {
		return usagef("--type %s: a message of %d bytes is over the schema's max_payload %d: lower --var-len", name, len(payload), s.MaxPayload)
	}
	sf.schema = s
	o.Kinds = []string{report.KindSchema}
	if capacity { // bench --schema --type T --capacity: the capacity of T too
		o.Kinds = append(o.Kinds, report.KindCapacity)
	}
	o.Schema = &bench.SchemaWorkload{
		Type:         t.Name,
		Code:         t.Code,
		PayloadBytes: len(payload),
		Message:      func(i int) map[string]any { return t.Sample(i, sf.varLen) },
		Equal:        t.Equal,
	}
	return nil
}
