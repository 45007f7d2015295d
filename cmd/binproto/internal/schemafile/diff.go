package schemafile

import (
	"fmt"
	"slices"

	"github.com/binproto/binproto/schema"
)

// Change is one difference between two schemas.
type Change struct {
	// Breaking is true when peers built from the old schema and peers
	// built from the new one no longer understand each other's bytes.
	Breaking bool
	// Type names the type concerned (the new name when renamed), or "".
	Type string
	// Code is the type's code, when Type is set.
	Code uint64
	// Field names the field concerned, or "".
	Field string
	// What says what changed.
	What string
}

// String returns the change as one line: "BREAKING type t (1): field f:
// what" or "safe     ...".
func (c Change) String() string {
	s := "safe     "
	if c.Breaking {
		s = "BREAKING "
	}
	if c.Type != "" {
		s += fmt.Sprintf("type %s (%d): ", c.Type, c.Code)
	}
	if c.Field != "" {
		s += "field " + c.Field + ": "
	}
	return s + c.What
}

// Diff lists the changes from old to new: breaking ones first, each group
// in the order of the files. Types are matched by code, as peers match
// them; a type whose code changed is matched by name.
func Diff(old, new *Schema) []Change {
	var out []Change
	add := func(breaking bool, t *Type, field, format string, args ...any) {
		c := Change{Breaking: breaking, Field: field, What: fmt.Sprintf(format, args...)}
		if t != nil {
			c.Type, c.Code = t.Name, t.Code
		}
		out = append(out, c)
	}
	if old.Header != new.Header && !sameFormat(old.Header, new.Header) {
		add(true, nil, "", "header format %q -> %q", old.Header, new.Header)
	}
	if old.Checksum != new.Checksum {
		add(true, nil, "", "checksum %s -> %s", old.Checksum, new.Checksum)
	}
	if old.NotFound != new.NotFound {
		add(true, nil, "", "not_found %s -> %s", notFoundText(old.NotFound), notFoundText(new.NotFound))
	}
	switch {
	case new.MaxPayload < old.MaxPayload:
		add(true, nil, "", "max_payload lowered %d -> %d: payloads old peers send may be refused", old.MaxPayload, new.MaxPayload)
	case new.MaxPayload > old.MaxPayload:
		add(false, nil, "", "max_payload raised %d -> %d (old peers still refuse payloads over %d)", old.MaxPayload, new.MaxPayload, old.MaxPayload)
	}
	for _, ot := range old.Types {
		nt := new.TypeByCode(ot.Code)
		switch {
		case nt == nil && new.Type(ot.Name) != nil:
			add(true, new.Type(ot.Name), "", "code changed %d -> %d", ot.Code, new.Type(ot.Name).Code)
		case nt == nil:
			add(true, ot, "", "type removed: old peers sending it get not-found")
		case !nt.structure.SameLayout(ot.structure) && nt.Name != ot.Name:
			add(true, nt, "", "code %d reused: it was type %s, with another layout", ot.Code, ot.Name)
		default:
			if nt.Name != ot.Name {
				add(false, nt, "", "renamed from %s (the bytes are unchanged)", ot.Name)
			}
			out = append(out, diffFields(ot, nt)...)
		}
	}
	for _, nt := range new.Types {
		if old.TypeByCode(nt.Code) == nil && old.Type(nt.Name) == nil {
			add(false, nt, "", "new type")
		}
	}
	slices.SortStableFunc(out, func(a, b Change) int {
		switch {
		case a.Breaking == b.Breaking:
			return 0
		case a.Breaking:
			return -1
		}
		return 1
	})
	return out
}

func notFoundText(n uint64) string {
	if n == 0 {
		return "default"
	}
	return fmt.Sprint(n)
}

// sameFormat reports whether two header formats pack every value alike.
func sameFormat(a, b string) bool {
	sa, err1 := schema.NewStructure(schema.Num("h", a))
	sb, err2 := schema.NewStructure(schema.Num("h", b))
	return err1 == nil && err2 == nil && sa.SameLayout(sb)
}

// diffFields compares the fields of one type in two versions.
func diffFields(ot, nt *Type) []Change {
	var out []Change
	add := func(breaking bool, field, format string, args ...any) {
		out = append(out, Change{Breaking: breaking, Type: nt.Name, Code: nt.Code, Field: field, What: fmt.Sprintf(format, args...)})
	}
	if ot.structure.Variable() != nt.structure.Variable() {
		add(true, "", "variable length %v -> %v: the frame's length prefix appears or goes", ot.structure.Variable(), nt.structure.Variable())
	}
	oldAt := map[string]int{}
	for i, f := range ot.Fields {
		oldAt[f.Name] = i
	}
	for i, f := range nt.Fields {
		j, ok := oldAt[f.Name]
		switch {
		case !ok && i < len(ot.Fields) && sameField(ot.Fields[i], f):
			add(false, f.Name, "renamed from %s (the bytes are unchanged)", ot.Fields[i].Name)
		case !ok:
			add(true, f.Name, "added at position %d: old peers do not send or expect it", i+1)
		case j != i:
			add(true, f.Name, "moved from position %d to %d", j+1, i+1)
			fallthrough
		default:
			if o := ot.Fields[j]; !sameField(o, f) {
				add(true, f.Name, "%s -> %s", describeField(o), describeField(f))
			}
		}
	}
	newAt := map[string]bool{}
	for _, f := range nt.Fields {
		newAt[f.Name] = true
	}
	for i, f := range ot.Fields {
		renamed := i < len(nt.Fields) && !slices.ContainsFunc(ot.Fields, func(o Field) bool { return o.Name == nt.Fields[i].Name }) && sameField(f, nt.Fields[i])
		if !newAt[f.Name] && !renamed {
			add(true, f.Name, "removed: old peers still send or expect it")
		}
	}
	return out
}

// sameField reports whether two fields put the same bytes on the wire.
func sameField(a, b Field) bool {
	fa, fb := a.Field, b.Field
	fa.Name, fb.Name = "x", "x"
	sa, err1 := schema.NewStructure(fa)
	sb, err2 := schema.NewStructure(fb)
	return err1 == nil && err2 == nil && sa.SameLayout(sb)
}

// describeField says what a field is: its format, or str/bytes and length.
func describeField(f Field) string {
	switch {
	case f.Kind == schema.KindNumber:
		return fmt.Sprintf("format %q", f.Format)
	case f.FixedLength > 0:
		return fmt.Sprintf("%s of length %d", kindWord(f.Kind), f.FixedLength)
	}
	return kindWord(f.Kind) + " of variable length"
}

func kindWord(k schema.Kind) string {
	if k == schema.KindString {
		return "str"
	}
	return "bytes"
}
