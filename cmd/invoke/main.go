// Command invoke runs one function of template.yaml the way `sam local
// invoke` does, without Docker or the SAM CLI: it builds the function's
// real bootstrap, runs it under the AWS Lambda Runtime Interface Emulator
// against moto_server (or AWS_ENDPOINT_URL), sends one event and prints the
// function's response.
//
//	make invoke FN=GetCredentialFunction EVENT=events/get-credential/ok.json
//	go run ./cmd/invoke -fn GetCredentialFunction -event events/get-credential/ok.json
//
// When it starts moto itself, it seeds the credentials the events/ files
// refer to (org "org-demo"), so their success events succeed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/acme/provider-credentials/shared/dev/localapi"
	"github.com/acme/provider-credentials/shared/dev/rie"
	"github.com/acme/provider-credentials/shared/dev/samtemplate"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "invoke:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	fnID := flag.String("fn", os.Getenv("FN"), "logical id of the function in template.yaml")
	eventPath := flag.String("event", os.Getenv("EVENT"), "event file, e.g. events/get-credential/ok.json")
	seed := flag.String("seed", "auto", "seed the events' fixture credentials: auto (when moto is started here), yes, no")
	install := flag.Bool("install", false, "only install the Lambda Runtime Interface Emulator and print its path")
	flag.Parse()

	if *install {
		bin, err := rie.Binary(ctx)
		if err != nil {
			return err
		}
		fmt.Println(bin)
		return nil
	}
	tpl, err := samtemplate.Load("template.yaml")
	if err != nil {
		return err
	}
	fn, ok := tpl.Function(*fnID)
	if !ok {
		var ids []string
		for _, f := range tpl.Functions() {
			ids = append(ids, f.LogicalID)
		}
		return fmt.Errorf("usage: make invoke FN=<LogicalId> EVENT=events/<file>.json; FN %q is not one of %s", *fnID, strings.Join(ids, ", "))
	}
	if *eventPath == "" {
		return errors.New("usage: make invoke FN=<LogicalId> EVENT=events/<file>.json; EVENT is not set")
	}
	event, err := os.ReadFile(*eventPath)
	if err != nil {
		return err
	}

	tmp, err := os.MkdirTemp("", "invoke-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	start := time.Now()
	dir := localapi.FunctionDir(fn.LogicalID)
	bins, err := rie.Build(ctx, ".", tmp, []string{dir})
	if err != nil {
		return err
	}
	rieBin, err := rie.Binary(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "invoke: built functions/%s and found the emulator in %s\n", dir, time.Since(start).Round(time.Millisecond))

	ownMoto := os.Getenv("AWS_ENDPOINT_URL") == ""
	stack, err := localapi.StartStack(ctx, tpl)
	if err != nil {
		return err
	}
	defer stack.Stop()
	// The functions' SECRET_PREFIX is <SecretPrefix>/<stack name>, and
	// their secrets are tagged with the stack (StartStack defaults
	// STACK_NAME to "local").
	root := os.Getenv("SECRET_PREFIX")
	if root == "" {
		root = tpl.ParameterValues(nil)["SecretPrefix"]
	}
	stackName := os.Getenv("STACK_NAME")
	params := map[string]string{"SecretPrefix": root, "AWS::StackName": stackName}
	if *seed == "yes" || (*seed == "auto" && ownMoto) {
		awsCfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return err
		}
		if err := rie.Seed(ctx, dynamodb.NewFromConfig(awsCfg), secretsmanager.NewFromConfig(awsCfg),
			stack.Tables["CredentialsTable"], stack.Tables["UsageTable"], root+"/"+stackName, stackName); err != nil {
			return err
		}
	}

	vars, err := rie.FunctionEnv(tpl, fn, params, stack.Tables)
	if err != nil {
		return err
	}
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PROBE_ALLOW_PRIVATE_NETWORKS"} {
		if v := os.Getenv(k); v != "" {
			vars[k] = v
		}
	}
	vars["AWS_LAMBDA_FUNCTION_NAME"] = fn.LogicalID
	inst, err := rie.Start(ctx, rieBin, bins[dir], rie.Env(vars))
	if err != nil {
		return err
	}
	defer inst.Stop()
	out, err := inst.Invoke(ctx, event)
	fmt.Fprint(os.Stderr, inst.Log())
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	if fe, ok := rie.AsFunctionError(out); ok {
		return fe
	}
	return nil
}
