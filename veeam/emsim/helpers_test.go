package emsim

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	testUser     = "restuser@corp.local"
	testPassword = "sim-Pa55-word"
)

// testStart is a fixed, realistic moment: evening, some jobs mid-run.
var testStart = time.Date(2025, 6, 17, 20, 30, 0, 0, time.UTC)

type harness struct {
	t     *testing.T
	sim   *Running
	clock *ManualClock
	http  *http.Client
}

func newHarness(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	clock := NewManualClock(testStart)
	cfg := Config{Seed: 42, Username: testUser, Password: testPassword, Clock: clock, Topology: TestTopology()}
	if mutate != nil {
		mutate(&cfg)
	}
	sim, err := Start(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return &harness{t: t, sim: sim, clock: clock, http: &http.Client{Timeout: 10 * time.Second}}
}

type response struct {
	status int
	header http.Header
	body   string
}

// do sends one request; token goes in the X-RestSvcSessionId header when
// set. pathAndQuery is sent verbatim, so tests control the raw query.
func (h *harness) do(ctx context.Context, method, pathAndQuery, token string, edit func(*http.Request)) (response, error) {
	req, err := http.NewRequestWithContext(ctx, method, h.sim.URL+pathAndQuery, nil)
	if err != nil {
		return response{}, err
	}
	if token != "" {
		req.Header.Set(sessionHeader, token)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}, err
}

func (h *harness) mustDo(method, pathAndQuery, token string, edit func(*http.Request)) response {
	h.t.Helper()
	resp, err := h.do(context.Background(), method, pathAndQuery, token, edit)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, pathAndQuery, err)
	}
	return resp
}

func (h *harness) logon() string {
	h.t.Helper()
	resp := h.mustDo(http.MethodPost, "/api/sessionMngr/?v=latest", "", func(r *http.Request) { r.SetBasicAuth(testUser, testPassword) })
	if resp.status != http.StatusCreated {
		h.t.Fatalf("logon: %d %s", resp.status, resp.body)
	}
	return resp.header.Get(sessionHeader)
}

// query runs GET /api/query with the raw query and decodes a 200 answer.
func (h *harness) query(token, rawQuery string) queryDoc {
	h.t.Helper()
	return queryAs[queryDoc](h, token, rawQuery)
}

// queryAs runs GET /api/query with the raw query and decodes a 200 answer
// into a T.
func queryAs[T any](h *harness, token, rawQuery string) T {
	h.t.Helper()
	resp := h.mustDo(http.MethodGet, "/api/query?"+rawQuery, token, nil)
	if resp.status != http.StatusOK {
		h.t.Fatalf("query %s: %d %s", rawQuery, resp.status, resp.body)
	}
	var doc T
	if err := xml.Unmarshal([]byte(resp.body), &doc); err != nil {
		h.t.Fatalf("decode %s: %v\n%s", rawQuery, err, resp.body)
	}
	return doc
}

func decodeQuery(t *testing.T, body string) queryDoc {
	t.Helper()
	var doc queryDoc
	if err := xml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("decode QueryResult: %v\n%s", err, body)
	}
	return doc
}

func decodeError(t *testing.T, body string) errorDoc {
	t.Helper()
	var doc errorDoc
	if err := xml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("decode Error: %v\n%s", err, body)
	}
	return doc
}

// The documents as a client would decode them, independent of the
// simulator's own types.

type queryDoc struct {
	XMLName xml.Name  `xml:"http://www.veeam.com/ent/v1.0 QueryResult"`
	Tasks   []taskDoc `xml:"Entities>ReplicaTaskSessions>ReplicaTaskSession"`
	Jobs    []jobDoc  `xml:"Entities>ReplicaJobSessions>ReplicaJobSession"`
	// BackupTasks and BackupJobs hold the answers to the backup types.
	BackupTasks []backupTaskDoc `xml:"Entities>BackupTaskSessions>BackupTaskSession"`
	BackupJobs  []jobDoc        `xml:"Entities>BackupJobSessions>BackupJobSession"`
	Refs        []refDoc        `xml:"Refs>Ref"`
	Paging      struct {
		PageNum    int       `xml:",attr"`
		PageSize   int       `xml:",attr"`
		PagesCount int       `xml:",attr"`
		Links      []linkDoc `xml:"Links>Link"`
	} `xml:"PagingInfo"`
}

type linkDoc struct {
	Rel  string `xml:",attr"`
	Type string `xml:",attr"`
	Href string `xml:",attr"`
	Name string `xml:",attr"`
}

type taskDoc struct {
	Type            string    `xml:",attr"`
	Href            string    `xml:",attr"`
	Name            string    `xml:",attr"`
	UID             string    `xml:",attr"`
	VmDisplayName   string    `xml:",attr"`
	Links           []linkDoc `xml:"Links>Link"`
	JobSessionUid   string
	CreationTimeUTC string
	EndTimeUTC      *string
	State           string
	Result          string
	Reason          string
	TotalSize       string
}

// backupTaskDoc is a BackupTaskSession: a replica task's fields and VmUid.
type backupTaskDoc struct {
	taskDoc
	VmUid string
}

type jobDoc struct {
	Type            string    `xml:",attr"`
	Href            string    `xml:",attr"`
	Name            string    `xml:",attr"`
	UID             string    `xml:",attr"`
	Links           []linkDoc `xml:"Links>Link"`
	JobUid          string
	JobName         string
	JobType         string
	CreationTimeUTC string
	EndTimeUTC      *string
	State           string
	Result          string
	Progress        string
	IsRetry         string
}

type refDoc struct {
	Type  string    `xml:",attr"`
	Href  string    `xml:",attr"`
	Name  string    `xml:",attr"`
	UID   string    `xml:",attr"`
	Links []linkDoc `xml:"Links>Link"`
}

type errorDoc struct {
	XMLName    xml.Name `xml:"http://www.veeam.com/ent/v1.0 Error"`
	Message    string   `xml:",attr"`
	StatusCode int      `xml:",attr"`
	Status     string   `xml:",attr"`
}

func (l linkDoc) is(rel, typ string) bool { return l.Rel == rel && l.Type == typ }

func findLink(links []linkDoc, rel, typ string) (linkDoc, bool) {
	for _, l := range links {
		if l.is(rel, typ) {
			return l, true
		}
	}
	return linkDoc{}, false
}

func trimmed(s string) string { return strings.TrimSpace(s) }

// countWhere counts the items keep keeps.
func countWhere[T any](items []T, keep func(T) bool) int {
	n := 0
	for _, item := range items {
		if keep(item) {
			n++
		}
	}
	return n
}
