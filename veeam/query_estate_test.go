package veeam

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// estateQuery runs one inventory query to the end and returns the UIDs it
// handed over, in order.
type estateQuery struct {
	typ string
	run func(ctx context.Context, c *Client) ([]string, QueryStats, error)
}

func collectUIDs[T any](query func(context.Context, func(Page[T]) error) (QueryStats, error), uid func(*T) string) func(context.Context, *Client) ([]string, QueryStats, error) {
	return func(ctx context.Context, _ *Client) ([]string, QueryStats, error) {
		var uids []string
		stats, err := query(ctx, func(p Page[T]) error {
			for i := range p.Items {
				uids = append(uids, uid(&p.Items[i]))
			}
			return nil
		})
		return uids, stats, err
	}
}

func estateQueries() []estateQuery {
	return []estateQuery{
		{RepositoryType, func(ctx context.Context, c *Client) ([]string, QueryStats, error) {
			return collectUIDs(c.Repositories, func(r *Repository) string { return r.UID })(ctx, c)
		}},
		{JobType, func(ctx context.Context, c *Client) ([]string, QueryStats, error) {
			return collectUIDs(c.Jobs, func(j *Job) string { return j.UID })(ctx, c)
		}},
		{BackupServerType, func(ctx context.Context, c *Client) ([]string, QueryStats, error) {
			return collectUIDs(c.BackupServers, func(s *BackupServer) string { return s.UID })(ctx, c)
		}},
	}
}

// estatePage renders a QueryResult page of typ with an entity per UID; a
// UID starting with "bad" gets a value its decoder rejects.
func estatePage(typ string, page, pagesCount int, uids ...string) string {
	var b strings.Builder
	for _, uid := range uids {
		extra := ""
		if strings.HasPrefix(uid, "bad") {
			extra = map[string]string{RepositoryType: "<Capacity>big</Capacity>", JobType: "<NextRun>soon</NextRun>", BackupServerType: "<Port>x</Port>"}[typ]
		}
		b.WriteString(estateEntity(typ, uid, "name of "+uid, extra))
	}
	return strings.Replace(wrapBackupQueryResult(typ+"s", b.String()),
		`<PagingInfo PageNum="1" PageSize="100" PagesCount="3"/>`,
		fmt.Sprintf(`<PagingInfo PageNum="%d" PageSize="2" PagesCount="%d"/>`, page, pagesCount), 1)
}

// The inventory queries page like the session ones: every announced page
// is read, an entity a page repeats from the one before is handed over
// once, an invalid one is counted and skipped, and each request is
// counted under the query's type.
func TestEstateQueriesFollowPaging(t *testing.T) {
	for _, q := range estateQueries() {
		t.Run(q.typ, func(t *testing.T) {
			f := newFakeEM(t, false)
			f.query = func(w http.ResponseWriter, r *http.Request) {
				switch pageParam(t, r) {
				case 1:
					writeXML(w, estatePage(q.typ, 1, 3, "a", "b"))
				case 2:
					// c arrived while the client paged: b moved here.
					writeXML(w, estatePage(q.typ, 2, 3, "b", "bad1"))
				case 3:
					writeXML(w, estatePage(q.typ, 3, 3, "d"))
				default:
					writeXML(w, estatePage(q.typ, pageParam(t, r), 3))
				}
			}
			c := newTestClient(t, f, func(cfg *Config) { cfg.PageSize = 2 })
			t.Cleanup(c.Close)
			uids, stats, err := q.run(testContext(t), c)
			if err != nil {
				t.Fatal(err)
			}
			prefix := "urn:veeam:" + q.typ + ":"
			want := []string{prefix + "a", prefix + "b", prefix + "d"}
			if !slices.Equal(uids, want) || stats.Pages != 3 || stats.Invalid != 1 || stats.Entities != 3 || stats.Truncated {
				t.Errorf("UIDs %v, stats %+v; want %v over 3 pages with 1 invalid", uids, stats, want)
			}
			for _, raw := range f.rawQueries() {
				if !strings.HasPrefix(raw, "type="+q.typ+"&format=Entities&sortAsc=UID&pageSize=2&page=") || strings.Contains(raw, "filter") {
					t.Errorf("query %s, want type=%s, entities by UID, 2 a page, no filter", raw, q.typ)
				}
			}
			requests := c.Stats().RequestsByOutcome
			if requests[RequestKey{q.typ, OutcomeSuccess}] != 3 || c.Stats().AnswerBytes[q.typ] == 0 {
				t.Errorf("requests %v, bytes %v; want 3 successful %s requests and their bytes", requests, c.Stats().AnswerBytes, q.typ)
			}
		})
	}
}

