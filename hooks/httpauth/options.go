package httpauth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Defaults of Options.
const (
	DefaultTimeout     = 2 * time.Second
	DefaultCacheTTL    = 30 * time.Second
	DefaultDenyTTL     = 5 * time.Second
	DefaultCacheSize   = 10000
	DefaultMaxInflight = 256
	// DefaultLogEvery is how often at most a failure is logged; the
	// failures in between are counted and reported with the next record.
	DefaultLogEvery = 10 * time.Second
)

// Options configure the hook; AddHook(h, &httpauth.Options{...}) passes
// them to Init. At least one of AuthURL and ACLURL must be set.
type Options struct {
	// AuthURL is POSTed each CONNECT's credentials; "": the hook does not
	// provide OnConnectAuthenticate.
	AuthURL string
	// ACLURL is POSTed each publish and subscription to check; "": the
	// hook does not provide OnACLCheck.
	ACLURL string
	// Timeout bounds each request, connecting included, whatever Client
	// says; 0: DefaultTimeout.
	Timeout time.Duration
	// CacheTTL is how long an "allow" is remembered; 0: DefaultCacheTTL,
	// negative: allows are not cached.
	CacheTTL time.Duration
	// DenyTTL is how long a "deny" is remembered, shorter than allows so
	// that a fixed backend rule takes effect soon; 0: DefaultDenyTTL,
	// negative: denials are not cached. Failures are never cached.
	DenyTTL time.Duration
	// CacheSize bounds the answers remembered. They are kept in 32 shards
	// by client id, each holding a 32nd of CacheSize (rounded up) and
	// evicting its least recently used answer past that, so that the
	// event loops do not contend for one lock. 0: DefaultCacheSize,
	// negative: no cache at all.
	CacheSize int
	// MaxInflight bounds the requests in flight at once; a question that
	// would need one more is refused at once and counted (Stats.Rejected)
	// rather than queued. 0: DefaultMaxInflight.
	MaxInflight int
	// Client makes the requests; nil: a client of the hook's own whose
	// transport keeps up to MaxInflight idle connections to the backend and
	// which follows no redirect.
	Client *http.Client
	// Header is added to every request, e.g. an Authorization for the
	// backend. It is copied by Init.
	Header http.Header
	// Logger receives failures, at most one record per LogEvery; nil: the
	// broker's logger once added with AddHook, else slog.Default().
	Logger *slog.Logger
	// LogEvery: 0: DefaultLogEvery.
	LogEvery time.Duration
}

// withDefaults checks o and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	if o.AuthURL == "" && o.ACLURL == "" {
		return o, errors.New("httpauth: neither AuthURL nor ACLURL is set; the hook would decide nothing")
	}
	for _, u := range []string{o.AuthURL, o.ACLURL} {
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil {
			return o, fmt.Errorf("httpauth: %w", err)
		}
		if (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return o, fmt.Errorf("httpauth: %q is not an http or https URL", u)
		}
	}
	if o.Timeout < 0 || o.MaxInflight < 0 || o.LogEvery < 0 {
		return o, fmt.Errorf("httpauth: Timeout (%v), MaxInflight (%d) and LogEvery (%v) may not be negative",
			o.Timeout, o.MaxInflight, o.LogEvery)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.DenyTTL == 0 {
		o.DenyTTL = DefaultDenyTTL
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.MaxInflight == 0 {
		o.MaxInflight = DefaultMaxInflight
	}
	if o.LogEvery == 0 {
		o.LogEvery = DefaultLogEvery
	}
	if o.Client == nil {
		// The default transport keeps two idle connections per host: under
		// a burst of connects most requests would open a new one.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = o.MaxInflight
		o.Client = &http.Client{Timeout: o.Timeout, Transport: t,
			// A redirect would be followed as a GET without the question, or
			// resend the password elsewhere: a 3xx is a failure instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	o.Header = o.Header.Clone()
	return o, nil
}
