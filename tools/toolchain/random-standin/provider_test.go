package main

import (
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	standin "mmc.local/standin-base"
	"mmc.local/standin-base/standintest"
)

const urn = "urn:pulumi:dev::mysql-multicluster::mysql-multicluster:credentials:Credentials$random:index/randomPassword:RandomPassword::creds-root"

func client(t *testing.T) pulumirpc.ResourceProviderClient { return standintest.Client(t, newServer()) }

func props(t *testing.T, m map[string]any) *structpb.Struct { return standintest.Props(t, m) }

func unmarshal(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	return standintest.Unmarshal(t, s)
}

func create(t *testing.T, c pulumirpc.ResourceProviderClient, in map[string]any) (string, resource.PropertyMap) {
	t.Helper()
	r, err := c.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urn, Properties: props(t, in)})
	if err != nil {
		t.Fatalf("create %v: %v", in, err)
	}
	return r.GetId(), unmarshal(t, r.GetProperties())
}

func TestPluginInfoAndSchema(t *testing.T) {
	c := client(t)
	info, err := c.GetPluginInfo(context.Background(), &emptypb.Empty{})
	if err != nil || info.GetVersion() != version {
		t.Fatalf("GetPluginInfo = %v, %v; want %s", info, err, version)
	}
	if !strings.Contains(banner(), "STAND-IN") {
		t.Fatalf("the startup line must name the stand-in: %s", banner())
	}
	sc, err := c.GetSchema(context.Background(), &pulumirpc.GetSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Description string
		Resources   map[string]struct {
			Properties      map[string]struct{ Secret bool }
			InputProperties map[string]any
			RequiredInputs  []string
			StateInputs     struct{ Properties map[string]any }
		}
	}
	if err := json.Unmarshal([]byte(sc.GetSchema()), &schema); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(schema.Description, "STAND-IN") {
		t.Fatalf("schema description must name the stand-in: %q", schema.Description)
	}
	if len(schema.Resources) != 1 {
		t.Fatalf("the stand-in implements exactly one resource, schema has %d", len(schema.Resources))
	}
	r, ok := schema.Resources[passwordToken]
	if !ok {
		t.Fatalf("schema lacks %s", passwordToken)
	}
	// The schema and the code agree: inputs, secret outputs, required inputs.
	var ins, secrets []string
	for k := range r.InputProperties {
		ins = append(ins, k)
	}
	for k, p := range r.Properties {
		if p.Secret {
			secrets = append(secrets, k)
		}
	}
	sort.Strings(ins)
	sort.Strings(secrets)
	if !reflect.DeepEqual(ins, inputKeys) {
		t.Fatalf("schema inputs %v, code inputs %v", ins, inputKeys)
	}
	if !reflect.DeepEqual(secrets, secretOutputs) {
		t.Fatalf("schema secrets %v, code secrets %v", secrets, secretOutputs)
	}
	if !reflect.DeepEqual(r.RequiredInputs, []string{"length"}) {
		t.Fatalf("required inputs %v", r.RequiredInputs)
	}
}

func TestCheckValidatesLikeTheRealProvider(t *testing.T) {
	c := client(t)
	cases := []struct {
		name     string
		in       map[string]any
		property string
		reason   string
	}{
		{"ok", map[string]any{"length": 32, "special": false}, "", ""},
		{"mins fit exactly", map[string]any{"length": 8, "minUpper": 2, "minLower": 2, "minNumeric": 2, "minSpecial": 2}, "", ""},
		{"missing length", map[string]any{"special": false}, "length", "required"},
		{"zero length", map[string]any{"length": 0}, "length", "Attribute length value must be at least 1, got: 0"},
		{"mins exceed length", map[string]any{"length": 3, "minUpper": 2, "minNumeric": 2}, "length", "Attribute length value must be at least sum of min_upper + min_lower + min_numeric + min_special, got: 3"},
		{"negative min", map[string]any{"length": 8, "minSpecial": -1}, "minSpecial", "Attribute min_special value must be at least 0, got: -1"},
		{"fractional length", map[string]any{"length": 8.5}, "length", "integer"},
		{"wrong type", map[string]any{"length": 8, "upper": "yes"}, "upper", "boolean"},
		{"number and numeric disagree", map[string]any{"length": 8, "number": false, "numeric": true}, "numeric", "different values"},
		{"unknown argument", map[string]any{"length": 8, "lenght": 9}, "lenght", "not expected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { standintest.CheckFails(t, c, urn, tc.in, tc.property, tc.reason) })
	}
	// An unknown length (preview, computed from another resource) is not validated.
	unk, _ := plugin.MarshalProperties(resource.PropertyMap{"length": resource.MakeComputed(resource.NewNumberProperty(0))}, standin.WriteOpts)
	r, err := c.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn, News: unk})
	if err != nil || len(r.GetFailures()) != 0 {
		t.Fatalf("unknown length: %v %v", r.GetFailures(), err)
	}
	if _, err := c.Check(context.Background(), &pulumirpc.CheckRequest{Urn: strings.Replace(urn, "randomPassword:RandomPassword", "randomString:RandomString", 1), News: props(t, map[string]any{"length": 8})}); err == nil {
		t.Fatal("a resource other than RandomPassword must be refused")
	}
}

