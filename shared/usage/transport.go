package usage

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// response is one answer, body capped.
type response struct {
	status   int
	header   http.Header
	body     []byte
	tooLarge bool
	latency  time.Duration
}

// call makes one request. ok is false when no answer came (the reason is
// then recorded as fatal).
func (s *session) call(ctx context.Context, method, url string, body []byte) (*response, bool) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		s.fail(CodeBadBaseURL, "invalid request")
		return nil, false
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	setAuth(req.Header, s.prov.auth, s.t.APIKey)
	start := time.Now()
	resp, err := s.p.client.Do(req)
	if err != nil {
		s.fatal = transportReason(ctx, err)
		return nil, false
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, s.p.maxBody+1))
	lat := time.Since(start)
	if err != nil {
		s.fatal = transportReason(ctx, err)
		return nil, false
	}
	r := &response{status: resp.StatusCode, header: resp.Header, body: data, latency: lat}
	if int64(len(data)) > s.p.maxBody {
		r.tooLarge, r.body = true, data[:s.p.maxBody]
	}
	if r.status/100 == 3 {
		s.fail(CodeBadBaseURL, fmt.Sprintf("redirect not followed (HTTP %d)", r.status))
		return nil, false
	}
	s.readHeaders(resp.Header)
	return r, true
}

func setAuth(h http.Header, kind authKind, key string) {
	if key == "" {
		return
	}
	switch kind {
	case authBearer:
		h.Set("Authorization", "Bearer "+key)
	case authAnthropic:
		h.Set("x-api-key", key)
		h.Set("anthropic-version", "2023-06-01")
	case authGoogle:
		h.Set("x-goog-api-key", key)
	case authAzure:
		h.Set("api-key", key)
	}
}

func (s *session) readHeaders(h http.Header) {
	received := s.p.now()
	s.win.overlay(s.prov.family.parseHeaders(h, received))
	for _, n := range rateLimitHeaderNames(h) {
		if s.hdrs == nil {
			s.hdrs = map[string]bool{}
		}
		s.hdrs[n] = true
	}
}

// transportReason turns a transport error into a short reason and its code.
// It never prints the error itself (a *url.Error holds the full URL).
func transportReason(ctx context.Context, err error) reason {
	var (
		dnsErr      *net.DNSError
		certInvalid x509.CertificateInvalidError
		unknownCA   x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		verifyErr   *tls.CertificateVerificationError
		recordErr   tls.RecordHeaderError
		alertErr    tls.AlertError
		netErr      net.Error
	)
	switch {
	case errors.Is(err, ErrAddressNotAllowed):
		return reason{CodeAddressNotAllowed, "address not allowed"}
	case errors.Is(err, errNotHTTPS):
		return reason{CodeBadBaseURL, "https required"}
	case errors.Is(err, errRedirect):
		return reason{CodeBadBaseURL, "redirect not followed"}
	case errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return reason{CodeTimeout, "timeout"}
	case errors.Is(err, context.Canceled):
		return reason{CodeTimeout, "canceled"}
	case errors.As(err, &certInvalid), errors.As(err, &unknownCA), errors.As(err, &hostErr),
		errors.As(err, &verifyErr), errors.As(err, &recordErr), errors.As(err, &alertErr):
		return reason{CodeTLSError, "TLS handshake failed"}
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return reason{CodeUnreachable, "host not found"}
		}
		return reason{CodeUnreachable, "DNS lookup failed"}
	case errors.Is(err, syscall.ECONNREFUSED):
		return reason{CodeUnreachable, "connection refused"}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return reason{CodeUnreachable, "connection reset"}
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return reason{CodeUnreachable, "host unreachable"}
	case errors.As(err, &netErr) && netErr.Timeout():
		return reason{CodeTimeout, "timeout"}
	case strings.Contains(err.Error(), "tls:"), strings.Contains(err.Error(), "x509:"),
		strings.Contains(err.Error(), "HTTP response to HTTPS client"):
		return reason{CodeTLSError, "TLS handshake failed"}
	}
	return reason{CodeUnreachable, "connection failed"}
}
