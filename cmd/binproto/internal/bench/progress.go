package bench

import (
	"fmt"
	"io"
	"os"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
)

// progress shows how far a run has got.
type progress interface {
	// begin announces the phase about to run.
	begin(desc string)
	// end reports the phase just finished.
	end(line string)
	// skip counts n phases that will not run (the rest of a capacity
	// ladder that stopped).
	skip(n int)
	// finish closes the display.
	finish()
}

// newProgress picks the display for mode: a bar on a terminal, lines
// otherwise, or nothing.
func newProgress(out io.Writer, mode ProgressMode, total int) progress {
	if mode == ProgressNone || out == nil {
		return noProgress{}
	}
	if f, ok := out.(*os.File); ok && mode == ProgressAuto && isatty.IsTerminal(f.Fd()) {
		return &barProgress{bar: progressbar.NewOptions(total,
			progressbar.OptionSetWriter(out),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetDescription("starting"),
		)}
	}
	return &lineProgress{out: out, total: total}
}

type noProgress struct{}

func (noProgress) begin(string) {}
func (noProgress) end(string)   {}
func (noProgress) skip(int)     {}
func (noProgress) finish()      {}

// lineProgress prints one line per finished phase, for logs and pipes.
type lineProgress struct {
	out   io.Writer
	total int
	n     int
}

func (p *lineProgress) begin(string) {}

func (p *lineProgress) end(line string) {
	p.n++
	fmt.Fprintf(p.out, "[%*d/%d] %s\n", len(fmt.Sprint(p.total)), p.n, p.total, line)
}

func (p *lineProgress) skip(n int) { p.n += n }

func (p *lineProgress) finish() {}

// barProgress draws a progress bar on a terminal.
type barProgress struct {
	bar *progressbar.ProgressBar
}

func (p *barProgress) begin(desc string) { p.bar.Describe(desc) }
func (p *barProgress) end(string)        { _ = p.bar.Add(1) }
func (p *barProgress) skip(n int)        { _ = p.bar.Add(n) }
func (p *barProgress) finish()           { _ = p.bar.Finish() }
