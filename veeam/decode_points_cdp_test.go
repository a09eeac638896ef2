package veeam

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDecodeVmReplicaPoints(t *testing.T) {
	want := []VmReplicaPoint{
		{
			// Seven fractional digits; values padded with white space.
			UID: "urn:veeam:VmReplicaPoint:9a1b2c3d-0000-4000-8000-000000000001", Name: "apache02@2026-01-01 20:00:18",
			VMDisplayName: "apache02", VMName: "vm-1042",
			BackupServerName: "vbr01.corp.local", ReplicaName: "Replica Job 1",
			CreationTime: time.Date(2026, 1, 1, 20, 0, 18, 123456700, time.UTC),
			Algorithm:    "Increment", PointType: "Snapshot",
		},
		{
			// No VmDisplayName attribute; links in another order.
			UID: "urn:veeam:VmReplicaPoint:9a1b2c3d-0000-4000-8000-000000000002", Name: "web 02@2026-01-01 19:00:05",
			VMName:           "web 02",
			BackupServerName: "vbr-zürich-02.corp.local", ReplicaName: `Replica "Gold", DR & test`,
			CreationTime: time.Date(2026, 1, 1, 19, 0, 5, 0, time.UTC),
			Algorithm:    "Full", PointType: "Full",
		},
		{
			// No links, empty and missing optional elements, no zone.
			UID: "urn:veeam:VmReplicaPoint:9a1b2c3d-0000-4000-8000-000000000003", Name: "db01@2025-12-31 23:59:59",
			VMDisplayName: "db01",
			CreationTime:  time.Date(2025, 12, 31, 23, 59, 59, 60e6, time.UTC),
		},
	}
	decodeGolden(t, "vm_replica_points.xml", VmReplicaPointType, decodeVmReplicaPoint, want)
	for i, vm := range []string{"apache02", "web 02", "db01"} {
		if got := want[i].VM(); got != vm {
			t.Errorf("point %d: VM() = %q, want %q", i, got, vm)
		}
	}
}

func TestDecodeCdpPolicies(t *testing.T) {
	decodeGolden(t, "cdp_policies.xml", CdpPolicyType, decodeCdpPolicy, []CdpPolicy{
		{
			// The name is the attribute, not sql-cdp01 of the included
			// VM; neither that VM's Description nor the NextRun inside
			// PolicyScheduleOptions is the policy's; an empty NextRun is
			// no next run. The RPO is in seconds, inside
			// PolicyScheduleOptions.
			UID: "urn:veeam:CdpPolicy:c0000000-0000-4000-8000-000000000001", Name: `CDP Tier-0 "SQL"`,
			BackupServerName: "vbr01.corp.local", PolicyType: "CdpReplica", Platform: "VMware",
			Description:        `Created by CORP\veeam-admin at 12.11.2025 09:30.`,
			ScheduleConfigured: true, ScheduleEnabled: true,
			RPO: Known(15 * time.Second),
		},
		{
			// The RPO is in minutes, inside a further wrapper.
			UID: "urn:veeam:CdpPolicy:c0000000-0000-4000-8000-000000000002", Name: "CDP vCloud tenants",
			BackupServerName: "vbr-zürich-02.corp.local", PolicyType: "CdpReplica", Platform: "vCloud",
			ScheduleConfigured: true,
			NextRun:            time.Date(2026, 1, 2, 3, 4, 5, 123456700, time.UTC),
			RPO:                Known(5 * time.Minute),
		},
		{
			// No RPO at all: unknown. .NET's DateTime.MinValue is no next
			// run.
			UID: "urn:veeam:CdpPolicy:c0000000-0000-4000-8000-000000000003", Name: "CDP no RPO",
			BackupServerName: "vbr01.corp.local", PolicyType: "CdpReplica", Platform: "VMware",
		},
		{
			// -1 is unknown, and the policy is still valid.
			UID: "urn:veeam:CdpPolicy:c0000000-0000-4000-8000-000000000004", Name: "CDP unset RPO",
			BackupServerName: "vbr01.corp.local", PolicyType: "CdpReplica", Platform: "VMware",
		},
		{
			// An empty seconds element leaves the minutes.
			UID: "urn:veeam:CdpPolicy:c0000000-0000-4000-8000-000000000005", Name: "CDP minutes only",
			BackupServerName: "vbr01.corp.local", PolicyType: "CdpReplica", Platform: "VMware",
			RPO: Known(2 * time.Minute),
		},
	})
}

