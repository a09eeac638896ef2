package veeam

import (
	"encoding/xml"
	"strings"
	"time"
)

// The encoding/xml decoders of the inventory entities, the reference the
// scanner's must agree with. encoding/xml maps only direct children to the
// fields, so the Name elements deep in a Job are not the job's.

type xmlRepository struct {
	UID       string    `xml:"UID,attr"`
	Name      string    `xml:"Name,attr"`
	Links     []xmlLink `xml:"Links>Link"`
	Capacity  string    `xml:"Capacity"`
	FreeSpace string    `xml:"FreeSpace"`
	Kind      string    `xml:"Kind"`
}

func refDecodeRepository(d *xml.Decoder, start *xml.StartElement) (Repository, bool, error) {
	var x xmlRepository
	if err := d.DecodeElement(&x, start); err != nil {
		return Repository{}, false, err
	}
	r := Repository{
		UID:              strings.TrimSpace(x.UID),
		Name:             strings.TrimSpace(x.Name),
		BackupServerName: upLinkName(x.Links, "BackupServerReference"),
		Kind:             strings.TrimSpace(x.Kind),
	}
	var fields fieldParser
	r.Capacity = refSize(&fields, x.Capacity)
	r.FreeSpace = refSize(&fields, x.FreeSpace)
	return r, r.UID != "" && r.Name != "" && fields.ok(), nil
}

// refSize reads a size as the documentation says: -1, or any negative
// number, is unknown, as is a missing value.
func refSize(f *fieldParser, s string) Optional[int64] {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, "-") && strings.Trim(s[1:], "0123456789") == "" {
		return Optional[int64]{}
	}
	n := f.number(s)
	if !f.ok() {
		return Optional[int64]{}
	}
	return Known(n)
}

type xmlJob struct {
	UID                string    `xml:"UID,attr"`
	Name               string    `xml:"Name,attr"`
	Links              []xmlLink `xml:"Links>Link"`
	JobType            string    `xml:"JobType"`
	Platform           string    `xml:"Platform"`
	Description        string    `xml:"Description"`
	ScheduleConfigured string    `xml:"ScheduleConfigured"`
	ScheduleEnabled    string    `xml:"ScheduleEnabled"`
	NextRun            string    `xml:"NextRun"`
}

func refDecodeJob(d *xml.Decoder, start *xml.StartElement) (Job, bool, error) {
	var x xmlJob
	if err := d.DecodeElement(&x, start); err != nil {
		return Job{}, false, err
	}
	j := Job{
		UID:              strings.TrimSpace(x.UID),
		Name:             strings.TrimSpace(x.Name),
		BackupServerName: upLinkName(x.Links, "BackupServerReference"),
		JobType:          strings.TrimSpace(x.JobType),
		Platform:         strings.TrimSpace(x.Platform),
		Description:      strings.TrimSpace(x.Description),
	}
	var fields fieldParser
	j.ScheduleConfigured = fields.flag(x.ScheduleConfigured)
	j.ScheduleEnabled = fields.flag(x.ScheduleEnabled)
	if next := fields.timestamp(x.NextRun, false); next.After(time.Date(1, 12, 31, 23, 59, 59, 999999999, time.UTC)) {
		j.NextRun = next
	}
	return j, j.UID != "" && j.Name != "" && fields.ok(), nil
}

type xmlBackupServer struct {
	UID         string `xml:"UID,attr"`
	Name        string `xml:"Name,attr"`
	Description string `xml:"Description"`
	Port        string `xml:"Port"`
	Version     string `xml:"Version"`
}

func refDecodeBackupServer(d *xml.Decoder, start *xml.StartElement) (BackupServer, bool, error) {
	var x xmlBackupServer
	if err := d.DecodeElement(&x, start); err != nil {
		return BackupServer{}, false, err
	}
	s := BackupServer{
		UID:         strings.TrimSpace(x.UID),
		Name:        strings.TrimSpace(x.Name),
		Description: strings.TrimSpace(x.Description),
		Version:     strings.TrimSpace(x.Version),
	}
	var fields fieldParser
	port := fields.number(x.Port)
	s.Port = int(port)
	return s, s.UID != "" && s.Name != "" && fields.ok() && port >= 0 && port <= 65535, nil
}
