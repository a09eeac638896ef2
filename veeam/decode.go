package veeam

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// namespace is the XML namespace of every EM document.
const namespace = "http://www.veeam.com/ent/v1.0"

// pagingInfo is a QueryResult's PagingInfo; PagesCount is 0 when absent.
type pagingInfo struct {
	PageNum, PageSize, PagesCount int
}

// entityPage is one decoded page of a query.
type entityPage[T any] struct {
	items   []T
	invalid int // entities skipped for a missing or unparseable field
	paging  pagingInfo
}

// entityDecoder turns the fields of one entity into an item. ok is false
// when the entity lacks something the exporter relies on.
type entityDecoder[T any] struct {
	schema *entitySchema
	build  func(e *rawEntity, strs *interner) (item T, ok bool)
}

// decodePage streams a QueryResult document, decoding each element named
// entity with decode. Only the entity being decoded is held in memory.
// sizeHint, when not 0, is how many entities the page is expected to hold.
func decodePage[T any](r io.Reader, entity string, decode entityDecoder[T], sizeHint int) (entityPage[T], error) {
	var p entityPage[T]
	if sizeHint > 0 {
		p.items = make([]T, 0, sizeHint)
	}
	s := newXMLScanner(r)
	if _, err := expectRoot(s, "QueryResult"); err != nil {
		return p, err
	}
	if s.depth() == 0 {
		return p, nil
	}
	e := newRawEntity(decode.schema)
	strs := newInterner()
	for s.depth() > 0 {
		if _, err := s.text(); err != nil {
			return p, truncation(err, "QueryResult")
		}
		m, err := s.markup()
		if err != nil {
			return p, err
		}
		if m.kind != markupStart {
			continue
		}
		switch string(localName(m.name)) {
		case entity:
			if err := e.read(s, m); err != nil {
				return p, fmt.Errorf("entity %d: %w", len(p.items)+p.invalid+1, truncation(err, "QueryResult"))
			}
			if item, ok := decode.build(e, strs); ok {
				p.items = append(p.items, item)
			} else {
				p.invalid++
			}
		case "PagingInfo":
			if p.paging, err = parsePagingInfo(m.body); err != nil {
				return p, err
			}
		}
	}
	return p, nil
}

// truncation names a plain end of input inside the root element for what
// it is: a document cut short.
func truncation(err error, root string) error {
	if errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("document ends before </%s>: %w", root, io.ErrUnexpectedEOF)
	}
	return err
}

// expectRoot reads up to the document's root element and checks that it is
// EM's element named root; the start tag is returned for its attributes.
func expectRoot(s *xmlScanner, root string) (markup, error) {
	m, name, err := rootElement(s)
	if err != nil {
		return m, err
	}
	if name.Space != namespace || name.Local != root {
		return m, fmt.Errorf("expected %s in namespace %s, got %s", root, namespace, describe(name))
	}
	return m, nil
}

// xmlLink is a Link of an entity's Links, for documents decoded with
// encoding/xml.
type xmlLink struct {
	Rel  string `xml:"Rel,attr"`
	Type string `xml:"Type,attr"`
	Href string `xml:"Href,attr"`
	Name string `xml:"Name,attr"`
}

// xmlName is an element name with its prefix resolved.
type xmlName struct{ Space, Local string }

// rootElement skips the prolog (declaration, comments, DOCTYPE, white space)
// and returns the document's first element, its start tag and its name with
// the namespace resolved from its own declarations as encoding/xml would.
func rootElement(s *xmlScanner) (markup, xmlName, error) {
	for {
		text, err := s.text()
		if len(bytes.TrimSpace(text)) > 0 {
			return markup{}, xmlName{}, errors.New("text before the root element, expected an XML document")
		}
		if errors.Is(err, io.EOF) {
			return markup{}, xmlName{}, errors.New("empty document, expected an XML document")
		}
		if err != nil {
			return markup{}, xmlName{}, err
		}
		m, err := s.markup()
		if err != nil {
			return markup{}, xmlName{}, err
		}
		switch m.kind {
		case markupCDATA:
			if len(bytes.TrimSpace(m.body)) > 0 {
				return markup{}, xmlName{}, errors.New("text before the root element, expected an XML document")
			}
		case markupStart:
			name, err := resolveRoot(m)
			return m, name, err
		case markupEnd:
			return markup{}, xmlName{}, syntaxError("unexpected end element </%s>", m.name)
		}
	}
}

