package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// flagBelow is the throughput ratio under which a scenario is flagged for
// profiling; for memory (lower is better) the flag is above 1/flagBelow.
const flagBelow = 0.7

// row is one line of the results table: one scenario, every round of
// both servers.
type row struct {
	ID, Title, Metric, Unit, Params string
	HigherBetter                    bool
	NoFlag                          bool      // never flagged for profiling (the cost rows)
	natsd, peer                     []float64 // by round; NaN = failed or not run
}

func (r *row) add(round int, name string, v float64, ok bool) {
	if !ok {
		v = math.NaN()
	}
	p := &r.peer
	if name == "natsd" {
		p = &r.natsd
	}
	for len(*p) <= round {
		*p = append(*p, math.NaN())
	}
	(*p)[round] = v
}

func okValues(v []float64) []float64 {
	var out []float64
	for _, x := range v {
		if !math.IsNaN(x) {
			out = append(out, x)
		}
	}
	return out
}

// ratios are natsd/nats-server per round, for the rounds where both ran.
func (r *row) ratios() []float64 {
	var out []float64
	for i := range min(len(r.natsd), len(r.peer)) {
		n, p := r.natsd[i], r.peer[i]
		if !math.IsNaN(n) && !math.IsNaN(p) && p > 0 {
			out = append(out, n/p)
		}
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread is (max−min)/median of a server's own rounds, in percent: how
// noisy its number was.
func spread(v []float64) float64 {
	if len(v) < 2 {
		return math.NaN()
	}
	return (slices.Max(v) - slices.Min(v)) / median(v) * 100
}

func (r *row) flagged() bool {
	if r.NoFlag {
		return false
	}
	m := median(r.ratios())
	if math.IsNaN(m) {
		return false
	}
	if r.HigherBetter {
		return m < flagBelow
	}
	return m > 1/flagBelow
}

func (r *row) format(v float64) string {
	if math.IsNaN(v) {
		return "failed"
	}
	switch r.Unit {
	case "msgs/s":
		return commas(v)
	case "MiB":
		return fmt.Sprintf("%.1f", v)
	case "cycles":
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

type fact struct{ Key, Value string }

type report struct {
	Date              time.Time
	Facts             []fact
	Rows              []row
	CostRows          []row // the -cost runs: one round each
	JSRows            []jsRow
	JSCostRows        []jsRow
	JSR3Rows          []jsRow // the R3 rows: 3-node clusters
	JSR3CostRows      []jsRow
	Rounds, RSSRounds int
	JSRounds          int
	Command           string
}

// table is the markdown table of rows.
func (rep *report) table(rows []row) string {
	var b strings.Builder
	b.WriteString("| # | Scenario | Metric | natsd (median) | nats-server (median) | natsd / nats-server (median of rounds) | ratio min–max | spread natsd / nats-server | rounds ok |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|\n")
	num := 0
	for i := range rows {
		r := &rows[i]
		n, p, rs := okValues(r.natsd), okValues(r.peer), r.ratios()
		id := ""
		if !strings.HasPrefix(r.Title, "…") {
			num++
			id = strconv.Itoa(num)
		}
		ratio := "—"
		rng := "—"
		if len(rs) > 0 {
			ratio = fmt.Sprintf("**%.2f**", median(rs))
			if r.flagged() {
				ratio += " ⚠"
			}
			rng = fmt.Sprintf("%.2f–%.2f", slices.Min(rs), slices.Max(rs))
		}
		sp := fmt.Sprintf("±%s / ±%s", pct(spread(n)/2), pct(spread(p)/2))
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %d/%d |\n",
			id, r.Title, r.Metric, r.format(median(n)), r.format(median(p)), ratio, rng, sp, len(rs), max(len(r.natsd), len(r.peer)))
	}
	return b.String()
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.0f%%", v)
}

// flagged lists the scenarios whose ratio is past the profiling threshold.
func (rep *report) flagged() string {
	var b strings.Builder
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if !r.flagged() {
			continue
		}
		if b.Len() == 0 {
			fmt.Fprintf(&b, "⚠ flagged for profiling (throughput ratio < %.1f, memory ratio > %.2f):\n", flagBelow, 1/flagBelow)
		}
		fmt.Fprintf(&b, "- %s: natsd/nats-server = %.2f\n", r.Title, median(r.ratios()))
	}
	return b.String()
}

// rawTable lists every round, for judging the noise.
func (rep *report) rawTable() string {
	var b strings.Builder
	b.WriteString("| Scenario | Round | First | natsd | nats-server | ratio |\n|---|---:|---|---:|---:|---:|\n")
	for i := range rep.Rows {
		r := &rep.Rows[i]
		for round := range max(len(r.natsd), len(r.peer)) {
			n, p := at(r.natsd, round), at(r.peer, round)
			first := "natsd"
			if round%2 == 1 {
				first = "nats-server"
			}
			ratio := "—"
			if !math.IsNaN(n) && !math.IsNaN(p) && p > 0 {
				ratio = fmt.Sprintf("%.2f", n/p)
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |\n", r.ID, round+1, first, r.format(n), r.format(p), ratio)
		}
	}
	return b.String()
}

func at(v []float64, i int) float64 {
	if i < len(v) {
		return v[i]
	}
	return math.NaN()
}

// factsTable is the machine-and-versions table of a generated block.
func (rep *report) factsTable() string {
	var b strings.Builder
	b.WriteString("#### Machine and versions\n\n| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| date | %s |\n", rep.Date.Format(time.RFC3339))
	for _, f := range rep.Facts {
		fmt.Fprintf(&b, "| %s | %s |\n", f.Key, strings.ReplaceAll(f.Value, "|", "/"))
	}
	return b.String()
}

// markdown is the generated block of docs/performance.md.
func (rep *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "_Generated by `%s` on %s. Everything between the bench markers is rewritten by each run._\n\n",
		rep.Command, rep.Date.Format("2006-01-02 15:04 MST"))
	b.WriteString(rep.factsTable())
	fmt.Fprintf(&b, "\n#### Results: medians of %d alternating rounds (idle clients: %d rounds)\n\n", rep.Rounds, rep.RSSRounds)
	b.WriteString("Throughput rows: ratio ≥ 1.0 means natsd is faster. Memory rows: ratio ≤ 1.0 means natsd uses less.\n\n")
	b.WriteString(rep.table(rep.Rows))
	b.WriteString("\nParameters per scenario:\n\n")
	for _, r := range rep.Rows {
		fmt.Fprintf(&b, "- %s (`%s`): %s\n", r.Title, r.ID, r.Params)
	}
	if f := rep.flagged(); f != "" {
		b.WriteString("\n" + f)
	} else {
		fmt.Fprintf(&b, "\nNo scenario past the profiling threshold (throughput ratio < %.1f, memory ratio > %.2f).\n", flagBelow, 1/flagBelow)
	}
	if len(rep.CostRows) > 0 {
		b.WriteString("\n#### Server cost per million published messages\n\n")
		b.WriteString("One more run of each scenario per server, with `GODEBUG=gctrace=1` (one log line per garbage collection): " +
			"the servers' CPU time (user + system, `/proc/PID/stat`) and their GC cycles from the publisher's start to the last " +
			"subscriber's end, summed over the nodes of a cluster, per million messages published. One run, so only the ratio's " +
			"order of magnitude is worth reading.\n\n")
		b.WriteString(rep.table(rep.CostRows))
	}
	b.WriteString("\n<details><summary>Every round of this run</summary>\n\n")
	b.WriteString(rep.rawTable())
	b.WriteString("\n</details>\n")
	return b.String()
}

// The markers of the generated blocks: the core rows (and idle clients)
// in one, the JetStream rows in another, so that a run of one section
// (`-only js`, `-js=false`) leaves the other's figures alone.
const (
	beginMarker     = "<!-- bench:begin -->"
	endMarker       = "<!-- bench:end -->"
	jsBeginMarker   = "<!-- bench-js:begin -->"
	jsEndMarker     = "<!-- bench-js:end -->"
	jsR3BeginMarker = "<!-- bench-jsr3:begin -->"
	jsR3EndMarker   = "<!-- bench-jsr3:end -->"
)

// writeDoc replaces what lies between the markers begin and end in path,
// or appends a marked block when the file has none, or creates a minimal
// file.
func writeDoc(path, begin, end, block string) error {
	gen := begin + "\n" + block + end
	old, err := os.ReadFile(path)
	var out string
	switch {
	case errors.Is(err, os.ErrNotExist):
		out = "# natsd performance\n\nGenerated by `make bench` (bench/runner).\n\n" + gen + "\n"
	case err != nil:
		return err
	default:
		s := string(old)
		i := strings.Index(s, begin)
		j := strings.Index(s, end)
		if i >= 0 && j > i {
			out = s[:i] + gen + s[j+len(end):]
		} else {
			out = strings.TrimRight(s, "\n") + "\n\n" + gen + "\n"
		}
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

// machineFacts are the facts a reader needs to compare runs.
func machineFacts() []fact {
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "unknown"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(rest)
				if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
					mem = fmt.Sprintf("%.1f GiB", kb/(1<<20))
				}
			}
		}
	}
	kernel := "unknown"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return []fact{
		{"CPU", cpu},
		{"cores", strconv.Itoa(runtime.NumCPU())},
		{"memory", mem},
		{"kernel", kernel},
		{"go", runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH},
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// commas formats a rate as an integer with thousands separators.
func commas(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
