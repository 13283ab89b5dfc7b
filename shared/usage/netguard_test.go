package usage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// refusedURLs are base URLs ValidateBaseURL refuses without allowPrivate.
var refusedURLs = []string{
	"https://127.0.0.1/v1",
	"https://2130706433/v1",             // decimal 127.0.0.1
	"http://2130706433/v1",              // and plain http
	"https://0177.0.0.1/v1",             // octal
	"https://0x7f.1/v1",                 // hex, short form
	"https://0x7f000001/v1",             // hex, one part
	"https://127.1/v1",                  // short form
	"https://017700000001/",             // octal, one part
	"https://[::ffff:127.0.0.1]/v1",     // IPv4-mapped
	"https://[::ffff:7f00:1]/v1",        // IPv4-mapped, hex
	"https://[::1]/v1",                  // IPv6 loopback
	"https://[::]/v1",                   // unspecified
	"https://0.0.0.0/v1",                // unspecified
	"https://0/v1",                      // 0.0.0.0 in one part
	"https://169.254.169.254/latest",    // cloud metadata
	"https://[fd00:ec2::254]/latest",    // AWS IPv6 metadata
	"https://[fe80::1%25eth0]/",         // link-local with zone
	"https://10.0.0.1/v1",               // RFC 1918
	"https://192.168.1.1/v1",            // RFC 1918
	"https://172.16.0.1/v1",             // RFC 1918
	"https://172.31.255.255/v1",         // RFC 1918 upper edge
	"https://100.64.0.1/v1",             // CGNAT
	"https://100.100.100.200/",          // Alibaba metadata (CGNAT)
	"https://255.255.255.255/",          // broadcast
	"https://224.0.0.1/",                // multicast
	"https://[ff02::1]/",                // IPv6 multicast
	"https://[fc00::1]/",                // unique local
	"https://[::127.0.0.1]/",            // IPv4-compatible
	"https://[64:ff9b::a9fe:a9fe]/",     // NAT64 of 169.254.169.254
	"https://[2002:7f00:1::]/",          // 6to4 of 127.0.0.1
	"https://localhost/v1",              // local names
	"https://LOCALHOST./v1",             //
	"https://api.localhost/v1",          //
	"https://metadata.google.internal/", //
	"https://intranet/v1",               // dotless name
	"https://1.2.3.4.5/",                // numeric junk
	"https://0x100000000/",              // overflow
	"http://api.openai.com/v1",          // not https
	"ftp://api.openai.com/v1",           // not http(s)
	"https://user:pw@api.openai.com/v1", // userinfo
	"https://api.openai.com@127.0.0.1/v1",
	"https://api.openai.com/v1?key=x", // query
	"https://api.openai.com/v1?",      // empty query
	"https://api.openai.com/v1#frag",  // fragment
	"https:///v1",                     // no host
	"https://api.openai.com:99999/v1", // bad port
	"https://api.openai.com:/v1",      // empty port
	"https://api open.com/v1",         // space
	"api.openai.com/v1",               // no scheme
	"https://bad_host-.example.com/",  // invalid label
}

func TestValidateBaseURLRefuses(t *testing.T) {
	for _, u := range refusedURLs {
		err := ValidateBaseURL("openai", u, false)
		if err == nil {
			t.Errorf("ValidateBaseURL(%q) = nil, want an error", u)
			continue
		}
		if msg := err.Error(); len(msg) > 80 || strings.Contains(msg, "://") {
			t.Errorf("ValidateBaseURL(%q) message %q: not short and safe", u, msg)
		}
	}
}