func resolveRoot(m markup) (xmlName, error) {
	name := xmlName{Local: string(localName(m.name)), Space: string(prefix(m.name))}
	want := "xmlns"
	if name.Space != "" {
		want = "xmlns:" + name.Space
	}
	if name.Space == "xml" {
		name.Space = "http://www.w3.org/XML/1998/namespace"
	}
	var declared []byte
	found := false
	var unescapeErr error
	err := attributes(m.body, func(attr, raw []byte) {
		if string(attr) == want {
			declared, unescapeErr = appendUnescaped(declared[:0], raw)
			found = true
		}
	})
	if err == nil {
		err = unescapeErr
	}
	if err != nil {
		return xmlName{}, err
	}
	if found {
		name.Space = string(declared)
	}
	return name, nil
}

func describe(name xmlName) string {
	if name.Space == "" {
		return "<" + name.Local + ">"
	}
	return fmt.Sprintf("<%s> in namespace %s", name.Local, name.Space)
}

func parsePagingInfo(tag []byte) (pagingInfo, error) {
	var p pagingInfo
	var bad error
	err := attributes(tag, func(name, raw []byte) {
		var field *int
		switch string(localName(name)) {
		case "PageNum":
			field = &p.PageNum
		case "PageSize":
			field = &p.PageSize
		case "PagesCount":
			field = &p.PagesCount
		default:
			return
		}
		value, err := appendUnescaped(nil, raw)
		if err != nil {
			bad = err
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(value)))
		if err != nil || n < 0 {
			bad = fmt.Errorf("PagingInfo %s=%q is not a count", localName(name), value)
			return
		}
		*field = n
	})
	if err != nil {
		return p, err
	}
	return p, bad
}

// The fields of a task session the exporter reads, in schema order.
const (
	taskUID = iota
	taskName
	taskVMDisplayName
	taskBackupServer
	taskJobSession
	taskJobSessionUID
	taskCreationTime
	taskEndTime
	taskState
	taskResult
	taskReason
	taskTotalSize
	taskVMUID // backup task sessions only
)

// Replica and backup task sessions differ only in the type of the link to
// their job session and in VmUid, which backup task sessions add after the
// shared children, so the shared fields keep their numbers in both.
var (
	replicaTaskSchema = &entitySchema{
		attrs:    []string{"UID", "Name", "VmDisplayName"},
		upLinks:  []string{"BackupServerReference", "ReplicaJobSessionReference"},
		children: []string{"JobSessionUid", "CreationTimeUTC", "EndTimeUTC", "State", "Result", "Reason", "TotalSize"},
	}
	backupTaskSchema = &entitySchema{
		attrs:    []string{"UID", "Name", "VmDisplayName"},
		upLinks:  []string{"BackupServerReference", "BackupJobSessionReference"},
		children: []string{"JobSessionUid", "CreationTimeUTC", "EndTimeUTC", "State", "Result", "Reason", "TotalSize", "VmUid"},
	}
)

var (
	decodeReplicaTaskSession = entityDecoder[ReplicaTaskSession]{schema: replicaTaskSchema, build: buildTaskSession}
	decodeBackupTaskSession  = entityDecoder[BackupTaskSession]{schema: backupTaskSchema, build: buildBackupTaskSession}
)

// buildTaskSession maps the fields shared by replica and backup task
// sessions; ok is false when a required field is missing or a present field
// cannot be parsed. The session's own names share one allocation; the names
// it shares with other sessions are interned.
func buildTaskSession(e *rawEntity, strs *interner) (s ReplicaTaskSession, ok bool) {
	own := e.ownStrings(taskUID, taskName, taskVMDisplayName)
	s = ReplicaTaskSession{
		UID:              own[0],
		Name:             own[1],
		VMDisplayName:    own[2],
		BackupServerName: strs.get(e.trimmed(taskBackupServer)),
		JobSessionUID:    strs.get(e.trimmed(taskJobSessionUID)),
		JobSessionName:   strs.get(e.trimmed(taskJobSession)),
		Reason:           strs.get(e.trimmed(taskReason)),
	}
	var fields fieldParser
	s.CreationTime = fields.timestampBytes(e.trimmed(taskCreationTime), true)
	s.EndTime = fields.timestampBytes(e.trimmed(taskEndTime), false)
	s.State = fields.taskState(strs.get(e.trimmed(taskState)))
	s.Result = fields.result(strs.get(e.trimmed(taskResult)))
	s.TotalSize = fields.numberBytes(e.trimmed(taskTotalSize))
	return s, s.UID != "" && fields.ok()
}

