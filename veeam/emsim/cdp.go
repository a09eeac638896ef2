package emsim

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// CDP (continuous data protection) policies replicate their VMs all the
// time. Each policy runs one session after another, each with one task
// session per VM spanning it; a task completes just before its session
// ends. The sessions are slots of the policy's period, planned from the
// seed like the jobs' runs, so a slot's session does not depend on when
// the simulator was built. How long a real CDP session lives is not
// documented; SessionPeriod makes it a choice.

// CDPPolicies describes the CDP policies of every backup server; the zero
// value has none. The policies protect VMs of their own (named cdp-...),
// which are in no replica or backup job.
type CDPPolicies struct {
	PoliciesPerServer int
	VMsPerPolicy      int
	// RPOs are given out to the policies in turn; a zero second one gives
	// every policy the first. A whole number of minutes is written as
	// RecoveryPointObjectiveMinutes, anything else as
	// RecoveryPointObjectiveSeconds.
	RPOs [2]time.Duration
	// SessionPeriod is how long one policy session lives.
	SessionPeriod time.Duration
	// FailingPolicy makes the last policy of the last server fail: every
	// session and task ends Failed. Its sessions last SessionPeriod or ten
	// minutes, whichever is shorter, as a failing policy keeps starting
	// over.
	FailingPolicy bool
	// LaggingVM, when set, is how long before the simulator's start the
	// last VM of the first policy fell behind its RPO: every task session
	// of it ending since then ends Warning. 0 means none.
	LaggingVM time.Duration
}

// failingCDPPeriod bounds the sessions of the failing policy.
const failingCDPPeriod = 10 * time.Minute

// cdpVMIndexBase numbers the CDP VMs' vCenter references apart from the
// jobs' VMs.
const cdpVMIndexBase = 1 << 20

const (
	cdpPolicyType  = "CdpReplica"
	platformVCloud = "vCloud"
)

func (c CDPPolicies) validate(topo Topology) []error {
	if c == (CDPPolicies{}) {
		return nil
	}
	var errs []error
	if c.PoliciesPerServer <= 0 || c.VMsPerPolicy <= 0 {
		errs = append(errs, fmt.Errorf("CDP.PoliciesPerServer and CDP.VMsPerPolicy must be positive, got %d and %d", c.PoliciesPerServer, c.VMsPerPolicy))
	}
	if c.RPOs[0] < time.Second || c.RPOs[1] < 0 || c.RPOs[0]%time.Second != 0 || c.RPOs[1]%time.Second != 0 {
		errs = append(errs, fmt.Errorf("CDP.RPOs must be whole seconds, the first at least one, got %v", c.RPOs))
	}
	// Every task is created, staggered, and ends within its session.
	if shortest := max(time.Minute, time.Duration(c.VMsPerPolicy)*2*time.Second+15*time.Second); c.SessionPeriod < shortest {
		errs = append(errs, fmt.Errorf("CDP.SessionPeriod must be at least %v for %d VMs a policy, got %v", shortest, c.VMsPerPolicy, c.SessionPeriod))
	}
	if c.FailingPolicy && topo.BackupServers*c.PoliciesPerServer < 2 {
		errs = append(errs, errors.New("CDP.FailingPolicy needs at least two policies, so that one succeeds"))
	}
	if c.LaggingVM < 0 {
		errs = append(errs, fmt.Errorf("CDP.LaggingVM must not be negative, got %v", c.LaggingVM))
	}
	return errs
}

type cdpPolicy struct {
	index       int
	name        string
	id          guid
	server      *backupServer
	platform    string
	description string
	rpo         time.Duration
	// shortTerm is how far back the journal reaches.
	shortTerm time.Duration
	// period is how long each session lives, offset where in the period
	// sessions start.
	period, offset time.Duration
	vms            []*virtualMachine
	failing        bool
	// lagging is the VM behind its RPO since lagSince; nil for none.
	lagging  *virtualMachine
	lagSince time.Time
	// nextSlot is the first slot not planned yet.
	nextSlot int64
}

// slotStart is when the policy's session of slot starts.
func (p *cdpPolicy) slotStart(slot int64) time.Time {
	return time.Unix(0, slot*int64(p.period)+int64(p.offset)).UTC()
}

// nextRunAt is the start of the policy's next session after now.
func (p *cdpPolicy) nextRunAt(now time.Time) time.Time {
	return p.slotStart(ceilDiv(now.UnixNano()-int64(p.offset)+1, int64(p.period)))
}

type cdpSession struct {
	id            guid
	policy        *cdpPolicy
	creation, end time.Time
	result        result
	failure       string // FailureMessage once ended; "" on success
	padded        bool
	tasks         []*cdpTask
}

type cdpTask struct {
	id            guid
	session       *cdpSession
	vm            *virtualMachine
	creation, end time.Time
	result        result
	reason        string
	padded        bool
}

// cdpData is the CDP policies and their planned sessions.
type cdpData struct {
	policies []*cdpPolicy  // sorted by UID, as queries list them
	sessions []*cdpSession // sorted by creation, then UID
	tasks    []*cdpTask    // sorted by creation, then UID
	// failing and lagging are the special policies; nil for none.
	failing, lagging *cdpPolicy
}

