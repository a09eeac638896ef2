package veeam

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// simulatorPages returns the raw pages of a query type's history, oldest
// first, as the simulator serves them, each of pageSize entities; at most
// limit pages when limit > 0.
func simulatorPages(tb testing.TB, topology emsim.Topology, typ string, pageSize, limit int) [][]byte {
	tb.Helper()
	sim, err := emsim.New(emsim.Config{
		Seed:     7,
		Username: "restuser@corp.local",
		Password: "decode-test",
		Clock:    emsim.NewManualClock(time.Date(2025, 6, 18, 12, 0, 0, 0, time.UTC)),
		Topology: topology,
	})
	if err != nil {
		tb.Fatal(err)
	}
	logon := httptest.NewRequest(http.MethodPost, "/api/sessionMngr/?v=latest", nil)
	logon.SetBasicAuth("restuser@corp.local", "decode-test")
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, logon)
	token := rec.Header().Get(sessionHeader)
	if rec.Code != http.StatusCreated || token == "" {
		tb.Fatalf("logon: %d %s", rec.Code, rec.Body)
	}
	var pages [][]byte
	for page := 1; ; page++ {
		order := "CreationTime"
		if slices.Contains(estateTypes[:], typ) {
			order = "UID"
		}
		req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/api/query?type=%s&format=Entities&sortAsc=%s&pageSize=%d&page=%d", typ, order, pageSize, page), nil)
		req.Header.Set(sessionHeader, token)
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			tb.Fatalf("%s page %d: %d %s", typ, page, rec.Code, rec.Body)
		}
		body := rec.Body.Bytes()
		if !bytes.Contains(body, []byte("<"+typ+" ")) {
			return pages
		}
		pages = append(pages, body)
		if len(pages) == limit {
			return pages
		}
		if len(pages) > 1000 {
			tb.Fatalf("%s: paging does not end", typ)
		}
	}
}

// compareDecoders decodes doc with the scanner and with encoding/xml and
// reports any difference in items, invalid count, paging or success. When
// lenient, the scanner may accept a document encoding/xml rejects: it does
// not check well-formedness in what it skips (names, UTF-8, references in
// unread text).
func compareDecoders[T any](t *testing.T, doc []byte, typ string, fast entityDecoder[T], ref refEntityDecoder[T], lenient bool) {
	t.Helper()
	got, gotErr := decodePage(bytes.NewReader(doc), typ, fast, 0)
	want, wantErr := referenceDecodePage(bytes.NewReader(doc), typ, ref)
	if (gotErr == nil) != (wantErr == nil) && !(lenient && wantErr != nil) {
		t.Fatalf("scanner err = %v, encoding/xml err = %v", gotErr, wantErr)
	}
	if gotErr != nil || wantErr != nil {
		return
	}
	if got.invalid != want.invalid || got.paging != want.paging || len(got.items) != len(want.items) {
		t.Fatalf("scanner: %d items, %d invalid, %+v; encoding/xml: %d items, %d invalid, %+v",
			len(got.items), got.invalid, got.paging, len(want.items), want.invalid, want.paging)
	}
	for i := range got.items {
		if !reflect.DeepEqual(got.items[i], want.items[i]) {
			t.Fatalf("item %d:\nscanner      %+v\nencoding/xml %+v", i, got.items[i], want.items[i])
		}
	}
}

// queryTypes are the session query types the client decodes, estateTypes
// the inventory ones.
var (
	queryTypes  = [...]string{"ReplicaTaskSession", "ReplicaJobSession", "BackupTaskSession", "BackupJobSession"}
	estateTypes = [...]string{RepositoryType, JobType, BackupServerType}
)

