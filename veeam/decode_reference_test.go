package veeam

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// This file keeps the encoding/xml decoder the scanner replaced, as the
// reference the scanner must agree with.

// entityDecoder decodes the entity that start opens. ok is false when the
// entity lacks something the exporter relies on; err means the document
// itself is broken.
type refEntityDecoder[T any] func(d *xml.Decoder, start *xml.StartElement) (item T, ok bool, err error)

// referenceDecodePage streams a QueryResult document, decoding each element named
// entity with decode. Only the entity being decoded is held in memory.
func referenceDecodePage[T any](r io.Reader, entity string, decode refEntityDecoder[T]) (entityPage[T], error) {
	var p entityPage[T]
	d := xml.NewDecoder(r)
	root, err := refRootElement(d)
	if err != nil {
		return p, err
	}
	if root.Name.Space != namespace || root.Name.Local != "QueryResult" {
		return p, fmt.Errorf("expected QueryResult in namespace %s, got %s", namespace, refDescribe(root.Name))
	}
	for depth := 1; depth > 0; {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("document ends before </QueryResult>: %w", io.ErrUnexpectedEOF)
			}
			return p, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case entity:
				item, ok, err := decode(d, &t)
				if err != nil {
					return p, fmt.Errorf("entity %d: %w", len(p.items)+p.invalid+1, err)
				}
				if ok {
					p.items = append(p.items, item)
				} else {
					p.invalid++
				}
				continue // DecodeElement consumed the end tag
			case "PagingInfo":
				if p.paging, err = refParsePagingInfo(t.Attr); err != nil {
					return p, err
				}
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return p, nil
}

// refRootElement skips the prolog (declaration, comments, DOCTYPE, white space)
// and returns the document's first element.
func refRootElement(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return xml.StartElement{}, errors.New("empty document, expected a QueryResult")
		}
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(strings.TrimSpace(string(t))) > 0 {
				return xml.StartElement{}, errors.New("text before the root element, expected a QueryResult document")
			}
		}
	}
}

func refDescribe(name xml.Name) string {
	if name.Space == "" {
		return "<" + name.Local + ">"
	}
	return fmt.Sprintf("<%s> in namespace %s", name.Local, name.Space)
}

func refParsePagingInfo(attrs []xml.Attr) (pagingInfo, error) {
	var p pagingInfo
	for _, a := range attrs {
		var field *int
		switch a.Name.Local {
		case "PageNum":
			field = &p.PageNum
		case "PageSize":
			field = &p.PageSize
		case "PagesCount":
			field = &p.PagesCount
		default:
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(a.Value))
		if err != nil || n < 0 {
			return p, fmt.Errorf("PagingInfo %s=%q is not a count", a.Name.Local, a.Value)
		}
		*field = n
	}
	return p, nil
}

// upLinkName returns the Name of the Rel="Up" link to a resource of type typ,
// which is how an entity names its parents.
func upLinkName(links []xmlLink, typ string) string {
	for _, l := range links {
		if strings.TrimSpace(l.Rel) == "Up" && strings.TrimSpace(l.Type) == typ {
			return strings.TrimSpace(l.Name)
		}
	}
	return ""
}

type xmlReplicaTaskSession struct {
	UID           string    `xml:"UID,attr"`
	Name          string    `xml:"Name,attr"`
	VMDisplayName string    `xml:"VmDisplayName,attr"`
	Links         []xmlLink `xml:"Links>Link"`
	JobSessionUID string    `xml:"JobSessionUid"`
	CreationTime  string    `xml:"CreationTimeUTC"`
	EndTime       string    `xml:"EndTimeUTC"`
	State         string    `xml:"State"`
	Result        string    `xml:"Result"`
	Reason        string    `xml:"Reason"`
	TotalSize     string    `xml:"TotalSize"`
}

func refDecodeReplicaTaskSession(d *xml.Decoder, start *xml.StartElement) (ReplicaTaskSession, bool, error) {
	var x xmlReplicaTaskSession
	if err := d.DecodeElement(&x, start); err != nil {
		return ReplicaTaskSession{}, false, err
	}
	s, ok := x.session("ReplicaJobSessionReference")
	return s, ok, nil
}

