package veeam

import (
	"strings"
	"testing"
	"time"
)

// backupTaskSessionXML is a backup task session as EM writes it, with a
// hard job name, padded values and the VM's UID.
const backupTaskSessionXML = `<BackupTaskSession Type="BackupTaskSession" Href="https://em:9398/api/backupTaskSessions/5e1d?format=Entity" Name="fs01, &quot;legacy&quot;@2025-06-17 22:00:41" UID="urn:veeam:BackupTaskSession:5e1d" VmDisplayName="fs01, &quot;legacy&quot;">
 <Links>
  <Link Rel="Up" Type="BackupServerReference" Href="https://em:9398/api/backupServers/ce15" Name="vbr-zürich-02.corp.local"/>
  <Link Rel="Up" Type="BackupJobSessionReference" Href="https://em:9398/api/backupSessions/9a0c" Name="Réplica Genève\Dépôt &lt;B&gt; &amp; C@2025-06-17 22:00:05"/>
  <Link Rel="Alternate" Type="BackupTaskSessionReference" Href="https://em:9398/api/backupTaskSessions/5e1d" Name="fs01, &quot;legacy&quot;@2025-06-17 22:00:41"/>
 </Links>
 <JobSessionUid>urn:veeam:BackupJobSession:9a0c</JobSessionUid>
 <CreationTimeUTC>2025-06-17T22:00:41.5Z</CreationTimeUTC>
 <EndTimeUTC>2025-06-17T22:17:02.25Z</EndTimeUTC>
 <State> Completed </State>
 <Result>Failed</Result>
 <Reason>Error: Failed to create VM snapshot.</Reason>
 <TotalSize>107374182400</TotalSize>
 <VmUid> urn:VMware:Vm:7c1f.vm-1042 </VmUid>
</BackupTaskSession>`

// backupJobSessionXML is a backup copy job session as EM writes it.
const backupJobSessionXML = `<BackupJobSession Type="BackupJobSession" Href="https://em:9398/api/backupSessions/9a0d?format=Entity" Name="Backup Copy Job 1@2025-06-17 22:00:05" UID="urn:veeam:BackupJobSession:9a0d">
 <Links>
  <Link Rel="Up" Type="BackupServerReference" Href="https://em:9398/api/backupServers/ce15" Name="vbr01.corp.local"/>
  <Link Rel="Up" Type="JobReference" Href="https://em:9398/api/jobs/41bb" Name="Backup Copy Job 1"/>
  <Link Rel="Down" Type="BackupTaskSessionReferenceList" Href="https://em:9398/api/backupSessions/9a0d/taskSessions"/>
 </Links>
 <JobUid>urn:veeam:Job:41bb</JobUid>
 <JobName>Backup Copy Job 1</JobName>
 <JobType>BackupCopy</JobType>
 <CreationTimeUTC>2025-06-17T22:00:05Z</CreationTimeUTC>
 <State>Working</State>
 <Result>None</Result>
 <Progress>40</Progress>
 <IsRetry>false</IsRetry>
</BackupJobSession>`

