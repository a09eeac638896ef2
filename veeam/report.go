package veeam

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"strconv"
	"time"
)

// The request types of EM's summary reports, named after the root element
// of each frame; they label the request counts next to the query types.
const (
	OverviewReportType      = "OverviewReportFrame"
	VMsOverviewReportType   = "VmsOverviewReportFrame"
	JobStatisticsReportType = "JobStatisticsReportFrame"
)

// Every value of a summary report is an Optional: unknown when EM leaves
// its element out or empty, or writes a negative number (EM's -1 for
// unknown). A value EM writes but that cannot be parsed is unknown as well,
// and its element is named in the report's Invalid.

// OverviewReport is EM's overview frame (/reports/summary/overview).
type OverviewReport struct {
	BackupServers, ProxyServers, RepositoryServers Optional[int64]
	RunningJobs, ScheduledJobs                     Optional[int64]
	// The VMs by the result of their latest session; EM's elements are
	// misspelt SuccessfulVmLastestStates and so on.
	SuccessfulVMLatestStates, WarningVMLatestStates, FailedVMLatestStates Optional[int64]
	// Invalid names the elements present with a value that is not a
	// number; their fields are unknown.
	Invalid []string
}

// VMsOverviewReport is EM's VMs overview frame
// (/reports/summary/vms_overview). Sizes are in bytes.
type VMsOverviewReport struct {
	ProtectedVMs, BackedUpVMs, ReplicatedVMs, RestorePoints                     Optional[int64]
	FullBackupPointsSize, IncrementalBackupPointsSize, ReplicaRestorePointsSize Optional[int64]
	SourceVMsSize                                                               Optional[int64]
	SuccessBackupPercent                                                        Optional[float64] // SuccessBackupPercents, 0 to 100
	Invalid                                                                     []string
}

// JobStatisticsReport is EM's job statistics frame
// (/reports/summary/job_statistics). The run counts cover a window EM does
// not document.
type JobStatisticsReport struct {
	RunningJobs, ScheduledJobs, ScheduledBackupJobs, ScheduledReplicaJobs Optional[int64]
	// WarningJobRuns is EM's WarningsJobRuns.
	TotalJobRuns, SuccessfulJobRuns, WarningJobRuns, FailedJobRuns Optional[int64]
	// The durations are read as seconds, or as a .NET TimeSpan
	// ([d.]hh:mm:ss[.fffffff]) should EM write one.
	MaxJobDuration, MaxBackupJobDuration, MaxReplicaJobDuration Optional[time.Duration]
	// The names of the jobs that took longest; "" when there is none.
	MaxDurationBackupJobName, MaxDurationReplicaJobName string
	Invalid                                             []string
}

// The frames' elements, in schema order; every frame's fields are its
// children, read like an entity's.
const (
	ovBackupServers = iota
	ovProxyServers
	ovRepositoryServers
	ovRunningJobs
	ovScheduledJobs
	ovSuccessful
	ovWarning
	ovFailed
)

const (
	vmsProtected = iota
	vmsBackedUp
	vmsReplicated
	vmsRestorePoints
	vmsFullSize
	vmsIncrementalSize
	vmsReplicaSize
	vmsSourceSize
	vmsSuccessPercents
)

const (
	jsRunningJobs = iota
	jsScheduledJobs
	jsScheduledBackupJobs
	jsScheduledReplicaJobs
	jsTotalRuns
	jsSuccessfulRuns
	jsWarningRuns
	jsFailedRuns
	jsMaxDuration
	jsMaxBackupDuration
	jsMaxReplicaDuration
	jsMaxBackupName
	jsMaxReplicaName
)

var (
	overviewSchema = &entitySchema{children: []string{"BackupServers", "ProxyServers", "RepositoryServers", "RunningJobs",
		"ScheduledJobs", "SuccessfulVmLastestStates", "WarningVmLastestStates", "FailedVmLastestStates"}}
	vmsOverviewSchema = &entitySchema{children: []string{"ProtectedVms", "BackedUpVms", "ReplicatedVms", "RestorePoints",
		"FullBackupPointsSize", "IncrementalBackupPointsSize", "ReplicaRestorePointsSize", "SourceVmsSize", "SuccessBackupPercents"}}
	jobStatisticsSchema = &entitySchema{children: []string{"RunningJobs", "ScheduledJobs", "ScheduledBackupJobs", "ScheduledReplicaJobs",
		"TotalJobRuns", "SuccessfulJobRuns", "WarningsJobRuns", "FailedJobRuns", "MaxJobDuration", "MaxBackupJobDuration",
		"MaxReplicaJobDuration", "MaxDurationBackupJobName", "MaxDurationReplicaJobName"}}
)

