// Package standintest holds the gRPC-level test helpers of the stand-ins: the provider served in-process
// and dialled as the engine does, property (un)marshalling, and a fake engine that records their warning.
package standintest

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

var (
	readOpts  = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, SkipNulls: true}
	writeOpts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true}
)

// Client serves srv in-process and dials it, as the engine does.
func Client(t *testing.T, srv pulumirpc.ResourceProviderServer) pulumirpc.ResourceProviderClient {
	t.Helper()
	cancel := make(chan bool)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterResourceProviderServer(s, srv)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("127.0.0.1:"+strconv.Itoa(handle.Port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); close(cancel) })
	return pulumirpc.NewResourceProviderClient(conn)
}

// Props marshals a plain map as the engine sends properties (secrets and unknowns kept).
func Props(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := plugin.MarshalProperties(resource.NewPropertyMapFromMap(m), writeOpts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Unmarshal reads properties back (secrets and unknowns kept, nulls skipped).
func Unmarshal(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := plugin.UnmarshalProperties(s, readOpts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A fake engine that records what the provider logs.
type engine struct {
	pulumirpc.UnimplementedEngineServer
	logs []*pulumirpc.LogRequest
}

func (e *engine) Log(_ context.Context, r *pulumirpc.LogRequest) (*emptypb.Empty, error) {
	e.logs = append(e.logs, r)
	return &emptypb.Empty{}, nil
}

// WarnsThroughTheEngineOnce: after a handshake naming a (fake) engine, two Configure calls log exactly one
// warning naming the TEST-ONLY STAND-IN.
func WarnsThroughTheEngineOnce(t *testing.T, srv pulumirpc.ResourceProviderServer) {
	t.Helper()
	e := &engine{}
	cancel := make(chan bool)
	h, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{Cancel: cancel, Init: func(s *grpc.Server) error {
		pulumirpc.RegisterEngineServer(s, e)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer close(cancel)
	c := Client(t, srv)
	if _, err := c.Handshake(context.Background(), &pulumirpc.ProviderHandshakeRequest{EngineAddress: "127.0.0.1:" + strconv.Itoa(h.Port)}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := c.Configure(context.Background(), &pulumirpc.ConfigureRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.logs) != 1 || e.logs[0].GetSeverity() != pulumirpc.LogSeverity_WARNING || !strings.Contains(e.logs[0].GetMessage(), "TEST-ONLY STAND-IN") {
		t.Fatalf("want one stand-in warning, got %v", e.logs)
	}
}

// CheckFails runs Check on in and asserts that it returns the inputs unchanged (the real providers fill
// no defaults in Check) and fails exactly as expected: no failure when property is "", else a failure on
// property whose reason contains reason.
func CheckFails(t *testing.T, c pulumirpc.ResourceProviderClient, urn string, in map[string]any, property, reason string) {
	t.Helper()
	news := Props(t, in)
	r, err := c.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn, News: news})
	if err != nil {
		t.Fatal(err)
	}
	if !Unmarshal(t, r.GetInputs()).DeepEquals(Unmarshal(t, news)) {
		t.Fatalf("Check changed the inputs: %v", r.GetInputs())
	}
	if property == "" {
		if len(r.GetFailures()) != 0 {
			t.Fatalf("unexpected failures %v", r.GetFailures())
		}
		return
	}
	for _, f := range r.GetFailures() {
		if f.GetProperty() == property && strings.Contains(f.GetReason(), reason) {
			return
		}
	}
	t.Fatalf("want failure on %s containing %q, got %v", property, reason, r.GetFailures())
}
