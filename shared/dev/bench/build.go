package bench

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/acme/provider-credentials/shared/dev/gotool"
	"github.com/acme/provider-credentials/shared/dev/localapi"
	"github.com/acme/provider-credentials/shared/dev/samtemplate"
)

// RepoRoot returns the folder holding go.mod, from the working directory up.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("bench: go.mod not found above %s", dir)
		}
		dir = parent
	}
}

// FunctionDirs returns the folder under functions/ of every function of
// template.yaml, in the template's order.
func FunctionDirs(tpl *samtemplate.Template) []string {
	var dirs []string
	for _, fn := range tpl.Functions() {
		dirs = append(dirs, localapi.FunctionDir(fn.LogicalID))
	}
	return dirs
}

// Build builds each package (a path relative to root, such as
// ./functions/list-credentials) as the Makefile's build-% target does
// (CGO_ENABLED=0, -tags lambda.norpc -trimpath -ldflags='-s -w',
// GOOS=linux) for goarch, in one go build, into
// outDir/<goarch>/<last element>/bootstrap. It returns last element → path.
func Build(ctx context.Context, root, outDir, goarch string, pkgs []string) (map[string]string, error) {
	tmp, err := os.MkdirTemp(outDir, "build-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	args := []string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", tmp + string(filepath.Separator)}
	args = append(args, pkgs...)
	cmd := exec.CommandContext(ctx, gotool.Path(), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("bench: go build (%s): %w\n%s", goarch, err, out)
	}
	bins := map[string]string{}
	for _, p := range pkgs {
		d := filepath.Base(p)
		dst := filepath.Join(outDir, goarch, d)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		if err := os.Rename(filepath.Join(tmp, d), filepath.Join(dst, "bootstrap")); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		bins[d] = filepath.Join(dst, "bootstrap")
	}
	return bins, nil
}

// ZipSize zips the bootstrap as SAM packages it (one file named bootstrap,
// executable, deflated) and returns the archive's size.
func ZipSize(bootstrap string) (int64, error) {
	f, err := os.Open(bootstrap)
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	out, err := os.CreateTemp("", "bootstrap-*.zip")
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	defer func() { _ = os.Remove(out.Name()) }()
	defer func() { _ = out.Close() }()
	zw := zip.NewWriter(out)
	hdr, err := zip.FileInfoHeader(fi)
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	hdr.Name, hdr.Method = "bootstrap", zip.Deflate
	hdr.SetMode(0o755)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	if _, err := io.Copy(w, f); err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	if err := zw.Close(); err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	st, err := out.Stat()
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	return st.Size(), nil
}

// Packages returns the package path of each folder under functions/.
func Packages(dirs []string) []string {
	pkgs := make([]string, len(dirs))
	for i, d := range dirs {
		pkgs[i] = "./functions/" + d
	}
	return pkgs
}

// SizeFloors are the reference programs BenchmarkBinarySize also builds, to
// show where a function's bytes come from: the Lambda runtime and adapter
// alone, then with the SDK's configuration loader, then with a DynamoDB
// client.
var SizeFloors = []string{"adapter", "config", "dynamodb"}
