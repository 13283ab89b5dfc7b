package usage

import (
	"context"
	"net/http"
	"time"
)

// Options configures a Prober. Zero values take the defaults.
type Options struct {
	// AllowPrivateNetworks (PROBE_ALLOW_PRIVATE_NETWORKS=1) lifts the address
	// check and allows plain http. Local testing only.
	AllowPrivateNetworks bool
	// Timeout bounds a whole probe (every request it makes). Default 10 s.
	Timeout time.Duration
	// MaxBodyBytes caps each response body read. Default 4 MiB.
	MaxBodyBytes int64
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Client replaces the SSRF-safe client (tests only; nil = NewHTTPClient).
	Client *http.Client

	resolve resolver // tests: replaces DNS in the default client
}

// Target is what to probe.
type Target struct {
	Provider   string
	AccountKey string
	BaseURL    string // "" = the provider's default
	APIKey     string
}

// Prober probes providers. It is safe for concurrent use; it holds no
// per-probe state.
type Prober struct {
	client       *http.Client
	allowPrivate bool
	timeout      time.Duration
	maxBody      int64
	now          func() time.Time
}

const (
	defaultTimeout = 10 * time.Second
	defaultMaxBody = 4 << 20
	// maxModels bounds the model list kept in a Result (DynamoDB item size).
	maxModels = 2000
	// maxReason bounds the provider message quoted in an error.
	maxReason = 160
	userAgent = "provider-credentials-probe/1"
)

// NewProber returns a Prober with opts' defaults filled in.
func NewProber(opts Options) *Prober {
	p := &Prober{
		client:       opts.Client,
		allowPrivate: opts.AllowPrivateNetworks,
		timeout:      opts.Timeout,
		maxBody:      opts.MaxBodyBytes,
		now:          opts.Now,
	}
	if p.client == nil {
		p.client = newHTTPClient(opts.AllowPrivateNetworks, opts.resolve)
	}
	if p.timeout <= 0 {
		p.timeout = defaultTimeout
	}
	if p.maxBody <= 0 {
		p.maxBody = defaultMaxBody
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// Probe asks the provider what the key can do and how much of its rate-limit
// windows is left. It never fails: an unsupported provider, a refused base
// URL, an unreachable provider, a rejected key, a timeout or a TLS failure
// come back as Reachable=false with a short, redacted Error.
func (p *Prober) Probe(ctx context.Context, t Target) Result {
	checked := p.now().UTC().Truncate(time.Microsecond)
	s := &session{p: p, t: t, res: Result{Provider: t.Provider, AccountKey: t.AccountKey, CheckedAt: checked}}
	s.run(ctx)
	return s.finish()
}