func TestDecodeCdpReplicaSessions(t *testing.T) {
	decodeGolden(t, "cdp_sessions.xml", CdpReplicaSessionType, decodeCdpReplicaSession, []CdpReplicaSession{
		{
			// Running: no EndTimeUTC, Result None.
			ReplicaJobSession: ReplicaJobSession{
				UID: "urn:veeam:CdpReplicaSession:d0000000-0000-4000-8000-000000000002", Name: `CDP Tier-0 "SQL"@2026-01-01 08:00:00`,
				JobUID: "urn:veeam:CdpPolicy:c0000000-0000-4000-8000-000000000001", JobName: `CDP Tier-0 "SQL"`, JobType: "CdpReplica",
				BackupServerName: "vbr01.corp.local",
				CreationTime:     time.Date(2026, 1, 1, 8, 0, 0, 123456700, time.UTC),
				State:            JobStateWorking, Result: ResultNone, Progress: 42,
			},
		},
		{
			// No PolicyName: the links of undocumented types, one with a
			// Type, one without, do not stand in for it.
			ReplicaJobSession: ReplicaJobSession{
				UID: "urn:veeam:CdpReplicaSession:d0000000-0000-4000-8000-000000000001", Name: "CDP vCloud tenants@2025-12-31 08:00:00",
				JobUID: "urn:veeam:CdpPolicy:c0000000-0000-4000-8000-000000000002", JobType: "CdpReplica",
				BackupServerName: "vbr-zürich-02.corp.local",
				CreationTime:     time.Date(2025, 12, 31, 8, 0, 0, 0, time.UTC),
				EndTime:          time.Date(2026, 1, 1, 7, 59, 59, 999999900, time.UTC),
				State:            JobStateStopped, Result: ResultFailed, Progress: 100, IsRetry: true,
			},
			FailureMessage: "RPO violated: 3 VMs missed their RPO of 5 minutes & more",
		},
	})
}

func TestDecodeCdpReplicaTaskSessions(t *testing.T) {
	decodeGolden(t, "cdp_task_sessions.xml", CdpReplicaTaskSessionType, decodeCdpReplicaTaskSession, []CdpReplicaTaskSession{
		{
			// Running. The link to the session has no documented type and
			// is not read.
			ReplicaTaskSession: ReplicaTaskSession{
				UID: "urn:veeam:CdpReplicaTaskSession:e0000000-0000-4000-8000-000000000002", Name: "sql-cdp01@2026-01-01 08:00:03",
				VMDisplayName: "sql-cdp01", BackupServerName: "vbr01.corp.local",
				JobSessionUID: "urn:veeam:CdpReplicaSession:d0000000-0000-4000-8000-000000000002",
				CreationTime:  time.Date(2026, 1, 1, 8, 0, 3, 100, time.UTC),
				State:         TaskStateInProgress, Result: ResultNone, TotalSize: 100 << 30,
			},
		},
		{
			ReplicaTaskSession: ReplicaTaskSession{
				UID: "urn:veeam:CdpReplicaTaskSession:e0000000-0000-4000-8000-000000000001", Name: `tenant-web, "a"@2025-12-31 08:00:04`,
				VMDisplayName: `tenant-web, "a"`, BackupServerName: "vbr-zürich-02.corp.local",
				JobSessionUID: "urn:veeam:CdpReplicaSession:d0000000-0000-4000-8000-000000000001",
				CreationTime:  time.Date(2025, 12, 31, 8, 0, 4, 500e6, time.UTC),
				EndTime:       time.Date(2026, 1, 1, 7, 59, 58, 120e6, time.UTC),
				State:         TaskStateCompleted, Result: ResultWarning, Reason: "RPO of 5 minutes exceeded 2 times", TotalSize: 40 << 30,
			},
		},
	})
}

