package cli

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/report"
	"github.com/binproto/binproto/cmd/binproto/internal/schemafile"
)

// gatewaySchema is the sample schema of the README's walk-through.
var gatewaySchema = filepath.Join("..", "..", "..", "examples", "schema", "gateway.yaml")

func TestGenCommands(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "gatewaypb")
	code, stdout, stderr := runCLI(t, 30*time.Second, "gen", "go", gatewaySchema, "--out", out)
	if code != exitOK || !strings.Contains(stdout, "(package gatewaypb, 3 types)") {
		t.Fatalf("gen go: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, f := range []string{"gatewaypb.go", "gatewaypb_test.go"} {
		if b, err := os.ReadFile(filepath.Join(out, f)); err != nil || !strings.Contains(string(b), "package gatewaypb") {
			t.Errorf("%s: %v", f, err)
		}
	}
	py := filepath.Join(dir, "gateway_protocol.py")
	if code, _, stderr := runCLI(t, 30*time.Second, "gen", "python", gatewaySchema, "--out", py); code != exitOK {
		t.Fatalf("gen python: exit %d: %s", code, stderr)
	}
	if b, err := os.ReadFile(py); err != nil || !strings.Contains(string(b), "class MessageType(IntEnum):") {
		t.Errorf("python module: %v\n%s", err, b)
	}
	code, stdout, _ = runCLI(t, 30*time.Second, "gen", "python", gatewaySchema)
	if code != exitOK || !strings.Contains(stdout, "MessageType.READING: MessageStructure([") {
		t.Errorf("gen python to stdout: exit %d\n%s", code, stdout)
	}
}

func TestSchemaCommands(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(gatewaySchema)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	safe := write("safe.yaml", string(src)+"  - {name: alarm, code: 4, fields: [{name: zone, format: \">B\"}]}\n")
	breaking := write("breaking.yaml", strings.Replace(string(src), `temperature, format: ">f"`, `temperature, format: ">d"`, 1))
	bad := write("bad.yaml", "types:\n  - name: a\n    code: 1\n    fields:\n      - {name: t, format: \">z\"}\n")

	tests := []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"schema", "check", gatewaySchema}, exitOK, "  1     reading: 7 fields, fixed, 25 bytes", ""},
		{[]string{"schema", "check", bad}, exitUsage, "", "bad.yaml:5: type a: field t: format \">z\""},
		{[]string{"schema", "diff", gatewaySchema, gatewaySchema}, exitOK, "no changes on the wire", ""},
		{[]string{"schema", "diff", gatewaySchema, safe}, exitOK, "safe     type alarm (4): new type\n1 safe change(s), none breaking", ""},
		{[]string{"schema", "diff", gatewaySchema, breaking}, exitError, `BREAKING type reading (1): field temperature: format ">f" -> format ">d"`, "1 breaking change(s) of 1"},
		{[]string{"schema", "diff", gatewaySchema}, exitUsage, "", "takes two schema files"},
		{[]string{"gen", "go", bad}, exitUsage, "", "bad.yaml:5"},
		{[]string{"call", "--type", "ack"}, exitUsage, "", "--schema FILE is required"},
		{[]string{"call", "--schema", gatewaySchema}, exitUsage, "", "--type is required (types: [reading log ack])"},
		{[]string{"call", "--schema", gatewaySchema, "--type", "nope"}, exitUsage, "", `has no type "nope"`},
		{[]string{"call", "--schema", gatewaySchema, "--type", "ack", "--json", "{}", "--field", "seq=1"}, exitUsage, "", "not both"},
		{[]string{"call", "--schema", gatewaySchema, "--type", "ack", "--field", "seq=1"}, exitUsage, "", "field status: missing"},
		{[]string{"call", "--schema", gatewaySchema, "--type", "ack", "--field", "seq=1", "--field", "status=0", "--checksum", "md5"}, exitUsage, "", "--checksum must be none, crc32 or crc32c"},
		{[]string{"decode", "a", "b"}, exitUsage, "", "takes at most one FILE"},
		{[]string{"bench", "--type", "ack"}, exitUsage, "", "--type and --var-len need --schema"},
		{[]string{"bench", "--schema", gatewaySchema}, exitUsage, "", "--type: choose one of [reading log ack]"},
		{[]string{"bench", "--schema", gatewaySchema, "--type", "log", "--fixed"}, exitUsage, "", "cannot be combined with --fixed"},
		{[]string{"bench", "--schema", gatewaySchema, "--type", "log", "--var-len", "40000"}, exitUsage, "", "over the schema's max_payload 65536"},
	}
	for _, tt := range tests {
		code, stdout, stderr := runCLI(t, 30*time.Second, tt.args...)
		if code != tt.code || !strings.Contains(stdout, tt.out) || !strings.Contains(stderr, tt.err) {
			t.Errorf("%v: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant stdout with %q, stderr with %q",
				tt.args, code, tt.code, stdout, stderr, tt.out, tt.err)
		}
	}
}

