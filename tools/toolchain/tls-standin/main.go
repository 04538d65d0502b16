// pulumi-resource-tls: a TEST-ONLY STAND-IN written in mysql-multicluster.
//
// The Go module proxy this project can reach refuses github.com/pulumi/pulumi-tls/provider/v5 (and the
// terraform bridge), so the real provider cannot be built here. This plugin stands in for it in the
// end-to-end tier only. It implements exactly what the program uses, the four resources
// tls:index/privateKey:PrivateKey, tls:index/selfSignedCert:SelfSignedCert, tls:index/certRequest:CertRequest
// and tls:index/locallySignedCert:LocallySignedCert, with the real provider's schema for them (schema.json:
// pulumi-tls's schema at v5.5.1, the newest tag reachable here, plus the write-only key inputs @pulumi/tls
// 5.6 adds; compared with the npm package's types by test/unit/tls-standin.test.ts) and the semantics of
// the real one (terraform-provider-tls, bridged): Check validates like it and returns the inputs as given;
// defaults are the real ones; every input forces replacement except earlyRenewalHours (updated in place);
// a certificate inside its early-renewal window is replaced (readyForRenewal); keys, requests and
// certificates are made with Go's crypto/x509 exactly as the real one makes them; the private keys
// (outputs and inputs) are secret, a write-only key (<key>Wo, with <key>WoVersion) is used and never kept;
// Read returns the state (refreshing readyForRenewal); Delete only forgets.
// Import, functions (getCertificate, getPublicKey) and provider methods are not implemented.
//
// It speaks the ResourceProvider gRPC protocol of github.com/pulumi/pulumi/sdk/v3 at the CLI's release
// and says it is a stand-in: a warning through the engine's log on Configure (shown by every
// preview/up/destroy that loads it), its first stderr line (engine logs), Attach and its schema.
package main

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"time"

	"mmc.local/standin-base"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is the @pulumi/tls version it stands in for: -ldflags "-X main.version=5.6.1".
var version = "0.0.0-dev"

//go:embed schema.json
var schemaJSON string

// now is the clock (tests move it to reach the early-renewal window).
var now = time.Now

func banner() string {
	return fmt.Sprintf("pulumi-resource-tls v%s: TEST-ONLY STAND-IN from mysql-multicluster (tools/toolchain/tls-standin), not the real pulumi-tls; implements only %s",
		version, strings.Join(tokens(), ", "))
}

type server struct{ standin.Base }

func newServer() *server {
	return &server{standin.Base{Plugin: "pulumi-resource-tls", Version: &version, Banner: banner, Schema: schemaJSON}}
}

func main() {
	srv := newServer()
	standin.Serve(srv, &srv.Base)
}

// kindOf finds the resource a URN names, or refuses it with the list of what is implemented.
func kindOf(urn string) (*kind, error) {
	t := string(resource.URN(urn).Type())
	if k, ok := kinds[t]; ok {
		return k, nil
	}
	return nil, status.Errorf(codes.InvalidArgument, "the tls stand-in implements only %s, not %s", strings.Join(tokens(), ", "), t)
}

// Check validates and returns the inputs as given (defaults are filled in the state, as the real one's plan does).
func (s *server) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	k, err := kindOf(req.GetUrn())
	if err != nil {
		return nil, err
	}
	news, err := plugin.UnmarshalProperties(req.GetNews(), standin.ReadOpts)
	if err != nil {
		return nil, err
	}
	var failures []*pulumirpc.CheckFailure
	for _, f := range k.validate(news) {
		failures = append(failures, &pulumirpc.CheckFailure{Property: f.property, Reason: f.reason})
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: failures}, nil
}

