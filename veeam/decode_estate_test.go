package veeam

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// decodeGolden decodes a testdata page and compares it item by item.
func decodeGolden[T any](t *testing.T, file, typ string, decode entityDecoder[T], want []T) {
	t.Helper()
	p, err := decodePage(strings.NewReader(readTestdata(t, file)), typ, decode, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.invalid != 0 || len(p.items) != len(want) {
		t.Fatalf("%d items, %d invalid; want %d and 0", len(p.items), p.invalid, len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(p.items[i], want[i]) {
			t.Errorf("item %d:\ngot  %+v\nwant %+v", i, p.items[i], want[i])
		}
	}
}

func TestDecodeRepositories(t *testing.T) {
	decodeGolden(t, "repositories.xml", RepositoryType, decodeRepository, []Repository{
		{
			UID: "urn:veeam:Repository:0a1b2c3d-0000-4000-8000-000000000001", Name: "S3 Wasabi eu-central",
			BackupServerName: "vbr01.corp.local", Kind: "AmazonS3Compatible",
			// -1 is unknown, not 0 and not full; the nested Capacity of
			// ObjectStorageSettings is not the repository's.
		},
		{
			UID: "urn:veeam:Repository:0a1b2c3d-0000-4000-8000-000000000002", Name: "SOBR Petabyte Tier",
			BackupServerName: "vbr-zürich-02.corp.local", Kind: "Extendable",
			Capacity: Known[int64](4 << 50), FreeSpace: Known[int64](1 << 50),
		},
		{
			UID: "urn:veeam:Repository:0a1b2c3d-0000-4000-8000-000000000003", Name: `\\nas01\veeam$ Zürich & Genève`,
			BackupServerName: "vbr01.corp.local", Kind: "CifsShare",
			Capacity: Known[int64](10 << 40), FreeSpace: Known[int64](0),
		},
		{
			UID: "urn:veeam:Repository:0a1b2c3d-0000-4000-8000-000000000004", Name: "Default Backup Repository",
			BackupServerName: "vbr01.corp.local", Kind: "WindowsLocal",
			Capacity: Known[int64](500 << 30), // no FreeSpace element: unknown
		},
	})
}

func TestRepositorySizeKnown(t *testing.T) {
	objectStorage := Repository{Kind: "AmazonS3Compatible"}
	full := Repository{Capacity: Known[int64](100), FreeSpace: Known[int64](0)}
	if objectStorage.SizeKnown() || !full.SizeKnown() {
		t.Errorf("SizeKnown: object storage %v, full %v; want false and true", objectStorage.SizeKnown(), full.SizeKnown())
	}
	if free, ok := full.FreeSpace.Get(); !ok || free != 0 {
		t.Errorf("full repository's free space %d, %v; want a known 0", free, ok)
	}
	if got := objectStorage.Capacity.String(); got != "unknown" {
		t.Errorf("unknown capacity prints %q", got)
	}
}

func TestDecodeJobs(t *testing.T) {
	decodeGolden(t, "jobs.xml", JobType, decodeJob, []Job{
		{
			// The job's name is the attribute, not sql01 from JobInfo; the
			// NextRun and ScheduleEnabled inside JobScheduleOptions and the
			// Description of an included VM are not the job's.
			UID: "urn:veeam:Job:3c6ef372-3333-4333-8333-333333333333", Name: `SQL "Tier-1", prod; nightly`,
			BackupServerName: "vbr01.corp.local", JobType: "Backup", Platform: "VMware",
			Description:        `Created by CORP\veeam-admin at 04.02.2024 10:12.`,
			ScheduleConfigured: true, ScheduleEnabled: true,
			NextRun: time.Date(2025, 6, 18, 21, 0, 0, 123456700, time.UTC),
		},
		{
			// Schedule switched off: an empty NextRun is no next run.
			UID: "urn:veeam:Job:4d7f8a93-4444-4444-8444-444444444444", Name: "Hyper-V Replica (paused)",
			BackupServerName: "vbr-zürich-02.corp.local", JobType: "Replica", Platform: "Hyperv",
			ScheduleConfigured: true,
		},
		{
			// No NextRun element at all, open enumerations kept as given.
			UID: "urn:veeam:Job:5e8a9ba4-5555-4555-8555-555555555555", Name: "Agent Backup Policy",
			BackupServerName: "vbr-zürich-02.corp.local", JobType: "BackupCopy", Platform: "CustomPlatform",
		},
		{
			// .NET's DateTime.MinValue is no next run either.
			UID: "urn:veeam:Job:6f9bacb5-6666-4666-8666-666666666666", Name: "Monthly Archive",
			BackupServerName: "vbr01.corp.local", JobType: "ImmediateBackupCopy", Platform: "vCloud",
			ScheduleConfigured: true, ScheduleEnabled: true,
		},
	})
}

func TestDecodeBackupServers(t *testing.T) {
	decodeGolden(t, "backup_servers.xml", BackupServerType, decodeBackupServer, []BackupServer{
		{
			UID: "urn:veeam:BackupServer:5e1f0c3a-1111-4111-8111-111111111111", Name: "vbr01.corp.local",
			Version: "12.3.2.4465", Port: 9392,
		},
		{
			UID: "urn:veeam:BackupServer:7a2e6d4b-2222-4222-8222-222222222222", Name: "vbr-zürich-02.corp.local",
			Description: "Veeam Software Appliance, Zürich DC", Version: "13.0.1.2067", Port: 443,
		},
	})
}

// estateEntity renders a minimal entity of an inventory type for the
// tables below; extra goes after the Links.
func estateEntity(typ, uid, name, extra string) string {
	return `<` + typ + ` Type="` + typ + `" Href="https://em:9398/api/x/` + uid + `?format=Entity" Name="` + xmlAttr(name) + `" UID="urn:veeam:` + typ + `:` + uid + `">` +
		`<Links><Link Rel="Up" Type="BackupServerReference" Href="https://em:9398/api/backupServers/b1" Name="vbr01.corp.local"/></Links>` +
		extra + `</` + typ + `>`
}

func TestDecodeEstateSkipsInvalidEntities(t *testing.T) {
	cases := []struct {
		name, typ, entity string
	}{
		{"repository without UID", RepositoryType, strings.Replace(estateEntity(RepositoryType, "x", "r", ""), `UID="urn:veeam:Repository:x"`, "", 1)},
		{"repository without Name", RepositoryType, estateEntity(RepositoryType, "x", " ", "<Kind>LinuxLocal</Kind>")},
		{"repository with a capacity in words", RepositoryType, estateEntity(RepositoryType, "x", "r", "<Capacity>1 TB</Capacity>")},
		{"repository with a fractional free space", RepositoryType, estateEntity(RepositoryType, "x", "r", "<FreeSpace>12.5</FreeSpace>")},
		{"repository with a negative word", RepositoryType, estateEntity(RepositoryType, "x", "r", "<FreeSpace>-many</FreeSpace>")},
		{"job with an unparseable NextRun", JobType, estateEntity(JobType, "x", "j", "<NextRun>tomorrow</NextRun>")},
		{"job with an unparseable ScheduleEnabled", JobType, estateEntity(JobType, "x", "j", "<ScheduleEnabled>maybe</ScheduleEnabled>")},
		{"job without UID", JobType, strings.Replace(estateEntity(JobType, "x", "j", ""), `UID="urn:veeam:Job:x"`, `UID=""`, 1)},
		{"backup server with a named port", BackupServerType, estateEntity(BackupServerType, "x", "s", "<Port>https</Port>")},
		{"backup server with a port out of range", BackupServerType, estateEntity(BackupServerType, "x", "s", "<Port>70000</Port>")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := wrapBackupQueryResult(tc.typ+"s", estateEntity(tc.typ, "before", "a", "")+tc.entity+estateEntity(tc.typ, "after", "b", ""))
			var items, invalid int
			var err error
			switch tc.typ {
			case RepositoryType:
				var p entityPage[Repository]
				p, err = decodePage(strings.NewReader(doc), tc.typ, decodeRepository, 0)
				items, invalid = len(p.items), p.invalid
			case JobType:
				var p entityPage[Job]
				p, err = decodePage(strings.NewReader(doc), tc.typ, decodeJob, 0)
				items, invalid = len(p.items), p.invalid
			case BackupServerType:
				var p entityPage[BackupServer]
				p, err = decodePage(strings.NewReader(doc), tc.typ, decodeBackupServer, 0)
				items, invalid = len(p.items), p.invalid
			}
			if err != nil || items != 2 || invalid != 1 {
				t.Errorf("%d items, %d invalid, err %v; want 2, 1 and none", items, invalid, err)
			}
		})
	}
}

// A page of one type decoded as another holds none of its entities, and
// the session decoders take nothing from an inventory page.
func TestDecodeEstateWrongType(t *testing.T) {
	repos := readTestdata(t, "repositories.xml")
	jobs, err := decodePage(strings.NewReader(repos), JobType, decodeJob, 0)
	if err != nil || len(jobs.items)+jobs.invalid != 0 || jobs.paging.PagesCount != 1 {
		t.Errorf("repositories as jobs: %d items, %d invalid, %+v, %v; want nothing but the paging", len(jobs.items), jobs.invalid, jobs.paging, err)
	}
	tasks, err := decodeTasks(readTestdata(t, "jobs.xml"))
	if err != nil || len(tasks.items)+tasks.invalid != 0 {
		t.Errorf("jobs as task sessions: %d items, %d invalid, %v", len(tasks.items), tasks.invalid, err)
	}
	if _, err := decodePage(strings.NewReader(readTestdata(t, "overview.xml")), RepositoryType, decodeRepository, 0); err == nil ||
		!strings.Contains(err.Error(), "expected QueryResult") {
		t.Errorf("a report frame as a query page: err = %v, want the root named", err)
	}
}

func TestDecodeReports(t *testing.T) {
	t.Run("overview", func(t *testing.T) {
		got, err := decodeOverview(readTestdata(t, "overview.xml"))
		want := OverviewReport{
			BackupServers: Known[int64](2), ProxyServers: Known[int64](4), RepositoryServers: Known[int64](7),
			RunningJobs: Known[int64](3), ScheduledJobs: Known[int64](14),
			SuccessfulVMLatestStates: Known[int64](41), WarningVMLatestStates: Known[int64](5), FailedVMLatestStates: Known[int64](2),
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, %v\nwant %+v", got, err, want)
		}
	})
	t.Run("vms_overview", func(t *testing.T) {
		got, err := decodeVMsOverview(readTestdata(t, "vms_overview.xml"))
		want := VMsOverviewReport{
			ProtectedVMs: Known[int64](48), BackedUpVMs: Known[int64](46), ReplicatedVMs: Known[int64](24), RestorePoints: Known[int64](1312),
			FullBackupPointsSize: Known[int64](5 << 40), IncrementalBackupPointsSize: Known[int64](1 << 40),
			ReplicaRestorePointsSize: Known[int64](0), SourceVMsSize: Known[int64](10 << 40),
			SuccessBackupPercent: Known(93.75),
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, %v\nwant %+v", got, err, want)
		}
	})
	t.Run("job_statistics", func(t *testing.T) {
		got, err := decodeJobStatistics(readTestdata(t, "job_statistics.xml"))
		want := JobStatisticsReport{
			RunningJobs: Known[int64](1), ScheduledJobs: Known[int64](12), ScheduledBackupJobs: Known[int64](8), ScheduledReplicaJobs: Known[int64](4),
			TotalJobRuns: Known[int64](250), SuccessfulJobRuns: Known[int64](231), WarningJobRuns: Known[int64](12), FailedJobRuns: Known[int64](7),
			MaxJobDuration: Known(5421 * time.Second), MaxBackupJobDuration: Known(5421 * time.Second),
			MaxDurationBackupJobName: `SQL "Tier-1", prod; nightly`,
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, %v\nwant %+v", got, err, want)
		}
	})
}

// Missing, empty and negative values are unknown; a value that is not a
// number is unknown too, named in Invalid, and the rest of the frame is kept.
func TestDecodeReportUnknownValues(t *testing.T) {
	doc := `<JobStatisticsReportFrame xmlns="http://www.veeam.com/ent/v1.0">
 <RunningJobs/><ScheduledJobs>-1</ScheduledJobs><ScheduledBackupJobs>lots</ScheduledBackupJobs>
 <TotalJobRuns> 7 </TotalJobRuns><MaxJobDuration>01:30:00</MaxJobDuration><MaxBackupJobDuration>1.02:03:04.5</MaxBackupJobDuration>
 <MaxReplicaJobDuration>a while</MaxReplicaJobDuration><FailedJobRuns>1e3</FailedJobRuns></JobStatisticsReportFrame>`
	got, err := decodeJobStatistics(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := JobStatisticsReport{
		TotalJobRuns:         Known[int64](7),
		MaxJobDuration:       Known(90 * time.Minute),
		MaxBackupJobDuration: Known(26*time.Hour + 3*time.Minute + 4*time.Second + 500*time.Millisecond),
		Invalid:              []string{"ScheduledBackupJobs", "FailedJobRuns", "MaxReplicaJobDuration"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	percent, err := decodeVMsOverview(`<VmsOverviewReportFrame xmlns="http://www.veeam.com/ent/v1.0"><SuccessBackupPercents>NaN</SuccessBackupPercents><ProtectedVms>-1</ProtectedVms></VmsOverviewReportFrame>`)
	if err != nil || percent.SuccessBackupPercent.IsKnown() || percent.ProtectedVMs.IsKnown() || !reflect.DeepEqual(percent.Invalid, []string{"SuccessBackupPercents"}) {
		t.Errorf("got %+v, %v; want nothing known and SuccessBackupPercents invalid", percent, err)
	}
	empty, err := decodeOverview(`<OverviewReportFrame xmlns="http://www.veeam.com/ent/v1.0"/>`)
	if err != nil || !reflect.DeepEqual(empty, OverviewReport{}) {
		t.Errorf("an empty frame: %+v, %v; want every value unknown", empty, err)
	}
}

func TestDecodeReportRejectsDocument(t *testing.T) {
	overview := readTestdata(t, "overview.xml")
	cases := []struct {
		name, doc, wantErr string
	}{
		{"another frame", readTestdata(t, "vms_overview.xml"), "expected OverviewReportFrame in namespace http://www.veeam.com/ent/v1.0, got <VmsOverviewReportFrame>"},
		{"a query page", readTestdata(t, "repositories.xml"), "got <QueryResult>"},
		{"no namespace", `<OverviewReportFrame><BackupServers>1</BackupServers></OverviewReportFrame>`, "got <OverviewReportFrame>"},
		{"HTML", `<!DOCTYPE html><html><body>Sign in</body></html>`, "got <html>"},
		{"empty", "", "empty document"},
		{"JSON", `{"BackupServers": 2}`, "text before the root element"},
		{"truncated in a tag", overview[:len(overview)/2], "unexpected EOF"},
		{"truncated between elements", overview[:strings.Index(overview, "<ProxyServers>")], "document ends before </OverviewReportFrame>: unexpected EOF"},
		{"mismatched tags", `<OverviewReportFrame xmlns="http://www.veeam.com/ent/v1.0"><BackupServers>1</ProxyServers></OverviewReportFrame>`, "syntax error"},
		{"bad reference", `<OverviewReportFrame xmlns="http://www.veeam.com/ent/v1.0"><BackupServers>&bogus;</BackupServers></OverviewReportFrame>`, "invalid character entity"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeOverview(tc.doc)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"5421", 5421 * time.Second, true},
		{"12.25", 12250 * time.Millisecond, true},
		{"-1", -time.Second, true},
		{"00:00:07", 7 * time.Second, true},
		{"2.00:00:00", 48 * time.Hour, true},
		{"-00:01:00", -time.Minute, true},
		{"00:00:01.1234567", time.Second + 123456700, true},
		{"24:00:00", 0, false},
		{"1:2:3", 0, false},
		{"00:00:01.", 0, false},
		{"00:00", 0, false},
		{"x", 0, false},
		{"1e300", 0, false},
	}
	for _, tc := range cases {
		got, err := parseDuration([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// The helpers below decode a frame as the client does.

func decodeOverview(doc string) (OverviewReport, error) {
	return decodeReportDoc(doc, OverviewReportType, overviewSchema, buildOverview)
}

func decodeVMsOverview(doc string) (VMsOverviewReport, error) {
	return decodeReportDoc(doc, VMsOverviewReportType, vmsOverviewSchema, buildVMsOverview)
}

func decodeJobStatistics(doc string) (JobStatisticsReport, error) {
	return decodeReportDoc(doc, JobStatisticsReportType, jobStatisticsSchema, buildJobStatistics)
}

func decodeReportDoc[R any](doc, root string, schema *entitySchema, build func(*frameFields) R) (R, error) {
	e, err := decodeFrame(strings.NewReader(doc), root, schema)
	if err != nil {
		var zero R
		return zero, err
	}
	return build(&frameFields{e: e}), nil
}

// FuzzDecodeReport checks that no frame makes the decoder panic, and that
// a known count is never negative: EM's -1 must come out unknown.
func FuzzDecodeReport(f *testing.F) {
	for _, file := range []string{"overview.xml", "vms_overview.xml", "job_statistics.xml"} {
		f.Add(readTestdata(f, file))
	}
	f.Add(`<JobStatisticsReportFrame xmlns="http://www.veeam.com/ent/v1.0"><MaxJobDuration>1.02:03:04.5</MaxJobDuration><RunningJobs>-1</RunningJobs></JobStatisticsReportFrame>`)
	f.Fuzz(func(t *testing.T, doc string) {
		if r, err := decodeOverview(doc); err == nil {
			for _, v := range []Optional[int64]{r.BackupServers, r.ProxyServers, r.RepositoryServers, r.RunningJobs, r.ScheduledJobs,
				r.SuccessfulVMLatestStates, r.WarningVMLatestStates, r.FailedVMLatestStates} {
				if n, ok := v.Get(); ok && n < 0 {
					t.Errorf("a known negative count %d", n)
				}
			}
		}
		if r, err := decodeJobStatistics(doc); err == nil {
			for _, v := range []Optional[time.Duration]{r.MaxJobDuration, r.MaxBackupJobDuration, r.MaxReplicaJobDuration} {
				if d, ok := v.Get(); ok && d < 0 {
					t.Errorf("a known negative duration %v", d)
				}
			}
		}
		if r, err := decodeVMsOverview(doc); err == nil {
			if p, ok := r.SuccessBackupPercent.Get(); ok && (p < 0 || math.IsNaN(p)) {
				t.Errorf("a known percentage %v", p)
			}
		}
	})
}
