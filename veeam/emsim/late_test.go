package emsim

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// withLateArrivals makes about two sessions in five reach EM two to twenty
// minutes late: long enough next to TestTopology's few jobs an hour that
// some session of every type is missing or behind at most moments.
func withLateArrivals(topo Topology) Topology {
	topo.LateFraction = 0.4
	topo.LateDelayMin = 2 * time.Minute
	topo.LateDelayMax = 20 * time.Minute
	return topo
}

// lateTopology is TestTopology with late arrivals and six hours of history
// rather than two days, so that tests reading whole answers stay quick
// under the race detector.
func lateTopology() Topology {
	topo := withLateArrivals(TestTopology())
	topo.History = 6 * time.Hour
	return topo
}

func newLateHarness(t *testing.T) *harness {
	t.Helper()
	return newHarness(t, func(c *Config) { c.Topology = lateTopology() })
}

// row is what a query answer and the ground truth have in common, as text.
type row struct {
	UID, Creation, End, State, Result, Reason, Progress string
}

func (r row) end(t *testing.T) (time.Time, bool) {
	if r.End == "" {
		return time.Time{}, false
	}
	return parseEM(t, r.End), true
}

func endText(end time.Time) string {
	if end.IsZero() {
		return ""
	}
	return emTime(end)
}

func taskRows(sessions []TaskSession) []row {
	out := make([]row, len(sessions))
	for i, s := range sessions {
		out[i] = row{UID: s.UID, Creation: emTime(s.Creation), End: endText(s.End), State: s.State, Result: s.Result, Reason: s.Reason}
	}
	return out
}

func jobRows(sessions []JobSession) []row {
	out := make([]row, len(sessions))
	for i, s := range sessions {
		out[i] = row{UID: s.UID, Creation: emTime(s.Creation), End: endText(s.End), State: s.State, Result: s.Result, Progress: fmt.Sprint(s.Progress)}
	}
	return out
}

func optional(s *string) string {
	if s == nil {
		return ""
	}
	return trimmed(*s)
}

// docRows reads the entities of any of the four session types.
func docRows(doc queryDoc) []row {
	var out []row
	task := func(d taskDoc) row {
		return row{UID: d.UID, Creation: trimmed(d.CreationTimeUTC), End: optional(d.EndTimeUTC), State: trimmed(d.State), Result: trimmed(d.Result), Reason: trimmed(d.Reason)}
	}
	job := func(d jobDoc) row {
		return row{UID: d.UID, Creation: trimmed(d.CreationTimeUTC), End: optional(d.EndTimeUTC), State: trimmed(d.State), Result: trimmed(d.Result), Progress: trimmed(d.Progress)}
	}
	for _, d := range doc.Tasks {
		out = append(out, task(d))
	}
	for _, d := range doc.BackupTasks {
		out = append(out, task(d.taskDoc))
	}
	for _, d := range doc.Jobs {
		out = append(out, job(d))
	}
	for _, d := range doc.BackupJobs {
		out = append(out, job(d))
	}
	return out
}

// sessionType is one query type with its ground truth, in EM's view
// (shown) and as it really is (truth).
type sessionType struct {
	name          string
	running, done string // the State of a running and of a finished session
	pending       string // the State before the session runs
	shown, truth  func(s *Server, asOf time.Time) []row
}

var sessionTypes = []sessionType{
	{
		name: "ReplicaTaskSession", running: "InProgress", done: "Completed", pending: "Pending",
		shown: func(s *Server, at time.Time) []row { return taskRows(s.TaskSessionsShown(at)) },
		truth: func(s *Server, at time.Time) []row { return taskRows(s.TaskSessions(at)) },
	},
	{
		name: "ReplicaJobSession", running: "Working", done: "Stopped", pending: "Starting",
		shown: func(s *Server, at time.Time) []row { return jobRows(s.JobSessionsShown(at)) },
		truth: func(s *Server, at time.Time) []row { return jobRows(s.JobSessions(at)) },
	},
	{
		name: "BackupTaskSession", running: "InProgress", done: "Completed", pending: "Pending",
		shown: func(s *Server, at time.Time) []row { return taskRows(s.BackupTaskSessionsShown(at)) },
		truth: func(s *Server, at time.Time) []row { return taskRows(s.BackupTaskSessions(at)) },
	},
	{
		name: "BackupJobSession", running: "Working", done: "Stopped", pending: "Starting",
		shown: func(s *Server, at time.Time) []row { return jobRows(s.BackupJobSessionsShown(at)) },
		truth: func(s *Server, at time.Time) []row { return jobRows(s.BackupJobSessions(at)) },
	},
}

