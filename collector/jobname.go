package collector

import (
	"regexp"
	"time"
)

// sessionTimestampSuffix is the "@yyyy-mm-dd hh:mm:ss[.fffffff]" that current
// EM versions append to a job name to name one of its sessions. It is
// anchored at the end because job names may contain "@" themselves.
var sessionTimestampSuffix = regexp.MustCompile(`@(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.\d{1,7})?$`)

// jobNameFromSessionName recovers the job name from a job session's name,
// for when the job session itself is not known. Old EM versions name the
// session after the job alone; such names, and names whose suffix is not a
// real date and time, are returned unchanged, as is a name that would become
// empty.
func jobNameFromSessionName(sessionName string) string {
	m := sessionTimestampSuffix.FindStringSubmatchIndex(sessionName)
	if m == nil || m[0] == 0 {
		return sessionName
	}
	if _, err := time.Parse(time.DateTime, sessionName[m[2]:m[3]]); err != nil {
		return sessionName
	}
	return sessionName[:m[0]]
}