// Diff: a change of any input but earlyRenewalHours replaces; earlyRenewalHours alone updates in place;
// a certificate whose early-renewal time has come is replaced (readyForRenewal), as the real one plans it.
func (s *server) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	k, err := kindOf(req.GetUrn())
	if err != nil {
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
	changed := k.diffKeys(olds, news, req.GetIgnoreChanges())
	var replaces, updates []string
	for _, key := range changed {
		if k.inPlace[key] {
			updates = append(updates, key)
		} else {
			replaces = append(replaces, key)
		}
	}
	if k.cert && k.renewalDue(olds, news) {
		replaces = append(replaces, "readyForRenewal")
	}
	if len(replaces) == 0 && len(updates) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE, HasDetailedDiff: true}, nil
	}
	detailed := map[string]*pulumirpc.PropertyDiff{}
	for _, key := range updates {
		detailed[key] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE, InputDiff: true}
	}
	for _, key := range replaces {
		detailed[key] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE_REPLACE, InputDiff: key != "readyForRenewal"}
	}
	diffs := append(append([]string{}, replaces...), updates...)
	return &pulumirpc.DiffResponse{
		Changes: pulumirpc.DiffResponse_DIFF_SOME, Replaces: replaces, Diffs: diffs,
		DetailedDiff: detailed, HasDetailedDiff: true, DeleteBeforeReplace: false,
	}, nil
}

func (s *server) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	k, err := kindOf(req.GetUrn())
	if err != nil {
		return nil, err
	}
	inputs, err := plugin.UnmarshalProperties(req.GetProperties(), standin.ReadOpts)
	if err != nil {
		return nil, err
	}
	if req.GetPreview() || inputs.ContainsUnknowns() {
		props, err := plugin.MarshalProperties(k.previewState(inputs), standin.WriteOpts)
		if err != nil {
			return nil, err
		}
		return &pulumirpc.CreateResponse{Properties: props}, nil
	}
	if fs := k.validate(inputs); len(fs) > 0 {
		return nil, status.Errorf(codes.InvalidArgument, "%s: %s", fs[0].property, fs[0].reason)
	}
	id, state, err := k.create(k.withDefaults(inputs))
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%s: %v", k.token, err)
	}
	props, err := plugin.MarshalProperties(k.secretsMarked(k.withoutWriteOnly(state)), standin.WriteOpts)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

// Read returns the state (a certificate in its early-renewal window reads readyForRenewal true, as the
// real one refreshes it). Import (no state) is not implemented.
func (s *server) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	k, err := kindOf(req.GetUrn())
	if err != nil {
		return nil, err
	}
	if len(req.GetProperties().GetFields()) == 0 {
		return nil, status.Errorf(codes.Unimplemented, "the tls stand-in does not implement import of %s", k.token)
	}
	state, err := plugin.UnmarshalProperties(req.GetProperties(), standin.ReadOpts)
	if err != nil {
		return nil, err
	}
	if k.cert && k.renewalDue(state, state) {
		state["readyForRenewal"] = resource.NewBoolProperty(true)
	}
	props, err := plugin.MarshalProperties(state, standin.WriteOpts)
	if err != nil {
		return nil, err
	}
	inputs := req.GetInputs()
	if inputs == nil || len(inputs.GetFields()) == 0 {
		if inputs, err = plugin.MarshalProperties(k.inputsOf(state), standin.WriteOpts); err != nil {
			return nil, err
		}
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: props, Inputs: inputs}, nil
}

// Update is planned only for earlyRenewalHours: the state takes the new inputs (the real one's
// updatedUsingPlan), readyForRenewal is planned again from them.
func (s *server) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	k, err := kindOf(req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, err := plugin.UnmarshalProperties(req.GetOlds(), standin.ReadOpts)
	if err != nil {
		return nil, err
	}
	news, err := plugin.UnmarshalProperties(req.GetNews(), standin.ReadOpts)
	if err != nil {
		return nil, err
	}
	for _, key := range k.diffKeys(olds, news, req.GetIgnoreChanges()) {
		if !k.inPlace[key] {
			return nil, status.Errorf(codes.FailedPrecondition, "%s: %s forces replacement; the engine must replace it, not update it", k.token, key)
		}
	}
	state := resource.PropertyMap{}
	for key, v := range olds {
		state[key] = v
	}
	for key := range k.inPlace {
		pk := resource.PropertyKey(key)
		if v, ok := k.withDefaults(news)[pk]; ok {
			state[pk] = v
		}
	}
	if k.cert {
		state["readyForRenewal"] = resource.NewBoolProperty(plannedReady(state))
	}
	props, err := plugin.MarshalProperties(k.secretsMarked(state), standin.WriteOpts)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

// Delete only forgets, as the real provider does.
func (s *server) Delete(_ context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	if _, err := kindOf(req.GetUrn()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}
