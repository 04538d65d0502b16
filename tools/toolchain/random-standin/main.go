// pulumi-resource-random: a TEST-ONLY STAND-IN written in mysql-multicluster.
//
// The Go module proxy this project can reach refuses github.com/pulumi/pulumi-random/provider/v4
// (and the terraform bridge), so the real provider cannot be built here. This plugin stands in for it
// in the end-to-end tier only. It implements exactly what the program uses,
// random:index/randomPassword:RandomPassword, with the real provider's schema for it (schema.json,
// compared with the @pulumi/random npm package's types by test/unit/random-standin.test.ts) and its
// semantics: Check validates like the real one and returns the inputs as given; defaults are the real
// ones; every input forces replacement; result and bcryptHash are secret; the id is "none"; Read
// returns the state; Delete only forgets. Import and every other random resource are not implemented.
//
// It speaks the ResourceProvider gRPC protocol of github.com/pulumi/pulumi/sdk/v3 at the CLI's release
// (the plumbing shared with the tls stand-in: tools/toolchain/standin-base) and says it is a stand-in: a
// warning through the engine's log on Configure (shown by every preview/up/destroy that loads it), its
// first stderr line (engine logs), Attach and its schema.
package main

import (
	"context"
	_ "embed"
	"fmt"
	"sort"

	"mmc.local/standin-base"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// version is the @pulumi/random version it stands in for: -ldflags "-X main.version=4.21.2".
var version = "0.0.0-dev"

//go:embed schema.json
var schemaJSON string

func banner() string {
	return fmt.Sprintf("pulumi-resource-random v%s: TEST-ONLY STAND-IN from mysql-multicluster (tools/toolchain/random-standin), not the real pulumi-random; implements only %s", version, passwordToken)
}

type server struct{ standin.Base }

func newServer() *server {
	return &server{standin.Base{Plugin: "pulumi-resource-random", Version: &version, Banner: banner, Schema: schemaJSON}}
}

func main() {
	srv := newServer()
	standin.Serve(srv, &srv.Base)
}

func checkType(t string) error {
	if t != passwordToken {
		return status.Errorf(codes.InvalidArgument, "the random stand-in implements only %s, not %s", passwordToken, t)
	}
	return nil
}

func typeOf(urn string) string { return string(resource.URN(urn).Type()) }

// Check validates and returns the inputs as given (the real provider fills no defaults here).
func (s *server) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(typeOf(req.GetUrn())); err != nil {
		return nil, err
	}
	news, err := plugin.UnmarshalProperties(req.GetNews(), standin.ReadOpts)
	if err != nil {
		return nil, err
	}
	var failures []*pulumirpc.CheckFailure
	for _, f := range validate(news) {
		failures = append(failures, &pulumirpc.CheckFailure{Property: f.property, Reason: f.reason})
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: failures}, nil
}

// diffKeys lists the inputs whose defaulted values differ (an unknown new value counts as a change).
func diffKeys(olds, news resource.PropertyMap, ignore []string) []string {
	o, n := withDefaults(olds), withDefaults(news)
	ignored := map[string]bool{}
	for _, k := range ignore {
		ignored[k] = true
	}
	var changed []string
	for _, k := range inputKeys {
		if ignored[k] {
			continue
		}
		pk := resource.PropertyKey(k)
		ov, oOK := o[pk]
		nv, nOK := n[pk]
		if k == "keepers" { // an empty map and no map are the same keepers
			oOK = oOK && ov.IsObject() && len(ov.ObjectValue()) > 0
			nOK = nOK && (!nv.IsObject() || len(nv.ObjectValue()) > 0)
		}
		switch {
		case !oOK && !nOK:
		case oOK != nOK, nv.ContainsUnknowns(), !ov.DeepEquals(nv):
			changed = append(changed, k)
		}
	}
	sort.Strings(changed)
	return changed
}