func TestValidateBaseURLAccepts(t *testing.T) {
	for _, u := range []string{"", "https://api.openai.com/v1", "https://api.anthropic.com", "https://api.groq.com/openai/v1/",
		"https://my-res.openai.azure.com/openai/deployments/gpt-4o", "https://8.8.8.8/v1", "https://[2606:4700::1111]/v1",
		"https://api.example.com:8443/v1", "HTTPS://API.EXAMPLE.COM/v1", "https://[::ffff:8.8.8.8]/v1"} {
		if err := ValidateBaseURL("openai", u, false); err != nil {
			t.Errorf("ValidateBaseURL(%q) = %v, want nil", u, err)
		}
	}
	// AllowPrivateNetworks lifts the address check and allows http, nothing else.
	for _, u := range []string{"http://127.0.0.1:8080/v1", "http://localhost:11434/v1", "https://10.0.0.1/v1", "http://[::1]:3000"} {
		if err := ValidateBaseURL("openai_compatible", u, true); err != nil {
			t.Errorf("ValidateBaseURL(%q, private) = %v, want nil", u, err)
		}
	}
	for _, u := range []string{"http://u:p@127.0.0.1/", "http://127.0.0.1/?q", "ftp://127.0.0.1/"} {
		if err := ValidateBaseURL("openai_compatible", u, true); err == nil {
			t.Errorf("ValidateBaseURL(%q, private) = nil, want an error", u)
		}
	}
}

