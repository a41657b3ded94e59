package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// jsGoal is the ratio natsd must reach against nats-server with the same
// durability (sync_interval: always) on every JetStream row; a row below
// it is marked. Against nats-server's lazy default nothing is marked: it
// acknowledges before the disk has the data, which natsd never does.
const jsGoal = 1.0

// belowGoal says whether r (a row against sync_interval: always) is
// below jsGoal.
func belowGoal(r *row) bool {
	m := median(r.ratios())
	return !r.NoFlag && !math.IsNaN(m) && m < jsGoal
}

// jsTable is the markdown table of JetStream rows: natsd's median, then
// each nats-server setup's median with natsd's ratio to it (median of the
// rounds' ratios, and their range).
func jsTable(rows []jsRow) string {
	var b strings.Builder
	b.WriteString("| # | Scenario | Metric | natsd (median) | nats-server `sync_interval: always` (median) | natsd / always (median of rounds) | ratio min–max | nats-server default, lazy (median) | natsd / default (median of rounds) | ratio min–max | spread natsd / always / default | rounds ok |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i := range rows {
		r := &rows[i]
		a, l := &r.always, &r.lazy
		ratio := func(x *row, mark bool) (string, string) {
			rs := x.ratios()
			if len(rs) == 0 {
				return "—", "—"
			}
			s := fmt.Sprintf("**%.2f**", median(rs))
			if mark && belowGoal(x) {
				s += " ⚠"
			}
			return s, fmt.Sprintf("%.2f–%.2f", slices.Min(rs), slices.Max(rs))
		}
		ra, rga := ratio(a, true)
		rl, rgl := ratio(l, false)
		n := okValues(a.natsd)
		sp := fmt.Sprintf("±%s / ±%s / ±%s", pct(spread(n)/2), pct(spread(okValues(a.peer))/2), pct(spread(okValues(l.peer))/2))
		ok := min(len(a.ratios()), len(l.ratios()))
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d/%d |\n",
			i+1, r.Title, r.Metric, a.format(median(n)), a.format(median(okValues(a.peer))), ra, rga,
			l.format(median(okValues(l.peer))), rl, rgl, sp, ok, max(len(a.natsd), len(a.peer), len(l.peer)))
	}
	return b.String()
}

// jsFlagged lists the JetStream rows below the goal against the same
// durability: those are the ones to profile.
func jsFlagged(rows []jsRow) string {
	var b strings.Builder
	for i := range rows {
		r := &rows[i].always
		if belowGoal(r) {
			fmt.Fprintf(&b, "- %s: natsd / nats-server (sync_interval: always) = %.2f\n", r.Title, median(r.ratios()))
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return fmt.Sprintf("⚠ JetStream rows below the goal (ratio to the same durability < %.1f), to profile:\n", jsGoal) + b.String()
}

// jsRawTable lists every round of the JetStream rows.
func jsRawTable(rows []jsRow) string {
	var b strings.Builder
	b.WriteString("| Scenario | Round | natsd | nats-server always | ratio | nats-server default | ratio |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for i := range rows {
		a, l := &rows[i].always, &rows[i].lazy
		for round := range max(len(a.natsd), len(a.peer), len(l.peer)) {
			n, pa, pl := at(a.natsd, round), at(a.peer, round), at(l.peer, round)
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s |\n", rows[i].ID, round+1,
				a.format(n), a.format(pa), ratioString(n, pa), a.format(pl), ratioString(n, pl))
		}
	}
	return b.String()
}

func ratioString(n, p float64) string {
	if math.IsNaN(n) || math.IsNaN(p) || p <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", n/p)
}

// jsMarkdown is the generated JetStream block of docs/performance.md.
func (rep *report) jsMarkdown() string {
	return rep.jsSection("bench-js", "JetStream", "natsd with its default (a publish is acknowledged once it is fsynced) against nats-server with "+
		"`jetstream { sync_interval: always }` (the same promise) and against nats-server's default (acknowledged "+
		"first, fsynced every 2 minutes). Each round runs the three, the first one rotating; ratio ≥ 1.0 means natsd is faster.\n",
		rep.JSRows, rep.JSCostRows)
}

// jsR3Markdown is the generated block of the R3 rows.
func (rep *report) jsR3Markdown() string {
	return rep.jsSection("bench-jsr3", "JetStream R3 (3-node clusters)", "Each run starts a 3-node cluster of one server on loopback "+
		"(every node: `server_name: nN`, `jetstream { store_dir }`, `cluster { name: bench, listen, routes [all three] }`, "+
		"account APP with JetStream), creates the stream with `nats "+strings.Join(jsR3StreamAdd, " ")+"` (retried until the meta group has a leader), "+
		"runs natscli against the node that leads the stream (so that where a server places the leader does not decide the figures), and stops the cluster. natsd's clustered JetStream with its default "+
		"(a publish is acknowledged once a quorum has it fsynced) against nats-server's with `jetstream { sync_interval: always }` "+
		"(checked in its /varz: `sync_always: true`) and with its default (no fsync before the acknowledgement). "+
		"The consume row's stream is filled by the cluster under test before the measured command. "+
		"Both replicate each delivery and acknowledgement through Raft a round after the leader took it: natsd through the stream's group "+
		"(jetstream/cluster_consumers.go), nats-server through the consumer's own. "+
		"Each round runs the three, the first one rotating; ratio ≥ 1.0 means natsd is faster.\n",
		rep.JSR3Rows, rep.JSR3CostRows)
}

// jsSection is a generated JetStream block: facts, the rows' table, their
// parameters, the rows below the goal, the cost rows and every round.
func (rep *report) jsSection(markers, heading, intro string, rows, costRows []jsRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "_Generated by `%s` on %s. Everything between the %s markers is rewritten by each run with these rows._\n\n",
		rep.Command, rep.Date.Format("2006-01-02 15:04 MST"), markers)
	b.WriteString(rep.factsTable())
	fmt.Fprintf(&b, "\n#### %s: medians of %d rounds\n\n", heading, rep.JSRounds)
	b.WriteString(intro + "\n")
	b.WriteString(jsTable(rows))
	b.WriteString("\nParameters per scenario:\n\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "- %s (`%s`): %s\n", r.Title, r.ID, r.Params)
	}
	if f := jsFlagged(rows); f != "" {
		b.WriteString("\n" + f)
	}
	if len(costRows) > 0 {
		b.WriteString("\nServer cost of the measured command (one more run each, `GODEBUG=gctrace=1`; a cluster's nodes summed), per million messages:\n\n")
		b.WriteString(jsTable(costRows))
	}
	fmt.Fprintf(&b, "\n<details><summary>Every round of these rows in this run</summary>\n\n")
	b.WriteString(jsRawTable(rows))
	b.WriteString("\n</details>\n")
	return b.String()
}
