package veeam

import (
	"bufio"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// seedTaskSession is the entity example of Veeam's documentation, white
// space inside attributes and elements included.
const seedTaskSession = `<ReplicaTaskSession Type =" ReplicaTaskSession " Href =" http://localhost:9399/api/repicaTaskSessions/24590151-20cd-4e57-8a2f-8b65869a1879?format=Entity " Name =" srv04@2014-10-19 06:47:21 " UID =" urn:veeam:ReplicaTaskSession:24590151-20cd-4e57-8a2f-8b65869a1879 " VmDisplayName =" srv04 ">
 <Links>
  <Link Rel =" Up " Type =" BackupServerReference " Href =" http://localhost:9399/api/backupServers/ce15a8c7-aa49-495e-b05b-ee3398c91018 " Name =" srv02.veeam.local " />
  <Link Rel =" Up " Type =" ReplicaJobSessionReference " Href =" http://localhost:9399/api/replicaSessions/0bcf5a1e-866c-4b40-8bc3-ce64753b9a6b " Name =" Fileserver02 Replication@2014-10-19 06:46:31 " />
  <Link Rel =" Alternate " Type =" ReplicaTaskSessionReference " Href =" http://localhost:9399/api/repicaTaskSessions/24590151-20cd-4e57-8a2f-8b65869a1879 " Name =" srv04@2014-10-19 06:47:21 " />
  <Link Rel =" Related " Type =" VmReplicaPoint " Href =" http://localhost:9399/api/vmReplicaPoints/623cbbec-c8ff-4cf4-96be-d433f3b775c7?format=Entity " Name =" srv04@2014-10-19 06:48:24 " />
 </Links>
 <JobSessionUid> urn:veeam:ReplicaJobSession:0bcf5a1e-866c-4b40-8bc3-ce64753b9a6b </JobSessionUid>
 <CreationTimeUTC> 2014-10-19T06:47:21Z </CreationTimeUTC>
 <EndTimeUTC> 2014-10-19T07:02:33Z </EndTimeUTC>
 <State> Completed </State>
 <Result> Success </Result>
 <Reason />
 <TotalSize> 64424509440 </TotalSize>
</ReplicaTaskSession>`

const jobSessionXML = `<ReplicaJobSession Type="ReplicaJobSession" Href="https://em:9398/api/replicaSessions/0bcf?format=Entity" Name="SQL &quot;Tier-1&quot;, prod; nightly@2025-06-17 20:00:05" UID="urn:veeam:ReplicaJobSession:0bcf">
 <Links>
  <Link Rel="Up" Type="BackupServerReference" Href="https://em:9398/api/backupServers/ce15" Name="vbr-zürich-02.corp.local"/>
  <Link Rel="Up" Type="JobReference" Href="https://em:9398/api/jobs/77aa" Name="SQL &quot;Tier-1&quot;, prod; nightly"/>
  <Link Rel="Down" Type="ReplicaTaskSessionReferenceList" Href="https://em:9398/api/replicaSessions/0bcf/taskSessions"/>
 </Links>
 <JobUid>urn:veeam:Job:77aa</JobUid>
 <JobName>SQL "Tier-1", prod; nightly</JobName>
 <JobType> Replica </JobType>
 <CreationTimeUTC>2025-06-17T20:00:05.1234567Z</CreationTimeUTC>
 <EndTimeUTC>2025-06-17T20:09:59.39912Z</EndTimeUTC>
 <State>Stopped</State>
 <Result>Warning</Result>
 <Progress>100</Progress>
 <IsRetry>true</IsRetry>
</ReplicaJobSession>`

func wrapQueryResult(entities string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<!-- EM sends no comment, but a proxy might -->
<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><Entities><ReplicaTaskSessions>` + entities + `</ReplicaTaskSessions></Entities>
<PagingInfo PageNum=" 2 " PageSize="15" PagesCount="7"><Links><Link Rel="Next" Href="https://em:9398/api/query?type=ReplicaTaskSession&amp;page=3"/></Links></PagingInfo></QueryResult>`
}

func decodeTasks(doc string) (entityPage[ReplicaTaskSession], error) {
	return decodePage(strings.NewReader(doc), "ReplicaTaskSession", decodeReplicaTaskSession, 0)
}

func TestDecodeDocumentationSample(t *testing.T) {
	p, err := decodeTasks(wrapQueryResult(seedTaskSession))
	if err != nil {
		t.Fatal(err)
	}
	want := ReplicaTaskSession{
		UID:              "urn:veeam:ReplicaTaskSession:24590151-20cd-4e57-8a2f-8b65869a1879",
		Name:             "srv04@2014-10-19 06:47:21",
		VMDisplayName:    "srv04",
		BackupServerName: "srv02.veeam.local",
		JobSessionUID:    "urn:veeam:ReplicaJobSession:0bcf5a1e-866c-4b40-8bc3-ce64753b9a6b",
		JobSessionName:   "Fileserver02 Replication@2014-10-19 06:46:31",
		CreationTime:     time.Date(2014, 10, 19, 6, 47, 21, 0, time.UTC),
		EndTime:          time.Date(2014, 10, 19, 7, 2, 33, 0, time.UTC),
		State:            TaskStateCompleted,
		Result:           ResultSuccess,
		TotalSize:        64424509440,
	}
	if len(p.items) != 1 || p.invalid != 0 {
		t.Fatalf("%d items, %d invalid; want 1 and 0", len(p.items), p.invalid)
	}
	if p.items[0] != want {
		t.Errorf("decoded\n%+v\nwant\n%+v", p.items[0], want)
	}
	if p.paging != (pagingInfo{PageNum: 2, PageSize: 15, PagesCount: 7}) {
		t.Errorf("paging = %+v", p.paging)
	}
}

func TestDecodeRunningSession(t *testing.T) {
	running := taskSession{uid: "r", state: "InProgress", result: "None", created: "2025-06-17T20:00:18.5Z"}
	p, err := decodeTasks(wrapQueryResult(running.render()))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.items) != 1 {
		t.Fatalf("%d items, want 1 (%d invalid)", len(p.items), p.invalid)
	}
	s := p.items[0]
	if !s.EndTime.IsZero() || s.Result != ResultNone || s.State != TaskStateInProgress || s.Completed() {
		t.Errorf("running session decoded as %+v", s)
	}
}

func TestDecodeJobSession(t *testing.T) {
	doc := `<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><Entities><ReplicaJobSessions>` + jobSessionXML + `</ReplicaJobSessions></Entities></QueryResult>`
	p, err := decodePage(strings.NewReader(doc), "ReplicaJobSession", decodeReplicaJobSession, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := ReplicaJobSession{
		UID:              "urn:veeam:ReplicaJobSession:0bcf",
		Name:             `SQL "Tier-1", prod; nightly@2025-06-17 20:00:05`,
		JobUID:           "urn:veeam:Job:77aa",
		JobName:          `SQL "Tier-1", prod; nightly`,
		JobType:          "Replica",
		BackupServerName: "vbr-zürich-02.corp.local",
		CreationTime:     time.Date(2025, 6, 17, 20, 0, 5, 123456700, time.UTC),
		EndTime:          time.Date(2025, 6, 17, 20, 9, 59, 399120000, time.UTC),
		State:            JobStateStopped,
		Result:           ResultWarning,
		Progress:         100,
		IsRetry:          true,
	}
	if len(p.items) != 1 || p.items[0] != want {
		t.Errorf("decoded %+v (%d invalid)\nwant %+v", p.items, p.invalid, want)
	}
	if p.paging != (pagingInfo{}) {
		t.Errorf("paging without PagingInfo = %+v, want zero", p.paging)
	}

	// Without a JobName element the JobReference link names the job.
	noName := strings.Replace(doc, `<JobName>SQL "Tier-1", prod; nightly</JobName>`, "", 1)
	p, err = decodePage(strings.NewReader(noName), "ReplicaJobSession", decodeReplicaJobSession, 0)
	if err != nil || len(p.items) != 1 || p.items[0].JobName != `SQL "Tier-1", prod; nightly` {
		t.Errorf("JobName from the link: %+v, %v", p.items, err)
	}
}

func TestParseTime(t *testing.T) {
	base := time.Date(2025, 6, 17, 20, 0, 18, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2025-06-17T20:00:18Z", base, true},
		{"2025-06-17T20:00:18.0Z", base, true},
		{"2025-06-17T20:00:18.06Z", base.Add(60 * time.Millisecond), true},
		{"2025-06-17T20:00:18.993Z", base.Add(993 * time.Millisecond), true},
		{"2025-06-17T20:00:18.39912Z", base.Add(399120 * time.Microsecond), true},
		{"2025-06-17T20:00:18.123456Z", base.Add(123456 * time.Microsecond), true},
		{"2025-06-17T20:00:18.123456789Z", base.Add(123456789), true},
		{"2025-06-17T20:00:18", base, true},
		{"2025-06-17T20:00:18.5", base.Add(500 * time.Millisecond), true},
		{"2025-06-17T22:00:18+02:00", base, true},
		{"", time.Time{}, false},
		{"2025-06-17 20:00:18", time.Time{}, false},
		{"17/06/2025 20:00:18", time.Time{}, false},
		{"2025-13-17T20:00:18Z", time.Time{}, false},
	}
	for _, tc := range cases {
		got, err := parseTime(tc.in)
		if (err == nil) != tc.ok || !got.Equal(tc.want) || (tc.ok && got.Location() != time.UTC) {
			t.Errorf("parseTime(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestDecodeSkipsInvalidEntities(t *testing.T) {
	good := completed("good")
	cases := []struct {
		name   string
		entity string
	}{
		{"unknown State", taskSession{uid: "s", state: "Exploded", result: "Success", created: good.created}.render()},
		{"unknown Result", taskSession{uid: "r", state: "Completed", result: "Meh", created: good.created}.render()},
		{"empty Result", taskSession{uid: "e", state: "Completed", result: "", created: good.created}.render()},
		{"missing CreationTimeUTC", strings.Replace(completed("c").render(), "<CreationTimeUTC>2025-06-17T20:00:18.06Z</CreationTimeUTC>", "", 1)},
		{"unparseable CreationTimeUTC", taskSession{uid: "u", state: "Completed", result: "Success", created: "yesterday"}.render()},
		{"unparseable EndTimeUTC", taskSession{uid: "n", state: "Completed", result: "Success", created: good.created, ended: "soon"}.render()},
		{"missing UID", strings.Replace(completed("m").render(), `UID="urn:veeam:ReplicaTaskSession:m"`, "", 1)},
		{"blank UID", strings.Replace(completed("b").render(), `UID="urn:veeam:ReplicaTaskSession:b"`, `UID="  "`, 1)},
		{"unparseable TotalSize", strings.Replace(completed("t").render(), "<TotalSize>1024</TotalSize>", "<TotalSize>1 KB</TotalSize>", 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := decodeTasks(wrapQueryResult(good.render() + tc.entity + completed("after").render()))
			if err != nil {
				t.Fatal(err)
			}
			if p.invalid != 1 || len(p.items) != 2 {
				t.Errorf("%d items and %d invalid, want 2 and 1", len(p.items), p.invalid)
			}
		})
	}
}

func TestDecodeRejectsDocument(t *testing.T) {
	cases := []struct {
		name, doc, wantErr string
	}{
		{"HTML page", `<!DOCTYPE html><html><body>Proxy login</body></html>`, "expected QueryResult in namespace http://www.veeam.com/ent/v1.0, got <html>"},
		{"wrong root", `<EntityRef xmlns="http://www.veeam.com/ent/v1.0"/>`, "got <EntityRef> in namespace http://www.veeam.com/ent/v1.0"},
		{"wrong namespace", `<QueryResult xmlns="http://example.com/other"/>`, "got <QueryResult> in namespace http://example.com/other"},
		{"no namespace", `<QueryResult/>`, "got <QueryResult>"},
		{"empty", "  \n", "empty document"},
		{"JSON", `{"QueryResult": {}}`, "text before the root element"},
		{"truncated", wrapQueryResult(completed("a").render())[:600], "unexpected EOF"},
		{"truncated after an entity", `<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><Entities><ReplicaTaskSessions>` + completed("a").render(), "unexpected EOF"},
		{"mismatched tags", `<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><Entities></QueryResult>`, "syntax error"},
		{"bad PagingInfo", `<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><PagingInfo PagesCount="many"/></QueryResult>`, `PagesCount="many"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeTasks(tc.doc)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestBrokenPageIsDecodeErrorNamingThePage(t *testing.T) {
	cases := []struct {
		name        string
		contentType string
		page2       string
		wantErr     string
	}{
		{"truncated XML", "application/xml", queryResult(2, 1, 3, completed("b"))[:700], "unexpected EOF"},
		{"HTML with 200", "text/html; charset=utf-8", "<html><head><meta charset=utf-8></head><body>Sign in</body></html>", "HTML page"},
		{"HTML labelled as XML", "application/xml", "<html><body>Sign in</body></html>", "got <html>"},
		{"wrong root", "application/xml", `<EntityRef xmlns="http://www.veeam.com/ent/v1.0"/>`, "expected QueryResult"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEM(t, false)
			f.query = func(w http.ResponseWriter, r *http.Request) {
				if pageParam(t, r) == 1 {
					writeXML(w, queryResult(1, 1, 3, completed("a")))
					return
				}
				w.Header().Set("Content-Type", tc.contentType)
				_, _ = w.Write([]byte(tc.page2))
			}
			c := newTestClient(t, f, nil)
			res, err := replicaTasks(testContext(t), c, Window{})
			var decErr *DecodeError
			if !errors.As(err, &decErr) || decErr.Type != "ReplicaTaskSession" || decErr.Page != 2 {
				t.Fatalf("err = %v, want a *DecodeError for ReplicaTaskSession page 2", err)
			}
			if !strings.Contains(err.Error(), "decode ReplicaTaskSession page 2") || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("message %q does not name the page and %q", err, tc.wantErr)
			}
			if res.Pages != 2 {
				t.Errorf("Pages = %d, want 2", res.Pages)
			}
		})
	}
}