// TestServeSchemaCallDecode serves the sample schema, calls every type
// with both ways of giving a message, and decodes a stream of frames.
func TestServeSchemaCallDecode(t *testing.T) {
	t.Parallel()
	addr, stop, log := startServe(t, "--schema", gatewaySchema)
	if !strings.Contains(log.String(), "(checksum crc32), echoing every type (reading, log, ack)") {
		t.Errorf("serve log:\n%s", log)
	}
	calls := []struct {
		args []string
		want string
	}{
		{[]string{"--type", "log", "--json", `{"device_id":7,"level":2,"message":"door opened","context":"AQI="}`},
			`{"type":"log","code":2,"fields":{"device_id":7,"level":2,"message":"door opened","context":"AQI="}}` + "\n"},
		{[]string{"--type", "reading", "--field", "device_id=7", "--field", "seq=1", "--field", "temperature=21.5", "--field", "humidity=40.25",
			"--field", "battery_mv=3300", "--field", "door_open=true", "--field", "unit=C"},
			`{"type":"reading","code":1,"fields":{"device_id":7,"seq":1,"temperature":21.5,"humidity":40.25,"battery_mv":3300,"door_open":true,"unit":"C"}}` + "\n"},
		{[]string{"--type", "ack", "--json", `{"seq":18446744073709551615,"status":-32768}`},
			`{"type":"ack","code":3,"fields":{"seq":18446744073709551615,"status":-32768}}` + "\n"},
	}
	for _, c := range calls {
		code, stdout, stderr := runCLI(t, 30*time.Second, append([]string{"call", "--schema", gatewaySchema, "--addr", addr}, c.args...)...)
		if code != exitOK || stdout != c.want {
			t.Errorf("call %v: exit %d\nstdout %s\nwant   %s\nstderr %s", c.args, code, stdout, c.want, stderr)
		}
	}
	// Out of range for ">h": the client refuses to encode it, nothing is sent.
	code, _, stderr := runCLI(t, 30*time.Second, "call", "--schema", gatewaySchema, "--addr", addr, "--type", "ack", "--field", "seq=1", "--field", "status=40000")
	if code != exitError || !strings.Contains(stderr, "status") {
		t.Errorf("out of range: exit %d, %s", code, stderr)
	}
	// The server's checksum is CRC-32: a call without one is not answered.
	code, _, stderr = runCLI(t, 30*time.Second, "call", "--schema", gatewaySchema, "--addr", addr, "--type", "ack",
		"--field", "seq=1", "--field", "status=0", "--checksum", "none", "--timeout", "2s")
	if code != exitError {
		t.Errorf("call without the checksum: exit %d, %s", code, stderr)
	}
	if code := stop(); code != exitOK {
		t.Errorf("serve exit %d", code)
	}
}

