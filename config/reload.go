package config

import (
	"fmt"
	"sync"
	"time"
)

// Reloader holds the current configuration and replaces it on Reload. A
// reload that fails keeps the configuration in use, so a typo in the file
// never takes working targets away. It is safe for concurrent use.
type Reloader struct {
	path string
	now  func() time.Time

	reloading sync.Mutex // held for a whole reload, so reloads run one at a time

	mu             sync.RWMutex
	current        *Config
	lastSuccessful bool
	lastSuccessAt  time.Time
}

// NewReloader loads the file at path and fails if it cannot: there is no
// configuration to fall back on yet. now tells the time of reloads for the
// metrics; nil uses time.Now.
func NewReloader(path string, now func() time.Time) (*Reloader, error) {
	if now == nil {
		now = time.Now
	}
	cfg, err := Load(path)
	if err != nil {
		return nil, err
	}
	return &Reloader{path: path, now: now, current: cfg, lastSuccessful: true, lastSuccessAt: now()}, nil
}

// Reload loads the file again. On success the new configuration replaces the
// current one; on failure the current one stays and the error is returned.
// Either way the outcome is recorded for the reload metrics.
func (r *Reloader) Reload() error {
	r.reloading.Lock()
	defer r.reloading.Unlock()
	cfg, err := Load(r.path)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.lastSuccessful = false
		return fmt.Errorf("reload configuration: %w", err)
	}
	r.current = cfg
	r.lastSuccessful = true
	r.lastSuccessAt = r.now()
	return nil
}

// Config returns the configuration in use. It must not be modified.
func (r *Reloader) Config() *Config {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current
}

// Module returns the auth module called name in the configuration in use.
func (r *Reloader) Module(name string) (AuthModule, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	module, ok := r.current.AuthModules[name]
	return module, ok
}

// LastReload tells whether the latest load succeeded and when the latest
// successful one happened.
func (r *Reloader) LastReload() (successful bool, successAt time.Time) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.lastSuccessful, r.lastSuccessAt
}
