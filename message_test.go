package binproto_test

import (
	"errors"
	"testing"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/schema"
)

// TestCodecLayoutMismatch: a codec with the configured structure's size and
// field count but another layout is refused instead of sending wrong bytes.
func TestCodecLayoutMismatch(t *testing.T) {
	type swapped struct {
		A uint16 `binproto:"a,>H"`
		B uint32 `binproto:"b,<I"`
	}
	configured := binproto.MustStructure(schema.Num("b", ">I"), schema.Num("a", ">H"))
	p := binproto.MustProtocol(binproto.Config{Types: map[binproto.MessageType]*binproto.Structure{1: configured}})
	c := binproto.MustCodec[swapped]()
	if _, err := p.AppendFrame(nil, binproto.Typed(1, c, &swapped{1, 2})); !errors.Is(err, binproto.ErrStructureMismatch) {
		t.Fatalf("AppendFrame with a mismatched codec: %v, want ErrStructureMismatch", err)
	}
	same := binproto.MustCodec[struct {
		X uint32 `binproto:"x,>I"`
		Y uint16 `binproto:"y,>H"`
	}]()
	v := struct {
		X uint32 `binproto:"x,>I"`
		Y uint16 `binproto:"y,>H"`
	}{7, 8}
	if _, err := p.AppendFrame(nil, binproto.Typed(1, same, &v)); err != nil {
		t.Fatalf("AppendFrame with a codec of the same layout: %v", err)
	}
}