// policyWith renders a CDP policy whose other children are extra.
func policyWith(extra string) string {
	return wrapBackupQueryResult("CdpPolicies", estateEntity(CdpPolicyType, "p", "policy", extra))
}

// The RPO is found by name at any depth, in seconds or else in minutes; a
// value that is not a positive whole number is unknown without making the
// policy invalid.
func TestDecodeCdpPolicyRPO(t *testing.T) {
	const (
		seconds = "RecoveryPointObjectiveSeconds"
		minutes = "RecoveryPointObjectiveMinutes"
	)
	el := func(name, value string) string { return "<" + name + ">" + value + "</" + name + ">" }
	options := func(inner string) string { return "<PolicyScheduleOptions>" + inner + "</PolicyScheduleOptions>" }
	cases := []struct {
		name  string
		extra string
		want  Optional[time.Duration]
	}{
		{"absent", "<Description>x</Description>", Optional[time.Duration]{}},
		{"empty options", options(""), Optional[time.Duration]{}},
		{"direct child", el(seconds, "15"), Known(15 * time.Second)},
		{"seconds in the options", options(el(seconds, " 30 ")), Known(30 * time.Second)},
		{"minutes in the options", options(el(minutes, "\n  5\n")), Known(5 * time.Minute)},
		{"minutes in a further wrapper", options("<Rpo><Objective>" + el(minutes, "10") + "</Objective></Rpo>"), Known(10 * time.Minute)},
		{"prefixed", `<v:PolicyScheduleOptions xmlns:v="http://www.veeam.com/ent/v1.0"><v:` + seconds + `>45</v:` + seconds + `></v:PolicyScheduleOptions>`, Known(45 * time.Second)},
		{"seconds before minutes", options(el(minutes, "5") + el(seconds, "20")), Known(20 * time.Second)},
		{"bad seconds leave the minutes", options(el(seconds, "-1") + el(minutes, "3")), Known(3 * time.Minute)},
		{"self-closing seconds leave the minutes", options("<" + seconds + "/>" + el(minutes, "4")), Known(4 * time.Minute)},
		{"zero", options(el(seconds, "0")), Optional[time.Duration]{}},
		{"minus one", options(el(minutes, "-1")), Optional[time.Duration]{}},
		{"not a number", options(el(seconds, "fifteen")), Optional[time.Duration]{}},
		{"fraction", options(el(seconds, "1.5")), Optional[time.Duration]{}},
		{"too large for a duration", options(el(minutes, "9223372036854775807")), Optional[time.Duration]{}},
		{"a year", options(el(seconds, "31536000")), Known(365 * 24 * time.Hour)},
		{"text around a comment", options("<" + seconds + ">1<!-- c -->2</" + seconds + ">"), Known(12 * time.Second)},
		{"CDATA", options("<" + seconds + "><![CDATA[ 7 ]]></" + seconds + ">"), Known(7 * time.Second)},
		{"not the text of nested elements", options("<" + seconds + "><Value>9</Value></" + seconds + ">"), Optional[time.Duration]{}},
		{"the first wins", el(seconds, "10") + options("<Rpo>"+el(seconds, "20")+"</Rpo>"), Known(10 * time.Second)},
		{"the first wins when nested", options("<" + seconds + ">1" + el(seconds, "2") + "1</" + seconds + ">"), Known(11 * time.Second)},
		{"an empty first wins", options("<"+seconds+"/>") + el(seconds, "20"), Optional[time.Duration]{}},
		{"inside links", `<Links><` + seconds + `>8</` + seconds + `></Links>`, Known(8 * time.Second)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := decodePage(strings.NewReader(policyWith(tc.extra)), CdpPolicyType, decodeCdpPolicy, 0)
			if err != nil || len(p.items) != 1 || p.invalid != 0 {
				t.Fatalf("%d items, %d invalid, err %v; want 1, 0 and none", len(p.items), p.invalid, err)
			}
			if got := p.items[0].RPO; got != tc.want {
				t.Errorf("RPO = %v, want %v", got, tc.want)
			}
		})
	}
}

