package emsim

import (
	"strings"
	"testing"
	"time"
)

// filterProbe is a task with known values for evaluating parsed filters.
func filterProbe() *taskRun {
	server := &backupServer{name: "vbr01.corp.local"}
	replica := &job{name: "Replica@DR site", jobType: replicaJobType, kind: replicaKind, server: server}
	run := &jobRun{job: replica, creation: testStart}
	t := &taskRun{
		run:      run,
		vm:       &virtualMachine{name: `fs01, "legacy"`, totalSize: 40 * gib},
		creation: testStart.Add(10 * time.Second),
		working:  testStart.Add(12 * time.Second),
		end:      testStart.Add(5 * time.Minute),
		result:   resultWarning,
		reason:   "disk; almost full",
	}
	run.tasks = []*taskRun{t}
	return t
}

func TestFilterEvaluation(t *testing.T) {
	probe := filterProbe()
	completed := testStart.Add(time.Hour)
	running := testStart.Add(time.Minute)
	cases := []struct {
		filter string
		now    time.Time
		want   bool
	}{
		{"Result==Warning", completed, true},
		{"Result!=Warning", completed, false},
		{"Result>=Warning", completed, true},
		{"Result>Warning", completed, false},
		{"Result<Failed", completed, true},
		{"Result<=Success", completed, false},
		{"result==warning", completed, true}, // names and enum values ignore case
		{"Result==None", running, true},
		{"State==InProgress", running, true},
		{"State<Completed", running, true},
		{"TotalSize==42949672960", completed, true},
		{"TotalSize>42949672960", completed, false},
		{"TotalSize>=1000;TotalSize<=99999999999", completed, true},
		{`CreationTime>="2025-06-17T20:30:10Z"`, completed, true},
		{"CreationTime>2025-06-17T20:30:10Z", completed, false},
		{"CreationTime<2025-06-17T20:30:10.000001Z", completed, true},
		{"EndTime<=2025-06-17T20:35:00Z", completed, true},
		{"EndTime>2000-01-01T00:00:00Z", running, false}, // no end yet
		{"EndTime!=2000-01-01T00:00:00Z", running, true},
		{`VmDisplayName=="fs01, ""legacy"""`, completed, true},
		{`VmDisplayName=="fs01, legacy"`, completed, false},
		{`Reason=="disk; almost full"`, completed, true},
		{`Reason==""`, running, true},
		{"JobName==Replica@DR site", completed, false}, // unquoted spaces are dropped
		{`JobName=="Replica@DR site"`, completed, true},
		{"JobName==Replica@DRsite", completed, false},
		{"BackupServerName==vbr01.corp.local", completed, true},
		{"Name>fs01", completed, true},
		{"Result==Success,Result==Warning", completed, true},
		{"Result==Success;Result==Warning", completed, false},
		// AND binds tighter than OR.
		{"Result==Warning,Result==Success;TotalSize==1", completed, true},
		{"(Result==Warning,Result==Success);TotalSize==1", completed, false},
		{" ( Result == Warning ) ; ( TotalSize > 1 , State == Pending ) ", completed, true},
	}
	for _, tc := range cases {
		t.Run(tc.filter, func(t *testing.T) {
			c, err := parseFilter(tc.filter, taskFields, "ReplicaTaskSession")
			if err != nil {
				t.Fatal(err)
			}
			if got := c.match(probe, tc.now); got != tc.want {
				t.Errorf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestJobFilterFields(t *testing.T) {
	probe := filterProbe().run
	probe.attempt = 1
	probe.end = testStart.Add(10 * time.Minute)
	for filter, want := range map[string]bool{
		"IsRetry==true":              true,
		"IsRetry==False":             false,
		"State==Stopped":             true,
		"State>=Working":             true,
		"JobType==Replica":           true,
		"Progress==100":              true,
		`JobName=="Replica@DR site"`: true,
	} {
		c, err := parseFilter(filter, jobFields, "ReplicaJobSession")
		if err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
		if got := c.match(probe, testStart.Add(time.Hour)); got != want {
			t.Errorf("%s: match = %v, want %v", filter, got, want)
		}
	}
}

func TestFilterErrors(t *testing.T) {
	cases := map[string]string{
		"Colour==red":                       `unknown field "Colour"`,
		"Result=Success":                    "use ==",
		"Result~Success":                    "expected one of",
		"Result==":                          "expected a value",
		"Result==Great":                     "one of None, Success, Warning, Failed",
		"CreationTime>=2025-06-17T20:30:00": "UTC DateTime",
		"CreationTime>=2025-06-17T20:30:00+02:00": "UTC DateTime",
		"CreationTime>=yesterday":                 "UTC DateTime",
		"TotalSize>big":                           "integer",
		`VmDisplayName=="open`:                    "unterminated",
		`VmDisplayName=="a"b`:                     "after a quoted value",
		"(Result==Success":                        "missing )",
		"Result==Success)":                        "unexpected",
		";Result==Success":                        "expected a field name",
		"Result==Success;":                        "expected a field name",
		"IsRetry==true":                           `unknown field "IsRetry"`,
	}
	for filter, want := range cases {
		_, err := parseFilter(filter, taskFields, "ReplicaTaskSession")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", filter, err, want)
		}
	}
}

func TestFilterCreationRange(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		filter   string
		from, to string // "" for unbounded
		exact    bool
	}{
		{"CreationTime>=2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z", "", true},
		{"CreationTime>=2025-01-01T00:00:00Z;CreationTime<2025-01-02T00:00:00Z", "2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z", true},
		{"CreationTime>=2025-01-01T00:00:00Z;Result==Failed", "2025-01-01T00:00:00Z", "", false},
		{"CreationTime>=2025-01-03T00:00:00Z,CreationTime>=2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z", "", false},
		{"CreationTime>=2025-01-03T00:00:00Z,Result==Failed", "", "", false},
		{"CreationTime!=2025-01-03T00:00:00Z", "", "", false},
		{"Result==Failed", "", "", false},
	}
	for _, tc := range cases {
		c, err := parseFilter(tc.filter, taskFields, "ReplicaTaskSession")
		if err != nil {
			t.Fatal(err)
		}
		r := c.creationRange()
		if r.hasFrom != (tc.from != "") || tc.from != "" && !r.from.Equal(at(tc.from)) ||
			r.hasTo != (tc.to != "") || tc.to != "" && !r.to.Equal(at(tc.to)) || r.exact != tc.exact {
			t.Errorf("%s: range %+v, want from %q to %q exact %v", tc.filter, r, tc.from, tc.to, tc.exact)
		}
	}
}