// buildBackupTaskSession is buildTaskSession plus VmUid, which is optional:
// the exporter does not rely on it.
func buildBackupTaskSession(e *rawEntity, strs *interner) (BackupTaskSession, bool) {
	s, ok := buildTaskSession(e, strs)
	return BackupTaskSession{ReplicaTaskSession: s, VMUID: string(e.trimmed(taskVMUID))}, ok
}

// The fields of a job session the exporter reads, in schema order.
const (
	jobUID = iota
	jobName
	jobBackupServer
	jobJobReference
	jobJobUID
	jobJobName
	jobJobType
	jobCreationTime
	jobEndTime
	jobState
	jobResult
	jobProgress
	jobIsRetry
)

// jobSchema serves replica and backup job sessions alike: EM gives them
// the same fields and links.
var jobSchema = &entitySchema{
	attrs:    []string{"UID", "Name"},
	upLinks:  []string{"BackupServerReference", "JobReference"},
	children: []string{"JobUid", "JobName", "JobType", "CreationTimeUTC", "EndTimeUTC", "State", "Result", "Progress", "IsRetry"},
}

var (
	decodeReplicaJobSession = entityDecoder[ReplicaJobSession]{schema: jobSchema, build: buildJobSession}
	decodeBackupJobSession  = entityDecoder[BackupJobSession]{schema: jobSchema, build: buildBackupJobSession}
)

// buildJobSession maps the fields of a replica or backup job session; ok
// is false when a required field is missing or a present field cannot be
// parsed.
func buildJobSession(e *rawEntity, strs *interner) (s ReplicaJobSession, ok bool) {
	own := e.ownStrings(jobUID, jobName, -1)
	s = ReplicaJobSession{
		UID:              own[0],
		Name:             own[1],
		JobUID:           strs.get(e.trimmed(jobJobUID)),
		JobName:          strs.get(e.trimmed(jobJobName)),
		JobType:          strs.get(e.trimmed(jobJobType)),
		BackupServerName: strs.get(e.trimmed(jobBackupServer)),
	}
	if s.JobName == "" {
		s.JobName = strs.get(e.trimmed(jobJobReference))
	}
	var fields fieldParser
	s.CreationTime = fields.timestampBytes(e.trimmed(jobCreationTime), true)
	s.EndTime = fields.timestampBytes(e.trimmed(jobEndTime), false)
	s.State = fields.jobState(strs.get(e.trimmed(jobState)))
	s.Result = fields.result(strs.get(e.trimmed(jobResult)))
	s.Progress = int(fields.numberBytes(e.trimmed(jobProgress)))
	s.IsRetry = fields.flag(string(e.trimmed(jobIsRetry)))
	return s, s.UID != "" && fields.ok()
}

// buildBackupJobSession is buildJobSession under the backup type.
func buildBackupJobSession(e *rawEntity, strs *interner) (BackupJobSession, bool) {
	s, ok := buildJobSession(e, strs)
	return BackupJobSession{ReplicaJobSession: s}, ok
}

// fieldParser parses an entity's text fields, trimmed of white space, and
// remembers whether any of them was missing when required or unparseable.
type fieldParser struct {
	bad bool
}

func (f *fieldParser) ok() bool { return !f.bad }

func (f *fieldParser) timestamp(s string, required bool) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		f.bad = f.bad || required
		return time.Time{}
	}
	t, err := parseTime(s)
	if err != nil {
		f.bad = true
	}
	return t
}

func (f *fieldParser) taskState(s string) TaskState {
	st, ok := ParseTaskState(strings.TrimSpace(s))
	f.bad = f.bad || !ok
	return st
}

func (f *fieldParser) jobState(s string) JobState {
	st, ok := ParseJobState(strings.TrimSpace(s))
	f.bad = f.bad || !ok
	return st
}

func (f *fieldParser) result(s string) Result {
	r, ok := ParseResult(strings.TrimSpace(s))
	f.bad = f.bad || !ok
	return r
}

// number parses an optional integer; absent is 0.
func (f *fieldParser) number(s string) int64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f.bad = true
	}
	return n
}

// flag parses an optional boolean; absent is false.
func (f *fieldParser) flag(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		f.bad = true
	}
	return b
}

// parseTime reads EM's timestamps: UTC with a Z and 0 to 6 fractional digits
// (up to 9 are accepted). A time without a zone is taken as UTC, which is
// what EM means; an explicit offset is honoured.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		var zoneless error
		if t, zoneless = time.Parse("2006-01-02T15:04:05.999999999", s); zoneless != nil {
			return time.Time{}, err
		}
	}
	return t.UTC(), nil
}