// xmlBackupTaskSession is a replica task session plus VmUid.
type xmlBackupTaskSession struct {
	xmlReplicaTaskSession
	VMUID string `xml:"VmUid"`
}

func refDecodeBackupTaskSession(d *xml.Decoder, start *xml.StartElement) (BackupTaskSession, bool, error) {
	var x xmlBackupTaskSession
	if err := d.DecodeElement(&x, start); err != nil {
		return BackupTaskSession{}, false, err
	}
	s, ok := x.session("BackupJobSessionReference")
	return BackupTaskSession{ReplicaTaskSession: s, VMUID: strings.TrimSpace(x.VMUID)}, ok, nil
}

// session maps the XML to a ReplicaTaskSession whose job session link has
// type jobSessionRef; ok is false when a required field is missing or a
// present field cannot be parsed.
func (x *xmlReplicaTaskSession) session(jobSessionRef string) (s ReplicaTaskSession, ok bool) {
	s = ReplicaTaskSession{
		UID:              strings.TrimSpace(x.UID),
		Name:             strings.TrimSpace(x.Name),
		VMDisplayName:    strings.TrimSpace(x.VMDisplayName),
		BackupServerName: upLinkName(x.Links, "BackupServerReference"),
		JobSessionUID:    strings.TrimSpace(x.JobSessionUID),
		JobSessionName:   upLinkName(x.Links, jobSessionRef),
		Reason:           strings.TrimSpace(x.Reason),
	}
	var fields fieldParser
	s.CreationTime = fields.timestamp(x.CreationTime, true)
	s.EndTime = fields.timestamp(x.EndTime, false)
	s.State = fields.taskState(x.State)
	s.Result = fields.result(x.Result)
	s.TotalSize = fields.number(x.TotalSize)
	return s, s.UID != "" && fields.ok()
}

type xmlReplicaJobSession struct {
	UID          string    `xml:"UID,attr"`
	Name         string    `xml:"Name,attr"`
	Links        []xmlLink `xml:"Links>Link"`
	JobUID       string    `xml:"JobUid"`
	JobName      string    `xml:"JobName"`
	JobType      string    `xml:"JobType"`
	CreationTime string    `xml:"CreationTimeUTC"`
	EndTime      string    `xml:"EndTimeUTC"`
	State        string    `xml:"State"`
	Result       string    `xml:"Result"`
	Progress     string    `xml:"Progress"`
	IsRetry      string    `xml:"IsRetry"`
}

func refDecodeReplicaJobSession(d *xml.Decoder, start *xml.StartElement) (ReplicaJobSession, bool, error) {
	var x xmlReplicaJobSession
	if err := d.DecodeElement(&x, start); err != nil {
		return ReplicaJobSession{}, false, err
	}
	s, ok := x.session()
	return s, ok, nil
}

func refDecodeBackupJobSession(d *xml.Decoder, start *xml.StartElement) (BackupJobSession, bool, error) {
	s, ok, err := refDecodeReplicaJobSession(d, start)
	return BackupJobSession{ReplicaJobSession: s}, ok, err
}

// session maps the XML to a ReplicaJobSession; ok is false when a required
// field is missing or a present field cannot be parsed.
func (x *xmlReplicaJobSession) session() (s ReplicaJobSession, ok bool) {
	s = ReplicaJobSession{
		UID:              strings.TrimSpace(x.UID),
		Name:             strings.TrimSpace(x.Name),
		JobUID:           strings.TrimSpace(x.JobUID),
		JobName:          strings.TrimSpace(x.JobName),
		JobType:          strings.TrimSpace(x.JobType),
		BackupServerName: upLinkName(x.Links, "BackupServerReference"),
	}
	if s.JobName == "" {
		s.JobName = upLinkName(x.Links, "JobReference")
	}
	var fields fieldParser
	s.CreationTime = fields.timestamp(x.CreationTime, true)
	s.EndTime = fields.timestamp(x.EndTime, false)
	s.State = fields.jobState(x.State)
	s.Result = fields.result(x.Result)
	s.Progress = int(fields.number(x.Progress))
	s.IsRetry = fields.flag(x.IsRetry)
	return s, s.UID != "" && fields.ok()
}