// compareQueryType is compareDecoders with the two decoders of typ.
func compareQueryType(t *testing.T, doc []byte, typ string, lenient bool) {
	t.Helper()
	switch typ {
	case "ReplicaTaskSession":
		compareDecoders(t, doc, typ, decodeReplicaTaskSession, refDecodeReplicaTaskSession, lenient)
	case "ReplicaJobSession":
		compareDecoders(t, doc, typ, decodeReplicaJobSession, refDecodeReplicaJobSession, lenient)
	case "BackupTaskSession":
		compareDecoders(t, doc, typ, decodeBackupTaskSession, refDecodeBackupTaskSession, lenient)
	case "BackupJobSession":
		compareDecoders(t, doc, typ, decodeBackupJobSession, refDecodeBackupJobSession, lenient)
	case RepositoryType:
		compareDecoders(t, doc, typ, decodeRepository, refDecodeRepository, lenient)
	case JobType:
		compareDecoders(t, doc, typ, decodeJob, refDecodeJob, lenient)
	case BackupServerType:
		compareDecoders(t, doc, typ, decodeBackupServer, refDecodeBackupServer, lenient)
	case VmReplicaPointType:
		compareDecoders(t, doc, typ, decodeVmReplicaPoint, refDecodeVmReplicaPoint, lenient)
	case CdpPolicyType:
		compareDecoders(t, doc, typ, decodeCdpPolicy, refDecodeCdpPolicy, lenient)
	case CdpReplicaSessionType:
		compareDecoders(t, doc, typ, decodeCdpReplicaSession, refDecodeCdpReplicaSession, lenient)
	case CdpReplicaTaskSessionType:
		compareDecoders(t, doc, typ, decodeCdpReplicaTaskSession, refDecodeCdpReplicaTaskSession, lenient)
	default:
		t.Fatalf("no decoders for query type %s", typ)
	}
}

func TestDecoderMatchesEncodingXMLOnSimulatorPages(t *testing.T) {
	for _, typ := range queryTypes {
		pages := simulatorPages(t, emsim.TestTopology(), typ, 25, 0)
		if len(pages) < 2 {
			t.Fatalf("%s: %d pages, want several", typ, len(pages))
		}
		var hardNames, padded bool
		for i, page := range pages {
			hardNames = hardNames || bytes.Contains(page, []byte("&quot;")) || bytes.Contains(page, []byte("&amp;"))
			padded = padded || bytes.Contains(page, []byte("> "))
			t.Run(fmt.Sprintf("%s page %d", typ, i+1), func(t *testing.T) {
				compareQueryType(t, page, typ, false)
			})
		}
		if !hardNames || !padded {
			t.Errorf("%s: the pages lack escaped names (%v) or padded values (%v): the comparison proves less than it should", typ, hardNames, padded)
		}
	}
}

// TestDecoderMatchesEncodingXMLOnEdgeCases covers the XML the simulator
// never writes but EM or a proxy might.
func TestDecoderMatchesEncodingXMLOnEdgeCases(t *testing.T) {
	entity := completed("a").render()
	cases := map[string]string{
		"prefixed namespace": `<v:QueryResult xmlns:v="http://www.veeam.com/ent/v1.0"><v:Entities><v:ReplicaTaskSessions>` +
			strings.ReplaceAll(strings.ReplaceAll(entity, "<", "<v:"), "<v:/", "</v:") + `</v:ReplicaTaskSessions></v:Entities></v:QueryResult>`,
		"undeclared prefix": `<v:QueryResult><x/></v:QueryResult>`,
		"CDATA and comments": wrapQueryResult(replaceIn(t, entity, "<State>Completed</State>",
			"<State><!-- c --> Comp<![CDATA[let]]>ed<?pi x?></State>")),
		"numeric references": wrapQueryResult(replaceIn(t, entity, `UID="urn:veeam:ReplicaTaskSession:a"`,
			`UID='urn:&#118;eeam:&#x52;eplicaTaskSession:a&lt;&gt;&apos;"'`)),
		"carriage returns":   wrapQueryResult(replaceIn(t, entity, "<Reason/>", "<Reason>line\r\nnext\rlast</Reason>")),
		"repeated children":  wrapQueryResult(replaceIn(t, entity, "<State>Completed</State>", "<State>Failed</State><State>Completed</State>")),
		"nested text":        wrapQueryResult(replaceIn(t, entity, "<State>Completed</State>", "<State>Comp<b>x</b>leted</State>")),
		"self-closing":       wrapQueryResult(`<ReplicaTaskSession UID="x"/>` + entity),
		"gt in attribute":    wrapQueryResult(replaceIn(t, entity, `UID="urn:veeam:ReplicaTaskSession:a"`, `UID="a>b"`)),
		"bad reference":      wrapQueryResult(replaceIn(t, entity, `UID="urn:veeam:ReplicaTaskSession:a"`, `UID="a&bogus;"`)),
		"doctype":            `<?xml version="1.0"?><!DOCTYPE QueryResult [<!ENTITY x "y">]>` + wrapQueryResult(entity)[len(`<?xml version="1.0" encoding="utf-8"?>`):],
		"mismatched":         `<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><a></b></QueryResult>`,
		"truncated in value": wrapQueryResult(entity)[:300],
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			compareDecoders(t, []byte(doc), "ReplicaTaskSession", decodeReplicaTaskSession, refDecodeReplicaTaskSession, false)
		})
	}
}

