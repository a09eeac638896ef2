package collector

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// cdpUnit is the cdp collector: the CDP policies, read in full once per
// inventory interval like the jobs, and their sessions, read incrementally
// at every refresh like the replica sessions. CDP sessions can run for days:
// the session state follows a running session from its creation to its end
// and counts it once, at its end, as long as it is younger than the lookback.
type cdpUnit struct {
	sessions *kindCollector
	policies *inventory
	// policiesRead is when the last successful read of the policies began,
	// by the Collector's clock; policiesPending says it waits for publish.
	policiesRead    time.Time
	policiesPending bool
}

func newCDPUnit(opts Options) (unit, error) {
	kind, err := kindOf(CDP)
	if err != nil {
		return nil, err
	}
	return &cdpUnit{sessions: newKindCollector(kind, opts), policies: newCDPPolicyInventory(opts.InventoryInterval)}, nil
}

// newCDPPolicyInventory reads every CDP policy. VBR lists the policies among
// the jobs, so a policy's name is its job_name.
func newCDPPolicyInventory(every time.Duration) *inventory {
	info := newFamily("cdp_policy", "info", dto.MetricType_GAUGE,
		"Every CDP policy Enterprise Manager knows, with its platform as EM gives it; always 1. job_name is the policy's name.",
		"backup_server", "job_name", "platform")
	enabled := newFamily("cdp_policy", "schedule_enabled", dto.MetricType_GAUGE,
		"1 if the CDP policy is enabled (ScheduleEnabled), 0 if it was disabled.",
		"backup_server", "job_name")
	rpo := newFamily("cdp_policy", "rpo_seconds", dto.MetricType_GAUGE,
		"Recovery point objective configured for the CDP policy (PolicyScheduleOptions); absent when EM gives none.",
		"backup_server", "job_name")
	return &inventory{
		kind: CDP, every: every, types: []string{veeam.CdpPolicyType},
		descs: []*family{info, enabled, rpo},
		fetch: func(ctx context.Context, src Source, emit emitFunc) []*fetchError {
			_, err := src.CdpPolicies(ctx, func(p veeam.Page[veeam.CdpPolicy]) error {
				for _, policy := range p.Items {
					emit(info, 1, policy.BackupServerName, policy.Name, policy.Platform)
					emit(enabled, boolValue(policy.ScheduleEnabled), policy.BackupServerName, policy.Name)
					if objective, ok := policy.RPO.Get(); ok {
						emit(rpo, objective.Seconds(), policy.BackupServerName, policy.Name)
					}
				}
				return nil
			})
			if err != nil {
				return []*fetchError{{what: "CDP policies", err: err}}
			}
			return nil
		},
	}
}

func (u *cdpUnit) name() Kind { return CDP }

func (u *cdpUnit) seriesDescs() []*prometheus.Desc {
	return append(u.policies.seriesDescs(), u.sessions.seriesDescs()...)
}

func (u *cdpUnit) requestTypes() []string {
	return append(u.policies.requestTypes(), u.sessions.requestTypes()...)
}

// interval is 0: the sessions are read at every refresh; the policies
// follow their own interval within read.
func (u *cdpUnit) interval() time.Duration { return 0 }

// read reads the sessions and, when due, the policies, at the same time.
// Either failing fails the unit, which then keeps serving what it last
// published; policies read meanwhile are published with the next success.
func (u *cdpUnit) read(ctx context.Context, c *Collector) (bool, []*fetchError) {
	began := c.now()
	c.mu.RLock()
	policiesDue := u.policiesRead.IsZero() || began.Sub(u.policiesRead) >= u.policies.interval()
	c.mu.RUnlock()
	var policyErrs []*fetchError
	var policies sync.WaitGroup
	if policiesDue {
		policies.Go(func() {
			if policyErrs = u.policies.fetchInto(ctx, c); len(policyErrs) == 0 {
				c.mu.Lock()
				u.policiesRead, u.policiesPending = began, true
				c.mu.Unlock()
			}
		})
	}
	progressed, errs := u.sessions.read(ctx, c)
	policies.Wait()
	return progressed, append(policyErrs, errs...)
}

func (u *cdpUnit) loaded() bool          { return u.sessions.loaded() }
func (u *cdpUnit) loadProgress() float64 { return u.sessions.loadProgress() }

func (u *cdpUnit) publish() bool {
	changed := u.sessions.publish()
	if u.policiesPending {
		u.policiesPending = false
		changed = u.policies.publish() || changed
	}
	return changed
}

func (u *cdpUnit) families() []cachedFamily {
	return slices.Concat(u.policies.families(), u.sessions.families())
}

func (u *cdpUnit) queryMetrics(d *ownDescs) []prometheus.Metric { return u.sessions.queryMetrics(d) }
