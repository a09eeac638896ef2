package emsim

// Corruption is how many of a query answer's first entities carry each
// kind of bad value, one kind per entity, given out in field order: with
// {MissingCreationTime: 1, UnknownState: 2} the first entity has no
// CreationTimeUTC and the second and third report State Teleporting. An
// answer with fewer entities corrupts only those it has. It is a struct of
// counts rather than a list so that Fault stays comparable.
//
// The inventory types have no creation time nor state: a Repository, Job
// or BackupServer entity loses its UID for MissingCreationTime, and gets
// BadCreationTimeValue or UnknownStateValue or UnknownResultValue in a
// number, time or flag (Capacity, FreeSpace, NextRun, ScheduleEnabled,
// ScheduleConfigured, Port) for the others: a client must skip it.
type Corruption struct {
	MissingCreationTime int // CreationTimeUTC is left out
	BadCreationTime     int // CreationTimeUTC is "yesterday"
	UnknownState        int // State is "Teleporting"
	UnknownResult       int // Result is "Meh"
}

// The bad values, for tests that look for them.
const (
	BadCreationTimeValue = "yesterday"
	UnknownStateValue    = "Teleporting"
	UnknownResultValue   = "Meh"
)

func (c Corruption) valid() bool {
	return c.MissingCreationTime >= 0 && c.BadCreationTime >= 0 && c.UnknownState >= 0 && c.UnknownResult >= 0
}

// corruptionKind is the one bad value an entity is written with.
type corruptionKind int

const (
	intact corruptionKind = iota
	missingCreationTime
	badCreationTime
	unknownState
	unknownResult
)

// kindAt is the corruption of the entity at index i of the answer.
func (c Corruption) kindAt(i int) corruptionKind {
	for _, run := range [...]struct {
		count int
		kind  corruptionKind
	}{
		{c.MissingCreationTime, missingCreationTime},
		{c.BadCreationTime, badCreationTime},
		{c.UnknownState, unknownState},
		{c.UnknownResult, unknownResult},
	} {
		if i < run.count {
			return run.kind
		}
		i -= run.count
	}
	return intact
}

// creationTime is the CreationTimeUTC to write, and false when the element
// is to be left out.
func (k corruptionKind) creationTime(value string) (string, bool) {
	switch k {
	case missingCreationTime:
		return "", false
	case badCreationTime:
		return BadCreationTimeValue, true
	}
	return value, true
}

func (k corruptionKind) state(value string) string {
	if k == unknownState {
		return UnknownStateValue
	}
	return value
}

func (k corruptionKind) result(value string) string {
	if k == unknownResult {
		return UnknownResultValue
	}
	return value
}