// Failures of the inventory queries are the typed errors of the session
// queries, naming their type; an expired logon is renewed once.
func TestEstateQueryErrors(t *testing.T) {
	failures := []struct {
		name  string
		reply func(w http.ResponseWriter, calls int32)
		check func(t *testing.T, typ string, err error)
	}{
		{
			name:  "server error",
			reply: func(w http.ResponseWriter, _ int32) { writeEMError(w, http.StatusInternalServerError, "Query failed") },
			check: func(t *testing.T, typ string, err error) {
				var apiErr *APIError
				if !errors.As(err, &apiErr) || apiErr.Op != "query "+typ+" page 1" || apiErr.Message != "Query failed" {
					t.Errorf("err = %v, want an *APIError naming query %s page 1", err, typ)
				}
			},
		},
		{
			name:  "forbidden",
			reply: func(w http.ResponseWriter, _ int32) { writeEMError(w, http.StatusForbidden, "Access denied") },
			check: func(t *testing.T, typ string, err error) {
				var permErr *PermissionError
				if !errors.As(err, &permErr) || permErr.Op != "query "+typ+" page 1" {
					t.Errorf("err = %v, want a *PermissionError", err)
				}
			},
		},
		{
			name: "truncated page",
			reply: func(w http.ResponseWriter, _ int32) {
				writeXML(w, `<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><Entities>`)
			},
			check: func(t *testing.T, typ string, err error) {
				var decErr *DecodeError
				if !errors.As(err, &decErr) || decErr.Type != typ || decErr.Page != 1 {
					t.Errorf("err = %v, want a *DecodeError for %s page 1", err, typ)
				}
			},
		},
		{
			name: "expired logon",
			reply: func(w http.ResponseWriter, calls int32) {
				if calls == 1 {
					writeEMError(w, http.StatusUnauthorized, "The session is not valid")
					return
				}
				writeXML(w, estatePage("x", 1, 1))
			},
			check: func(t *testing.T, _ string, err error) {
				if err != nil {
					t.Errorf("err = %v, want the query to succeed after a second logon", err)
				}
			},
		},
	}
	for _, q := range estateQueries() {
		for _, failure := range failures {
			t.Run(q.typ+" "+failure.name, func(t *testing.T) {
				f := newFakeEM(t, false)
				var calls atomic.Int32
				f.query = func(w http.ResponseWriter, r *http.Request) {
					if got := r.URL.Query().Get("type"); got != q.typ {
						t.Errorf("query type %q, want %q", got, q.typ)
					}
					failure.reply(w, calls.Add(1))
				}
				c := newTestClient(t, f, nil)
				t.Cleanup(c.Close)
				_, _, err := q.run(testContext(t), c)
				failure.check(t, q.typ, err)
			})
		}
	}
}

// serveReports answers each summary frame with its testdata file.
func serveReports(t *testing.T, f *fakeEM) {
	frames := map[string]string{
		"/api/reports/summary/overview":       readTestdata(t, "overview.xml"),
		"/api/reports/summary/vms_overview":   readTestdata(t, "vms_overview.xml"),
		"/api/reports/summary/job_statistics": readTestdata(t, "job_statistics.xml"),
	}
	f.report = func(w http.ResponseWriter, r *http.Request) {
		doc, ok := frames[r.URL.Path]
		if !ok {
			writeEMError(w, http.StatusNotFound, "no report "+r.URL.Path)
			return
		}
		writeXML(w, doc)
	}
}