func TestAddressAllowed(t *testing.T) {
	refused := []string{"127.0.0.1", "127.255.255.254", "10.1.2.3", "172.16.0.1", "192.168.0.1", "100.64.0.1", "100.127.255.255",
		"169.254.169.254", "169.254.0.1", "0.0.0.0", "0.1.2.3", "255.255.255.255", "224.0.0.251", "240.0.0.1", "192.0.0.192",
		"::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1", "::ffff:127.0.0.1", "::127.0.0.1",
		"64:ff9b::a9fe:a9fe", "2002:a00:1::", "2001:db8::1", "198.18.0.1",
		"::ffff:0:7f00:1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "100::1", "4000::1", "fec0::1"} // IPv4-translated, Teredo, discard, outside 2000::/3, site-local
	for _, s := range refused {
		if AddressAllowed(netip.MustParseAddr(s)) {
			t.Errorf("AddressAllowed(%s) = true, want false", s)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "104.18.6.192", "100.128.0.1", "172.32.0.1", "2606:4700::1111", "2002:808:808::"} {
		if !AddressAllowed(netip.MustParseAddr(s)) {
			t.Errorf("AddressAllowed(%s) = false, want true", s)
		}
	}
	// IPv4-mapped IPv6 (how Go returns an IPv4 entry of /etc/hosts) is judged
	// as the IPv4 address it maps.
	for _, s := range mappedRefused {
		if AddressAllowed(hostsFileAddr(s)) {
			t.Errorf("AddressAllowed(::ffff:%s) = true, want false", s)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "104.18.6.192", "100.128.0.1", "93.184.216.34"} {
		if ip := hostsFileAddr(s); !ip.Is4In6() || !AddressAllowed(ip) {
			t.Errorf("AddressAllowed(%v) = false, want true", ip)
		}
	}
}

// mappedRefused are IPv4 addresses refused in their IPv4-mapped form too:
// loopback, private, link-local, CGNAT/shared, metadata, unspecified,
// broadcast, multicast and reserved.
var mappedRefused = []string{"127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "169.254.0.1",
	"100.64.0.1", "100.100.100.200", "0.0.0.0", "255.255.255.255", "224.0.0.1", "240.0.0.1", "192.0.2.1", "198.18.0.1"}

// hostsFileAddr is s as Go's resolver returns an /etc/hosts entry: parsed by
// net.ParseIP (16 bytes), then converted, so an IPv4 address comes back
// IPv4-mapped (::ffff:a.b.c.d).
func hostsFileAddr(s string) netip.Addr {
	ip, _ := netip.AddrFromSlice(net.ParseIP(s))
	return ip
}

// hostsFile is a resolver answering from a hosts-file-like table, in the
// form Go's resolver gives hosts-file entries.
func hostsFile(table map[string][]string) resolver {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, s := range table[host] {
			out = append(out, hostsFileAddr(s))
		}
		if len(out) == 0 {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return out, nil
	}
}

// TestHostsFileNames goes through the client's real resolve-check-dial path
// with a resolver that answers in the IPv4-mapped form /etc/hosts entries
// take: a name mapped to a public IPv4 address is dialled (as plain IPv4, the
// address judged), one mapped to loopback, private, link-local, CGNAT or
// metadata addresses is refused before any dial.
func TestHostsFileNames(t *testing.T) {
	// The premise, where this machine's /etc/hosts lists localhost as IPv4.
	if addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", "localhost"); err == nil {
		for _, a := range addrs {
			if a.Is4In6() && AddressAllowed(a) {
				t.Errorf("localhost from /etc/hosts (%v) allowed", a)
			}
		}
	}

	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = fmt.Fprint(w, `{"data":[{"id":"gpt-4o-mini"}]}`)
	}))
	defer srv.Close()
	port := fmt.Sprint(srv.Listener.Addr().(*net.TCPAddr).Port)

	table := map[string][]string{"api.hosts-file.example": {"93.184.216.34"}}
	for _, a := range mappedRefused {
		table["refused-"+a+".example"] = []string{a}
	}
	table["all-internal.example"] = []string{"10.1.2.3", "169.254.169.254", "fd00:ec2::254", "::1"}

	// newClient builds the safe client over the hosts-file resolver; its
	// last step (the socket connect) goes to the test server whatever the
	// address, after recording the address the dialer chose.
	var mu sync.Mutex
	var dialled []string
	newClient := func() *http.Client {
		d := newSafeDialer(false, hostsFile(table))
		d.connect = func(ctx context.Context, network, address string) (net.Conn, error) {
			mu.Lock()
			dialled = append(dialled, address)
			mu.Unlock()
			return (&net.Dialer{}).DialContext(ctx, "tcp", srv.Listener.Addr().String())
		}
		c := d.httpClient()
		tlsConf := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		tlsConf.ServerName = "example.com" // the test certificate's name
		c.Transport.(httpsOnly).next.(*http.Transport).TLSClientConfig = tlsConf
		return c
	}

	c := newClient()
	resp, err := c.Get("https://api.hosts-file.example:" + port + "/v1/models")
	if err != nil {
		t.Fatalf("mapped public address: %v", err)
	}
	_ = resp.Body.Close()
	if len(dialled) != 1 || dialled[0] != "93.184.216.34:"+port {
		t.Fatalf("dialled %v, want [93.184.216.34:%s] (the unmapped address judged)", dialled, port)
	}
	// The dialled address also passes the connect-time check.
	if err := newSafeDialer(false, nil).control("tcp4", dialled[0], nil); err != nil {
		t.Fatalf("control(%s) = %v", dialled[0], err)
	}

	// Through Probe: the key reaches the provider and the probe succeeds.
	p := NewProber(Options{Client: newClient(), Now: fixedNow, Timeout: 5 * time.Second})
	res := p.Probe(context.Background(), Target{Provider: "openai_compatible", BaseURL: "https://api.hosts-file.example:" + port + "/v1", APIKey: goodKey})
	if !res.Reachable || res.Error != nil || res.ErrorCode != nil || !slices.Equal(res.Models, []string{"gpt-4o-mini"}) {
		t.Fatalf("probe: reachable %v error %q code %v models %v", res.Reachable, deref(res.Error), res.ErrorCode, res.Models)
	}

	mu.Lock()
	dialled = nil
	mu.Unlock()
	before := hits.Load()
	for host := range table {
		if host == "api.hosts-file.example" {
			continue
		}
		_, err := newClient().Get("https://" + host + ":" + port + "/v1/models")
		if !errors.Is(err, ErrAddressNotAllowed) {
			t.Errorf("%s (%v): err = %v, want ErrAddressNotAllowed", host, table[host], err)
		}
		res := p.Probe(context.Background(), Target{Provider: "openai", BaseURL: "https://" + host + ":" + port + "/v1", APIKey: goodKey})
		if res.Reachable || deref(res.Error) != "address not allowed" || res.ErrorCode == nil || *res.ErrorCode != CodeAddressNotAllowed {
			t.Errorf("probe %s: reachable %v error %q code %v", host, res.Reachable, deref(res.Error), res.ErrorCode)
		}
	}
	if len(dialled) != 0 || hits.Load() != before {
		t.Fatalf("refused names dialled %v (%d requests)", dialled, hits.Load()-before)
	}
}

