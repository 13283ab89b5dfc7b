// Command localapi serves the whole API on one local port, as API Gateway
// and the Lambda functions would: `make run`.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/dev/authn"
	"github.com/acme/provider-credentials/shared/dev/localapi"
	"github.com/acme/provider-credentials/shared/dev/samtemplate"
	"github.com/acme/provider-credentials/shared/refresh"
	"github.com/acme/provider-credentials/shared/scheduled"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "localapi:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	slog.SetDefault(log)
	local, err := localapi.Start(ctx)
	if err != nil {
		return err
	}
	defer local.Stop()
	tpl, stack, b := local.Template, local.Stack, local.Builder

	verifier, how, err := verifier(ctx)
	if err != nil {
		return err
	}
	if err := startRefresh(ctx, tpl, b); err != nil {
		return err
	}
	// The change events, as PublishEventsFunction publishes them: one JSON
	// line each on stdout.
	if err := localapi.StartChangeFeed(ctx, b.Config.CredentialsTable, os.Stdout, log); err != nil {
		// A table made elsewhere (AWS_ENDPOINT_URL) may have no stream:
		// the API still works, without events.
		log.Warn("no change events", "err", err)
	}
	gw, err := localapi.Handler(tpl, b, verifier)
	if err != nil {
		return err
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprint(os.Stderr, banner(ln.Addr().String(), stack.Endpoint, stack.Tables, how))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startRefresh runs the scheduled usage refresh in the background on the
// template's schedule, as EventBridge would invoke RefreshUsageFunction.
func startRefresh(ctx context.Context, tpl *samtemplate.Template, b *app.Builder) error {
	every, timeout, err := localapi.RefreshSchedule(tpl)
	if err != nil {
		return err
	}
	cfg, err := refresh.LoadConfig(os.Getenv)
	if err != nil {
		return err
	}
	r, err := scheduled.Runner(b, cfg, os.Stdout)
	if err != nil {
		return err
	}
	go r.Loop(ctx, every, timeout)
	fmt.Fprintf(os.Stderr, "usage refresh: every %s (make refresh runs it now)\n", every)
	return nil
}

// verifier checks tokens as API Gateway's JWT authorizer would: against
// JWT_ISSUER by OpenID discovery, or with the built-in development issuer.
func verifier(ctx context.Context) (authn.Verifier, string, error) {
	if iss := os.Getenv("JWT_ISSUER"); iss != "" {
		if os.Getenv("JWT_AUDIENCE") == "" {
			return nil, "", errors.New("JWT_ISSUER is set but JWT_AUDIENCE is not: set JWT_AUDIENCE to the audience (aud or client_id) your issuer puts in its tokens")
		}
		v, err := authn.NewOIDC(ctx, iss, os.Getenv("JWT_AUDIENCE"), &http.Client{Timeout: 10 * time.Second})
		if err != nil {
			return nil, "", err
		}
		return v, "issued by " + iss + " (audience " + os.Getenv("JWT_AUDIENCE") + ")", nil
	}
	dev, err := authn.NewDevIssuer()
	if err != nil {
		return nil, "", err
	}
	return dev.Verifier(), "development issuer: TOKEN=$(go run ./cmd/devtoken --org my-org --role admin)", nil
}

// banner is what `make run` prints once it serves: where, against which
// emulator (with a line to paste into another shell for make refresh and
// make invoke), and how to get a token.
func banner(addr, endpoint string, tables map[string]string, how string) string {
	var names []string
	for _, logical := range slices.Sorted(maps.Keys(tables)) {
		names = append(names, tables[logical]+" ("+logical+")")
	}
	return fmt.Sprintf(`
Provider credentials API on http://%[1]s
  AWS endpoint: %[2]s
  tables: %[3]s
  routes: every HttpApi event of template.yaml
  events: every committed change, published to the emulator's EventBridge and printed as one JSON line
  tokens: %[4]s
  try:    curl -H "Authorization: Bearer $TOKEN" http://%[1]s/provider-credentials
  other shells (make refresh, make invoke) reach the same emulator after:
    export AWS_ENDPOINT_URL=%[2]s
Ctrl-C stops everything this started.

`, addr, endpoint, strings.Join(names, ", "), how)
}