// replaceIn replaces old in s once, failing when s lacks it.
func replaceIn(t *testing.T, s, old, replacement string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%q not in %s", old, s)
	}
	return strings.Replace(s, old, replacement, 1)
}

// FuzzDecodeAgainstReference checks that the scanner decodes whatever
// encoding/xml accepts, to the same sessions. Every input is decoded as
// replica task sessions, which covers the document as a whole, and as each
// other type whose element name it contains: without it, that type's
// decoders would see the same document and no entity.
func FuzzDecodeAgainstReference(f *testing.F) {
	for _, typ := range []string{"ReplicaTaskSession", "BackupTaskSession", "BackupJobSession"} {
		for _, page := range simulatorPages(f, emsim.TestTopology(), typ, 3, 4) {
			f.Add(page)
		}
	}
	for _, file := range []string{"repositories.xml", "jobs.xml", "backup_servers.xml",
		"vm_replica_points.xml", "cdp_policies.xml", "cdp_sessions.xml", "cdp_task_sessions.xml"} {
		f.Add([]byte(readTestdata(f, file)))
	}
	f.Add([]byte(wrapQueryResult(backupTaskSessionXML)))
	f.Add([]byte(wrapQueryResult(seedTaskSession)))
	f.Add([]byte(`<v:QueryResult xmlns:v="http://www.veeam.com/ent/v1.0"><v:ReplicaTaskSession UID="a"><![CDATA[x]]></v:ReplicaTaskSession></v:QueryResult>`))
	f.Add([]byte(`<!0"0"> <QueryResult xmlns="http://www.veeam.com/ent/v1.0"A=""></QueryResult>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, typ := range slices.Concat(queryTypes[:], estateTypes[:], pointCdpTypes[:]) {
			if typ == "ReplicaTaskSession" || bytes.Contains(doc, []byte(typ)) {
				compareQueryType(t, doc, typ, true)
			}
		}
	})
}

// TestEstateDecodersMatchEncodingXML compares the inventory decoders with
// encoding/xml on the golden pages and on awkward variants of them.
func TestEstateDecodersMatchEncodingXML(t *testing.T) {
	files := map[string]string{RepositoryType: "repositories.xml", JobType: "jobs.xml", BackupServerType: "backup_servers.xml"}
	for typ, file := range files {
		doc := readTestdata(t, file)
		variants := map[string]string{
			"as is":          doc,
			"prefixed":       strings.ReplaceAll(strings.ReplaceAll(strings.Replace(doc, `xmlns="`, `xmlns:v="`, 1), "<", "<v:"), "<v:/", "</v:"),
			"truncated":      doc[:len(doc)*2/3],
			"negative sizes": strings.ReplaceAll(strings.ReplaceAll(doc, "<Capacity>", "<Capacity>-"), "<Port>", "<Port>-"),
			"padded":         strings.ReplaceAll(doc, "</", " \n</"),
			"year one":       strings.ReplaceAll(doc, "2025-06-18", "0001-01-01"),
		}
		for name, variant := range variants {
			t.Run(typ+" "+name, func(t *testing.T) {
				compareQueryType(t, []byte(variant), typ, false)
			})
		}
	}
}

// TestTimestampFastPathMatchesParseTime checks the hand-written timestamp
// parser against time.Parse on the forms it takes and the ones it hands on.
func TestTimestampFastPathMatchesParseTime(t *testing.T) {
	for _, in := range []string{
		"2025-06-17T20:00:18Z", "2025-06-17T20:00:18", "2025-06-17T20:00:18.5", "2025-06-17T20:00:18.1234567Z",
		"2025-06-17T20:00:18.123456789Z", "2025-06-17T20:00:18.1234567891Z", "2024-02-29T23:59:59Z", "2025-02-29T00:00:00Z",
		"2025-06-31T00:00:00Z", "2025-06-17T24:00:00Z", "2025-06-17T20:60:00Z", "2025-06-17T20:00:60Z", "2025-00-17T20:00:18Z",
		"2025-06-17T20:00:18.Z", "2025-06-17T20:00:18ZZ", "2025-06-17T22:00:18+02:00", "0000-01-01T00:00:00Z", "2025-6-17T20:00:18Z",
		"2025-06-17T20:00:1xZ",
	} {
		var fast, slow fieldParser
		got := fast.timestampBytes([]byte(in), true)
		want := slow.timestamp(in, true)
		if !got.Equal(want) || got.Location() != want.Location() || fast.ok() != slow.ok() {
			t.Errorf("%q: fast %v (ok %v), time.Parse %v (ok %v)", in, got, fast.ok(), want, slow.ok())
		}
	}
}
