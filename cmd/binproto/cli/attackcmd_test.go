package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/cmd/binproto/internal/attack"
)

// TestAttackFlags checks that attack passes its flags to the attack run (a
// stub here).
func TestAttackFlags(t *testing.T) {
	var got attack.Config
	w := defaultWiring()
	w.attack = func(_ context.Context, cfg attack.Config) (*attack.Report, error) {
		got = cfg
		return &attack.Report{}, nil
	}
	code, _, stderr := runWith(t, w, 10*time.Second, "attack", "--addr", "127.0.0.1:1", "--pid", "42", "--attack", "garbage",
		"--attack", "slowloris", "--duration", "3s", "--conns", "9", "--workers", "3", "--frame-size", "64KiB", "--token", "0123456789abcdef",
		"--token-types", "7,8", "--attack-auth", "--source", "127.0.0.2", "--checksum", "--interval", "5ms", "--pause", "0s",
		"--metrics", "http://127.0.0.1:2/metrics")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got.Progress = nil
	want := attack.Config{Addr: "127.0.0.1:1", PID: 42, Attacks: []string{"garbage", "slowloris"}, Duration: 3 * time.Second,
		Conns: 9, Workers: 3, FrameSize: 64 << 10, Token: "0123456789abcdef", TokenTypes: binproto.AuthTypes{Token: 7, OK: 8},
		AttackAuth: true, Source: "127.0.0.2", Checksum: true, Interval: 5 * time.Millisecond, Metrics: "http://127.0.0.1:2/metrics"}
	if !slices.Equal(got.Attacks, want.Attacks) {
		t.Fatalf("attacks %v, want %v", got.Attacks, want.Attacks)
	}
	got.Attacks, want.Attacks = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("config %+v, want %+v", got, want)
	}
	// --all: every attack, udp-flood only with --udp.
	if code, _, _ = runWith(t, w, 10*time.Second, "attack", "--addr", "127.0.0.1:1", "--all"); code != exitOK || slices.Contains(got.Attacks, "udp-flood") || len(got.Attacks) != len(attack.Attacks)-1 {
		t.Fatalf("--all: exit %d, attacks %v", code, got.Attacks)
	}
	if code, _, _ = runWith(t, w, 10*time.Second, "attack", "--addr", "127.0.0.1:1", "--udp", "127.0.0.1:2", "--all"); code != exitOK || !slices.Equal(got.Attacks, attack.Names()) {
		t.Fatalf("--all --udp: exit %d, attacks %v", code, got.Attacks)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--addr", "x:1"}, "--attack NAME (repeatable) or --all"},
		{[]string{"--addr", "x:1", "--all", "--attack", "garbage"}, "--attack NAME (repeatable) or --all"},
		{[]string{"--addr", "x:1", "--all", "--token-types", "100"}, "--token-types: want TOKEN,OK"},
		{[]string{"--addr", "x:1", "--all", "--duration", "0s"}, "--duration must be positive"},
	} {
		code, _, stderr := runWith(t, w, 10*time.Second, append([]string{"attack"}, c.args...)...)
		if code != exitUsage || !strings.Contains(stderr, c.msg) {
			t.Errorf("attack %v: exit %d, stderr %q, want %q", c.args, code, stderr, c.msg)
		}
	}
	// A setting the run refuses is a usage error too.
	code, _, stderr = runCLI(t, 10*time.Second, "attack", "--attack", "nope")
	if code != exitUsage || !strings.Contains(stderr, `unknown attack "nope"`) {
		t.Errorf("unknown attack: exit %d, stderr %q", code, stderr)
	}
}

// TestAttackServe runs two tiny attacks against `binproto serve --token`
// and checks the table and the JSON file. The attacks come from 127.0.0.2,
// as an attacker's would from another address: the server throttles the
// failed authentications of the address that guesses tokens, which would
// otherwise be the bystander's too.
func TestAttackServe(t *testing.T) {
	t.Parallel()
	const token = "0123456789abcdef-attack"
	addr, stop, out := startServe(t, "--token", token, "--max-conns-per-ip", "8", "--metrics", "127.0.0.1:0")
	defer stop()
	metrics := regexp.MustCompile(`url=(http://127\.0\.0\.1:[0-9]+/metrics)`).FindStringSubmatch(out.String())
	if metrics == nil {
		t.Fatalf("serve logged no metrics URL:\n%s", out)
	}
	jsonFile := filepath.Join(t.TempDir(), "attack.json")
	code, stdout, stderr := runCLI(t, time.Minute, "attack", "--addr", addr, "--token", token, "--attack", "preface-abuse",
		"--attack", "token-bruteforce", "--attack", "conn-flood", "--duration", "200ms", "--pause", "0s", "--conns", "4", "--workers", "2",
		"--json", jsonFile, "--source", "127.0.0.2", "--metrics", metrics[1],
		"--pid", strconv.Itoa(os.Getpid()))
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"token-bruteforce", "wrong tokens/s", "conn-flood", "bystander p50", "Wrote " + jsonFile} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var rep attack.Report
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.Results) != 3 || rep.Baseline == nil || rep.Baseline.Requests == 0 {
		t.Fatalf("JSON %v:\n%s", err, b)
	}
	for _, r := range rep.Results {
		if r.Attempts == 0 || r.Bystander.Requests == 0 || r.RSS == nil || r.Server == nil || r.Server.Error != "" {
			t.Errorf("%+v", r)
		}
	}
	// The server's metrics tell the closes of the native prefaces refused
	// (before the address is throttled for the wrong tokens that follow).
	if s := rep.Results[0].Server; s == nil || s.Closes["config_mismatch"] == 0 || s.Closes["malformed"] == 0 {
		t.Errorf("preface-abuse: server figures %+v", s)
	}
	if rep.Results[1].Successes != 0 {
		t.Errorf("%d wrong tokens accepted", rep.Results[1].Successes)
	}
}
