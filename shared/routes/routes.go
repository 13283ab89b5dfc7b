// Package routes builds the HTTP functions: for each route's Lambda, the
// handler it runs and the services (from package app) it is built with.
// Each functions/<name>/main.go names its own Function, so its binary links
// only the code that function runs.
package routes

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/httpapi"
)

// Function is one HTTP Lambda function: the folder under functions/
// (template.yaml's CodeUri), its handler, the dependencies it is built
// with and the AWS clients it calls.
type Function struct {
	Name       string
	DynamoDB   bool // calls DynamoDB
	Secrets    bool // calls Secrets Manager
	deps       func(*app.Builder) (httpapi.Deps, error)
	newHandler func(httpapi.Deps) http.Handler
}

// The HTTP functions.
var (
	ListCredentials  = Function{Name: "list-credentials", DynamoDB: true, deps: readDeps, newHandler: httpapi.ListCredentials}
	CreateCredential = Function{Name: "create-credential", DynamoDB: true, Secrets: true, deps: verifyDeps, newHandler: httpapi.CreateCredential}
	GetCredential    = Function{Name: "get-credential", DynamoDB: true, deps: readDeps, newHandler: httpapi.GetCredential}
	UpdateCredential = Function{Name: "update-credential", DynamoDB: true, Secrets: true, deps: verifyDeps, newHandler: httpapi.UpdateCredential}
	DeleteCredential = Function{Name: "delete-credential", DynamoDB: true, Secrets: true, deps: writeDeps, newHandler: httpapi.DeleteCredential}
	GetUsage         = Function{Name: "get-usage", DynamoDB: true, Secrets: true, deps: usageDeps, newHandler: httpapi.GetUsage}
	TestCredential   = Function{Name: "test-credential", deps: usageDeps, newHandler: httpapi.TestCredential}

	RollbackCredential = Function{Name: "rollback-credential", DynamoDB: true, Secrets: true, deps: writeDeps, newHandler: httpapi.RollbackCredential}
)

// All returns every HTTP function by name, for the local server, tools and
// tests. (A function, not a package-level map: a map would be built at init
// and link every handler into every binary.)
func All() map[string]Function {
	m := map[string]Function{}
	for _, f := range []Function{ListCredentials, CreateCredential, GetCredential, UpdateCredential, DeleteCredential, GetUsage, TestCredential, RollbackCredential} {
		m[f.Name] = f
	}
	return m
}

// Build builds f's handler, checking first that the clients it calls are
// there. Every HTTP function's handler is wrapped here in the access log:
// one line per request.
func Build(b *app.Builder, f Function) (http.Handler, error) {
	if f.DynamoDB && b.Clients.DynamoDB == nil {
		return nil, fmt.Errorf("routes: function %s needs a DynamoDB client", f.Name)
	}
	if f.Secrets && b.Clients.SecretsManager == nil {
		return nil, fmt.Errorf("routes: function %s needs a Secrets Manager client", f.Name)
	}
	// What the services log while answering a request goes into that
	// request's one access line.
	log := b.Log
	if log == nil {
		log = slog.Default()
	}
	folded := *b
	folded.Log = slog.New(httpapi.FoldLogs(log.Handler()))
	d, err := f.deps(&folded)
	if err != nil {
		return nil, err
	}
	return httpapi.AccessLog(log, f.newHandler(d)), nil
}

// Handler builds the handler of the function in folder functions/<name>.
func Handler(b *app.Builder, name string) (http.Handler, error) {
	f, ok := All()[name]
	if !ok {
		return nil, fmt.Errorf("routes: no function %q", name)
	}
	return Build(b, f)
}

// New builds one function's handler from the environment and the clients
// it calls: what each functions/<name>/main.go does at cold start.
func New(ctx context.Context, f Function, getenv app.Env, clients app.Clients) (http.Handler, error) {
	b, err := app.NewBuilder(ctx, getenv, clients)
	if err != nil {
		return nil, err
	}
	return Build(b, f)
}

// credentialDeps are the dependencies of the credential routes; writers
// also get the key store.
func credentialDeps(b *app.Builder, withKeys bool) (httpapi.Deps, error) {
	svc, err := b.Service(withKeys)
	if err != nil {
		return httpapi.Deps{}, err
	}
	return httpapi.Deps{Service: svc, Auth: httpapi.Auth(b.Config.Auth), Log: b.Log}, nil
}

func readDeps(b *app.Builder) (httpapi.Deps, error)  { return credentialDeps(b, false) }
func writeDeps(b *app.Builder) (httpapi.Deps, error) { return credentialDeps(b, true) }

// verifyDeps are the writers' dependencies with a verifier, for the routes
// that serve ?verify=true (create and update).
func verifyDeps(b *app.Builder) (httpapi.Deps, error) {
	svc, err := b.VerifyingService()
	if err != nil {
		return httpapi.Deps{}, err
	}
	return httpapi.Deps{Service: svc, Auth: httpapi.Auth(b.Config.Auth), Log: b.Log}, nil
}

// usageDeps add the live usage service to the read dependencies.
func usageDeps(b *app.Builder) (httpapi.Deps, error) {
	d, err := credentialDeps(b, false)
	if err != nil {
		return httpapi.Deps{}, err
	}
	if d.Usage, err = b.LiveUsage(); err != nil {
		return httpapi.Deps{}, err
	}
	return d, nil
}