func wrapBackupQueryResult(list, entities string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><Entities><` + list + `>` + entities + `</` + list + `></Entities>
<PagingInfo PageNum="1" PageSize="100" PagesCount="3"/></QueryResult>`
}

func TestDecodeBackupTaskSession(t *testing.T) {
	doc := wrapBackupQueryResult("BackupTaskSessions", backupTaskSessionXML)
	p, err := decodePage(strings.NewReader(doc), "BackupTaskSession", decodeBackupTaskSession, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := BackupTaskSession{
		ReplicaTaskSession: ReplicaTaskSession{
			UID:              "urn:veeam:BackupTaskSession:5e1d",
			Name:             `fs01, "legacy"@2025-06-17 22:00:41`,
			VMDisplayName:    `fs01, "legacy"`,
			BackupServerName: "vbr-zürich-02.corp.local",
			JobSessionUID:    "urn:veeam:BackupJobSession:9a0c",
			JobSessionName:   `Réplica Genève\Dépôt <B> & C@2025-06-17 22:00:05`,
			CreationTime:     time.Date(2025, 6, 17, 22, 0, 41, 500000000, time.UTC),
			EndTime:          time.Date(2025, 6, 17, 22, 17, 2, 250000000, time.UTC),
			State:            TaskStateCompleted,
			Result:           ResultFailed,
			Reason:           "Error: Failed to create VM snapshot.",
			TotalSize:        107374182400,
		},
		VMUID: "urn:VMware:Vm:7c1f.vm-1042",
	}
	if len(p.items) != 1 || p.invalid != 0 || p.items[0] != want {
		t.Fatalf("decoded %+v (%d invalid)\nwant %+v", p.items, p.invalid, want)
	}
	if !p.items[0].Completed() {
		t.Error("a completed backup task session is not Completed()")
	}
	if p.paging != (pagingInfo{PageNum: 1, PageSize: 100, PagesCount: 3}) {
		t.Errorf("paging = %+v", p.paging)
	}

	// The exporter does not rely on VmUid: without it the session is kept.
	noVMUID := strings.Replace(doc, "<VmUid> urn:VMware:Vm:7c1f.vm-1042 </VmUid>", "", 1)
	p, err = decodePage(strings.NewReader(noVMUID), "BackupTaskSession", decodeBackupTaskSession, 0)
	want.VMUID = ""
	if err != nil || len(p.items) != 1 || p.items[0] != want {
		t.Errorf("without VmUid: %+v, %v\nwant %+v", p.items, err, want)
	}
}

// The element name selects the entities: a decoder of one type skips the
// entities of the others, so a page of the wrong type yields nothing.
func TestDecodersSkipOtherEntityTypes(t *testing.T) {
	doc := wrapBackupQueryResult("Mixed", backupTaskSessionXML+backupJobSessionXML+seedTaskSession+jobSessionXML)
	for _, typ := range queryTypes {
		t.Run(typ, func(t *testing.T) {
			compareQueryType(t, []byte(doc), typ, false)
		})
	}
	if p, err := decodePage(strings.NewReader(doc), "BackupTaskSession", decodeBackupTaskSession, 0); err != nil || len(p.items) != 1 || p.items[0].UID != "urn:veeam:BackupTaskSession:5e1d" {
		t.Errorf("backup task sessions of a mixed page: %+v, %v", p.items, err)
	}
	if p, err := decodePage(strings.NewReader(doc), "BackupJobSession", decodeBackupJobSession, 0); err != nil || len(p.items) != 1 || p.items[0].UID != "urn:veeam:BackupJobSession:9a0d" {
		t.Errorf("backup job sessions of a mixed page: %+v, %v", p.items, err)
	}
	if p, err := decodeTasks(doc); err != nil || len(p.items) != 1 || p.items[0].UID != "urn:veeam:ReplicaTaskSession:24590151-20cd-4e57-8a2f-8b65869a1879" {
		t.Errorf("replica task sessions of a mixed page: %+v, %v", p.items, err)
	}
}

func TestDecodeBackupJobSessionKeepsJobType(t *testing.T) {
	running := BackupJobSession{ReplicaJobSession: ReplicaJobSession{
		UID:              "urn:veeam:BackupJobSession:9a0d",
		Name:             "Backup Copy Job 1@2025-06-17 22:00:05",
		JobUID:           "urn:veeam:Job:41bb",
		JobName:          "Backup Copy Job 1",
		BackupServerName: "vbr01.corp.local",
		CreationTime:     time.Date(2025, 6, 17, 22, 0, 5, 0, time.UTC),
		State:            JobStateWorking,
		Result:           ResultNone,
		Progress:         40,
	}}
	// EM knows more job types than the simulator runs; each is kept as
	// written, trimmed like every other value.
	for _, jobType := range []string{"Backup", "BackupCopy", " EndpointBackup ", "SureBackup", ""} {
		t.Run(jobType, func(t *testing.T) {
			entity := strings.Replace(backupJobSessionXML, "<JobType>BackupCopy</JobType>", "<JobType>"+jobType+"</JobType>", 1)
			p, err := decodePage(strings.NewReader(wrapBackupQueryResult("BackupJobSessions", entity)), "BackupJobSession", decodeBackupJobSession, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := running
			want.JobType = strings.TrimSpace(jobType)
			if len(p.items) != 1 || p.items[0] != want {
				t.Fatalf("decoded %+v (%d invalid)\nwant %+v", p.items, p.invalid, want)
			}
			if p.items[0].Completed() {
				t.Error("a working backup job session is Completed()")
			}
		})
	}
}

func TestDecodeSkipsInvalidBackupEntities(t *testing.T) {
	validTask := func(uid string) string {
		return strings.ReplaceAll(backupTaskSessionXML, "5e1d", uid)
	}
	validJob := func(uid string) string {
		return strings.ReplaceAll(backupJobSessionXML, "9a0d", uid)
	}
	cases := []struct {
		typ, name, entity string
	}{
		{"BackupTaskSession", "unknown State", strings.Replace(validTask("bad"), "<State> Completed </State>", "<State>Exploded</State>", 1)},
		{"BackupTaskSession", "unknown Result", strings.Replace(validTask("bad"), "<Result>Failed</Result>", "<Result>Meh</Result>", 1)},
		{"BackupTaskSession", "missing CreationTimeUTC", strings.Replace(validTask("bad"), "<CreationTimeUTC>2025-06-17T22:00:41.5Z</CreationTimeUTC>", "", 1)},
		{"BackupTaskSession", "unparseable EndTimeUTC", strings.Replace(validTask("bad"), "2025-06-17T22:17:02.25Z", "soon", 1)},
		{"BackupTaskSession", "blank UID", strings.Replace(validTask("bad"), `UID="urn:veeam:BackupTaskSession:bad"`, `UID=" "`, 1)},
		{"BackupTaskSession", "unparseable TotalSize", strings.Replace(validTask("bad"), "<TotalSize>107374182400</TotalSize>", "<TotalSize>100 GB</TotalSize>", 1)},
		{"BackupJobSession", "unknown State", strings.Replace(validJob("bad"), "<State>Working</State>", "<State>Dozing</State>", 1)},
		{"BackupJobSession", "unknown Result", strings.Replace(validJob("bad"), "<Result>None</Result>", "<Result>Partial</Result>", 1)},
		{"BackupJobSession", "missing CreationTimeUTC", strings.Replace(validJob("bad"), "<CreationTimeUTC>2025-06-17T22:00:05Z</CreationTimeUTC>", "", 1)},
		{"BackupJobSession", "missing UID", strings.Replace(validJob("bad"), `UID="urn:veeam:BackupJobSession:bad"`, "", 1)},
		{"BackupJobSession", "unparseable Progress", strings.Replace(validJob("bad"), "<Progress>40</Progress>", "<Progress>forty</Progress>", 1)},
		{"BackupJobSession", "unparseable IsRetry", strings.Replace(validJob("bad"), "<IsRetry>false</IsRetry>", "<IsRetry>maybe</IsRetry>", 1)},
	}
	for _, tc := range cases {
		t.Run(tc.typ+" "+tc.name, func(t *testing.T) {
			var items, invalid int
			var err error
			if tc.typ == "BackupTaskSession" {
				doc := wrapBackupQueryResult("BackupTaskSessions", validTask("before")+tc.entity+validTask("after"))
				var p entityPage[BackupTaskSession]
				p, err = decodePage(strings.NewReader(doc), tc.typ, decodeBackupTaskSession, 0)
				items, invalid = len(p.items), p.invalid
				compareQueryType(t, []byte(doc), tc.typ, false)
			} else {
				doc := wrapBackupQueryResult("BackupJobSessions", validJob("before")+tc.entity+validJob("after"))
				var p entityPage[BackupJobSession]
				p, err = decodePage(strings.NewReader(doc), tc.typ, decodeBackupJobSession, 0)
				items, invalid = len(p.items), p.invalid
				compareQueryType(t, []byte(doc), tc.typ, false)
			}
			if err != nil {
				t.Fatal(err)
			}
			if invalid != 1 || items != 2 {
				t.Errorf("%d items and %d invalid, want 2 and 1", items, invalid)
			}
		})
	}
}