func (n siteNames) cdpPolicy(index int) string {
	return n.job("CDP Policy", index)
}

// cdpVM names the VMs of the CDP policies apart from the jobs' VMs.
func (n siteNames) cdpVM(index int) string {
	name := fmt.Sprintf("cdp-%s%03d", vmRoles[index%len(vmRoles)], index/len(vmRoles)+1)
	if n.site == "" {
		return name
	}
	return n.site + "-" + name
}

var cdpDescriptions = []string{
	"Continuous replication of tier-0 databases to the DR site.",
	"Created by CORP\\veeam-admin: near-zero RPO for the payment gateway.",
	"",
}

// newCDP builds the policies of the topology; start is the clock's time at
// construction, before which the lagging VM fell behind and from History
// before which sessions are planned.
func newCDP(seed int64, topo Topology, servers []*backupServer, start time.Time) *cdpData {
	c := &cdpData{}
	cfg := topo.CDP
	if cfg.PoliciesPerServer == 0 {
		return c
	}
	names := siteNames{site: topo.Site}
	vcenterStream := newStream(seed, kindVCenter)
	vcenter := vcenterStream.guid()
	total := len(servers) * cfg.PoliciesPerServer
	from := start.Add(-topo.History)
	vmIndex := 0
	for i := range total {
		st := newStream(seed, kindCdpPolicy, int64(i))
		p := &cdpPolicy{index: i, name: names.cdpPolicy(i), id: st.guid(), server: servers[i%len(servers)],
			platform: platformVMware, description: cdpDescriptions[i%len(cdpDescriptions)], rpo: cfg.RPOs[0],
			shortTerm: 4 * time.Hour, period: cfg.SessionPeriod}
		if i%3 == 2 {
			p.platform = platformVCloud
		}
		if i%2 == 1 {
			p.shortTerm = 90 * time.Minute
			if cfg.RPOs[1] > 0 {
				p.rpo = cfg.RPOs[1]
			}
		}
		if cfg.FailingPolicy && i == total-1 {
			p.failing = true
			p.period = min(p.period, failingCDPPeriod)
			c.failing = p
		}
		p.offset = spread(p.period, i, total)
		for range cfg.VMsPerPolicy {
			vst := newStream(seed, kindCdpVM, int64(vmIndex))
			p.vms = append(p.vms, &virtualMachine{index: vmIndex, name: names.cdpVM(vmIndex),
				uid: vmUID(seed, vcenter, cdpVMIndexBase+vmIndex), totalSize: int64(20+vst.intn(481)) * gib})
			vmIndex++
		}
		// The session running when the history starts is there too.
		p.nextSlot = floorDiv(from.UnixNano()-int64(p.offset), int64(p.period))
		c.policies = append(c.policies, p)
	}
	if cfg.LaggingVM > 0 {
		p := c.policies[0]
		p.lagging, p.lagSince = p.vms[len(p.vms)-1], start.Add(-cfg.LaggingVM).Truncate(time.Second)
		c.lagging = p
	}
	slices.SortFunc(c.policies, func(a, b *cdpPolicy) int { return strings.Compare(cdpPolicyUID(a), cdpPolicyUID(b)) })
	return c
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// extend plans the sessions that start before until, and drops those that
// ended more than retention before now (0 keeps everything); a running
// session is never dropped.
func (c *cdpData) extend(seed int64, from, until, now time.Time, retention time.Duration) {
	var sessions []*cdpSession
	var tasks []*cdpTask
	for _, p := range c.policies {
		for ; p.slotStart(p.nextSlot).Before(until); p.nextSlot++ {
			s := p.plan(seed, p.nextSlot)
			sessions = append(sessions, s)
			tasks = append(tasks, s.tasks...)
		}
	}
	c.sessions = appendSorted(c.sessions, sessions, from, cdpSessionCreation, compareCdpSessions)
	c.tasks = appendSorted(c.tasks, tasks, from, cdpTaskCreation, compareCdpTasks)
	if retention > 0 {
		cutoff := now.Add(-retention)
		c.sessions = dropEnded(c.sessions, cutoff, func(s *cdpSession) time.Time { return s.end })
		c.tasks = dropEnded(c.tasks, cutoff, func(t *cdpTask) time.Time { return t.end })
	}
}

// dropEnded removes the longest prefix of items that all ended before
// cutoff, copying the rest so the dropped ones can be freed.
func dropEnded[T any](items []T, cutoff time.Time, end func(T) time.Time) []T {
	i := 0
	for i < len(items) && end(items[i]).Before(cutoff) {
		i++
	}
	if i == 0 {
		return items
	}
	return slices.Clone(items[i:])
}

var cdpFailureReasons = []string{
	"Error: Failed to connect to the CDP proxy cdp-proxy01.corp.local: the remote side closed the connection.",
	"Error: The I/O filter is not installed on host esx07.corp.local; install it from the vSphere cluster's I/O filter page.",
	"Error: Not enough space on the target datastore \"ds-cdp-01\" for the journal.",
}

var cdpSessionFailures = []string{
	"Error: CDP policy failed: the CDP proxy is unavailable.",
	"Error: CDP policy failed: no VM could be processed.",
}

// plan plans the policy's session of slot: it starts seconds after the
// slot does and ends a second or two before the next one starts; its
// tasks start staggered and end seconds before it.
func (p *cdpPolicy) plan(seed int64, slot int64) *cdpSession {
	st := newStream(seed, kindCdpSession, int64(p.index), slot)
	s := &cdpSession{id: st.guid(), policy: p, padded: st.intn(8) == 0}
	s.creation = truncateDigits(p.slotStart(slot).Add(st.between(time.Second, 5*time.Second)), st.intn(7))
	s.end = truncateDigits(p.slotStart(slot+1).Add(-st.between(time.Second, 2*time.Second)), st.intn(7))
	s.tasks = make([]*cdpTask, len(p.vms))
	cursor := s.creation
	warnings := 0
	for i, vm := range p.vms {
		ts := newStream(seed, kindCdpTask, int64(p.index), slot, int64(vm.index))
		// A whole second at least, so that truncating the fraction keeps
		// the task after its session's creation.
		cursor = cursor.Add(time.Second + ts.between(0, time.Second))
		t := &cdpTask{id: ts.guid(), session: s, vm: vm, creation: truncateDigits(cursor, ts.intn(7)), padded: ts.intn(8) == 0}
		t.end = truncateDigits(s.end.Add(-ts.between(time.Second, 4*time.Second)), ts.intn(7))
		switch {
		case p.failing:
			t.result, t.reason = resultFailed, cdpFailureReasons[ts.intn(len(cdpFailureReasons))]
		case vm == p.lagging && t.end.After(p.lagSince):
			t.result, t.reason = resultWarning, rpoNotMetReason(p.rpo)
			warnings++
		default:
			t.result = resultSuccess
		}
		s.result = max(s.result, t.result)
		s.tasks[i] = t
	}
	switch s.result {
	case resultFailed:
		s.failure = cdpSessionFailures[st.intn(len(cdpSessionFailures))]
	case resultWarning:
		s.failure = fmt.Sprintf("RPO was not met for %d of %d VMs.", warnings, len(p.vms))
	}
	return s
}

func rpoNotMetReason(rpo time.Duration) string {
	return fmt.Sprintf("RPO was not met: the latest restore point is older than the RPO of %s; the journal transfer is falling behind.", rpoText(rpo))
}

// rpoText writes an RPO as the console does: "15 seconds", "1 minute".
func rpoText(rpo time.Duration) string {
	value, unit := rpoValue(rpo)
	unit = strings.ToLower(unit)
	if value == 1 {
		unit = strings.TrimSuffix(unit, "s")
	}
	return fmt.Sprintf("%d %s", value, unit)
}

// rpoValue is the RPO in the unit EM writes it in: minutes when whole,
// seconds otherwise.
func rpoValue(rpo time.Duration) (int64, string) {
	if rpo%time.Minute == 0 {
		return int64(rpo / time.Minute), "Minutes"
	}
	return int64(rpo / time.Second), "Seconds"
}

func (s *cdpSession) name() string {
	return s.policy.name + "@" + s.creation.Format(nameTimeLayout)
}

// stateAt is Working with progress by elapsed time while the session
// runs, Stopped with its result once it ended.
func (s *cdpSession) stateAt(now time.Time) (jobState, result, int) {
	if !now.Before(s.end) {
		return jobStopped, s.result, 100
	}
	progress := int(now.Sub(s.creation) * 100 / s.end.Sub(s.creation))
	return jobWorking, resultNone, min(max(progress, 0), 99)
}

func (s *cdpSession) endAt(now time.Time) time.Time {
	if now.Before(s.end) {
		return time.Time{}
	}
	return s.end
}

func (s *cdpSession) failureAt(now time.Time) string {
	if now.Before(s.end) {
		return ""
	}
	return s.failure
}

func (t *cdpTask) name() string {
	return t.vm.name + "@" + t.creation.Format(nameTimeLayout)
}

func (t *cdpTask) stateAt(now time.Time) (taskState, result) {
	if now.Before(t.end) {
		return taskInProgress, resultNone
	}
	return taskCompleted, t.result
}

func (t *cdpTask) endAt(now time.Time) time.Time {
	if now.Before(t.end) {
		return time.Time{}
	}
	return t.end
}

func (t *cdpTask) reasonAt(now time.Time) string {
	if now.Before(t.end) {
		return ""
	}
	return t.reason
}

func compareCdpSessions(a, b *cdpSession) int {
	if c := a.creation.Compare(b.creation); c != 0 {
		return c
	}
	return bytes.Compare(a.id[:], b.id[:])
}

func compareCdpTasks(a, b *cdpTask) int {
	if c := a.creation.Compare(b.creation); c != 0 {
		return c
	}
	return bytes.Compare(a.id[:], b.id[:])
}

func cdpSessionCreation(s *cdpSession) time.Time { return s.creation }
func cdpTaskCreation(t *cdpTask) time.Time       { return t.creation }