// FuzzDecodePage checks that no input makes the decoder panic or return an
// entity without the fields the exporter relies on.
func FuzzDecodePage(f *testing.F) {
	for _, page := range simulatorPages(f, emsim.TestTopology(), "ReplicaTaskSession", 2, 3) {
		f.Add(string(page))
	}
	f.Add(wrapQueryResult(seedTaskSession))
	f.Add(wrapQueryResult(completed("a").render() + taskSession{uid: "b", state: "InProgress", result: "None", created: "2025-06-17T20:00:18Z"}.render()))
	f.Add(`<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><PagingInfo PageNum="1" PagesCount="3"/></QueryResult>`)
	f.Add(`<html><body>x</body></html>`)
	f.Fuzz(func(t *testing.T, doc string) {
		p, err := decodeTasks(doc)
		if err != nil {
			return
		}
		for _, s := range p.items {
			if s.UID == "" || s.CreationTime.IsZero() || s.State == TaskStateUnknown {
				t.Errorf("decoded an invalid entity as valid: %+v", s)
			}
		}
	})
}

// The client hands the scanner recycled readers; a second buffer per page
// would undo the recycling.
func TestScannerReadsARecycledReaderDirectly(t *testing.T) {
	recycled := bufio.NewReaderSize(strings.NewReader("<QueryResult/>"), scanBufferSize)
	if s := newXMLScanner(recycled); s.r != recycled {
		t.Error("the scanner wrapped a reader of scanBufferSize in another buffer")
	}
}
