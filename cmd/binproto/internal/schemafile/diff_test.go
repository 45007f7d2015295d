package schemafile

import (
	"strings"
	"testing"
)

func mustParse(t *testing.T, src string) *Schema {
	t.Helper()
	s, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDiff(t *testing.T) {
	const base = `types:
  - name: reading
    code: 1
    fields:
      - {name: id, format: ">I"}
      - {name: temp, format: ">f"}
      - {name: unit, type: str, length: 4}
  - name: log
    code: 2
    fields:
      - {name: msg, type: str}
`
	tests := []struct {
		name string
		new  string
		want []string // every line, in order
	}{
		{"same", base, nil},
		{"new type", base + "  - {name: ack, code: 3}\n", []string{"safe     type ack (3): new type"}},
		{"field type", strings.Replace(base, `temp, format: ">f"`, `temp, format: ">d"`, 1),
			[]string{`BREAKING type reading (1): field temp: format ">f" -> format ">d"`}},
		{"same meaning", strings.Replace(base, `id, format: ">I"`, `id, format: "!L"`, 1), nil},
		{"length", strings.Replace(base, "length: 4", "length: 8", 1),
			[]string{"BREAKING type reading (1): field unit: str of length 4 -> str of length 8"}},
		{"order", strings.Replace(base, "      - {name: id, format: \">I\"}\n      - {name: temp, format: \">f\"}\n",
			"      - {name: temp, format: \">f\"}\n      - {name: id, format: \">I\"}\n", 1),
			[]string{"BREAKING type reading (1): field temp: moved from position 2 to 1",
				"BREAKING type reading (1): field id: moved from position 1 to 2"}},
		{"code reused", strings.Replace(base, "name: log\n    code: 2\n    fields:\n      - {name: msg, type: str}",
			"name: alarm\n    code: 2\n    fields:\n      - {name: level, format: \">B\"}", 1),
			[]string{"BREAKING type alarm (2): code 2 reused: it was type log, with another layout"}},
		{"renamed type", strings.Replace(base, "name: log", "name: logline", 1),
			[]string{"safe     type logline (2): renamed from log (the bytes are unchanged)"}},
		{"code changed", strings.Replace(base, "code: 2", "code: 7", 1),
			[]string{"BREAKING type log (7): code changed 2 -> 7"}},
		{"removed", strings.Replace(base, "  - name: log\n    code: 2\n    fields:\n      - {name: msg, type: str}\n", "", 1),
			[]string{"BREAKING type log (2): type removed: old peers sending it get not-found"}},
		{"field added", base + "      - {name: extra, format: \">B\"}\n",
			[]string{"BREAKING type log (2): field extra: added at position 2: old peers do not send or expect it"}},
		{"field renamed", strings.Replace(base, "name: msg", "name: text", 1),
			[]string{"safe     type log (2): field text: renamed from msg (the bytes are unchanged)"}},
		{"becomes variable", strings.Replace(base, "length: 4}", "}", 1),
			[]string{"BREAKING type reading (1): variable length false -> true: the frame's length prefix appears or goes",
				"BREAKING type reading (1): field unit: str of length 4 -> str of variable length"}},
		{"header", "header: \">I\"\n" + base, []string{`BREAKING header format ">H" -> ">I"`}},
		{"checksum and payload", "checksum: crc32\nmax_payload: 100\n" + base,
			[]string{"BREAKING checksum none -> crc32", "BREAKING max_payload lowered 1048576 -> 100: payloads old peers send may be refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range Diff(mustParse(t, base), mustParse(t, tt.new)) {
				got = append(got, c.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