func TestParseLegacyIPv4(t *testing.T) {
	cases := map[string]string{
		"2130706433": "127.0.0.1", "0177.0.0.1": "127.0.0.1", "0x7f.1": "127.0.0.1", "127.1": "127.0.0.1",
		"0x7f000001": "127.0.0.1", "017700000001": "127.0.0.1", "0": "0.0.0.0", "10.1": "10.0.0.1", "192.168.257": "192.168.1.1",
	}
	for in, want := range cases {
		ip, numeric := parseLegacyIPv4(in)
		if !numeric || ip.String() != want {
			t.Errorf("parseLegacyIPv4(%q) = %v, %v; want %s", in, ip, numeric, want)
		}
	}
	for _, in := range []string{"api.openai.com", "1password.com", "123.example.com"} {
		if _, numeric := parseLegacyIPv4(in); numeric {
			t.Errorf("parseLegacyIPv4(%q) numeric, want a name", in)
		}
	}
}

func TestDialerControlRefuses(t *testing.T) {
	d := newSafeDialer(false, nil)
	for _, a := range []string{"127.0.0.1:443", "[::1]:443", "169.254.169.254:80", "[fd00:ec2::254]:80", "10.0.0.1:443", "[::ffff:127.0.0.1]:443",
		"[::ffff:169.254.169.254]:80", "[::ffff:10.0.0.1]:443", "[::ffff:100.64.0.1]:443"} {
		if err := d.control("tcp4", a, nil); !errors.Is(err, ErrAddressNotAllowed) {
			t.Errorf("control(%s) = %v, want ErrAddressNotAllowed", a, err)
		}
	}
	for _, a := range []string{"8.8.8.8:443", "[::ffff:8.8.8.8]:443"} {
		if err := d.control("tcp4", a, nil); err != nil {
			t.Errorf("control(%s) = %v", a, err)
		}
	}
	if err := d.control("udp4", "8.8.8.8:53", nil); err == nil {
		t.Errorf("control(udp) = nil, want refusal")
	}
	if err := newSafeDialer(true, nil).control("tcp4", "127.0.0.1:1", nil); err != nil {
		t.Errorf("allowPrivate control = %v", err)
	}
}

// loopbackResolver answers every name with 127.0.0.1, as a rebinding or
// internal DNS name would.
func loopbackResolver(context.Context, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

func TestClientRefusesAtDialTime(t *testing.T) {
	var hits int
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	// A public-looking name that resolves to loopback: refused at dial time.
	c := newHTTPClient(false, loopbackResolver)
	_, err := c.Get(fmt.Sprintf("https://api.fake-provider.example:%d/v1/models", port))
	if !errors.Is(err, ErrAddressNotAllowed) {
		t.Fatalf("err = %v, want ErrAddressNotAllowed", err)
	}
	// The real resolver: localhost resolves (from /etc/hosts) to loopback.
	_, err = NewHTTPClient(false).Get(fmt.Sprintf("https://localhost:%d/", port))
	if !errors.Is(err, ErrAddressNotAllowed) {
		t.Fatalf("localhost: err = %v, want ErrAddressNotAllowed", err)
	}
	// A literal loopback address, and plain http.
	_, err = NewHTTPClient(false).Get(srv.URL)
	if !errors.Is(err, ErrAddressNotAllowed) {
		t.Fatalf("literal: err = %v, want ErrAddressNotAllowed", err)
	}
	if _, err = NewHTTPClient(false).Get(fmt.Sprintf("http://api.fake-provider.example:%d/", port)); !errors.Is(err, errNotHTTPS) {
		t.Fatalf("http: err = %v, want errNotHTTPS", err)
	}
	if hits != 0 {
		t.Fatalf("server got %d requests, want 0", hits)
	}

	// Through Probe: reachable=false, "address not allowed", key not sent.
	p := NewProber(Options{Timeout: 2 * time.Second, resolve: loopbackResolver})
	res := p.Probe(context.Background(), Target{Provider: "openai", BaseURL: fmt.Sprintf("https://api.fake-provider.example:%d/v1", port), APIKey: goodKey})
	if res.Reachable || deref(res.Error) != "address not allowed" {
		t.Fatalf("probe: reachable %v error %q; want false, address not allowed", res.Reachable, deref(res.Error))
	}
	// An httptest server's own URL is refused before any dial.
	res = p.Probe(context.Background(), Target{Provider: "openai_compatible", BaseURL: srv.URL + "/v1", APIKey: goodKey})
	if res.Reachable || !strings.Contains(deref(res.Error), "address not allowed") {
		t.Fatalf("probe literal: reachable %v error %q", res.Reachable, deref(res.Error))
	}
	if hits != 0 {
		t.Fatalf("server got %d requests, want 0", hits)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var otherHits int
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits++
		_, _ = fmt.Fprint(w, `{"data":[{"id":"stolen"}]}`)
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/v1/models", http.StatusFound)
	}))
	defer srv.Close()
	res := newTestProber(Options{}).Probe(context.Background(), Target{Provider: "openai", BaseURL: srv.URL + "/v1", APIKey: goodKey})
	if res.Reachable || !strings.Contains(deref(res.Error), "redirect not followed") || otherHits != 0 {
		t.Fatalf("reachable %v error %q other hits %d", res.Reachable, deref(res.Error), otherHits)
	}
}