// A descendant's element may sit inside a child's, or inside another
// descendant's, whose text goes on after it: each field keeps its own text.
func TestDecodeDescendantInsideAField(t *testing.T) {
	extra := "<Description>before <RecoveryPointObjectiveMinutes>6<RecoveryPointObjectiveSeconds>2</RecoveryPointObjectiveSeconds>0</RecoveryPointObjectiveMinutes> after</Description>" +
		"<Platform>VMware</Platform>"
	p, err := decodePage(strings.NewReader(policyWith(extra)), CdpPolicyType, decodeCdpPolicy, 0)
	if err != nil || len(p.items) != 1 {
		t.Fatalf("%d items, err %v", len(p.items), err)
	}
	got := p.items[0]
	if got.Description != "before  after" || got.Platform != "VMware" || got.RPO != Known(2*time.Second) {
		t.Errorf("Description %q, Platform %q, RPO %v; want %q, VMware and 2s", got.Description, got.Platform, got.RPO, "before  after")
	}
	repeated := "<Description>" + strings.Repeat("a<RecoveryPointObjectiveSeconds>1</RecoveryPointObjectiveSeconds>", 10000) + "</Description>"
	p, err = decodePage(strings.NewReader(policyWith(repeated)), CdpPolicyType, decodeCdpPolicy, 0)
	if err != nil || len(p.items) != 1 || p.items[0].Description != strings.Repeat("a", 10000) || p.items[0].RPO != Known(time.Second) {
		t.Errorf("a description split by repeated seconds: %v; want 10000 a's and the first RPO", err)
	}
	minutesOnly := strings.ReplaceAll(extra, "<RecoveryPointObjectiveSeconds>2</RecoveryPointObjectiveSeconds>", "<x/>")
	p, err = decodePage(strings.NewReader(policyWith(minutesOnly)), CdpPolicyType, decodeCdpPolicy, 0)
	if err != nil || len(p.items) != 1 || p.items[0].RPO != Known(60*time.Minute) {
		t.Errorf("minutes split by an element: %+v, %v; want an RPO of 60m", p.items, err)
	}
}

// pointCdpTypes are the query types of restore points, replicas and CDP.
var pointCdpTypes = [...]string{VmReplicaPointType, CdpPolicyType, CdpReplicaSessionType, CdpReplicaTaskSessionType}

// decodePointCdpPage decodes doc as a page of typ and counts what it holds.
func decodePointCdpPage(t *testing.T, typ, doc string) (items, invalid int, err error) {
	t.Helper()
	count := func(n, bad int, e error) { items, invalid, err = n, bad, e }
	switch typ {
	case VmReplicaPointType:
		p, e := decodePage(strings.NewReader(doc), typ, decodeVmReplicaPoint, 0)
		count(len(p.items), p.invalid, e)
	case CdpPolicyType:
		p, e := decodePage(strings.NewReader(doc), typ, decodeCdpPolicy, 0)
		count(len(p.items), p.invalid, e)
	case CdpReplicaSessionType:
		p, e := decodePage(strings.NewReader(doc), typ, decodeCdpReplicaSession, 0)
		count(len(p.items), p.invalid, e)
	case CdpReplicaTaskSessionType:
		p, e := decodePage(strings.NewReader(doc), typ, decodeCdpReplicaTaskSession, 0)
		count(len(p.items), p.invalid, e)
	default:
		t.Fatalf("no decoder for %s", typ)
	}
	return items, invalid, err
}

