// Package standin is the ResourceProvider gRPC plumbing this repo's TEST-ONLY provider stand-ins share
// (tools/toolchain/random-standin, tools/toolchain/tls-standin): serving on the port the engine reads,
// plugin info, attach/handshake, the schema, the empty provider configuration, and saying it is a
// stand-in (its first stderr line, Attach, and one warning through the engine's log on Configure, which
// every preview/up/destroy that loads it shows). Each stand-in embeds Base and implements its resources'
// Check, Diff, Create, Read, Update and Delete.
package standin

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Base is the part of a stand-in's server that does not depend on its resources.
type Base struct {
	pulumirpc.UnimplementedResourceProviderServer
	Plugin  string        // the plugin's name, e.g. pulumi-resource-tls
	Version *string       // the version it stands in for (main.version, set by -ldflags)
	Banner  func() string // the line that names it a stand-in
	Schema  string        // its schema.json

	engineAddress string // the engine's gRPC address: first argument, Handshake or Attach
	warned        sync.Once
}

// warn tells the user, through the engine, that this is the stand-in (once per plugin process).
func (b *Base) warn(ctx context.Context) {
	if b.engineAddress == "" {
		return
	}
	b.warned.Do(func() {
		conn, err := grpc.NewClient(b.engineAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s (stand-in): cannot reach the engine at %s: %v\n", b.Plugin, b.engineAddress, err)
			return
		}
		defer conn.Close()
		if _, err := pulumirpc.NewEngineClient(conn).Log(ctx, &pulumirpc.LogRequest{Severity: pulumirpc.LogSeverity_WARNING, Message: b.Banner()}); err != nil {
			fmt.Fprintf(os.Stderr, "%s (stand-in): engine log failed: %v\n", b.Plugin, err)
		}
	})
}

// Serve runs srv (whose Base is b) as the engine expects: the port on stdout's first line, until the engine stops it.
func Serve(srv pulumirpc.ResourceProviderServer, b *Base) {
	fmt.Fprintln(os.Stderr, b.Banner())
	for _, a := range os.Args[1:] { // the engine passes its address as the last non-flag argument
		if len(a) > 0 && a[0] != '-' {
			b.engineAddress = a
		}
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterResourceProviderServer(s, srv)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s (stand-in): could not start gRPC server: %v\n", b.Plugin, err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port) // the engine reads the port from the first line of stdout
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "%s (stand-in): gRPC server stopped: %v\n", b.Plugin, err)
		os.Exit(1)
	}
}

func (b *Base) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: *b.Version}, nil
}

func (b *Base) Attach(_ context.Context, req *pulumirpc.PluginAttach) (*emptypb.Empty, error) {
	fmt.Fprintf(os.Stderr, "%s (attached to %s)\n", b.Banner(), req.GetAddress())
	b.engineAddress = req.GetAddress()
	return &emptypb.Empty{}, nil
}

func (b *Base) Handshake(_ context.Context, req *pulumirpc.ProviderHandshakeRequest) (*pulumirpc.ProviderHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		b.engineAddress = req.GetEngineAddress()
	}
	return &pulumirpc.ProviderHandshakeResponse{AcceptSecrets: true, AcceptResources: true}, nil
}

func (b *Base) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: b.Schema}, nil
}

// CheckConfig accepts the provider configuration as given: the stand-ins use none.
func (b *Base) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (b *Base) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (b *Base) Configure(ctx context.Context, _ *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	b.warn(ctx)
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true, AcceptResources: true}, nil
}

func (b *Base) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// How the stand-ins (un)marshal properties: ReadOpts keeps secrets (inputs and state as the engine sent
// them), PlainOpts drops the secret markers (values to compute with), WriteOpts keeps them on the way out.
var (
	ReadOpts  = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, SkipNulls: true}
	PlainOpts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: false, SkipNulls: true}
	WriteOpts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true}
)