// OverviewReport reads EM's overview frame.
func (c *Client) OverviewReport(ctx context.Context) (OverviewReport, error) {
	return fetchReport(ctx, c, OverviewReportType, "overview", overviewSchema, buildOverview)
}

// VMsOverviewReport reads EM's VMs overview frame.
func (c *Client) VMsOverviewReport(ctx context.Context) (VMsOverviewReport, error) {
	return fetchReport(ctx, c, VMsOverviewReportType, "vms_overview", vmsOverviewSchema, buildVMsOverview)
}

// JobStatisticsReport reads EM's job statistics frame.
func (c *Client) JobStatisticsReport(ctx context.Context) (JobStatisticsReport, error) {
	return fetchReport(ctx, c, JobStatisticsReportType, "job_statistics", jobStatisticsSchema, buildJobStatistics)
}

// fetchReport reads the summary frame at /api/reports/summary/<name>,
// whose root element is typ, and builds the report from its fields.
func fetchReport[R any](ctx context.Context, c *Client, typ, name string, schema *entitySchema, build func(*frameFields) R) (R, error) {
	var r R
	_, err := c.fetchDocument(ctx, typ, "report "+typ, 0, typ, c.base+"/api/reports/summary/"+name, func(body *bufio.Reader) error {
		e, err := decodeFrame(body, typ, schema)
		if err == nil {
			r = build(&frameFields{e: e})
		}
		return err
	})
	return r, err
}

func buildOverview(f *frameFields) OverviewReport {
	r := OverviewReport{
		BackupServers:            f.count(ovBackupServers),
		ProxyServers:             f.count(ovProxyServers),
		RepositoryServers:        f.count(ovRepositoryServers),
		RunningJobs:              f.count(ovRunningJobs),
		ScheduledJobs:            f.count(ovScheduledJobs),
		SuccessfulVMLatestStates: f.count(ovSuccessful),
		WarningVMLatestStates:    f.count(ovWarning),
		FailedVMLatestStates:     f.count(ovFailed),
	}
	r.Invalid = f.invalid // after the calls above, which fill it
	return r
}

func buildVMsOverview(f *frameFields) VMsOverviewReport {
	r := VMsOverviewReport{
		ProtectedVMs:                f.count(vmsProtected),
		BackedUpVMs:                 f.count(vmsBackedUp),
		ReplicatedVMs:               f.count(vmsReplicated),
		RestorePoints:               f.count(vmsRestorePoints),
		FullBackupPointsSize:        f.count(vmsFullSize),
		IncrementalBackupPointsSize: f.count(vmsIncrementalSize),
		ReplicaRestorePointsSize:    f.count(vmsReplicaSize),
		SourceVMsSize:               f.count(vmsSourceSize),
		SuccessBackupPercent:        f.ratio(vmsSuccessPercents),
	}
	r.Invalid = f.invalid
	return r
}

func buildJobStatistics(f *frameFields) JobStatisticsReport {
	r := JobStatisticsReport{
		RunningJobs:               f.count(jsRunningJobs),
		ScheduledJobs:             f.count(jsScheduledJobs),
		ScheduledBackupJobs:       f.count(jsScheduledBackupJobs),
		ScheduledReplicaJobs:      f.count(jsScheduledReplicaJobs),
		TotalJobRuns:              f.count(jsTotalRuns),
		SuccessfulJobRuns:         f.count(jsSuccessfulRuns),
		WarningJobRuns:            f.count(jsWarningRuns),
		FailedJobRuns:             f.count(jsFailedRuns),
		MaxJobDuration:            f.duration(jsMaxDuration),
		MaxBackupJobDuration:      f.duration(jsMaxBackupDuration),
		MaxReplicaJobDuration:     f.duration(jsMaxReplicaDuration),
		MaxDurationBackupJobName:  string(f.e.trimmed(jsMaxBackupName)),
		MaxDurationReplicaJobName: string(f.e.trimmed(jsMaxReplicaName)),
	}
	r.Invalid = f.invalid
	return r
}

