package emsim

import (
	"sync"
	"time"
)

// Tampering is what a fault's answer-shaping knobs did to one query answer
// that was sent completely. UIDs are in the order the real answer would
// have had them.
type Tampering struct {
	Time       time.Time // on the simulator's clock
	Type       string    // the query type
	Page       int
	PagesCount int // as reported, after PagesCountDelta
	// Duplicated are the entities repeated from the end of the previous
	// page (DuplicateFromPrevious).
	Duplicated []string
	// Dropped are the entities the real page held but the answer did not:
	// pushed off its end by DuplicateFromPrevious, or withheld by EmptyPage.
	// This query never delivers them.
	Dropped []string
	// Corrupted are the entities sent with a bad value (Corrupt).
	Corrupted []string
}

type tamperingLog struct {
	mu      sync.Mutex
	entries []Tampering
}

func (l *tamperingLog) add(t Tampering) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, t)
}

// Tamperings returns one entry per query answer shaped by a fault since
// the simulator started, oldest first. Only faults add entries, so the
// record stays as small as the faults a test injects.
func (s *Server) Tamperings() []Tampering {
	s.tampered.mu.Lock()
	defer s.tampered.mu.Unlock()
	return append([]Tampering(nil), s.tampered.entries...)
}

// CorruptedUIDs returns the UIDs of every entity sent with a bad value
// since the simulator started, in the order sent; an entity corrupted in
// two answers is listed twice, as a client counts it twice.
func (s *Server) CorruptedUIDs() []string {
	s.tampered.mu.Lock()
	defer s.tampered.mu.Unlock()
	var uids []string
	for _, t := range s.tampered.entries {
		uids = append(uids, t.Corrupted...)
	}
	return uids
}