func TestDecode(t *testing.T) {
	s, err := schemafile.Load(gatewaySchema)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Protocol()
	if err != nil {
		t.Fatal(err)
	}
	var stream []byte
	for _, ty := range s.Types {
		if stream, err = p.AppendMessage(stream, ty.MessageType(), ty.Sample(1, 3)); err != nil {
			t.Fatal(err)
		}
	}
	good := len(stream)
	stream = append(stream, 0xff, 0xff) // not-found
	corrupt, _ := p.AppendMessage(nil, 3, s.Type("ack").Sample(2, 0))
	corrupt[len(corrupt)-1] ^= 1
	stream = append(stream, corrupt...)
	dir := t.TempDir()
	raw := filepath.Join(dir, "capture.bin")
	hexFile := filepath.Join(dir, "capture.hex")
	if err := os.WriteFile(raw, stream, 0o644); err != nil {
		t.Fatal(err)
	}
	h := hex.EncodeToString(stream)
	if err := os.WriteFile(hexFile, []byte(h[:10]+"\n  "+h[10:31]+" "+h[31:]+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{raw}, {"--hex", hexFile}} {
		code, stdout, stderr := runCLI(t, 30*time.Second, append([]string{"decode", "--schema", gatewaySchema}, args...)...)
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if code != exitError || len(lines) != 5 {
			t.Fatalf("decode %v: exit %d, %d lines\n%s\n%s", args, code, len(lines), stdout, stderr)
		}
		for i, ty := range s.Types {
			v := ty.Sample(1, 3)
			if want := `"type":"` + ty.Name + `","code":` + strconv.FormatUint(ty.Code, 10) + `,"fields":` + string(ty.AppendJSON(nil, v)) + "}"; !strings.HasSuffix(lines[i], want) {
				t.Errorf("line %d: %s\nwant suffix %s", i, lines[i], want)
			}
		}
		if !strings.HasPrefix(lines[0], `{"offset":0,"length":31,`) || !strings.HasPrefix(lines[1], `{"offset":31,"length":29,`) || !strings.Contains(lines[3], `"type":"not_found","code":65535`) {
			t.Errorf("offsets:\n%s", stdout)
		}
		wantErr := `{"offset":` + strconv.Itoa(good+2) + `,"error":"binproto: checksum mismatch`
		if !strings.HasPrefix(lines[4], wantErr) || !strings.Contains(stderr, "malformed frame at offset "+strconv.Itoa(good+2)) {
			t.Errorf("last line %s\nstderr %s\nwant %s", lines[4], stderr, wantErr)
		}
	}
	// Without the corrupt frame, decode succeeds.
	if err := os.WriteFile(raw, stream[:good+2], 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runCLI(t, 30*time.Second, "decode", "--schema", gatewaySchema, raw); code != exitOK || strings.Count(stdout, "\n") != 4 {
		t.Errorf("clean stream: exit %d\n%s%s", code, stdout, stderr)
	}
	// A stream cut inside a frame names the frame's offset.
	if err := os.WriteFile(raw, stream[:good-3], 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, _ := runCLI(t, 30*time.Second, "decode", "--schema", gatewaySchema, raw); code != exitError || !strings.Contains(stdout, `"error":"the stream ends inside a frame"`) {
		t.Errorf("cut stream: exit %d\n%s", code, stdout)
	}
}

func TestBenchSchema(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "res")
	stdout, res := quickBench(t, out, "--schema", gatewaySchema, "--type", "log", "--var-len", "100", "--plots=false")
	if !strings.Contains(stdout, "Benchmarking binproto, binproto-native and http (baseline): schema") {
		t.Errorf("output:\n%s", stdout)
	}
	checkBenchmarks(t, res, []string{"binproto", "binproto-native", "http"}, []string{"schema/log-rr"})
	if b := res.Benchmarks[0]; b.PayloadBytes != 4+1+4+100+4+100 || b.Kind != report.KindSchema {
		t.Errorf("benchmark %+v", b)
	}
}

// TestBenchSchemaAddr benchmarks `serve --schema` from another "process".
func TestBenchSchemaAddr(t *testing.T) {
	t.Parallel()
	addr, stop, _ := startServe(t, "--schema", gatewaySchema)
	out := filepath.Join(t.TempDir(), "res")
	_, res := quickBench(t, out, "--schema", gatewaySchema, "--type", "reading", "--addr", addr, "--baseline", "none", "--plots=false")
	checkBenchmarks(t, res, []string{"binproto", "binproto-native"}, []string{"schema/reading-rr"})
	if code := stop(); code != exitOK {
		t.Errorf("serve exit %d", code)
	}
}
