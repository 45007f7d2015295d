package gen

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/schemafile"
)

// pythonPackageEnv names a folder holding the Python package
// binary_protocol, when it is not ../shared/python beside the repository.
const pythonPackageEnv = "BINARY_PROTOCOL_PYTHON"

// pythonPackage returns the folder holding binary_protocol 0.2.2 and the
// python3 command, or skips the test saying which is missing.
func pythonPackage(t *testing.T) (dir, python string) {
	t.Helper()
	dir = os.Getenv(pythonPackageEnv)
	if dir == "" {
		dir = filepath.Join(repoRoot, "..", "shared", "python")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "binary_protocol", "__init__.py")); err != nil {
		t.Skipf("cannot run the Python interoperability test: the Python package binary_protocol is not in %s (set %s to its folder): %v", dir, pythonPackageEnv, err)
	}
	python, err = exec.LookPath("python3")
	if err != nil {
		t.Skipf("cannot run the Python interoperability test: no python3 on PATH: %v", err)
	}
	return dir, python
}

// serverMain is a binproto server built from the generated Go code: it
// echoes every type through its generated codec, prints its address, and
// stops when its standard input closes.
var serverMain = template.Must(template.New("main").Funcs(template.FuncMap{"goName": goName}).Parse(`package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/binproto/binproto"

	"example.com/generated/{{.Package}}"
)

func main() {
	p, err := {{.Package}}.NewProtocol()
	if err != nil {
		panic(err)
	}
	srv := &binproto.Server{Protocol: p}
{{- range .Types}}
	binproto.HandleTyped(srv, {{$.Package}}.Type{{goName .Name}}, {{$.Package}}.{{goName .Name}}Codec,
		func(_ context.Context, _ *binproto.Conn, m *{{$.Package}}.{{goName .Name}}) (binproto.Outgoing, error) {
			return binproto.Typed({{$.Package}}.Type{{goName .Name}}, {{$.Package}}.{{goName .Name}}Codec, m), nil
		})
{{- end}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Println(l.Addr())
	go srv.Serve(l)
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
}
`))

// pythonClient sends every sample with the original client and the
// generated module, and prints what it sent and the raw bytes of the reply.
const pythonClient = `import asyncio, base64, json, sys
import generated_protocol as proto
from binary_protocol import BinaryClient
from binary_protocol.protocol.messages import Message

async def main(host, port, path):
    cfg = proto.protocol_config()
    with open(path) as f:
        samples = json.load(f)
    client = BinaryClient(cfg)
    await client.connect(host, port)
    raw = bytearray()
    read = client.reader.readexactly
    async def tap(n):
        b = await read(n)
        raw.extend(b)
        return b
    client.reader.readexactly = tap
    for s in samples:
        t = proto.MessageType[s["type"]]
        data = {}
        for f in proto.MESSAGE_STRUCTURES[t].fields:
            v = s["values"][f.name]
            data[f.name] = base64.b64decode(v) if f.field_type is bytes else v
        sent = Message.create(cfg, t, data).to_bytes(cfg)
        raw.clear()
        await client.send_message(t, data)
        rt, reply = await client.receive_message()
        print(json.dumps({"type": s["type"], "sent": sent.hex(), "reply": bytes(raw).hex(),
                          "reply_type": int(rt), "same_values": reply == data}), flush=True)
    await client.disconnect()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
`

// TestPythonInterop runs the original Python client with the generated
// Python module against a server built from the generated Go code, over
// every type of the sample schema, and checks the bytes: what Python sends
// is what the schema's structures encode, and the server's echo, encoded by
// the generated codecs, is the same bytes.
func TestPythonInterop(t *testing.T) {
	pyDir, python := pythonPackage(t)
	s := gateway(t)
	dir := writeModule(t, s, "gatewaypb")
	var mainSrc strings.Builder
	if err := serverMain.Execute(&mainSrc, struct {
		Package string
		Types   []*schemafile.Type
	}{"gatewaypb", s.Types}); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "server", "main.go"), []byte(mainSrc.String()))
	run(t, dir, "build", "-o", "server.bin", "./server")
	py, err := Python(s)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "generated_protocol.py"), py)
	write(t, filepath.Join(dir, "client.py"), []byte(pythonClient))

	proto, err := s.Protocol()
	if err != nil {
		t.Fatal(err)
	}
	type sample struct {
		Type   string          `json:"type"`
		Values json.RawMessage `json:"values"`
	}
	var samples []sample
	want := map[int]string{} // sample index -> frame hex
	for _, ty := range s.Types {
		for i := range 3 {
			v := ty.Sample(i, 1+7*i)
			frame, err := proto.AppendMessage(nil, ty.MessageType(), v)
			if err != nil {
				t.Fatal(err)
			}
			want[len(samples)] = hex.EncodeToString(frame)
			samples = append(samples, sample{pyName(ty.Name), ty.AppendJSON(nil, v)})
		}
	}
	js, _ := json.Marshal(samples)
	write(t, filepath.Join(dir, "samples.json"), js)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := exec.CommandContext(ctx, filepath.Join(dir, "server.bin"))
	stdin, err := srv.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = srv.Wait() }()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("server address: %v", err)
	}
	host, port, _ := strings.Cut(strings.TrimSpace(addr), ":")

	cl := exec.CommandContext(ctx, python, "client.py", host, port, "samples.json")
	cl.Dir = dir
	cl.Env = append(os.Environ(), "PYTHONPATH="+pyDir+string(os.PathListSeparator)+dir)
	out, err := cl.CombinedOutput()
	if err != nil {
		t.Fatalf("Python client: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(samples) {
		t.Fatalf("Python printed %d lines for %d samples:\n%s", len(lines), len(samples), out)
	}
	for i, line := range lines {
		var r struct {
			Type, Sent, Reply string
			ReplyType         uint64 `json:"reply_type"`
			SameValues        bool   `json:"same_values"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		ty := s.Types[i/3]
		switch {
		case r.Sent != want[i]:
			t.Errorf("%s sample %d: Python sent %s, the schema encodes %s", r.Type, i%3, r.Sent, want[i])
		case r.Reply != r.Sent:
			t.Errorf("%s sample %d: the Go server echoed %s, Python sent %s", r.Type, i%3, r.Reply, r.Sent)
		case r.ReplyType != ty.Code || !r.SameValues:
			t.Errorf("%s sample %d: reply type %d (want %d), same values %v", r.Type, i%3, r.ReplyType, ty.Code, r.SameValues)
		}
	}
	t.Logf("%d frames of %d types: Python's bytes = the schema's bytes = the generated Go server's echo", len(lines), len(s.Types))
}
