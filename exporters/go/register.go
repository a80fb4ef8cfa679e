package covgate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Registration keeps a lease at a covgate gateway (POST /api/v1/targets), renewed at a
// third of its TTL, retried with capped exponential backoff and jitter while the gateway
// is unreachable or refuses, like the Node exporter's. Failures are logged, never fatal.
type Registration struct {
	Gateway string            // gateway base URL, e.g. http://covgate:9464
	Job     string            // scrape job
	URL     string            // this target's base URL the gateway scrapes
	Labels  map[string]string // target labels (service, …)
	TTL     time.Duration     // lease length; default 60s
	Token   string            // bearer token for the gateway's write endpoints
	Logf    func(format string, args ...any)

	mu     sync.Mutex
	id     string
	cancel context.CancelFunc
	done   chan struct{}
	client *http.Client
}

func (r *Registration) logf(format string, args ...any) {
	if r.Logf != nil {
		r.Logf(format, args...)
	}
}

func formatTTL(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int64(d/time.Second))
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

// Start registers in the background. Safe to call once; Stop ends it.
func (r *Registration) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel != nil {
		return
	}
	if r.TTL <= 0 {
		r.TTL = 60 * time.Second
	}
	r.client = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done = make(chan struct{})
	go r.loop(ctx)
}

func (r *Registration) register(ctx context.Context) error {
	labels := r.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	body, _ := json.Marshal(map[string]any{"job": r.Job, "url": r.URL, "labels": labels, "ttl": formatTTL(r.TTL)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(r.Gateway, "/")+"/api/v1/targets", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	res, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
		return fmt.Errorf("gateway answered %s: %s", res.Status, strings.TrimSpace(string(b)))
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.ID == "" {
		return fmt.Errorf("gateway answered without a target id: %s", strings.TrimSpace(string(b)))
	}
	r.mu.Lock()
	r.id = out.ID
	r.mu.Unlock()
	return nil
}

func (r *Registration) loop(ctx context.Context) {
	defer close(r.done)
	backoff := 500 * time.Millisecond
	maxBackoff := r.TTL / 3
	if maxBackoff > 30*time.Second {
		maxBackoff = 30 * time.Second
	}
	if maxBackoff < time.Second {
		maxBackoff = time.Second
	}
	for {
		wait := r.TTL / 3
		if err := r.register(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			wait = backoff/2 + time.Duration(rand.Int63n(int64(backoff/2)+1))
			r.logf("covgate exporter: registration with %s failed (retry in %s): %v", r.Gateway, wait, err)
			if backoff *= 2; backoff > maxBackoff {
				backoff = maxBackoff
			}
		} else {
			backoff = 500 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// ID is the gateway's target id once registered.
func (r *Registration) ID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.id
}

// Stop cancels renewals and deregisters (DELETE /api/v1/targets/<id>; the gateway
// scrapes one last time first). Safe before Start and twice.
func (r *Registration) Stop(timeout time.Duration) {
	r.mu.Lock()
	cancel, done, id := r.cancel, r.done, r.id
	r.cancel = func() {}
	r.id = ""
	r.mu.Unlock()
	if cancel == nil || done == nil {
		return
	}
	cancel()
	<-done
	if id == "" {
		return
	}
	ctx, c := context.WithTimeout(context.Background(), timeout)
	defer c()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, strings.TrimRight(r.Gateway, "/")+"/api/v1/targets/"+id, nil)
	if err != nil {
		return
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	if res, err := r.client.Do(req); err == nil {
		res.Body.Close()
	}
}
