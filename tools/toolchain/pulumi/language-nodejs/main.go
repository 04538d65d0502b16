// pulumi-language-nodejs for mysql-multicluster.
//
// The Go module that holds Pulumi's own Node.js language host
// (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3) is refused by the
// module proxy this project can reach ("403 This module version is not available"), so
// tools/toolchain/pulumi.sh builds this small host instead. It speaks the LanguageRuntime
// gRPC protocol of github.com/pulumi/pulumi/sdk/v3 (same release as the CLI) and does the one
// thing a language host must do for `pulumi preview/up/destroy`: start
// `node <@pulumi/pulumi>/cmd/run` for the program with the engine's monitor address, project,
// stack, config and secret keys. Everything else (TypeScript via the SDK's vendored ts-node,
// resource registration, secrets, outputs) is the npm SDK's own code.
//
// Implemented: GetRequiredPlugins (provider plugins named by node_modules/**/package.json
// "pulumi": {"resource": true}), Run, GetPluginInfo, GetProgramDependencies, About.
// Everything else answers Unimplemented, which the engine treats as "older language host"
// (GetRequiredPackages falls back to GetRequiredPlugins, Handshake is optional).
// Not supported: InstallDependencies (run `npm ci` yourself), RunPlugin (Node.js-based
// provider plugins), code generation, policy packs, debugging.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is set with -ldflags "-X main.version=v3.x.y" (the CLI release it was built with).
var version = "v0.0.0-dev"

// Exit code @pulumi/pulumi/cmd/run uses after it already logged an actionable error.
const exitAfterUserActionableMessage = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
	tracing       string
}

func main() {
	tracing := flag.String("tracing", "", "Zipkin-compatible tracing endpoint (passed to the program)")
	flag.String("root", "", "project root (unused; the engine sends it with each request)")
	flag.Bool("typescript", true, "unused; typescript comes from the project's runtime options")
	flag.Parse()
	h := &host{tracing: *tracing}
	if args := flag.Args(); len(args) > 0 {
		h.engineAddress = args[len(args)-1]
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(s, h)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: could not start gRPC server: %v\n", err)
		os.Exit(1)
	}
	// The engine reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: gRPC server stopped: %v\n", err)
		os.Exit(1)
	}
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

type packageJSON struct {
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	Dependencies map[string]string `json:"dependencies"`
	Pulumi       struct {
		Resource bool   `json:"resource"`
		Name     string `json:"name"`
		Version  string `json:"version"`
		Server   string `json:"server"`
	} `json:"pulumi"`
}

func readPackageJSON(path string) (*packageJSON, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p packageJSON
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &p, nil
}

// pluginOf returns the provider plugin a package.json declares, if any.
func pluginOf(p *packageJSON) (*pulumirpc.PluginDependency, bool) {
	if !p.Pulumi.Resource {
		return nil, false
	}
	name := p.Pulumi.Name
	if name == "" {
		name = strings.TrimPrefix(p.Name, "@pulumi/")
		name = strings.TrimPrefix(name, "@")
	}
	v := p.Pulumi.Version
	if v == "" {
		v = p.Version
	}
	if v != "" && !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	return &pulumirpc.PluginDependency{Name: name, Kind: "resource", Version: v, Server: p.Pulumi.Server}, true
}

