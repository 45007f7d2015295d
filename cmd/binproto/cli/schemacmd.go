package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/binproto/binproto/cmd/binproto/internal/schemafile"
)

// newSchemaCmd builds `binproto schema` with its check and diff
// subcommands.
func newSchemaCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Check a schema file, or list the changes between two",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	check := &cobra.Command{
		Use:   "check SCHEMA",
		Short: "Check a schema file and list its types",
		Args:  exactArgs(1, "one schema file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadSchema(args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s: header %q, checksum %s, max_payload %d, %d types\n", args[0], s.Header, s.Checksum, s.MaxPayload, len(s.Types))
			for _, t := range s.Types {
				shape := fmt.Sprintf("fixed, %d bytes", t.Structure().Size())
				if t.Structure().Variable() {
					shape = fmt.Sprintf("variable, at least %d bytes", t.Structure().Size())
				}
				fmt.Fprintf(w, "  %-5d %s: %d fields, %s\n", t.Code, t.Name, len(t.Fields), shape)
			}
			return nil
		},
	}
	diff := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "List the changes from OLD to NEW; exit 1 if any breaks existing peers",
		Long: "diff compares two versions of a schema file as peers see them: types are matched by code.\n" +
			"A field's format, length, order, a removed or added field, a type code changed or reused with\n" +
			"another layout, the header, checksum or not-found type, or a lower max_payload break peers\n" +
			"built from OLD (BREAKING); a new type, a renamed type or field, or a higher max_payload do\n" +
			"not (safe). The command exits 1 when there is a breaking change, for CI.",
		Example: "  binproto schema diff <(git show main:gateway.yaml) gateway.yaml",
		Args:    exactArgs(2, "two schema files, OLD and NEW"),
		RunE: func(cmd *cobra.Command, args []string) error {
			old, err := loadSchema(args[0])
			if err != nil {
				return err
			}
			new, err := loadSchema(args[1])
			if err != nil {
				return err
			}
			return printDiff(cmd, schemafile.Diff(old, new))
		},
	}
	cmd.AddCommand(check, diff)
	return cmd
}

// printDiff prints changes and fails when one of them breaks peers.
func printDiff(cmd *cobra.Command, changes []schemafile.Change) error {
	w := cmd.OutOrStdout()
	if len(changes) == 0 {
		fmt.Fprintln(w, "no changes on the wire")
		return nil
	}
	breaking := 0
	for _, c := range changes {
		fmt.Fprintln(w, c)
		if c.Breaking {
			breaking++
		}
	}
	if breaking > 0 {
		return fmt.Errorf("%d breaking change(s) of %d", breaking, len(changes))
	}
	fmt.Fprintf(w, "%d safe change(s), none breaking\n", len(changes))
	return nil
}
