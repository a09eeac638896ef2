package collector

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// fuzzSessionTimeLayout is how EM formats the creation time in a job session's
// name, the way the simulator writes it.
const fuzzSessionTimeLayout = "2006-01-02 15:04:05"

// FuzzJobNameFromSessionName checks the fallback parser against an oracle
// written without the regular expression, and the properties the collector
// relies on: the job name is a prefix of the session name, never empty,
// stable, and valid UTF-8 when the session name is.
func FuzzJobNameFromSessionName(f *testing.F) {
	created := time.Date(2025, 6, 17, 20, 0, 5, 0, time.UTC).Format(fuzzSessionTimeLayout)
	_, hardJobs, _ := emsim.HardNames()
	jobs := append(hardJobs, "Replication Job 1", "Replication Job 12", "数据库", "")
	for _, job := range jobs {
		f.Add(job)
		f.Add(job + "@" + created)
		f.Add(job + "@" + created + ".1234567")
	}
	for _, name := range []string{
		"@",
		"@" + created,
		"A@" + created + "@" + created,
		"Job@" + created + ".",
		"Job@" + created + ".12345678",
		"Job@2025-13-45 99:99:99",
		"Job@2024-02-29 23:59:59",
		"Job@2025-02-29 23:59:59",
		"Job@" + created + " copy",
		"\xff@" + created,
		"Job\xe6@" + created,
	} {
		f.Add(name)
	}

	f.Fuzz(func(t *testing.T, name string) {
		job := jobNameFromSessionName(name)

		if !strings.HasPrefix(name, job) {
			t.Fatalf("jobNameFromSessionName(%q) = %q, not a prefix of the session name", name, job)
		}
		if name != "" && job == "" {
			t.Fatalf("jobNameFromSessionName(%q) is empty", name)
		}
		if utf8.ValidString(name) && !utf8.ValidString(job) {
			t.Fatalf("jobNameFromSessionName(%q) = %q, not valid UTF-8", name, job)
		}
		if want := fuzzReferenceJobName(name); job != want {
			t.Fatalf("jobNameFromSessionName(%q) = %q, the reference parser gives %q", name, job, want)
		}
		// A job name that does not itself look like a session name is a
		// fixed point; one that does loses its next suffix, as it should.
		if _, looksLikeSession := fuzzSessionSuffixStart(job); !looksLikeSession && jobNameFromSessionName(job) != job {
			t.Fatalf("jobNameFromSessionName is not stable on %q: gives %q", job, jobNameFromSessionName(job))
		}
		// Any non-empty job name survives the round trip through the name
		// EM gives its sessions.
		if name != "" {
			for _, suffix := range []string{"@" + created, "@" + created + ".5", "@" + created + ".1234567"} {
				if got := jobNameFromSessionName(name + suffix); got != name {
					t.Fatalf("jobNameFromSessionName(%q) = %q, want the job name %q", name+suffix, got, name)
				}
			}
		}
	})
}

// fuzzReferenceJobName is what jobNameFromSessionName must return, spelled out
// byte by byte instead of with a regular expression.
func fuzzReferenceJobName(name string) string {
	at, ok := fuzzSessionSuffixStart(name)
	if !ok || at == 0 {
		return name
	}
	return name[:at]
}

// fuzzSessionSuffixStart finds a trailing "@yyyy-mm-dd hh:mm:ss[.f{1,7}]" whose
// date and time exist, and returns the index of its '@'.
func fuzzSessionSuffixStart(name string) (int, bool) {
	at := strings.LastIndexByte(name, '@')
	if at < 0 {
		return 0, false
	}
	suffix := name[at+1:]
	if len(suffix) < len(fuzzSessionTimeLayout) {
		return 0, false
	}
	stamp, fraction := suffix[:len(fuzzSessionTimeLayout)], suffix[len(fuzzSessionTimeLayout):]
	for i := range len(stamp) {
		want := fuzzSessionTimeLayout[i]
		isDigit := stamp[i] >= '0' && stamp[i] <= '9'
		if want >= '0' && want <= '9' {
			if !isDigit {
				return 0, false
			}
		} else if stamp[i] != want {
			return 0, false
		}
	}
	if fraction != "" {
		digits := strings.TrimPrefix(fraction, ".")
		if len(digits) == len(fraction) || len(digits) < 1 || len(digits) > 7 || strings.Trim(digits, "0123456789") != "" {
			return 0, false
		}
	}
	if _, err := time.Parse(fuzzSessionTimeLayout, stamp); err != nil {
		return 0, false
	}
	return at, true
}

func TestFuzzReferenceJobNameAgreesWithTheTable(t *testing.T) {
	for name, want := range map[string]string{
		"Replica@DR site@2025-06-17 20:00:05": "Replica@DR site",
		"Job@2025-06-17 20:00:05.1234567":     "Job",
		"Job@2025-06-17 20:00:05.12345678":    "Job@2025-06-17 20:00:05.12345678",
		"Job@2025-02-29 20:00:05":             "Job@2025-02-29 20:00:05",
		"@2025-06-17 20:00:05":                "@2025-06-17 20:00:05",
		"Job@2025-06-17 20:00:05 copy":        "Job@2025-06-17 20:00:05 copy",
		"Job@2025-06-17 2:0:5":                "Job@2025-06-17 2:0:5",
	} {
		if got := fuzzReferenceJobName(name); got != want {
			t.Errorf("fuzzReferenceJobName(%q) = %q, want %q", name, got, want)
		}
	}
}
