package collector

import "testing"

func TestJobNameFromSessionName(t *testing.T) {
	cases := []struct {
		session, want string
	}{
		{"Replica@DR site@2025-06-17 20:00:05", "Replica@DR site"},
		{"Job@2025-06-17 20:00:05.123456", "Job"},
		{"Job@2025-06-17 20:00:05.1234567", "Job"},
		{"Job@2025-06-17 20:00:05.5", "Job"},
		{"Plain Job", "Plain Job"},
		{"Job@2025-06-17", "Job@2025-06-17"},
		// Not a date and time EM could write: part of the job's name.
		{"Job@2025-13-45 99:99:99", "Job@2025-13-45 99:99:99"},
		// More than 7 fractional digits, or a trailing dot, is not EM's suffix.
		{"Job@2025-06-17 20:00:05.12345678", "Job@2025-06-17 20:00:05.12345678"},
		{"Job@2025-06-17 20:00:05.", "Job@2025-06-17 20:00:05."},
		// Only a suffix at the very end counts.
		{"Job@2025-06-17 20:00:05 copy", "Job@2025-06-17 20:00:05 copy"},
		{"A@2025-06-17 20:00:05@2025-06-18 20:00:05", "A@2025-06-17 20:00:05"},
		// Stripping would leave no name at all.
		{"@2025-06-17 20:00:05", "@2025-06-17 20:00:05"},
		{"", ""},
		{"数据库@2025-06-17 20:00:05", "数据库"},
	}
	for _, tc := range cases {
		if got := jobNameFromSessionName(tc.session); got != tc.want {
			t.Errorf("jobNameFromSessionName(%q) = %q, want %q", tc.session, got, tc.want)
		}
	}
}
