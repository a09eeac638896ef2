package veeam

import (
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"time"
)

// The encoding/xml decoders of restore points, replicas and CDP entities,
// the reference the scanner's must agree with.

type xmlVmReplicaPoint struct {
	UID           string    `xml:"UID,attr"`
	Name          string    `xml:"Name,attr"`
	VMDisplayName string    `xml:"VmDisplayName,attr"`
	Links         []xmlLink `xml:"Links>Link"`
	CreationTime  string    `xml:"CreationTimeUTC"`
	VMName        string    `xml:"VmName"`
	Algorithm     string    `xml:"Algorithm"`
	PointType     string    `xml:"PointType"`
}

func refDecodeVmReplicaPoint(d *xml.Decoder, start *xml.StartElement) (VmReplicaPoint, bool, error) {
	var x xmlVmReplicaPoint
	if err := d.DecodeElement(&x, start); err != nil {
		return VmReplicaPoint{}, false, err
	}
	p := VmReplicaPoint{
		UID:              strings.TrimSpace(x.UID),
		Name:             strings.TrimSpace(x.Name),
		VMDisplayName:    strings.TrimSpace(x.VMDisplayName),
		VMName:           strings.TrimSpace(x.VMName),
		BackupServerName: upLinkName(x.Links, "BackupServerReference"),
		ReplicaName:      upLinkName(x.Links, "ReplicaReference"),
		Algorithm:        strings.TrimSpace(x.Algorithm),
		PointType:        strings.TrimSpace(x.PointType),
	}
	var fields fieldParser
	p.CreationTime = fields.timestamp(x.CreationTime, true)
	return p, p.UID != "" && fields.ok(), nil
}

type xmlCdpPolicy struct {
	UID                string    `xml:"UID,attr"`
	Name               string    `xml:"Name,attr"`
	Links              []xmlLink `xml:"Links>Link"`
	PolicyType         string    `xml:"PolicyType"`
	Platform           string    `xml:"Platform"`
	Description        string    `xml:"Description"`
	ScheduleConfigured string    `xml:"ScheduleConfigured"`
	ScheduleEnabled    string    `xml:"ScheduleEnabled"`
	NextRun            string    `xml:"NextRun"`
}

// refDecodeCdpPolicy reads the entity's tokens once, then maps its
// attributes and direct children with encoding/xml from a replay of them,
// and looks for the RPO among all of them.
func refDecodeCdpPolicy(d *xml.Decoder, start *xml.StartElement) (CdpPolicy, bool, error) {
	tokens, err := refElementTokens(d)
	if err != nil {
		return CdpPolicy{}, false, err
	}
	// The replay starts with the entity's start tag, for the second
	// decoder to match the end tag with.
	replay := xml.NewTokenDecoder(&tokenReplay{tokens: append([]xml.Token{start.Copy()}, tokens...)})
	replayed, err := replay.Token()
	if err != nil {
		return CdpPolicy{}, false, err
	}
	entity := replayed.(xml.StartElement)
	var x xmlCdpPolicy
	if err := replay.DecodeElement(&x, &entity); err != nil {
		return CdpPolicy{}, false, err
	}
	p := CdpPolicy{
		UID:              strings.TrimSpace(x.UID),
		Name:             strings.TrimSpace(x.Name),
		BackupServerName: upLinkName(x.Links, "BackupServerReference"),
		PolicyType:       strings.TrimSpace(x.PolicyType),
		Platform:         strings.TrimSpace(x.Platform),
		Description:      strings.TrimSpace(x.Description),
	}
	var fields fieldParser
	p.ScheduleConfigured = fields.flag(x.ScheduleConfigured)
	p.ScheduleEnabled = fields.flag(x.ScheduleEnabled)
	if next := fields.timestamp(x.NextRun, false); next.After(time.Date(1, 12, 31, 23, 59, 59, 999999999, time.UTC)) {
		p.NextRun = next
	}
	if seconds, ok := refRPO(refDescendantText(tokens, "RecoveryPointObjectiveSeconds"), time.Second); ok {
		p.RPO = Known(seconds)
	} else if minutes, ok := refRPO(refDescendantText(tokens, "RecoveryPointObjectiveMinutes"), time.Minute); ok {
		p.RPO = Known(minutes)
	}
	return p, p.UID != "" && p.Name != "" && fields.ok(), nil
}

// refRPO reads a positive count of units that fits a Duration.
func refRPO(s string, unit time.Duration) (time.Duration, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	d := time.Duration(n) * unit
	return d, d/unit == time.Duration(n)
}

