package veeam

import (
	"bytes"
	"encoding/xml"
	"runtime"
	"testing"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// scalePage is a full page of 1,000 entities of the scale preset.
func scalePage(b *testing.B, typ string) []byte {
	b.Helper()
	pages := simulatorPages(b, emsim.ScaleTopology(), typ, 1000, 1)
	if len(pages) != 1 {
		b.Fatalf("%s: no page", typ)
	}
	return pages[0]
}

// benchmarkDecode runs decode on page b.N times and reports throughput,
// time and allocations per entity.
func benchmarkDecode(b *testing.B, page []byte, entities int, decode func([]byte) error) {
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		if err := decode(page); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	perEntity := float64(b.N * entities)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/perEntity, "ns/session")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/perEntity, "allocs/session")
}

func BenchmarkDecodeTaskPage(b *testing.B) {
	page := scalePage(b, "ReplicaTaskSession")
	p, err := decodePage(bytes.NewReader(page), "ReplicaTaskSession", decodeReplicaTaskSession, 0)
	if err != nil || len(p.items) != 1000 {
		b.Fatalf("%d sessions, %v", len(p.items), err)
	}
	benchmarkDecode(b, page, len(p.items), func(page []byte) error {
		_, err := decodePage(bytes.NewReader(page), "ReplicaTaskSession", decodeReplicaTaskSession, 0)
		return err
	})
}

// xmlTaskQueryResult mirrors a page of task sessions in plain structs, the
// encoding/xml baseline.
type xmlTaskQueryResult struct {
	Sessions   []xmlReplicaTaskSession `xml:"Entities>ReplicaTaskSessions>ReplicaTaskSession"`
	PagingInfo struct {
		PageNum    int `xml:"PageNum,attr"`
		PageSize   int `xml:"PageSize,attr"`
		PagesCount int `xml:"PagesCount,attr"`
	}
}

func BenchmarkDecodeTaskPageEncodingXML(b *testing.B) {
	page := scalePage(b, "ReplicaTaskSession")
	var probe xmlTaskQueryResult
	if err := xml.NewDecoder(bytes.NewReader(page)).Decode(&probe); err != nil || len(probe.Sessions) != 1000 {
		b.Fatalf("%d sessions, %v", len(probe.Sessions), err)
	}
	benchmarkDecode(b, page, len(probe.Sessions), func(page []byte) error {
		var x xmlTaskQueryResult
		return xml.NewDecoder(bytes.NewReader(page)).Decode(&x)
	})
}

func BenchmarkDecodeJobPage(b *testing.B) {
	page := scalePage(b, "ReplicaJobSession")
	p, err := decodePage(bytes.NewReader(page), "ReplicaJobSession", decodeReplicaJobSession, 0)
	if err != nil || len(p.items) == 0 {
		b.Fatalf("%d sessions, %v", len(p.items), err)
	}
	benchmarkDecode(b, page, len(p.items), func(page []byte) error {
		_, err := decodePage(bytes.NewReader(page), "ReplicaJobSession", decodeReplicaJobSession, 0)
		return err
	})
}

// BenchmarkDecodeBackupTaskPage decodes backup task sessions through the
// path replica task sessions take, plus VmUid.
func BenchmarkDecodeBackupTaskPage(b *testing.B) {
	page := scalePage(b, "BackupTaskSession")
	p, err := decodePage(bytes.NewReader(page), "BackupTaskSession", decodeBackupTaskSession, 0)
	if err != nil || len(p.items) != 1000 {
		b.Fatalf("%d sessions, %v", len(p.items), err)
	}
	benchmarkDecode(b, page, len(p.items), func(page []byte) error {
		_, err := decodePage(bytes.NewReader(page), "BackupTaskSession", decodeBackupTaskSession, 0)
		return err
	})
}