func TestHugeBodyCapped(t *testing.T) {
	var written int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/models" {
			_, _ = fmt.Fprint(w, chatUsage)
			return
		}
		_, _ = fmt.Fprint(w, `{"data":[`)
		chunk := []byte(strings.Repeat(`{"id":"m"},`, 1000))
		for range 1000 { // about 11 MB unless the client stops reading
			n, err := w.Write(chunk)
			written += int64(n)
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	res := newTestProber(Options{MaxBodyBytes: 64 << 10}).Probe(context.Background(),
		Target{Provider: "openai", BaseURL: srv.URL + "/v1", APIKey: goodKey})
	if res.Models != nil || res.Note == nil || !strings.Contains(*res.Note, "too large") {
		t.Fatalf("models %d, note %q; want none and a too-large note", len(res.Models), deref(res.Note))
	}
	if !res.Reachable {
		t.Fatalf("reachable = false (%q)", deref(res.Error))
	}
}

func TestHangingServerTimesOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	res := newTestProber(Options{Timeout: 300 * time.Millisecond}).Probe(context.Background(),
		Target{Provider: "anthropic", BaseURL: srv.URL, APIKey: goodKey})
	if res.Reachable || deref(res.Error) != "timeout" {
		t.Fatalf("reachable %v error %q; want false, timeout", res.Reachable, deref(res.Error))
	}
	// A server that sends headers, then stalls in the body.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		_, _ = fmt.Fprint(w, `{"data":[`)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer slow.Close()
	res = newTestProber(Options{Timeout: 300 * time.Millisecond}).Probe(context.Background(),
		Target{Provider: "openai", BaseURL: slow.URL + "/v1", APIKey: goodKey})
	if res.Reachable || deref(res.Error) != "timeout" {
		t.Fatalf("slow body: reachable %v error %q; want false, timeout", res.Reachable, deref(res.Error))
	}
}

func TestTransportFailures(t *testing.T) {
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	res := newTestProber(Options{}).Probe(context.Background(), Target{Provider: "openai", BaseURL: tlsSrv.URL + "/v1", APIKey: goodKey})
	if res.Reachable || deref(res.Error) != "TLS handshake failed" {
		t.Errorf("self-signed: reachable %v error %q", res.Reachable, deref(res.Error))
	}
	// https to a plain-http server
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer plain.Close()
	res = newTestProber(Options{}).Probe(context.Background(), Target{Provider: "openai", BaseURL: strings.Replace(plain.URL, "http:", "https:", 1), APIKey: goodKey})
	if res.Reachable || deref(res.Error) != "TLS handshake failed" {
		t.Errorf("tls to http: reachable %v error %q", res.Reachable, deref(res.Error))
	}
	// connection refused: a port nobody listens on
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	res = newTestProber(Options{}).Probe(context.Background(), Target{Provider: "openai", BaseURL: "http://" + addr + "/v1", APIKey: goodKey})
	if res.Reachable || deref(res.Error) != "connection refused" {
		t.Errorf("refused: reachable %v error %q", res.Reachable, deref(res.Error))
	}
}

func TestTransportReasonNeverLeaksURL(t *testing.T) {
	// A *url.Error carries the full URL; the reason must not.
	c := newHTTPClient(true, nil)
	_, err := c.Get("http://127.0.0.1:1/v1/models?key=" + goodKey)
	if err == nil {
		t.Skip("port 1 answered")
	}
	r := transportReason(context.Background(), err).text
	if strings.Contains(r, "127.0.0.1") || containsRun(r, goodKey, 4) {
		t.Fatalf("reason leaks the URL")
	}
}