// validPointCdpChildren are children that make a minimal entity of each
// type valid.
var validPointCdpChildren = map[string]string{
	VmReplicaPointType:        "<CreationTimeUTC>2026-01-01T00:00:00Z</CreationTimeUTC>",
	CdpPolicyType:             "",
	CdpReplicaSessionType:     "<CreationTimeUTC>2026-01-01T00:00:00Z</CreationTimeUTC><State>Working</State><Result>None</Result>",
	CdpReplicaTaskSessionType: "<CreationTimeUTC>2026-01-01T00:00:00Z</CreationTimeUTC><State>InProgress</State><Result>None</Result>",
}

// pointCdpEntity renders a valid entity of typ, but for the change edit
// makes to its children.
func pointCdpEntity(typ, uid string, edit func(children string) string) string {
	return estateEntity(typ, uid, "name of "+uid, edit(validPointCdpChildren[typ]))
}

func TestDecodePointsCdpSkipsInvalidEntities(t *testing.T) {
	const created = "<CreationTimeUTC>2026-01-01T00:00:00Z</CreationTimeUTC>"
	replace := func(old, replacement string) func(string) string {
		return func(s string) string { return strings.Replace(s, old, replacement, 1) }
	}
	add := func(extra string) func(string) string { return func(s string) string { return s + extra } }
	withoutUID := func(typ string) string {
		return strings.Replace(pointCdpEntity(typ, "x", add("")), `UID="urn:veeam:`+typ+`:x"`, "", 1)
	}
	cases := []struct {
		name, typ, entity string
	}{
		{"point without UID", VmReplicaPointType, withoutUID(VmReplicaPointType)},
		{"point without CreationTimeUTC", VmReplicaPointType, pointCdpEntity(VmReplicaPointType, "x", replace(created, ""))},
		{"point with an empty CreationTimeUTC", VmReplicaPointType, pointCdpEntity(VmReplicaPointType, "x", replace(created, "<CreationTimeUTC> </CreationTimeUTC>"))},
		{"point with a CreationTimeUTC in words", VmReplicaPointType, pointCdpEntity(VmReplicaPointType, "x", replace("2026-01-01T00:00:00Z", "yesterday"))},
		{"policy without Name", CdpPolicyType, estateEntity(CdpPolicyType, "x", "", "")},
		{"policy with an unparseable NextRun", CdpPolicyType, pointCdpEntity(CdpPolicyType, "x", add("<NextRun>soon</NextRun>"))},
		{"policy with an unparseable ScheduleEnabled", CdpPolicyType, pointCdpEntity(CdpPolicyType, "x", add("<ScheduleEnabled>maybe</ScheduleEnabled>"))},
		{"session without UID", CdpReplicaSessionType, withoutUID(CdpReplicaSessionType)},
		{"session without CreationTimeUTC", CdpReplicaSessionType, pointCdpEntity(CdpReplicaSessionType, "x", replace(created, ""))},
		{"session with a task's state", CdpReplicaSessionType, pointCdpEntity(CdpReplicaSessionType, "x", replace("Working", "InProgress"))},
		{"session without Result", CdpReplicaSessionType, pointCdpEntity(CdpReplicaSessionType, "x", replace("<Result>None</Result>", ""))},
		{"session with a fractional Progress", CdpReplicaSessionType, pointCdpEntity(CdpReplicaSessionType, "x", add("<Progress>42.5</Progress>"))},
		{"session with an unparseable EndTimeUTC", CdpReplicaSessionType, pointCdpEntity(CdpReplicaSessionType, "x", add("<EndTimeUTC>later</EndTimeUTC>"))},
		{"task without UID", CdpReplicaTaskSessionType, withoutUID(CdpReplicaTaskSessionType)},
		{"task with a job's state", CdpReplicaTaskSessionType, pointCdpEntity(CdpReplicaTaskSessionType, "x", replace("InProgress", "Working"))},
		{"task with an unknown Result", CdpReplicaTaskSessionType, pointCdpEntity(CdpReplicaTaskSessionType, "x", replace("None", "Partial"))},
		{"task with a TotalSize in words", CdpReplicaTaskSessionType, pointCdpEntity(CdpReplicaTaskSessionType, "x", add("<TotalSize>1 GB</TotalSize>"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := wrapBackupQueryResult(tc.typ+"s", pointCdpEntity(tc.typ, "before", add(""))+tc.entity+pointCdpEntity(tc.typ, "after", add("")))
			items, invalid, err := decodePointCdpPage(t, tc.typ, doc)
			if err != nil || items != 2 || invalid != 1 {
				t.Errorf("%d items, %d invalid, err %v; want 2, 1 and none", items, invalid, err)
			}
		})
	}
}

// A page of one type decoded as another holds none of its entities.
func TestDecodePointsCdpWrongType(t *testing.T) {
	files := map[string]string{
		VmReplicaPointType: "vm_replica_points.xml", CdpPolicyType: "cdp_policies.xml",
		CdpReplicaSessionType: "cdp_sessions.xml", CdpReplicaTaskSessionType: "cdp_task_sessions.xml",
	}
	for _, typ := range pointCdpTypes {
		for other, file := range files {
			if other == typ {
				continue
			}
			items, invalid, err := decodePointCdpPage(t, typ, readTestdata(t, file))
			if err != nil || items+invalid != 0 {
				t.Errorf("%s as %s: %d items, %d invalid, %v; want nothing", file, typ, items, invalid, err)
			}
		}
	}
	tasks, err := decodeTasks(readTestdata(t, "cdp_task_sessions.xml"))
	if err != nil || len(tasks.items)+tasks.invalid != 0 {
		t.Errorf("CDP task sessions as replica task sessions: %d items, %d invalid, %v", len(tasks.items), tasks.invalid, err)
	}
}

// TestPointCdpDecodersMatchEncodingXML compares the decoders with
// encoding/xml on the golden pages and on awkward variants of them.
func TestPointCdpDecodersMatchEncodingXML(t *testing.T) {
	files := map[string]string{
		VmReplicaPointType: "vm_replica_points.xml", CdpPolicyType: "cdp_policies.xml",
		CdpReplicaSessionType: "cdp_sessions.xml", CdpReplicaTaskSessionType: "cdp_task_sessions.xml",
	}
	const seconds = "RecoveryPointObjectiveSeconds"
	for typ, file := range files {
		doc := readTestdata(t, file)
		// Without its declaration, which a prefix would break.
		body := doc[strings.Index(doc, "?>")+2:]
		variants := map[string]string{
			"as is":     doc,
			"prefixed":  strings.ReplaceAll(strings.ReplaceAll(strings.Replace(body, `xmlns="`, `xmlns:v="`, 1), "<", "<v:"), "<v:/", "</v:"),
			"truncated": doc[:len(doc)*2/3],
			"padded":    strings.ReplaceAll(doc, "</", " \n</"),
			"year one":  strings.ReplaceAll(doc, "2026-01-02", "0001-01-01"),
			"CDATA":     strings.ReplaceAll(doc, "<PolicyType>", "<PolicyType><![CDATA[ x\r\n ]]>"),
			"descendants everywhere": strings.NewReplacer(
				"<Description>", "<Description>a<"+seconds+">1<x>2</x>3</"+seconds+">b",
				"</Links>", "<"+seconds+">4</"+seconds+"></Links>",
				"<RecoveryPointObjectiveMinutes>", "<RecoveryPointObjectiveMinutes>1<"+seconds+"/>",
			).Replace(doc),
			"nested same name": strings.ReplaceAll(doc, "<"+seconds+"> 15 </"+seconds+">",
				"<"+seconds+">1<"+seconds+">2</"+seconds+">3</"+seconds+">"),
		}
		for name, variant := range variants {
			t.Run(fmt.Sprintf("%s %s", typ, name), func(t *testing.T) {
				compareQueryType(t, []byte(variant), typ, false)
			})
		}
	}
}