// walkNodeModules visits every package.json directly under node_modules directories, recursively
// (including scoped packages and nested node_modules), following symlinks once per real path.
func walkNodeModules(dir string, visit func(path string, p *packageJSON)) error {
	seen := map[string]bool{}
	var walk func(nm string) error
	walk = func(nm string) error {
		real, err := filepath.EvalSymlinks(nm)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if seen[real] {
			return nil
		}
		seen[real] = true
		entries, err := os.ReadDir(real)
		if err != nil {
			return err
		}
		var pkgs []string
		for _, e := range entries {
			n := e.Name()
			if strings.HasPrefix(n, ".") {
				continue
			}
			if strings.HasPrefix(n, "@") {
				sub, err := os.ReadDir(filepath.Join(real, n))
				if err != nil {
					continue
				}
				for _, s := range sub {
					pkgs = append(pkgs, filepath.Join(real, n, s.Name()))
				}
				continue
			}
			pkgs = append(pkgs, filepath.Join(real, n))
		}
		sort.Strings(pkgs)
		for _, pd := range pkgs {
			pj := filepath.Join(pd, "package.json")
			if p, err := readPackageJSON(pj); err == nil {
				visit(pj, p)
			}
			if err := walk(filepath.Join(pd, "node_modules")); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(filepath.Join(dir, "node_modules"))
}

func programDir(info *pulumirpc.ProgramInfo, fallback string) string {
	if info != nil && info.GetProgramDirectory() != "" {
		return info.GetProgramDirectory()
	}
	return fallback
}

// nodeModulesRoot walks up from dir to the first directory holding node_modules.
func nodeModulesRoot(dir string) string {
	for d := dir; ; {
		if st, err := os.Stat(filepath.Join(d, "node_modules")); err == nil && st.IsDir() {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}

func (h *host) GetRequiredPlugins(
	_ context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	dir := nodeModulesRoot(programDir(req.GetInfo(), req.GetPwd()))
	var plugins []*pulumirpc.PluginDependency
	have := map[string]bool{}
	err := walkNodeModules(dir, func(_ string, p *packageJSON) {
		if d, ok := pluginOf(p); ok && !have[d.Name+"@"+d.Version] {
			have[d.Name+"@"+d.Version] = true
			plugins = append(plugins, d)
		}
	})
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

func (h *host) GetProgramDependencies(
	_ context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	dir := nodeModulesRoot(programDir(req.GetInfo(), req.GetPwd()))
	root, err := readPackageJSON(filepath.Join(dir, "package.json"))
	if err != nil {
		return nil, err
	}
	var deps []*pulumirpc.DependencyInfo
	names := make([]string, 0, len(root.Dependencies))
	for n := range root.Dependencies {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := root.Dependencies[n]
		if p, err := readPackageJSON(filepath.Join(dir, "node_modules", n, "package.json")); err == nil {
			v = p.Version
		}
		deps = append(deps, &pulumirpc.DependencyInfo{Name: n, Version: v})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

func (h *host) About(context.Context, *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{Executable: node, Version: strings.TrimSpace(string(out))}, nil
}

// option reads a runtime option from Pulumi.yaml (runtime: {name: nodejs, options: {...}}).
func option(info *pulumirpc.ProgramInfo, key string) (any, bool) {
	if info == nil || info.GetOptions() == nil {
		return nil, false
	}
	v, ok := info.GetOptions().AsMap()[key]
	return v, ok
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("could not find node on the PATH: %w", err)
	}
	info := req.GetInfo()
	pwd := req.GetPwd()
	if pwd == "" {
		pwd = programDir(info, ".")
	}
	// Resolve the SDK's run script from the program, as Node would resolve @pulumi/pulumi.
	runPath := os.Getenv("PULUMI_LANGUAGE_NODEJS_RUN_PATH")
	if runPath == "" {
		resolve := exec.Command(node, "-e", "console.log(require.resolve('@pulumi/pulumi/cmd/run'))")
		resolve.Dir = pwd
		out, err := resolve.Output()
		if err != nil {
			return &pulumirpc.RunResponse{Error: "It looks like the Pulumi SDK has not been installed. " +
				"Have you run npm install? (require.resolve('@pulumi/pulumi/cmd/run') failed in " + pwd + ")"}, nil
		}
		runPath = strings.TrimSpace(string(out))
	}

	var args []string
	if v, ok := option(info, "nodeargs"); ok {
		if s, ok := v.(string); ok && strings.TrimSpace(s) != "" {
			args = append(args, strings.Fields(s)...)
		}
	}
	args = append(args, runPath)
	add := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k+"="+v)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engineAddress)
	add("organization", req.GetOrganization())
	add("project", req.GetProject())
	if info != nil {
		add("root-directory", info.GetRootDirectory())
	}
	add("stack", req.GetStack())
	add("pwd", pwd)
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	if req.GetParallel() > 0 {
		add("parallel", fmt.Sprint(req.GetParallel()))
	}
	add("tracing", h.tracing)
	entry := "."
	if info != nil && info.GetEntryPoint() != "" {
		entry = info.GetEntryPoint()
	} else if req.GetProgram() != "" {
		entry = req.GetProgram()
	}
	args = append(args, entry)
	args = append(args, req.GetArgs()...)

	cfg := req.GetConfig()
	if cfg == nil {
		cfg = map[string]string{}
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(),
		"PULUMI_CONFIG="+string(cfgJSON),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretJSON),
	)
	typescript := true
	if v, ok := option(info, "typescript"); ok {
		if b, ok := v.(bool); ok {
			typescript = b
		}
	}
	env = append(env, fmt.Sprintf("PULUMI_NODEJS_TYPESCRIPT=%t", typescript))
	if v, ok := option(info, "tsconfig"); ok {
		if s, ok := v.(string); ok && s != "" {
			env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+s)
		}
	}

	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = pwd
	cmd.Env = env
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Exited() {
				if ws.ExitStatus() == exitAfterUserActionableMessage {
					return &pulumirpc.RunResponse{Bail: true}, nil
				}
				return &pulumirpc.RunResponse{
					Error: fmt.Sprintf("Program exited with non-zero exit code: %d", ws.ExitStatus()),
				}, nil
			}
			return &pulumirpc.RunResponse{Error: "Program exited unexpectedly: " + exitErr.Error()}, nil
		}
		return &pulumirpc.RunResponse{Error: "Problem executing program (could not run node): " + err.Error()}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}