// refElementTokens reads the tokens of the element just started, through
// its end tag.
func refElementTokens(d *xml.Decoder) ([]xml.Token, error) {
	var tokens []xml.Token
	for depth := 1; depth > 0; {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
		tokens = append(tokens, xml.CopyToken(tok))
	}
	return tokens, nil
}

// tokenReplay hands tokens read before to a second decoder.
type tokenReplay struct {
	tokens []xml.Token
}

func (r *tokenReplay) Token() (xml.Token, error) {
	if len(r.tokens) == 0 {
		return nil, io.EOF
	}
	tok := r.tokens[0]
	r.tokens = r.tokens[1:]
	return tok, nil
}

// refDescendantText is the text directly inside the first element named
// name among tokens, at any depth; "" when there is none.
func refDescendantText(tokens []xml.Token, name string) string {
	var text strings.Builder
	depth, at := 0, 0
	for _, tok := range tokens {
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if at == 0 && t.Name.Local == name {
				at = depth
			}
		case xml.EndElement:
			depth--
			if at > 0 && depth < at {
				return text.String()
			}
		case xml.CharData:
			if at > 0 && depth == at {
				text.Write(t)
			}
		}
	}
	return text.String()
}

type xmlCdpReplicaSession struct {
	UID            string    `xml:"UID,attr"`
	Name           string    `xml:"Name,attr"`
	Links          []xmlLink `xml:"Links>Link"`
	PolicyUID      string    `xml:"PolicyUid"`
	PolicyName     string    `xml:"PolicyName"`
	PolicyType     string    `xml:"PolicyType"`
	CreationTime   string    `xml:"CreationTimeUTC"`
	EndTime        string    `xml:"EndTimeUTC"`
	State          string    `xml:"State"`
	Result         string    `xml:"Result"`
	Progress       string    `xml:"Progress"`
	IsRetry        string    `xml:"IsRetry"`
	FailureMessage string    `xml:"FailureMessage"`
}

func refDecodeCdpReplicaSession(d *xml.Decoder, start *xml.StartElement) (CdpReplicaSession, bool, error) {
	var x xmlCdpReplicaSession
	if err := d.DecodeElement(&x, start); err != nil {
		return CdpReplicaSession{}, false, err
	}
	s := ReplicaJobSession{
		UID:              strings.TrimSpace(x.UID),
		Name:             strings.TrimSpace(x.Name),
		JobUID:           strings.TrimSpace(x.PolicyUID),
		JobName:          strings.TrimSpace(x.PolicyName),
		JobType:          strings.TrimSpace(x.PolicyType),
		BackupServerName: upLinkName(x.Links, "BackupServerReference"),
	}
	var fields fieldParser
	s.CreationTime = fields.timestamp(x.CreationTime, true)
	s.EndTime = fields.timestamp(x.EndTime, false)
	s.State = fields.jobState(x.State)
	s.Result = fields.result(x.Result)
	s.Progress = int(fields.number(x.Progress))
	s.IsRetry = fields.flag(x.IsRetry)
	return CdpReplicaSession{ReplicaJobSession: s, FailureMessage: strings.TrimSpace(x.FailureMessage)}, s.UID != "" && fields.ok(), nil
}

// xmlCdpReplicaTaskSession has the fields of xmlReplicaTaskSession, the
// job session's UID under its CDP name, so that it converts to it.
type xmlCdpReplicaTaskSession struct {
	UID           string    `xml:"UID,attr"`
	Name          string    `xml:"Name,attr"`
	VMDisplayName string    `xml:"VmDisplayName,attr"`
	Links         []xmlLink `xml:"Links>Link"`
	JobSessionUID string    `xml:"PolicySessionUid"`
	CreationTime  string    `xml:"CreationTimeUTC"`
	EndTime       string    `xml:"EndTimeUTC"`
	State         string    `xml:"State"`
	Result        string    `xml:"Result"`
	Reason        string    `xml:"Reason"`
	TotalSize     string    `xml:"TotalSize"`
}

func refDecodeCdpReplicaTaskSession(d *xml.Decoder, start *xml.StartElement) (CdpReplicaTaskSession, bool, error) {
	var x xmlCdpReplicaTaskSession
	if err := d.DecodeElement(&x, start); err != nil {
		return CdpReplicaTaskSession{}, false, err
	}
	task := xmlReplicaTaskSession(x)
	s, ok := task.session(noUpLink)
	return CdpReplicaTaskSession{ReplicaTaskSession: s}, ok, nil
}