func classes(s string, set string) int {
	n := 0
	for _, r := range s {
		if strings.ContainsRune(set, r) {
			n++
		}
	}
	return n
}

func TestCreateHonoursEveryInput(t *testing.T) {
	c := client(t)
	id, out := create(t, c, map[string]any{"length": 32, "special": false})
	if id != "none" {
		t.Fatalf("id %q, the real provider answers none", id)
	}
	for _, k := range secretOutputs {
		if !out[resource.PropertyKey(k)].IsSecret() {
			t.Fatalf("%s is not a secret output", k)
		}
	}
	pw := out["result"].SecretValue().Element.StringValue()
	if len(pw) != 32 || classes(pw, defaultSpecial) != 0 {
		t.Fatalf("length 32, special false: got %d chars, %d special", len(pw), classes(pw, defaultSpecial))
	}
	if err := bcrypt.CompareHashAndPassword([]byte(out["bcryptHash"].SecretValue().Element.StringValue()), []byte(pw)); err != nil {
		t.Fatalf("bcryptHash does not match result: %v", err)
	}
	// Defaults as the real provider's, in the state.
	want := map[string]any{"lower": true, "upper": true, "numeric": true, "number": true, "special": false, "minLower": 0.0, "minUpper": 0.0, "minNumeric": 0.0, "minSpecial": 0.0, "length": 32.0}
	for k, v := range want {
		if got := out[resource.PropertyKey(k)].V; got != v {
			t.Fatalf("state %s = %v, want %v", k, got, v)
		}
	}
	if _, ok := out["keepers"]; ok {
		t.Fatal("no keepers given, none in state")
	}
	// Two passwords differ (crypto/rand).
	_, out2 := create(t, c, map[string]any{"length": 32, "special": false})
	if out2["result"].SecretValue().Element.StringValue() == pw {
		t.Fatal("two passwords are equal")
	}

	cases := []struct {
		in    map[string]any
		check func(string) bool
	}{
		{map[string]any{"length": 40, "upper": false, "numeric": false, "special": false}, func(s string) bool { return classes(s, lowerChars) == 40 }},
		{map[string]any{"length": 40, "lower": false, "number": false, "special": false}, func(s string) bool { return classes(s, upperChars) == 40 }},
		{map[string]any{"length": 24, "overrideSpecial": "#", "minSpecial": 5, "lower": false, "upper": false, "numeric": false}, func(s string) bool { return s == strings.Repeat("#", 24) }},
		{map[string]any{"length": 12, "minUpper": 3, "minLower": 3, "minNumeric": 3, "minSpecial": 3}, func(s string) bool {
			return classes(s, upperChars) >= 3 && classes(s, lowerChars) >= 3 && classes(s, numericChars) >= 3 && classes(s, defaultSpecial) >= 3
		}},
		{map[string]any{"length": 30, "minNumeric": 30, "numeric": false}, func(s string) bool { return classes(s, numericChars) == 30 }},
		{map[string]any{"length": 100}, func(s string) bool { return len(s) == 100 }},
	}
	for _, tc := range cases {
		_, o := create(t, c, tc.in)
		s := o["result"].SecretValue().Element.StringValue()
		if len(s) != int(tc.in["length"].(int)) || !tc.check(s) {
			t.Fatalf("%v gave %q", tc.in, s)
		}
	}
	// keepers are kept in state.
	_, o := create(t, c, map[string]any{"length": 8, "keepers": map[string]any{"a": "b"}})
	if o["keepers"].ObjectValue()["a"].StringValue() != "b" {
		t.Fatalf("keepers not kept: %v", o["keepers"])
	}
	// Preview: outputs unknown, no password drawn.
	r, err := c.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urn, Preview: true, Properties: props(t, map[string]any{"length": 8})})
	if err != nil {
		t.Fatal(err)
	}
	pv := unmarshal(t, r.GetProperties())
	if !pv["result"].IsComputed() || !pv["bcryptHash"].IsComputed() {
		t.Fatalf("preview outputs must be unknown: %v", pv)
	}
}