// Diff: every input forces replacement, so any change is a replace.
func (s *server) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if err := checkType(typeOf(req.GetUrn())); err != nil {
		return nil, err
	}
	olds, err := plugin.UnmarshalProperties(req.GetOlds(), standin.PlainOpts)
	if err != nil {
		return nil, err
	}
	news, err := plugin.UnmarshalProperties(req.GetNews(), standin.PlainOpts)
	if err != nil {
		return nil, err
	}
	changed := diffKeys(olds, news, req.GetIgnoreChanges())
	if len(changed) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE, HasDetailedDiff: true}, nil
	}
	detailed := map[string]*pulumirpc.PropertyDiff{}
	for _, k := range changed {
		detailed[k] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE_REPLACE, InputDiff: true}
	}
	return &pulumirpc.DiffResponse{
		Changes: pulumirpc.DiffResponse_DIFF_SOME, Replaces: changed, Diffs: changed,
		DetailedDiff: detailed, HasDetailedDiff: true, DeleteBeforeReplace: false,
	}, nil
}

// outputs is the state of a password: every defaulted input, result and bcryptHash (secrets).
func outputs(inputs resource.PropertyMap, result, bcryptHash resource.PropertyValue) (*structpb.Struct, error) {
	out := withDefaults(inputs)
	out["result"] = result
	out["bcryptHash"] = bcryptHash
	return plugin.MarshalProperties(out, standin.WriteOpts)
}

func (s *server) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if err := checkType(typeOf(req.GetUrn())); err != nil {
		return nil, err
	}
	inputs, err := plugin.UnmarshalProperties(req.GetProperties(), standin.ReadOpts)
	if err != nil {
		return nil, err
	}
	if req.GetPreview() || inputs.ContainsUnknowns() {
		unknown := resource.MakeComputed(resource.NewStringProperty(""))
		props, err := outputs(inputs, unknown, unknown)
		if err != nil {
			return nil, err
		}
		return &pulumirpc.CreateResponse{Properties: props}, nil
	}
	if fs := validate(inputs); len(fs) > 0 {
		return nil, status.Errorf(codes.InvalidArgument, "%s: %s", fs[0].property, fs[0].reason)
	}
	pw, err := generate(specOf(withDefaults(inputs)))
	if err != nil {
		return nil, err
	}
	h, err := hash(pw)
	if err != nil {
		return nil, err
	}
	props, err := outputs(inputs, resource.MakeSecret(resource.NewStringProperty(pw)), resource.MakeSecret(resource.NewStringProperty(h)))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: "none", Properties: props}, nil
}

// Read returns the state unchanged (a password has no remote side). Import (no state) is not implemented.
func (s *server) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if err := checkType(typeOf(req.GetUrn())); err != nil {
		return nil, err
	}
	if len(req.GetProperties().GetFields()) == 0 {
		return nil, status.Errorf(codes.Unimplemented, "the random stand-in does not implement import of %s", passwordToken)
	}
	inputs := req.GetInputs()
	if inputs == nil || len(inputs.GetFields()) == 0 {
		state, err := plugin.UnmarshalProperties(req.GetProperties(), standin.ReadOpts)
		if err != nil {
			return nil, err
		}
		in := resource.PropertyMap{}
		for _, k := range inputKeys {
			if v, ok := state[resource.PropertyKey(k)]; ok {
				in[resource.PropertyKey(k)] = v
			}
		}
		if inputs, err = plugin.MarshalProperties(in, standin.WriteOpts); err != nil {
			return nil, err
		}
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: inputs}, nil
}

// Update is never planned: Diff makes every change a replacement.
func (s *server) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	return nil, status.Errorf(codes.FailedPrecondition, "%s has no updatable inputs (every input forces replacement); the engine must replace it", passwordToken)
}

// Delete only forgets the password, as the real provider does.
func (s *server) Delete(_ context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	if err := checkType(typeOf(req.GetUrn())); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}
