package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/cmd/binproto/internal/attack"
)

// newAttackCmd builds `binproto attack`, which runs attack.
func newAttackCmd(run func(context.Context, attack.Config) (*attack.Report, error)) *cobra.Command {
	var (
		cfg        attack.Config
		all        bool
		tokenTypes string
		jsonFile   string
		pid        int
	)
	var help strings.Builder
	for _, a := range attack.Attacks {
		conns := ""
		if a.DefaultConns > 0 {
			conns = fmt.Sprintf(" [%d conns]", a.DefaultConns)
		}
		fmt.Fprintf(&help, "  %-19s %s%s\n", a.Name, a.Help, conns)
	}
	cmd := &cobra.Command{
		Use:   "attack",
		Short: "Attack a binproto server (one you run) and measure what a bystander client sees",
		Long: "attack runs bounded attacks, one after the other, against the binproto server at --addr while a\n" +
			"bystander client makes one SENSOR_DATA request every 10 ms over its own connection. For each\n" +
			"attack it reports the rate the attack achieved, the bystander's p50/p99/max latency and errors,\n" +
			"and, with --pid, the server process's peak RSS (sampled every 50 ms), and with --metrics the\n" +
			"server's closes by reason. The bystander first runs alone (at most 2 s) for a baseline. The\n" +
			"target must speak the quick-start types (`binproto serve`, examples/basic_server); the native\n" +
			"attacks speak the native profile with `binproto serve`'s protocol. Attack only servers you run.\n\n" +
			"Attacks (--attack NAME, repeatable, or --all):\n" + help.String() + "\n" +
			"On loopback, --source 127.0.0.2 sends the attack from another address than the bystander's\n" +
			"127.0.0.1, as a real attacker's would be; per-IP limits then apply to the attack alone.",
		Example: "  binproto serve --addr 127.0.0.1:7701 --token \"$TOKEN\" & \n" +
			"  binproto attack --addr 127.0.0.1:7701 --pid $! --token \"$TOKEN\" --source 127.0.0.2 --all --duration 5s --json attack.json",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if all == (len(cfg.Attacks) > 0) {
				return usagef("select attacks with --attack NAME (repeatable) or --all (one of the two)")
			}
			if all {
				for _, a := range attack.Attacks {
					if !a.UDP || cfg.UDPAddr != "" {
						cfg.Attacks = append(cfg.Attacks, a.Name)
					}
				}
			}
			tt, err := parseTokenTypes(tokenTypes)
			if err != nil {
				return usagef("--token-types: %v", err)
			}
			cfg.TokenTypes = tt
			if pid < 0 {
				return usagef("--pid must not be negative")
			}
			cfg.PID = int32(pid)
			if cfg.Duration <= 0 {
				return usagef("--duration must be positive")
			}
			cfg.Progress = cmd.OutOrStdout()
			rep, err := run(cmd.Context(), cfg)
			if rep != nil && len(rep.Results) > 0 {
				fmt.Fprintln(cmd.OutOrStdout())
				attack.WriteTable(cmd.OutOrStdout(), rep)
				if jsonFile != "" {
					if werr := attack.WriteJSON(jsonFile, rep); werr != nil {
						return fmt.Errorf("write %s: %w", jsonFile, werr)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s\n", jsonFile)
				}
			}
			if err != nil && rep == nil {
				return usageError{err} // a setting attack.Run refused
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", "", "`HOST:PORT` of the binproto server (TCP) to attack")
	f.StringVar(&cfg.UDPAddr, "udp", "", "`HOST:PORT` of a UDP binproto server, for udp-flood (and its bystander)")
	f.IntVar(&pid, "pid", 0, "server process id: report its peak RSS during each attack")
	f.StringArrayVar(&cfg.Attacks, "attack", nil, "run the attack `NAME` (repeatable): "+strings.Join(attack.Names(), ", "))
	f.BoolVar(&all, "all", false, "run every attack (udp-flood only with --udp)")
	f.DurationVar(&cfg.Duration, "duration", attack.DefaultDuration, "length of each attack")
	f.DurationVar(&cfg.Pause, "pause", attack.DefaultPause, "pause between attacks, for the server to release what the last one held")
	f.IntVar(&cfg.Conns, "conns", 0, "connections of every connection-based attack (0: each attack's default, listed above)")
	f.IntVar(&cfg.Workers, "workers", attack.DefaultWorkers, "dialling goroutines of token-bruteforce and conn-flood")
	f.Var(newByteSize(&cfg.FrameSize, attack.DefaultFrameSize), "frame-size", "declared payload of big-frames and slow-readers")
	f.StringVar(&cfg.Token, "token", "", "token the bystander authenticates with (`binproto serve --token`)")
	f.StringVar(&tokenTypes, "token-types", "100,101", "message types `TOKEN,OK` of the token exchange")
	f.BoolVar(&cfg.AttackAuth, "attack-auth", false, "attack connections authenticate with --token first (an authenticated insider)")
	f.StringVar(&cfg.Source, "source", "", "local `IP` the attack comes from (e.g. 127.0.0.2 on loopback)")
	f.BoolVar(&cfg.Checksum, "checksum", false, "the server checks CRC-32 checksums (serve --checksum)")
	f.StringVar(&cfg.Metrics, "metrics", "", "the server's Prometheus `URL` (`serve --metrics`): report its closes by reason and refused connections during each attack")
	f.DurationVar(&cfg.Interval, "interval", attack.DefaultInterval, "time between two bystander requests")
	f.StringVar(&jsonFile, "json", "", "also write the results to `FILE` as JSON")
	return cmd
}

// parseTokenTypes parses "100,101".
func parseTokenTypes(s string) (binproto.AuthTypes, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 2 {
		return binproto.AuthTypes{}, fmt.Errorf("want TOKEN,OK, got %q", s)
	}
	var v [2]binproto.MessageType
	for i, p := range parts {
		n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 32)
		if err != nil || n == 0 {
			return binproto.AuthTypes{}, fmt.Errorf("bad message type %q", p)
		}
		v[i] = binproto.MessageType(n)
	}
	return binproto.AuthTypes{Token: v[0], OK: v[1]}, nil
}
