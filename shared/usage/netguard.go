package usage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrAddressNotAllowed is returned (wrapped) by the safe client's dialer when
// a host resolves to an address the probe may not reach.
var ErrAddressNotAllowed = errors.New("address not allowed")

// errRedirect is returned by the safe client instead of following a redirect.
var errRedirect = errors.New("redirect not followed")

// refusedPrefixes are non-public ranges beyond what netip's predicates cover.
var refusedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT (also Alibaba's metadata 100.100.100.200)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, incl. broadcast
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated)
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64 (would reach any IPv4)
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

// sixToFour is 2002::/16, which embeds an IPv4 address.
var sixToFour = netip.MustParsePrefix("2002::/16")

// IPv6 is allowed only inside global unicast 2000::/3 (which leaves out
// every IPv4-embedding form but 6to4 and Teredo), and never Teredo, whose
// tunnel endpoints can reach anything.
var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	teredo         = netip.MustParsePrefix("2001::/32")
)

// AddressAllowed reports whether the probe may connect to ip: a public
// unicast address. Loopback, private (RFC 1918, CGNAT 100.64/10), link-local
// (169.254/16 incl. 169.254.169.254, fe80::/10), unique-local fc00::/7 (incl.
// fd00:ec2::254), unspecified, multicast, broadcast and the reserved ranges
// above are refused. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, the form Go
// gives an IPv4 entry of /etc/hosts) is judged as the IPv4 address it maps:
// ::ffff:8.8.8.8 is allowed, ::ffff:127.0.0.1 and ::ffff:169.254.169.254 are
// not.
func AddressAllowed(ip netip.Addr) bool {
	if !ip.IsValid() || ip.Zone() != "" {
		return false
	}
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsMulticast() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range refusedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	if ip.Is6() && (!globalUnicast6.Contains(ip) || teredo.Contains(ip)) {
		return false
	}
	if sixToFour.Contains(ip) {
		b := ip.As16()
		return AddressAllowed(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	}
	return true
}

// resolver looks up the addresses of a host name.
type resolver func(ctx context.Context, host string) ([]netip.Addr, error)

func defaultResolver(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// safeDialer resolves, checks every address, then dials the checked address
// itself, so a DNS answer that changes between check and dial (rebinding)
// cannot slip through. The net.Dialer's Control checks again at connect time.
type safeDialer struct {
	allowPrivate bool
	resolve      resolver
	dialer       *net.Dialer
	// connect dials a checked literal address: the dialer's DialContext
	// (tests replace it to see what is dialled).
	connect func(ctx context.Context, network, address string) (net.Conn, error)
}

func newSafeDialer(allowPrivate bool, resolve resolver) *safeDialer {
	if resolve == nil {
		resolve = defaultResolver
	}
	d := &safeDialer{allowPrivate: allowPrivate, resolve: resolve}
	d.dialer = &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: d.control}
	d.connect = d.dialer.DialContext
	return d
}

// control runs on the socket about to connect, with the literal address.
func (d *safeDialer) control(network, address string, _ syscall.RawConn) error {
	if d.allowPrivate {
		return nil
	}
	if network != "tcp4" && network != "tcp6" && network != "tcp" {
		return fmt.Errorf("usage: network %q: %w", network, ErrAddressNotAllowed)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !AddressAllowed(ap.Addr()) {
		return ErrAddressNotAllowed
	}
	return nil
}

func (d *safeDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		if !d.allowPrivate && refusedHostName(host) {
			return nil, ErrAddressNotAllowed
		}
		addrs, err = d.resolve(ctx, host)
		if err != nil {
			return nil, err
		}
	}
	lastErr := error(ErrAddressNotAllowed)
	for _, ip := range addrs {
		// Dial exactly what was judged: an IPv4-mapped address (a hosts-file
		// entry) is dialled, and checked again by control, as plain IPv4.
		ip = ip.WithZone("").Unmap()
		if !d.allowPrivate && !AddressAllowed(ip) {
			continue
		}
		conn, err := d.connect(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return conn, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// NewHTTPClient returns the SSRF-safe client the probe uses: the dialer
// refuses non-public addresses after resolution (unless allowPrivate), plain
// http is refused (unless allowPrivate), redirects are never followed, and
// proxies from the environment are ignored. Bound each request with a context
// deadline and cap bodies yourself (Probe does both). Safe for concurrent use.
func NewHTTPClient(allowPrivate bool) *http.Client {
	return newHTTPClient(allowPrivate, nil)
}

func newHTTPClient(allowPrivate bool, resolve resolver) *http.Client {
	return newSafeDialer(allowPrivate, resolve).httpClient()
}

// httpClient is the SSRF-safe client over d.
func (d *safeDialer) httpClient() *http.Client {
	allowPrivate := d.allowPrivate
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  30 * time.Second,
		MaxIdleConns:           32,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        60 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	var rt http.RoundTripper = tr
	if !allowPrivate {
		rt = httpsOnly{tr}
	}
	return &http.Client{
		Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errRedirect
		},
	}
}

// httpsOnly refuses plain-http requests.
type httpsOnly struct{ next http.RoundTripper }

func (h httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, errNotHTTPS
	}
	return h.next.RoundTrip(r)
}

var errNotHTTPS = errors.New("https required")

// errBaseURLAddress is ValidateBaseURL's refusal of an address or local name.
var errBaseURLAddress = errors.New("base_url address not allowed")

// ValidateBaseURL checks a credential's base_url before it is stored or used,
// for a 422. The empty string is valid (the provider's default; the caller
// decides whether a base URL is required). Without allowPrivate the URL must
// be https, and its host must not be a refused literal address in any
// encoding (decimal 2130706433, octal 0177.0.0.1, hex 0x7f.1, [::ffff:127.0.0.1],
// ...) nor a local name (localhost, *.localhost, *.internal, *.local, or a
// name without a dot). Addresses only resolution reveals are refused at dial
// time instead. Error messages are short and safe to show users.
func ValidateBaseURL(provider, raw string, allowPrivate bool) error {
	_ = provider // every provider follows the same rules today
	if raw == "" {
		return nil
	}
	if len(raw) > 2048 {
		return errors.New("base_url is too long")
	}
	for _, c := range raw {
		if c <= ' ' || c == 0x7f {
			return errors.New("base_url must not contain spaces or control characters")
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return errors.New("base_url is not a valid URL")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !allowPrivate {
			return errors.New("base_url must use https")
		}
	default:
		return errors.New("base_url must be an https URL")
	}
	if u.User != nil || strings.Contains(u.Host, "@") {
		return errors.New("base_url must not contain credentials")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(raw, "?#") {
		return errors.New("base_url must not contain a query or fragment")
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("base_url must include a host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return errors.New("base_url has an invalid port")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return errors.New("base_url has an invalid port")
	}
	if allowPrivate {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !AddressAllowed(ip) || strings.Contains(host, "%") {
			return errBaseURLAddress
		}
		return nil
	}
	if _, numeric := parseLegacyIPv4(host); numeric {
		// Non-canonical IPv4 spellings are refused whatever they encode.
		return errBaseURLAddress
	}
	if refusedHostName(host) {
		return errBaseURLAddress
	}
	if !validHostName(host) {
		return errors.New("base_url has an invalid host")
	}
	return nil
}

// refusedHostName reports local-only names.
func refusedHostName(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "" || !strings.Contains(h, ".") {
		return true // localhost, single-label names resolved via search domains
	}
	for _, suf := range []string{".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan"} {
		if strings.HasSuffix(h, suf) {
			return true
		}
	}
	return false
}

func validHostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// parseLegacyIPv4 reads the inet_aton spellings some resolvers accept: one to
// four parts, each decimal, octal (leading 0) or hex (0x), the last filling
// the remaining bytes ("2130706433", "0177.0.0.1", "0x7f.1", "127.1").
// numeric reports whether host looks like such a spelling at all (then it is
// refused even when it overflows).
func parseLegacyIPv4(host string) (ip netip.Addr, numeric bool) {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "" {
		return netip.Addr{}, false
	}
	parts := strings.Split(h, ".")
	// The last label of a real DNS name is never all-numeric, so a numeric-
	// looking last label means an address spelling.
	last := parts[len(parts)-1]
	if !looksNumeric(last) {
		return netip.Addr{}, false
	}
	if len(parts) > 4 {
		return netip.Addr{}, true
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		v, ok := parseIPv4Part(p)
		if !ok {
			return netip.Addr{}, true
		}
		vals[i] = v
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, true
		}
		n |= v << (8 * (3 - i))
	}
	lastV := vals[len(vals)-1]
	if lastV >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, true
	}
	n |= lastV
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

func looksNumeric(s string) bool {
	if s == "" {
		return false
	}
	if strings.HasPrefix(s, "0x") {
		return true
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func parseIPv4Part(p string) (uint64, bool) {
	base := 10
	switch {
	case strings.HasPrefix(p, "0x"):
		base, p = 16, p[2:]
		if p == "" {
			return 0, true
		}
	case len(p) > 1 && p[0] == '0':
		base, p = 8, p[1:]
	}
	if p == "" || len(p) > 12 {
		return 0, false
	}
	v, err := strconv.ParseUint(p, base, 64)
	return v, err == nil
}
