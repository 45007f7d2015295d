package cli

import (
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/binproto/binproto/cmd/binproto/internal/bench"
)

// capacityFlags are the flags of the capacity mode of `binproto bench`.
type capacityFlags struct {
	on                    bool
	slo, step, timeout    time.Duration
	start, factor, maxRPS float64
	maxErrors             float64
	conns, attempts       int
}

// add defines the capacity flags on f.
func (cf *capacityFlags) add(f *pflag.FlagSet) {
	def, quick := bench.DefaultCapacity(), bench.QuickCapacity()
	f.BoolVar(&cf.on, "capacity", false, "run the capacity mode: raise the open-loop offered rate step by step until p99 exceeds --slo or errors appear")
	f.DurationVar(&cf.slo, "slo", def.SLO, "capacity mode: the p99 latency target of a step")
	f.Float64Var(&cf.start, "capacity-start", def.StartRate, "capacity mode: offered calls/s of the first step")
	f.Float64Var(&cf.factor, "capacity-factor", 0, "capacity mode: rate multiplier from one step to the next (0: "+
		strconv.FormatFloat(def.Factor, 'g', -1, 64)+", "+strconv.FormatFloat(quick.Factor, 'g', -1, 64)+" with --all)")
	f.Float64Var(&cf.maxRPS, "capacity-max", def.MaxRate, "capacity mode: highest offered calls/s tried")
	f.DurationVar(&cf.step, "capacity-step", 0, "capacity mode: time of each step (0: "+def.Step.String()+", "+quick.Step.String()+" with --all)")
	f.IntVar(&cf.conns, "capacity-conns", def.Conns, "capacity mode: connections the calls are spread over")
	f.Float64Var(&cf.maxErrors, "capacity-errors", def.MaxErrorRate, "capacity mode: share of a step's calls that may fail (0: any error ends the ladder)")
	f.IntVar(&cf.attempts, "capacity-attempts", def.Attempts, "capacity mode: times in a row a step must miss the target to end the ladder (1: the first miss)")
	f.DurationVar(&cf.timeout, "capacity-timeout", def.Timeout, "capacity mode: a call not done this long after its intended start is an error")
}

// apply sets the flags on c, the schedule to run: step and factor only
// when given, so that --all keeps its shorter schedule.
func (cf *capacityFlags) apply(c *bench.CapacityOptions) {
	c.SLO, c.StartRate, c.MaxRate, c.Conns = cf.slo, cf.start, cf.maxRPS, cf.conns
	c.MaxErrorRate, c.Timeout, c.Attempts = cf.maxErrors, cf.timeout, cf.attempts
	if cf.factor != 0 {
		c.Factor = cf.factor
	}
	if cf.step != 0 {
		c.Step = cf.step
	}
}