func TestReports(t *testing.T) {
	f := newFakeEM(t, false)
	serveReports(t, f)
	c := newTestClient(t, f, nil)
	t.Cleanup(c.Close)
	ctx := testContext(t)
	overview, err := c.OverviewReport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vms, err := c.VMsOverviewReport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stats, err := c.JobStatisticsReport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantOverview, _ := decodeOverview(readTestdata(t, "overview.xml"))
	wantVMs, _ := decodeVMsOverview(readTestdata(t, "vms_overview.xml"))
	wantStats, _ := decodeJobStatistics(readTestdata(t, "job_statistics.xml"))
	if !reflect.DeepEqual(overview, wantOverview) || !reflect.DeepEqual(vms, wantVMs) || !reflect.DeepEqual(stats, wantStats) {
		t.Errorf("reports differ from their decoded testdata:\n%+v\n%+v\n%+v", overview, vms, stats)
	}
	if got, _ := overview.FailedVMLatestStates.Get(); got != 2 {
		t.Errorf("FailedVMLatestStates = %d, want 2 from FailedVmLastestStates", got)
	}
	want := map[RequestKey]uint64{
		{LogonRequest, OutcomeSuccess}:            1,
		{OverviewReportType, OutcomeSuccess}:      1,
		{VMsOverviewReportType, OutcomeSuccess}:   1,
		{JobStatisticsReportType, OutcomeSuccess}: 1,
	}
	if got := c.Stats().RequestsByOutcome; !maps.Equal(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
	for _, typ := range []string{OverviewReportType, VMsOverviewReportType, JobStatisticsReportType} {
		if c.Stats().AnswerBytes[typ] == 0 {
			t.Errorf("no answer bytes counted for %s", typ)
		}
	}
}

func TestReportErrors(t *testing.T) {
	cases := []struct {
		name   string
		reply  func(w http.ResponseWriter, calls int32)
		config func(*Config)
		check  func(t *testing.T, c *Client, err error)
	}{
		{
			name:  "forbidden",
			reply: func(w http.ResponseWriter, _ int32) { writeEMError(w, http.StatusForbidden, "Access denied") },
			check: func(t *testing.T, _ *Client, err error) {
				var permErr *PermissionError
				if !errors.As(err, &permErr) || permErr.Op != "report OverviewReportFrame" {
					t.Errorf("err = %v, want a *PermissionError naming the report", err)
				}
			},
		},
		{
			name: "HTML from a proxy",
			reply: func(w http.ResponseWriter, _ int32) {
				w.Header().Set("Content-Type", "text/html")
				_, _ = w.Write([]byte("<html><body>Sign in</body></html>"))
			},
			check: func(t *testing.T, c *Client, err error) {
				var decErr *DecodeError
				if !errors.As(err, &decErr) || decErr.Type != OverviewReportType || decErr.Page != 0 ||
					!strings.HasPrefix(err.Error(), "decode OverviewReportFrame: expected an XML OverviewReportFrame, got an HTML page") {
					t.Errorf("err = %v, want a *DecodeError naming the frame", err)
				}
				if n := c.Stats().RequestsByOutcome[RequestKey{OverviewReportType, OutcomeInvalid}]; n != 1 {
					t.Errorf("%d invalid answers counted, want 1", n)
				}
			},
		},
		{
			name:   "too large",
			reply:  func(w http.ResponseWriter, _ int32) { writeXML(w, strings.Repeat(" ", 2048)+"<OverviewReportFrame/>") },
			config: func(cfg *Config) { cfg.MaxBodyBytes = 1024 },
			check: func(t *testing.T, _ *Client, err error) {
				var tooLarge *BodyTooLargeError
				if !errors.As(err, &tooLarge) {
					t.Errorf("err = %v, want a *BodyTooLargeError", err)
				}
			},
		},
		{
			name: "expired logon",
			reply: func(w http.ResponseWriter, calls int32) {
				if calls == 1 {
					writeEMError(w, http.StatusUnauthorized, "The session is not valid")
					return
				}
				writeXML(w, `<OverviewReportFrame xmlns="http://www.veeam.com/ent/v1.0"><BackupServers>3</BackupServers></OverviewReportFrame>`)
			},
			check: func(t *testing.T, c *Client, err error) {
				if err != nil || c.Stats().Logons != 2 {
					t.Errorf("err = %v after %d logons, want success after the second", err, c.Stats().Logons)
				}
			},
		},
		{
			name: "unavailable with Retry-After",
			reply: func(w http.ResponseWriter, _ int32) {
				w.Header().Set("Retry-After", "120")
				writeEMError(w, http.StatusServiceUnavailable, "maintenance")
			},
			check: func(t *testing.T, c *Client, err error) {
				var apiErr *APIError
				if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable {
					t.Fatalf("err = %v, want EM's 503", err)
				}
				_, err = c.JobStatisticsReport(testContext(t))
				var held *RetryAfterError
				if !errors.As(err, &held) {
					t.Errorf("second report: err = %v, want a *RetryAfterError without a request", err)
				}
				if n := c.Stats().RequestsByOutcome[RequestKey{JobStatisticsReportType, OutcomeSuccess}]; n != 0 {
					t.Errorf("the held report was sent")
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEM(t, false)
			var calls atomic.Int32
			f.report = func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/reports/summary/overview" && calls.Load() == 0 {
					t.Errorf("path %s, want the overview's", r.URL.Path)
				}
				tc.reply(w, calls.Add(1))
			}
			c := newTestClient(t, f, func(cfg *Config) {
				cfg.Now = func() time.Time { return time.Date(2025, 6, 18, 12, 0, 0, 0, time.UTC) }
				if tc.config != nil {
					tc.config(cfg)
				}
			})
			t.Cleanup(c.Close)
			_, err := c.OverviewReport(testContext(t))
			tc.check(t, c, err)
		})
	}
}
