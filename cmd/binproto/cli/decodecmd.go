package cli

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/binproto/binproto/cmd/binproto/internal/schemafile"
	"github.com/binproto/binproto/cmd/binproto/internal/target/binprototarget"
	"github.com/binproto/binproto/wire"
)

// newDecodeCmd builds `binproto decode`.
func newDecodeCmd() *cobra.Command {
	var schemaFile, checksum string
	var isHex bool
	cmd := &cobra.Command{
		Use:   "decode [FILE]",
		Short: "Decode a captured byte stream into JSON lines, one frame per line",
		Long: "decode reads a stream of frames of a schema file's protocol (a capture of one direction of a\n" +
			"TCP connection: raw bytes, or hex with --hex; standard input without FILE or with -) and prints\n" +
			"one JSON line per frame: {\"offset\":N,\"length\":N,\"type\":NAME,\"code\":N,\"fields\":{...}}.\n" +
			"A malformed frame is printed as {\"offset\":N,\"error\":...}; decode stops there when the rest of\n" +
			"the stream cannot be framed (a bad header, length or checksum) and exits 1. The stream is read\n" +
			"frame by frame: memory stays bounded by the schema's max_payload whatever the input's size.",
		Example: "  binproto decode --schema gateway.yaml capture.bin\n" +
			"  echo '0003 0000000000000009 0000' | binproto decode --schema gateway.yaml --hex --checksum none",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("%s takes at most one FILE, got %d arguments", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadSchema(schemaFile)
			if err != nil {
				return err
			}
			if err := checksumFlag(checksum); err != nil {
				return err
			}
			in := cmd.InOrStdin()
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			if isHex {
				in = hex.NewDecoder(&hexText{r: bufio.NewReader(in)})
			}
			return decodeStream(s, checksum, in, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&schemaFile, "schema", "", "schema `FILE` of the stream's protocol (required)")
	f.BoolVar(&isHex, "hex", false, "the input is hex text (whitespace ignored), not raw bytes")
	f.StringVar(&checksum, "checksum", "", "override the schema's checksum: none, crc32 or crc32c")
	return cmd
}

// decodeStream prints every frame of in as a JSON line to out.
func decodeStream(s *schemafile.Schema, checksum string, in io.Reader, out io.Writer) error {
	p, err := binprototarget.SchemaProtocol(s, binprototarget.SchemaOptions{Checksum: checksum})
	if err != nil {
		return usageError{err}
	}
	w := bufio.NewWriter(out)
	defer w.Flush()
	fr := wire.NewFrameReader(in, p.Framing(), 0)
	offset, frames, bad := 0, 0, 0
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = errors.New("the stream ends inside a frame")
			}
			fmt.Fprintf(w, "{\"offset\":%d,\"error\":%s}\n", offset, strconv.Quote(err.Error()))
			return fmt.Errorf("malformed frame at offset %d: %w (after %d good frame(s))", offset, err, frames)
		}
		line := fmt.Appendf(nil, `{"offset":%d,"length":%d,`, offset, f.Len)
		if f.Type == uint64(p.NotFound()) {
			line = fmt.Appendf(line, `"type":"not_found","code":%d}`, f.Type)
		} else if t := s.TypeByCode(f.Type); t != nil {
			line = fmt.Appendf(line, `"type":%s,"code":%d,`, strconv.Quote(t.Name), t.Code)
			if values, err := t.Structure().DecodePayload(f.Payload); err != nil {
				bad++
				line = fmt.Appendf(line, `"error":%s}`, strconv.Quote(err.Error()))
			} else {
				line = append(t.AppendJSON(append(line, `"fields":`...), values), '}')
			}
		} else {
			line = fmt.Appendf(line, `"code":%d}`, f.Type)
		}
		if _, err := w.Write(append(line, '\n')); err != nil {
			return err
		}
		offset += f.Len
		frames++
	}
	if bad > 0 {
		return fmt.Errorf("%d frame(s) with a payload that does not decode", bad)
	}
	return nil
}

// hexText reads hex text, dropping whitespace, for hex.NewDecoder.
type hexText struct{ r *bufio.Reader }

// Read returns the next non-space bytes.
func (h *hexText) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c, err := h.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			if n > 0 && h.r.Buffered() == 0 {
				return n, nil
			}
			continue
		}
		p[n] = c
		n++
		if h.r.Buffered() == 0 {
			return n, nil
		}
	}
	return n, nil
}