// decodeFrame reads a document whose root element is root and returns the
// root's children that schema names.
func decodeFrame(r io.Reader, root string, schema *entitySchema) (*rawEntity, error) {
	s := newXMLScanner(r)
	start, err := expectRoot(s, root)
	if err != nil {
		return nil, err
	}
	e := newRawEntity(schema)
	if err := e.read(s, start); err != nil {
		return nil, truncation(err, root)
	}
	return e, nil
}

// frameFields parses a frame's values, each on its own: a bad one is left
// unknown and named in invalid, the others are kept.
type frameFields struct {
	e       *rawEntity
	invalid []string
}

func (f *frameFields) bad(i int) {
	f.invalid = append(f.invalid, f.e.schema.children[i])
}

// count reads a whole number; a negative one is EM's unknown.
func (f *frameFields) count(i int) Optional[int64] {
	var p fieldParser
	v := p.size(f.e.trimmed(i))
	if !p.ok() {
		f.bad(i)
	}
	return v
}

// ratio reads a decimal number, such as a percentage; a negative one is
// unknown.
func (f *frameFields) ratio(i int) Optional[float64] {
	b := f.e.trimmed(i)
	if len(b) == 0 {
		return Optional[float64]{}
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		f.bad(i)
		return Optional[float64]{}
	}
	if v < 0 {
		return Optional[float64]{}
	}
	return Known(v)
}

// duration reads seconds, whole or decimal, or a TimeSpan; a negative one
// is unknown.
func (f *frameFields) duration(i int) Optional[time.Duration] {
	b := f.e.trimmed(i)
	if len(b) == 0 {
		return Optional[time.Duration]{}
	}
	d, err := parseDuration(b)
	if err != nil {
		f.bad(i)
		return Optional[time.Duration]{}
	}
	if d < 0 {
		return Optional[time.Duration]{}
	}
	return Known(d)
}

var errDuration = errors.New("not seconds nor a TimeSpan")

// parseDuration reads "123", "123.5" (seconds) or "[-][d.]hh:mm:ss[.f]".
func parseDuration(b []byte) (time.Duration, error) {
	if bytes.IndexByte(b, ':') < 0 {
		seconds, err := strconv.ParseFloat(string(b), 64)
		if err != nil || math.IsNaN(seconds) || math.Abs(seconds) > math.MaxInt64/float64(time.Second) {
			return 0, errDuration
		}
		return time.Duration(seconds * float64(time.Second)), nil
	}
	sign := time.Duration(1)
	if b[0] == '-' {
		sign, b = -1, b[1:]
	}
	parts := bytes.Split(b, []byte(":"))
	if len(parts) != 3 {
		return 0, errDuration
	}
	var days int
	hours := parts[0]
	if dot := bytes.IndexByte(hours, '.'); dot >= 0 {
		d, ok := digits(hours[:dot])
		if !ok || dot == 0 || dot > 7 {
			return 0, errDuration
		}
		days, hours = d, hours[dot+1:]
	}
	h, okH := digits(hours)
	m, okM := digits(parts[1])
	secs := parts[2]
	var fraction []byte
	if dot := bytes.IndexByte(secs, '.'); dot >= 0 {
		secs, fraction = secs[:dot], secs[dot+1:]
	}
	s, okS := digits(secs)
	if !okH || !okM || !okS || len(hours) == 0 || len(hours) > 2 || len(parts[1]) != 2 || len(secs) != 2 ||
		h > 23 || m > 59 || s > 59 || len(fraction) > 9 {
		return 0, errDuration
	}
	nanos, ok := digits(fraction)
	if !ok || fraction != nil && len(fraction) == 0 {
		return 0, errDuration
	}
	for range 9 - len(fraction) {
		nanos *= 10
	}
	d := time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(s)*time.Second + time.Duration(nanos)
	return sign * d, nil
}
