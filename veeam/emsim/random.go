package emsim

import (
	"encoding/hex"
	"time"
)

// Every generated value comes from a stream keyed by the seed and the
// identity of what it describes (job, run, attempt, VM), never from a shared
// generator, so the data does not depend on the order in which it is built or
// asked for.

// Stream kinds, so that two entities with the same indices draw different
// values.
const (
	kindServer int64 = iota + 1
	kindJob
	kindVM
	kindRun
	kindTask
	kindReplicaPoint
	// Appended, so that the replica streams above keep their values.
	kindBackupJob
	kindBackupRun
	kindBackupTask
	kindVMRef
	kindVCenter
	kindSite
	// The lags of late arrivals have streams of their own, so that turning
	// them on changes no other value.
	kindLateRun
	kindLateTask
	kindLateBackupRun
	kindLateBackupTask
	// The inventory: repositories, their sizes, and the special jobs.
	kindRepository
	kindRepositorySize
	kindSpecialJob
	// Replicas and their restore points' retention, and CDP.
	kindReplica
	kindReplicaRetention
	kindCdpPolicy
	kindCdpVM
	kindCdpSession
	kindCdpTask
)

const goldenGamma = 0x9e3779b97f4a7c15

// mix64 is the SplitMix64 finalizer: a cheap bijection with good avalanche.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// stream is a deterministic SplitMix64 sequence.
type stream struct {
	state uint64
}

func newStream(seed int64, parts ...int64) stream {
	h := mix64(uint64(seed) + goldenGamma)
	for _, p := range parts {
		h = mix64(h ^ (uint64(p) + goldenGamma))
	}
	return stream{state: h}
}

func (s *stream) next() uint64 {
	s.state += goldenGamma
	return mix64(s.state)
}

// intn returns a value in [0, n).
func (s *stream) intn(n int) int {
	return int(s.next() % uint64(n))
}

// float returns a value in [0, 1).
func (s *stream) float() float64 {
	return float64(s.next()>>11) / (1 << 53)
}

// between returns a duration in [lo, hi], at whole milliseconds or finer.
func (s *stream) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(s.next()%uint64(hi-lo+1))
}

// guid is a random-looking version 4 UUID drawn from a stream.
type guid [16]byte

func (s *stream) guid() guid {
	var g guid
	a, b := s.next(), s.next()
	for i := range 8 {
		g[i] = byte(a >> (8 * i))
		g[8+i] = byte(b >> (8 * i))
	}
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return g
}

func (g guid) String() string {
	var buf [36]byte
	hex.Encode(buf[0:8], g[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], g[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], g[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], g[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:36], g[10:16])
	return string(buf[:])
}

// derived returns another GUID that belongs to g, such as the replica point
// a task session produced.
func (g guid) derived(kind int64) guid {
	var a, b uint64
	for i := range 8 {
		a |= uint64(g[i]) << (8 * i)
		b |= uint64(g[8+i]) << (8 * i)
	}
	s := stream{state: mix64(a^uint64(kind)) ^ b}
	return s.guid()
}