func TestDiffReplacesOnAnyInputChange(t *testing.T) {
	c := client(t)
	base := map[string]any{"length": 32, "special": false}
	_, state := create(t, c, base)
	olds, _ := plugin.MarshalProperties(state, standin.WriteOpts)
	diff := func(news map[string]any) *pulumirpc.DiffResponse {
		r, err := c.Diff(context.Background(), &pulumirpc.DiffRequest{Id: "none", Urn: urn, Olds: olds, News: props(t, news), OldInputs: props(t, base)})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// The same program, with or without the defaults spelled out: no change.
	for _, same := range []map[string]any{base, {"length": 32, "special": false, "upper": true, "minLower": 0, "number": true}, {"length": 32, "special": false, "keepers": map[string]any{}}} {
		if r := diff(same); r.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
			t.Fatalf("%v: want no change, got %v", same, r)
		}
	}
	changes := map[string]any{
		"length": 31, "special": true, "upper": false, "lower": false, "numeric": false, "number": false,
		"minLower": 1, "minUpper": 1, "minNumeric": 1, "minSpecial": 1, "overrideSpecial": "!", "keepers": map[string]any{"k": "v"},
	}
	if len(changes) != len(inputKeys) {
		t.Fatalf("every input must be exercised: %d of %d", len(changes), len(inputKeys))
	}
	for k, v := range changes {
		news := map[string]any{"length": 32, "special": false}
		news[k] = v
		r := diff(news)
		want := []string{k}
		if k == "number" || k == "numeric" { // they follow each other
			want = []string{"number", "numeric"}
		}
		if r.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || !reflect.DeepEqual(r.GetReplaces(), want) || r.GetDeleteBeforeReplace() {
			t.Fatalf("changing %s: want replace of %v, got %v", k, want, r)
		}
		if d := r.GetDetailedDiff()[k]; d == nil || d.GetKind() != pulumirpc.PropertyDiff_UPDATE_REPLACE {
			t.Fatalf("changing %s: detailed diff %v", k, r.GetDetailedDiff())
		}
	}
	// ignoreChanges is honoured; an unknown new value is a change.
	r, err := c.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: urn, Olds: olds, News: props(t, map[string]any{"length": 30, "special": false}), IgnoreChanges: []string{"length"}})
	if err != nil || r.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("ignoreChanges: %v %v", r, err)
	}
	unk, _ := plugin.MarshalProperties(resource.PropertyMap{"length": resource.MakeComputed(resource.NewNumberProperty(0)), "special": resource.NewBoolProperty(false)}, standin.WriteOpts)
	r, err = c.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: urn, Olds: olds, News: unk})
	if err != nil || !reflect.DeepEqual(r.GetReplaces(), []string{"length"}) {
		t.Fatalf("unknown length: %v %v", r, err)
	}
}

func TestReadUpdateDelete(t *testing.T) {
	c := client(t)
	_, state := create(t, c, map[string]any{"length": 16, "special": false})
	st, _ := plugin.MarshalProperties(state, standin.WriteOpts)
	r, err := c.Read(context.Background(), &pulumirpc.ReadRequest{Id: "none", Urn: urn, Properties: st})
	if err != nil {
		t.Fatal(err)
	}
	if r.GetId() != "none" || !unmarshal(t, r.GetProperties()).DeepEquals(state) {
		t.Fatalf("Read must return the state: %v", r)
	}
	in := unmarshal(t, r.GetInputs())
	if _, ok := in["result"]; ok || in["length"].NumberValue() != 16 {
		t.Fatalf("Read inputs: %v", in)
	}
	if _, err := c.Read(context.Background(), &pulumirpc.ReadRequest{Id: "hunter2", Urn: urn}); err == nil {
		t.Fatal("import is not implemented and must say so")
	}
	if _, err := c.Update(context.Background(), &pulumirpc.UpdateRequest{Id: "none", Urn: urn, Olds: st, News: st}); err == nil {
		t.Fatal("Update must refuse: every input forces replacement")
	}
	if _, err := c.Delete(context.Background(), &pulumirpc.DeleteRequest{Id: "none", Urn: urn, Properties: st}); err != nil {
		t.Fatal(err)
	}
	cfg, err := c.Configure(context.Background(), &pulumirpc.ConfigureRequest{})
	if err != nil || !cfg.GetAcceptSecrets() || !cfg.GetSupportsPreview() {
		t.Fatalf("Configure: %v %v", cfg, err)
	}
}

func TestConfigureWarnsThroughTheEngineOnce(t *testing.T) {
	standintest.WarnsThroughTheEngineOnce(t, newServer())
}