// queryAll pages through a query's entities; rawFilter goes verbatim.
func (h *harness) queryAll(token, typeName, rawFilter, extra string) []row {
	h.t.Helper()
	var out []row
	for page := 1; ; page++ {
		raw := fmt.Sprintf("type=%s&format=Entities&pageSize=300&page=%d%s", typeName, page, extra)
		if rawFilter != "" {
			raw += "&filter=" + rawFilter
		}
		doc := h.query(token, raw)
		out = append(out, docRows(doc)...)
		if page >= doc.Paging.PagesCount {
			return out
		}
	}
}

// count asks for one entity per page, as the exporter does to count.
func (h *harness) count(token, typeName, rawFilter string) (pages, entities int) {
	h.t.Helper()
	raw := "type=" + typeName + "&format=Entities&pageSize=1"
	if rawFilter != "" {
		raw += "&filter=" + rawFilter
	}
	doc := h.query(token, raw)
	return doc.Paging.PagesCount, len(docRows(doc))
}

func selectRows(rows []row, keep func(row) bool) []row {
	var out []row
	for _, r := range rows {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

func withoutLag[T any](sessions []T, clear func(*T)) []T {
	out := slices.Clone(sessions)
	for i := range out {
		clear(&out[i])
	}
	return out
}

// TestLateArrivalsLeaveOtherValuesAlone: the lags come from streams of
// their own, so turning them on changes no UID, time or result.
func TestLateArrivalsLeaveOtherValuesAlone(t *testing.T) {
	asOf := testStart.Add(90 * time.Minute)
	timely := newTestServer(t, 42, TestTopology(), NewManualClock(testStart))
	late := newTestServer(t, 42, withLateArrivals(TestTopology()), NewManualClock(testStart))
	again := newTestServer(t, 42, withLateArrivals(TestTopology()), NewManualClock(testStart))
	clearTask := func(s *TaskSession) { s.Lag = 0 }
	clearJob := func(s *JobSession) { s.Lag = 0 }

	tasks := map[string][3][]TaskSession{
		"replica": {timely.TaskSessions(asOf), late.TaskSessions(asOf), again.TaskSessions(asOf)},
		"backup":  {timely.BackupTaskSessions(asOf), late.BackupTaskSessions(asOf), again.BackupTaskSessions(asOf)},
	}
	jobs := map[string][3][]JobSession{
		"replica": {timely.JobSessions(asOf), late.JobSessions(asOf), again.JobSessions(asOf)},
		"backup":  {timely.BackupJobSessions(asOf), late.BackupJobSessions(asOf), again.BackupJobSessions(asOf)},
	}
	topo := withLateArrivals(TestTopology())
	checkLags := func(t *testing.T, lags []time.Duration) {
		t.Helper()
		lateCount := 0
		for _, lag := range lags {
			if lag == 0 {
				continue
			}
			lateCount++
			if lag < topo.LateDelayMin || lag > topo.LateDelayMax {
				t.Errorf("lag %v outside [%v, %v]", lag, topo.LateDelayMin, topo.LateDelayMax)
			}
		}
		// 0.4 of a few hundred sessions or more: far from 0.25 and 0.55.
		if share := float64(lateCount) / float64(len(lags)); share < 0.25 || share > 0.55 {
			t.Errorf("%d of %d sessions late, want about %v", lateCount, len(lags), topo.LateFraction)
		}
	}
	for name, got := range tasks {
		t.Run(name+" tasks", func(t *testing.T) {
			if !slices.Equal(got[0], withoutLag(got[1], clearTask)) {
				t.Error("late arrivals changed the task sessions")
			}
			if !slices.Equal(got[1], got[2]) {
				t.Error("the same seed drew different lags")
			}
			var lags []time.Duration
			for _, s := range got[1] {
				lags = append(lags, s.Lag)
			}
			checkLags(t, lags)
		})
	}
	for name, got := range jobs {
		t.Run(name+" jobs", func(t *testing.T) {
			if !slices.Equal(got[0], withoutLag(got[1], clearJob)) {
				t.Error("late arrivals changed the job sessions")
			}
			if !slices.Equal(got[1], got[2]) {
				t.Error("the same seed drew different lags")
			}
			var lags []time.Duration
			for _, s := range got[1] {
				lags = append(lags, s.Lag)
			}
			checkLags(t, lags)
		})
	}

	// Without late arrivals EM shows the truth.
	if !slices.Equal(timely.TaskSessions(asOf), timely.TaskSessionsShown(asOf)) ||
		!slices.Equal(timely.JobSessions(asOf), timely.JobSessionsShown(asOf)) ||
		!slices.Equal(timely.BackupTaskSessions(asOf), timely.BackupTaskSessionsShown(asOf)) ||
		!slices.Equal(timely.BackupJobSessions(asOf), timely.BackupJobSessionsShown(asOf)) {
		t.Error("without late arrivals, the shown sessions differ from the truth")
	}
}

// lateCandidate finds a late session created after testStart that EM
// learns of while it still runs.
func lateCandidate[T any](t *testing.T, sessions []T, get func(T) (uid string, creation, end time.Time, lag time.Duration)) (string, time.Time, time.Time, time.Duration) {
	t.Helper()
	for _, s := range sessions {
		uid, creation, end, lag := get(s)
		if lag > 0 && creation.After(testStart) && !end.IsZero() && creation.Add(lag).Before(end.Add(-time.Second)) {
			return uid, creation, end, lag
		}
	}
	t.Fatal("no late session visible while it runs")
	return "", time.Time{}, time.Time{}, 0
}

// TestLateSessionAppearsLagBehind follows one late task session and one late
// job session through their lives, by UID filter and without a filter.
func TestLateSessionAppearsLagBehind(t *testing.T) {
	h := newLateHarness(t)
	later := testStart.Add(3 * time.Hour)
	taskUIDOf, taskCreation, taskEnd, taskLag := lateCandidate(t, h.sim.TaskSessions(later), func(s TaskSession) (string, time.Time, time.Time, time.Duration) {
		return s.UID, s.Creation, s.End, s.Lag
	})
	jobUIDOf, jobCreation, jobEnd, jobLag := lateCandidate(t, h.sim.BackupJobSessions(later), func(s JobSession) (string, time.Time, time.Time, time.Duration) {
		return s.UID, s.Creation, s.End, s.Lag
	})

	for _, tc := range []struct {
		typ           sessionType
		uid           string
		creation, end time.Time
		lag           time.Duration
	}{
		{sessionTypes[0], taskUIDOf, taskCreation, taskEnd, taskLag},
		{sessionTypes[3], jobUIDOf, jobCreation, jobEnd, jobLag},
	} {
		t.Run(tc.typ.name, func(t *testing.T) {
			// find returns the session as a UID query and an unfiltered
			// query (newest first) show it.
			find := func(at time.Time) (byFilter, byPage []row) {
				t.Helper()
				h.clock.Set(at)
				// The clock jumps further than the logon session lives.
				token := h.logon()
				byFilter = h.queryAll(token, tc.typ.name, `UID=="`+tc.uid+`"`, "")
				doc := h.query(token, "type="+tc.typ.name+"&format=Entities&sortDesc=CreationTime&pageSize=200")
				byPage = selectRows(docRows(doc), func(r row) bool { return r.UID == tc.uid })
				return byFilter, byPage
			}
			// lagged is the session as it really was lag before at.
			lagged := func(at time.Time) row {
				for _, r := range tc.typ.truth(h.sim.Server, at.Add(-tc.lag)) {
					if r.UID == tc.uid {
						return r
					}
				}
				t.Fatalf("%s not in the truth at %v", tc.uid, at.Add(-tc.lag))
				return row{}
			}
			shownAt := func(at time.Time) []row {
				return selectRows(tc.typ.shown(h.sim.Server, at), func(r row) bool { return r.UID == tc.uid })
			}

			for _, at := range []time.Time{tc.creation, tc.creation.Add(tc.lag - time.Millisecond)} {
				byFilter, byPage := find(at)
				if len(byFilter) != 0 || len(byPage) != 0 || len(shownAt(at)) != 0 {
					t.Errorf("at creation + %v (lag %v): visible (%v, %v, %v)", at.Sub(tc.creation), tc.lag, byFilter, byPage, shownAt(at))
				}
			}
			for _, step := range []struct {
				name  string
				at    time.Time
				state string
			}{
				{"creation + lag", tc.creation.Add(tc.lag), tc.typ.pending},
				{"true end", tc.end, tc.typ.running},
				{"end + lag - 1ms", tc.end.Add(tc.lag - time.Millisecond), tc.typ.running},
				{"end + lag", tc.end.Add(tc.lag), tc.typ.done},
				{"end + lag + 1h", tc.end.Add(tc.lag + time.Hour), tc.typ.done},
			} {
				byFilter, byPage := find(step.at)
				want := lagged(step.at)
				if len(byFilter) != 1 || len(byPage) != 1 || byFilter[0] != want || byPage[0] != want {
					t.Errorf("%s: shown as %v and %v, want %v", step.name, byFilter, byPage, want)
					continue
				}
				if shown := shownAt(step.at); len(shown) != 1 || shown[0] != want {
					t.Errorf("%s: shown truth %v, want %v", step.name, shown, want)
				}
				if got := byFilter[0]; got.State != step.state || (got.End != "") != (step.state == tc.typ.done) {
					t.Errorf("%s: State %s, EndTimeUTC %q; want %s", step.name, got.State, got.End, step.state)
				}
				if step.state == tc.typ.done && byFilter[0].End != emTime(tc.end) {
					t.Errorf("%s: EndTimeUTC %s, want the true end %s", step.name, byFilter[0].End, emTime(tc.end))
				}
			}
		})
	}
}

// filterCase is a filter and the same condition on a row.
type filterCase struct {
	name, filter string
	keep         func(row) bool
}

// filterCases are filters on what changes as a session runs, and the OR of
// creation windows the exporter sends, at moment now of type typ.
func filterCases(t *testing.T, typ sessionType, now time.Time) []filterCase {
	at := func(d time.Duration) time.Time { return now.Add(d).Truncate(time.Second) }
	endIn := func(r row, from, to time.Time) bool {
		end, ok := r.end(t)
		return ok && !end.Before(from) && end.Before(to)
	}
	createdIn := func(r row, from, to time.Time) bool {
		c := parseEM(t, r.Creation)
		return !c.Before(from) && c.Before(to)
	}
	a, b, c, d, e := at(-30*time.Minute), at(time.Second), at(-6*time.Hour), at(-20*time.Minute), at(-2*time.Minute)
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	or := fmt.Sprintf(`(CreationTime>="%s";CreationTime<"%s"),(CreationTime>="%s";CreationTime<"%s";EndTime>="%s";EndTime<"%s"),(CreationTime>="%s";CreationTime<"%s";State!="%s";State!="%s")`,
		emTime(a), emTime(b), emTime(c), emTime(b), emTime(d), emTime(e), emTime(c), emTime(b), typ.running, typ.done)
	return []filterCase{
		{"running", "State==" + typ.running, func(r row) bool { return r.State == typ.running }},
		{"not started", fmt.Sprintf("State!=%s;State!=%s", typ.running, typ.done), func(r row) bool { return r.State == typ.pending }},
		{"finished", "State==" + typ.done, func(r row) bool { return r.State == typ.done }},
		{"warning or worse", "Result>=Warning", func(r row) bool { return r.Result == "Warning" || r.Result == "Failed" }},
		{"not finished by result", "Result==None", func(r row) bool { return r.Result == "None" }},
		{"ended lately", "EndTime>=" + emTime(d), func(r row) bool { return endIn(r, d, far) }},
		{"ended before", "EndTime<" + emTime(e), func(r row) bool { return endIn(r, time.Time{}, e) }},
		{"exporter OR", or, func(r row) bool {
			return createdIn(r, a, b) || createdIn(r, c, b) && endIn(r, d, e) || createdIn(r, c, b) && r.State == typ.pending
		}},
		{"recent, no end", "CreationTime>=" + emTime(a) + ";EndTime!=" + emTime(far), func(r row) bool { return createdIn(r, a, far) }},
		{"nothing", "EndTime<1990-01-01T00:00:00Z", func(row) bool { return false }},
	}
}

// TestLateFiltersAgreeWithEntities: every filter selects by the lagged view
// the entities show, and a pageSize=1 query counts only visible sessions.
func TestLateFiltersAgreeWithEntities(t *testing.T) {
	for _, late := range []bool{false, true} {
		h := newHarness(t, func(c *Config) {
			c.Topology = lateTopology()
			if !late {
				c.Topology.LateFraction = 0
			}
		})
		token := h.logon()
		now := testStart.Add(7*time.Minute + 13*time.Second)
		h.clock.Set(now)
		for _, typ := range sessionTypes {
			t.Run(fmt.Sprintf("late=%v/%s", late, typ.name), func(t *testing.T) {
				shown, truth := typ.shown(h.sim.Server, now), typ.truth(h.sim.Server, now)
				differs := false
				for _, fc := range filterCases(t, typ, now) {
					want := selectRows(shown, fc.keep)
					if got := h.queryAll(token, typ.name, fc.filter, ""); !slices.Equal(got, want) {
						t.Errorf("%s: %d sessions, want %d\nfilter %s", fc.name, len(got), len(want), fc.filter)
					}
					if pages, entities := h.count(token, typ.name, fc.filter); pages != max(1, len(want)) || entities != min(1, len(want)) {
						t.Errorf("%s: pageSize=1 gave PagesCount %d with %d entities, want %d matches", fc.name, pages, entities, len(want))
					}
					differs = differs || !slices.Equal(selectRows(truth, fc.keep), want)
				}
				if late && !differs {
					t.Error("no filter told the lagged view from the truth: the test checks nothing")
				}
			})
		}
	}
}

// TestShownAgreesWithQueries compares whole answers, unfiltered and by
// creation range, in both orders and sorted by EndTime, with the shown
// ground truth at several moments.
func TestShownAgreesWithQueries(t *testing.T) {
	h := newLateHarness(t)
	missing := map[string]int{}
	for _, offset := range []time.Duration{0, 7*time.Minute + 13*time.Second, 23 * time.Minute, 41 * time.Minute} {
		now := testStart.Add(offset)
		h.clock.Set(now)
		token := h.logon()
		for _, typ := range sessionTypes {
			t.Run(fmt.Sprintf("%v/%s", offset, typ.name), func(t *testing.T) {
				shown := typ.shown(h.sim.Server, now)
				missing[typ.name] += len(typ.truth(h.sim.Server, now)) - len(shown)
				if got := h.queryAll(token, typ.name, "", ""); !slices.Equal(got, shown) {
					t.Errorf("unfiltered: %d sessions, want %d", len(got), len(shown))
				}
				if pages, _ := h.count(token, typ.name, ""); pages != len(shown) {
					t.Errorf("unfiltered pageSize=1: PagesCount %d, want %d", pages, len(shown))
				}

				since := now.Add(-15 * time.Minute)
				recent := selectRows(shown, func(r row) bool { return !parseEM(t, r.Creation).Before(since) })
				filter := "CreationTime>=" + emTime(since)
				if got := h.queryAll(token, typ.name, filter, ""); !slices.Equal(got, recent) {
					t.Errorf("created since %v: %d sessions, want %d", since, len(got), len(recent))
				}
				if pages, _ := h.count(token, typ.name, filter); pages != max(1, len(recent)) {
					t.Errorf("created since %v, pageSize=1: PagesCount %d, want %d", since, pages, len(recent))
				}

				newestFirst := slices.Clone(shown)
				slices.Reverse(newestFirst)
				if got := h.queryAll(token, typ.name, "", "&sortDesc=CreationTime"); !slices.Equal(got, newestFirst) {
					t.Errorf("newest first: %d sessions, want %d", len(got), len(newestFirst))
				}

				byEnd := h.queryAll(token, typ.name, filter, "&sortAsc=EndTime")
				if !slices.Equal(sortedByUID(byEnd), sortedByUID(recent)) {
					t.Errorf("sorted by EndTime: %d sessions, want %d", len(byEnd), len(recent))
				}
				if !slices.IsSortedFunc(byEnd, func(a, b row) int {
					// Running sessions, without an EndTime, come first.
					switch {
					case a.End == "" && b.End == "":
						return 0
					case a.End == "":
						return -1
					case b.End == "":
						return 1
					}
					return parseEM(t, a.End).Compare(parseEM(t, b.End))
				}) {
					t.Error("sorted by EndTime: not in the order of the EndTime the entities show")
				}
			})
		}
	}
	for _, typ := range sessionTypes {
		if missing[typ.name] == 0 {
			t.Errorf("%s: no session was missing at any moment: the test checks little", typ.name)
		}
	}
}

func sortedByUID(rows []row) []row {
	out := slices.Clone(rows)
	slices.SortFunc(out, func(a, b row) int { return strings.Compare(a.UID, b.UID) })
	return out
}

// TestORFilterWithParentheses parses the filter the exporter sends for an
// incremental window and checks its shape and creation range.
func TestORFilterWithParentheses(t *testing.T) {
	a, b, c := "2025-06-17T20:00:00Z", "2025-06-17T20:30:01Z", "2025-06-17T14:30:00Z"
	d, e := "2025-06-17T20:10:00Z", "2025-06-17T20:28:00Z"
	src := fmt.Sprintf(`(CreationTime>="%s";CreationTime<"%s"),(CreationTime>="%s";CreationTime<"%s";EndTime>="%s";EndTime<"%s"),(CreationTime>="%s";CreationTime<"%s";State!="InProgress";State!="Completed")`,
		a, b, c, b, d, e, c, b)
	cond, err := parseFilter(src, taskFields, taskQuery.typeName)
	if err != nil {
		t.Fatal(err)
	}
	if cond.kind != conditionOr || len(cond.children) != 3 {
		t.Fatalf("parsed as kind %d with %d children, want an OR of three", cond.kind, len(cond.children))
	}
	for i, want := range []int{2, 4, 4} {
		if child := cond.children[i]; child.kind != conditionAnd || len(child.children) != want {
			t.Errorf("term %d: kind %d with %d children, want an AND of %d", i+1, child.kind, len(child.children), want)
		}
	}
	r := cond.creationRange()
	if !r.hasFrom || !r.from.Equal(parseEM(t, c)) || !r.hasTo || !r.to.Equal(parseEM(t, b)) || r.exact {
		t.Errorf("creation range %+v, want [%s, %s) and not exact", r, c, b)
	}

	// A session of each term, and one of none.
	probe := filterProbe() // created 20:30:10, running until 20:35
	for _, tc := range []struct {
		name     string
		creation time.Time
		end      time.Time
		now      time.Time
		want     bool
	}{
		{"recent", parseEM(t, "2025-06-17T20:15:00Z"), parseEM(t, "2025-06-17T20:40:00Z"), parseEM(t, b), true},
		{"older, ended in the window", parseEM(t, "2025-06-17T19:00:00Z"), parseEM(t, "2025-06-17T20:20:00Z"), parseEM(t, b), true},
		{"older, ended before the window", parseEM(t, "2025-06-17T19:00:00Z"), parseEM(t, "2025-06-17T20:05:00Z"), parseEM(t, b), false},
		{"older, still pending", parseEM(t, "2025-06-17T19:00:00Z"), parseEM(t, "2025-06-17T21:00:00Z"), parseEM(t, "2025-06-17T19:00:01Z"), true},
		{"older, running", parseEM(t, "2025-06-17T19:00:00Z"), parseEM(t, "2025-06-17T21:00:00Z"), parseEM(t, b), false},
		{"before the windows", parseEM(t, "2025-06-17T10:00:00Z"), parseEM(t, "2025-06-17T20:20:00Z"), parseEM(t, b), false},
	} {
		probe.creation, probe.working, probe.end = tc.creation, tc.creation.Add(2*time.Second), tc.end
		if got := cond.match(probe, tc.now); got != tc.want {
			t.Errorf("%s: match = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestLateVisibilityChecksOnlyRecentSessions: a query checks the visibility
// of the sessions created within the longest lag only, so it costs no
// more over 48 hours of history than over ten minutes.
func TestLateVisibilityChecksOnlyRecentSessions(t *testing.T) {
	topo := withLateArrivals(TestTopology())
	s := newTestServer(t, 42, topo, NewManualClock(testStart))
	items := existing(s.data.replica.tasks, testStart, taskCreation)
	maxLag := s.data.topo.maxLag()
	recent := len(items) - len(existing(items, testStart.Add(-maxLag), taskCreation))
	if maxLag != topo.LateDelayMax || recent == 0 || recent*20 > len(items) {
		t.Fatalf("max lag %v, %d of %d sessions recent", maxLag, recent, len(items))
	}
	kind := taskQuery
	checks := 0
	kind.visible = func(t *taskRun, now time.Time) bool {
		checks++
		return t.visibleAt(now)
	}
	hourAgo := emTime(testStart.Add(-time.Hour))
	for _, tc := range []struct {
		filter    string
		sortBy    string
		maxChecks int
	}{
		{"", "", recent},
		{"", "EndTime", recent},
		{"CreationTime>=" + hourAgo, "", recent},
		{"CreationTime>=" + hourAgo + ";State==InProgress", "", recent},
		{"(CreationTime>=" + hourAgo + ";Result==Failed),(CreationTime>=" + emTime(testStart.Add(-3*time.Hour)) + ";EndTime>=" + hourAgo + ")", "", recent},
		{"CreationTime<" + hourAgo, "", 0},
	} {
		var cond *condition[*taskRun]
		if tc.filter != "" {
			var err error
			if cond, err = parseFilter(tc.filter, kind.fields, kind.typeName); err != nil {
				t.Fatal(err)
			}
		}
		var sortBy *field[*taskRun]
		if tc.sortBy != "" {
			sortBy, _ = kind.fields.lookup(tc.sortBy)
		}
		checks = 0
		_, total := selectPage(items, kind, cond, sortBy, queryRequest{page: 1, pageSize: 1}, 0, testStart, maxLag)
		if checks > tc.maxChecks || total == 0 {
			t.Errorf("filter %q, sort %q: %d visibility checks for %d matches, want at most %d", tc.filter, tc.sortBy, checks, total, tc.maxChecks)
		}
	}
}

func TestInvalidLateArrivals(t *testing.T) {
	cases := map[string]func(*Topology){
		"negative fraction":      func(tp *Topology) { tp.LateFraction = -0.1 },
		"fraction above one":     func(tp *Topology) { tp.LateFraction = 1.5 },
		"NaN fraction":           func(tp *Topology) { tp.LateFraction = math.NaN() },
		"no delay":               func(tp *Topology) { tp.LateDelayMin, tp.LateDelayMax = 0, 0 },
		"min above max":          func(tp *Topology) { tp.LateDelayMin, tp.LateDelayMax = 5*time.Minute, time.Minute },
		"negative unused delays": func(tp *Topology) { tp.LateFraction, tp.LateDelayMin = 0, -time.Minute },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			topo := lateTopology()
			mutate(&topo)
			_, err := New(Config{Username: testUser, Password: testPassword, Topology: topo})
			if err == nil || !strings.Contains(err.Error(), "Late") {
				t.Errorf("New accepted late arrivals it should not, or said why badly: %v", err)
			}
		})
	}
	every := lateTopology()
	every.LateFraction, every.LateDelayMin = 1, every.LateDelayMax
	if _, err := New(Config{Username: testUser, Password: testPassword, Topology: every}); err != nil {
		t.Errorf("every session late by a fixed delay: %v", err)
	}
}

func TestPresetsAreTimely(t *testing.T) {
	for name, topo := range map[string]Topology{
		"demo": DemoTopology(), "test": TestTopology(), "scale": ScaleTopology(), "second site": SecondSiteTopology(),
	} {
		if topo.LateFraction != 0 {
			t.Errorf("%s: LateFraction %v, want 0", name, topo.LateFraction)
		}
	}
}

// BenchmarkScaleQueryLateArrivals compares queries on ScaleTopology with
// and without 5% of sessions up to ten minutes late:
//
//	go test -run '^$' -bench ScaleQueryLate ./veeam/emsim/
func BenchmarkScaleQueryLateArrivals(b *testing.B) {
	at := func(d time.Duration) string { return `"` + emTime(testStart.Add(d).Truncate(time.Second)) + `"` }
	window := fmt.Sprintf(`(CreationTime>=%s;CreationTime<%s),(CreationTime>=%s;CreationTime<%s;EndTime>=%s;EndTime<%s),(CreationTime>=%s;CreationTime<%s;State!="InProgress";State!="Completed")`,
		at(-5*time.Minute), at(time.Second), at(-time.Hour), at(time.Second), at(-5*time.Minute), at(time.Second), at(-time.Hour), at(time.Second))
	queries := []struct{ name, raw string }{
		{"unfiltered first page", "type=ReplicaTaskSession&format=Entities&sortDesc=CreationTime&pageSize=1000"},
		{"unfiltered count", "type=ReplicaTaskSession&pageSize=1"},
		{"range count", "type=ReplicaTaskSession&pageSize=1&filter=CreationTime>=" + at(-36*time.Hour)},
		{"range and result", "type=ReplicaTaskSession&format=Entities&pageSize=1000&filter=CreationTime>=" + at(-36*time.Hour) + ";Result>=Warning"},
		{"incremental window", "type=ReplicaTaskSession&format=Entities&pageSize=1000&filter=" + window},
		{"backup jobs by end", "type=BackupJobSession&format=Entities&pageSize=1000&sortDesc=EndTime"},
	}
	for _, late := range []bool{false, true} {
		topo := ScaleTopology()
		if late {
			topo.LateFraction, topo.LateDelayMin, topo.LateDelayMax = 0.05, time.Minute, 10*time.Minute
		}
		s, err := New(Config{Seed: 42, Username: testUser, Password: testPassword, Clock: NewManualClock(testStart), Topology: topo})
		if err != nil {
			b.Fatal(err)
		}
		logon := httptest.NewRequest(http.MethodPost, "/api/sessionMngr/?v=latest", nil)
		logon.SetBasicAuth(testUser, testPassword)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, logon)
		token := rec.Header().Get(sessionHeader)
		for _, q := range queries {
			b.Run(fmt.Sprintf("late=%v/%s", late, q.name), func(b *testing.B) {
				for b.Loop() {
					req := httptest.NewRequest(http.MethodGet, "/api/query?"+q.raw, nil)
					req.Header.Set(sessionHeader, token)
					rec := httptest.NewRecorder()
					s.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
				}
			})
		}
	}
}
