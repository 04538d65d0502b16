package main

// The four resources: their inputs (with the real provider's types, defaults and validators), which
// outputs are secret, which input is updated in place, and the generic Check/Diff rules over them.
// The real provider is terraform-provider-tls (plugin framework) bridged by pulumi-terraform-bridge;
// the messages are its validators' messages, naming the Terraform attribute.

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

const (
	privateKeyToken        = "tls:index/privateKey:PrivateKey"
	selfSignedCertToken    = "tls:index/selfSignedCert:SelfSignedCert"
	certRequestToken       = "tls:index/certRequest:CertRequest"
	locallySignedCertToken = "tls:index/locallySignedCert:LocallySignedCert"
)

type ptype int

const (
	tString ptype = iota
	tInt
	tBool
	tStringList
	tSubject
)

// prop is one input: its Pulumi name, the Terraform attribute name its messages use, type, validators, default.
type prop struct {
	name, tf  string
	typ       ptype
	required  bool
	oneOf     []string // string values (or list elements) allowed
	min       *int64   // integers: at least
	nonEmpty  bool     // list elements: string length at least 1
	def       *resource.PropertyValue
	keepState bool // optional+computed with UseStateForUnknown: leaving it out keeps the state's value
	writeOnly bool // never kept in the state (and so never compared by Diff)
}

// kind is one resource type.
type kind struct {
	token   string
	props   []prop
	inPlace map[string]bool // inputs a change of which updates in place (all others replace)
	secrets []string        // state properties the real provider marks sensitive (secret outputs)
	outputs []string        // computed outputs
	cert    bool            // has validity, earlyRenewalHours and readyForRenewal
	key     string          // the private key input: exactly one of it and its write-only form <key>Wo
	create  func(in resource.PropertyMap) (string, resource.PropertyMap, error)
}

var kinds = map[string]*kind{}

func tokens() []string {
	ts := make([]string, 0, len(kinds))
	for t := range kinds {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

func def(v resource.PropertyValue) *resource.PropertyValue { return &v }
func atLeast(n int64) *int64                               { return &n }

// The Terraform names of the subject's attributes (the bridge pluralises street_address).
var subjectFields = []struct {
	name, tf string
	list     bool
}{
	{"commonName", "common_name", false}, {"country", "country", false}, {"emailAddress", "email_address", false},
	{"locality", "locality", false}, {"organization", "organization", false}, {"organizationalUnit", "organizational_unit", false},
	{"postalCode", "postal_code", false}, {"province", "province", false}, {"serialNumber", "serial_number", false},
	{"streetAddresses", "street_address", true},
}

var algorithms = []string{"RSA", "ECDSA", "ED25519"}
var curves = []string{"P224", "P256", "P384", "P521"}

// allowedUsesValues: the real provider's key usages and extended key usages, sorted (its message order).
func allowedUsesValues() []string {
	var vs []string
	for k := range keyUsages {
		vs = append(vs, k)
	}
	for k := range extKeyUsages {
		vs = append(vs, k)
	}
	sort.Strings(vs)
	return vs
}

func certProps(self bool) []prop {
	ps := []prop{
		{name: "allowedUses", tf: "allowed_uses", typ: tStringList, required: true, oneOf: allowedUsesValues()},
		{name: "earlyRenewalHours", tf: "early_renewal_hours", typ: tInt, min: atLeast(0), def: def(resource.NewNumberProperty(0))},
		{name: "isCaCertificate", tf: "is_ca_certificate", typ: tBool, def: def(resource.NewBoolProperty(false))},
		{name: "maxPathLength", tf: "max_path_length", typ: tInt, min: atLeast(-1), keepState: true},
		{name: "setSubjectKeyId", tf: "set_subject_key_id", typ: tBool, def: def(resource.NewBoolProperty(false))},
		{name: "validityPeriodHours", tf: "validity_period_hours", typ: tInt, required: true, min: atLeast(0)},
	}
	if self {
		ps = append(ps,
			prop{name: "dnsNames", tf: "dns_names", typ: tStringList},
			prop{name: "ipAddresses", tf: "ip_addresses", typ: tStringList, nonEmpty: true},
			prop{name: "setAuthorityKeyId", tf: "set_authority_key_id", typ: tBool, def: def(resource.NewBoolProperty(false))},
			prop{name: "subject", tf: "subject", typ: tSubject},
			prop{name: "uris", tf: "uris", typ: tStringList, nonEmpty: true},
		)
	} else {
		ps = append(ps,
			prop{name: "caCertPem", tf: "ca_cert_pem", typ: tString, required: true},
			prop{name: "certRequestPem", tf: "cert_request_pem", typ: tString, required: true},
		)
	}
	if self {
		ps = append(ps, keyProps("privateKeyPem", "private_key_pem")...)
	} else {
		ps = append(ps, keyProps("caPrivateKeyPem", "ca_private_key_pem")...)
	}
	return sorted(ps)
}

func sorted(ps []prop) []prop {
	sort.Slice(ps, func(i, j int) bool { return ps[i].name < ps[j].name })
	return ps
}

// keyProps: a private key input, given either in the state (<name>) or write-only (<name>Wo, never kept,
// with <name>WoVersion, whose change re-issues), as @pulumi/tls 5.6 has them.
func keyProps(name, tf string) []prop {
	return []prop{
		{name: name, tf: tf, typ: tString},
		{name: name + "Wo", tf: tf + "_wo", typ: tString, writeOnly: true},
		{name: name + "WoVersion", tf: tf + "_wo_version", typ: tInt},
	}
}

func init() {
	kinds[privateKeyToken] = &kind{
		token: privateKeyToken,
		props: []prop{
			{name: "algorithm", tf: "algorithm", typ: tString, required: true, oneOf: algorithms},
			{name: "ecdsaCurve", tf: "ecdsa_curve", typ: tString, oneOf: curves, def: def(resource.NewStringProperty("P224"))},
			{name: "rsaBits", tf: "rsa_bits", typ: tInt, def: def(resource.NewNumberProperty(2048))},
		},
		secrets: []string{"privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8"},
		outputs: []string{"privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8", "publicKeyFingerprintMd5", "publicKeyFingerprintSha256", "publicKeyOpenssh", "publicKeyPem"},
		create:  createPrivateKey,
	}
	kinds[certRequestToken] = &kind{
		token: certRequestToken,
		props: sorted(append(keyProps("privateKeyPem", "private_key_pem"),
			prop{name: "dnsNames", tf: "dns_names", typ: tStringList},
			prop{name: "ipAddresses", tf: "ip_addresses", typ: tStringList, nonEmpty: true},
			prop{name: "subject", tf: "subject", typ: tSubject},
			prop{name: "uris", tf: "uris", typ: tStringList, nonEmpty: true},
		)),
		key:     "privateKeyPem",
		secrets: []string{"privateKeyPem", "privateKeyPemWo"},
		outputs: []string{"certRequestPem", "keyAlgorithm"},
		create:  createCertRequest,
	}
	kinds[selfSignedCertToken] = &kind{
		token:   selfSignedCertToken,
		props:   certProps(true),
		inPlace: map[string]bool{"earlyRenewalHours": true},
		key:     "privateKeyPem",
		secrets: []string{"privateKeyPem", "privateKeyPemWo"},
		outputs: []string{"certPem", "keyAlgorithm", "readyForRenewal", "validityEndTime", "validityStartTime"},
		cert:    true,
		create:  createSelfSignedCert,
	}
	kinds[locallySignedCertToken] = &kind{
		token:   locallySignedCertToken,
		props:   certProps(false),
		inPlace: map[string]bool{"earlyRenewalHours": true},
		key:     "caPrivateKeyPem",
		secrets: []string{"caPrivateKeyPem", "caPrivateKeyPemWo"},
		outputs: []string{"caKeyAlgorithm", "certPem", "readyForRenewal", "validityEndTime", "validityStartTime"},
		cert:    true,
		create:  createLocallySignedCert,
	}
}

func (k *kind) prop(name string) (prop, bool) {
	for _, p := range k.props {
		if p.name == name {
			return p, true
		}
	}
	return prop{}, false
}

func (k *kind) inputNames() []string {
	ns := make([]string, len(k.props))
	for i, p := range k.props {
		ns[i] = p.name
	}
	return ns
}

// failure is one Check failure: the property and the reason, as the engine prints them.
type failure struct{ property, reason string }

func plain(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

// quoted renders a validator's allowed values as the plugin framework's OneOf message does.
func quoted(vs []string) string {
	qs := make([]string, len(vs))
	for i, v := range vs {
		qs[i] = fmt.Sprintf("%q", fmt.Sprintf("%q", v))
	}
	return "[" + strings.Join(qs, " ") + "]"
}

// validate checks the inputs as the real provider does: unknown arguments, required ones, types,
// OneOf, AtLeast and string-length validators. Unknown values are not checked.
func (k *kind) validate(news resource.PropertyMap) []failure {
	var fs []failure
	keys := make([]string, 0, len(news))
	for key := range news {
		keys = append(keys, string(key))
	}
	sort.Strings(keys)
	for _, key := range keys {
		if _, ok := k.prop(key); !ok && !strings.HasPrefix(key, "__") {
			fs = append(fs, failure{key, fmt.Sprintf("an argument named %q is not expected here", key)})
		}
	}
	if k.key != "" {
		fs = append(fs, k.validateKeyChoice(news)...)
	}
	for _, p := range k.props {
		raw, present := news[resource.PropertyKey(p.name)]
		if !present || raw.IsNull() {
			if p.required {
				fs = append(fs, failure{p.name, fmt.Sprintf("Missing required argument. The argument %q is required, but no definition was found.", p.tf)})
			}
			continue
		}
		v := plain(raw)
		if v.ContainsUnknowns() && !(p.typ == tStringList || p.typ == tSubject) {
			continue
		}
		if v.IsComputed() {
			continue
		}
		switch p.typ {
		case tString:
			if !v.IsString() {
				fs = append(fs, failure{p.name, fmt.Sprintf("%s must be a string, got %v", p.name, v)})
			} else if p.oneOf != nil && !contains(p.oneOf, v.StringValue()) {
				fs = append(fs, failure{p.name, fmt.Sprintf("Attribute %s value must be one of: %s, got: %q", p.tf, quoted(p.oneOf), v.StringValue())})
			}
		case tInt:
			if !v.IsNumber() || v.NumberValue() != math.Trunc(v.NumberValue()) {
				fs = append(fs, failure{p.name, fmt.Sprintf("%s must be an integer, got %v", p.name, v)})
			} else if p.min != nil && int64(v.NumberValue()) < *p.min {
				fs = append(fs, failure{p.name, fmt.Sprintf("Attribute %s value must be at least %d, got: %d", p.tf, *p.min, int64(v.NumberValue()))})
			}
		case tBool:
			if !v.IsBool() {
				fs = append(fs, failure{p.name, fmt.Sprintf("%s must be a boolean, got %v", p.name, v)})
			}
		case tStringList:
			if !v.IsArray() {
				fs = append(fs, failure{p.name, fmt.Sprintf("%s must be a list of strings, got %v", p.name, v)})
				continue
			}
			for i, e := range v.ArrayValue() {
				e = plain(e)
				path := fmt.Sprintf("%s[%d]", p.name, i)
				switch {
				case e.ContainsUnknowns():
				case !e.IsString():
					fs = append(fs, failure{path, fmt.Sprintf("%s must be a string, got %v", path, e)})
				case p.oneOf != nil && !contains(p.oneOf, e.StringValue()):
					fs = append(fs, failure{path, fmt.Sprintf("Attribute %s[Value(%q)] value must be one of: %s, got: %q", p.tf, e.StringValue(), quoted(p.oneOf), e.StringValue())})
				case p.nonEmpty && e.StringValue() == "":
					fs = append(fs, failure{path, fmt.Sprintf("Attribute %s[Value(\"\")] string length must be at least 1, got: 0", p.tf)})
				}
			}
		case tSubject:
			if !v.IsObject() {
				fs = append(fs, failure{p.name, fmt.Sprintf("%s must be an object, got %v", p.name, v)})
				continue
			}
			fs = append(fs, validateSubject(v.ObjectValue())...)
		}
	}
	return fs
}

// validateKeyChoice: exactly one of the key and its write-only form; the write-only form and its version
// go together (the plugin framework's ExactlyOneOf and AlsoRequires messages).
func (k *kind) validateKeyChoice(news resource.PropertyMap) []failure {
	set := func(name string) bool { v, ok := news[resource.PropertyKey(name)]; return ok && !v.IsNull() }
	kp, _ := k.prop(k.key)
	wo, ver := k.key+"Wo", k.key+"WoVersion"
	both := fmt.Sprintf("[%s,%s_wo]", kp.tf, kp.tf)
	var fs []failure
	switch n := btoi(set(k.key)) + btoi(set(wo)); n {
	case 0:
		fs = append(fs, failure{k.key, "No attribute specified when one (and only one) of " + both + " is required"})
	case 2:
		fs = append(fs, failure{k.key, "2 attributes specified when one (and only one) of " + both + " is required"})
	}
	if set(wo) != set(ver) {
		have, missing := wo, ver
		if set(ver) {
			have, missing = ver, wo
		}
		hp, _ := k.prop(have)
		mp, _ := k.prop(missing)
		fs = append(fs, failure{missing, fmt.Sprintf("Attribute %q must be specified when %q is specified", mp.tf, hp.tf)})
	}
	return fs
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func validateSubject(m resource.PropertyMap) []failure {
	var fs []failure
	known := map[string]bool{}
	for _, f := range subjectFields {
		known[f.name] = true
		v, ok := m[resource.PropertyKey(f.name)]
		if !ok || v.IsNull() || plain(v).ContainsUnknowns() {
			continue
		}
		v = plain(v)
		path := "subject." + f.name
		if f.list {
			if !v.IsArray() {
				fs = append(fs, failure{path, fmt.Sprintf("%s must be a list of strings, got %v", path, v)})
				continue
			}
			for i, e := range v.ArrayValue() {
				if e = plain(e); !e.IsString() && !e.ContainsUnknowns() {
					fs = append(fs, failure{fmt.Sprintf("%s[%d]", path, i), fmt.Sprintf("%s[%d] must be a string, got %v", path, i, e)})
				}
			}
		} else if !v.IsString() {
			fs = append(fs, failure{path, fmt.Sprintf("%s must be a string, got %v", path, v)})
		}
	}
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, string(key))
	}
	sort.Strings(keys)
	for _, key := range keys {
		if !known[key] {
			fs = append(fs, failure{"subject." + key, fmt.Sprintf("an argument named %q is not expected here", key)})
		}
	}
	return fs
}

func contains(vs []string, s string) bool {
	for _, v := range vs {
		if v == s {
			return true
		}
	}
	return false
}

// withDefaults returns the inputs (nulls dropped) with the real provider's defaults filled in.
func (k *kind) withDefaults(in resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for _, p := range k.props {
		pk := resource.PropertyKey(p.name)
		if v, ok := in[pk]; ok && !v.IsNull() {
			out[pk] = v
		} else if p.def != nil {
			out[pk] = *p.def
		}
	}
	return out
}

// normal is a value as the diff compares it: secrets unwrapped, an empty list or subject equal to none,
// the subject's null fields dropped.
func normal(p prop, v resource.PropertyValue, ok bool) (resource.PropertyValue, bool) {
	if !ok || v.IsNull() {
		return resource.PropertyValue{}, false
	}
	v = plain(v)
	switch {
	case p.typ == tStringList && v.IsArray() && len(v.ArrayValue()) == 0:
		return resource.PropertyValue{}, false
	case p.typ == tSubject && v.IsObject():
		m := resource.PropertyMap{}
		for key, fv := range v.ObjectValue() {
			if !fv.IsNull() {
				m[key] = plain(fv)
			}
		}
		if len(m) == 0 {
			return resource.PropertyValue{}, false
		}
		return resource.NewObjectProperty(m), true
	}
	return v, true
}

// diffKeys lists the inputs whose defaulted values differ (an unknown new value counts as a change).
func (k *kind) diffKeys(olds, news resource.PropertyMap, ignore []string) []string {
	o, n := k.withDefaults(olds), k.withDefaults(news)
	var changed []string
	for _, p := range k.props {
		if contains(ignore, p.name) || p.writeOnly {
			continue
		}
		pk := resource.PropertyKey(p.name)
		ov, oOK := normal(p, o[pk], hasKey(o, pk))
		nv, nOK := normal(p, n[pk], hasKey(n, pk))
		if p.keepState && !nOK {
			continue // left out: the plan keeps the state's value
		}
		switch {
		case !oOK && !nOK:
		case oOK != nOK, nv.ContainsUnknowns(), !ov.DeepEquals(nv):
			changed = append(changed, p.name)
		}
	}
	return changed
}

func hasKey(m resource.PropertyMap, k resource.PropertyKey) bool { _, ok := m[k]; return ok }

func intOf(m resource.PropertyMap, key string) (int64, bool) {
	v, ok := m[resource.PropertyKey(key)]
	if !ok {
		return 0, false
	}
	v = plain(v)
	if !v.IsNumber() {
		return 0, false
	}
	return int64(v.NumberValue()), true
}

func strOf(m resource.PropertyMap, key string) (string, bool) {
	v, ok := m[resource.PropertyKey(key)]
	if !ok {
		return "", false
	}
	v = plain(v)
	if !v.IsString() {
		return "", false
	}
	return v.StringValue(), true
}

func boolOf(m resource.PropertyMap, key string) bool {
	v, ok := m[resource.PropertyKey(key)]
	return ok && plain(v).IsBool() && plain(v).BoolValue()
}

func stringsOf(m resource.PropertyMap, key string) []string {
	v, ok := m[resource.PropertyKey(key)]
	if !ok || !plain(v).IsArray() {
		return nil
	}
	var out []string
	for _, e := range plain(v).ArrayValue() {
		if e = plain(e); e.IsString() {
			out = append(out, e.StringValue())
		}
	}
	return out
}

// renewalDue: the state's validityEndTime minus the (new) earlyRenewalHours has passed, so the real
// provider plans readyForRenewal unknown and the certificate's replacement.
func (k *kind) renewalDue(state, news resource.PropertyMap) bool {
	endStr, ok := strOf(state, "validityEndTime")
	if !ok {
		return false
	}
	end, err := time.Parse(time.RFC3339, endStr)
	if err != nil {
		return false
	}
	early, ok := intOf(k.withDefaults(news), "earlyRenewalHours")
	if !ok {
		if v, present := news["earlyRenewalHours"]; present && plain(v).ContainsUnknowns() {
			return false
		}
		early, _ = intOf(state, "earlyRenewalHours")
	}
	return !end.Add(-time.Duration(early) * time.Hour).After(now())
}

// plannedReady is readyForRenewal as the real provider plans it for new inputs: true when the validity
// is 0 hours or earlyRenewalHours is at least the validity, false otherwise.
func plannedReady(in resource.PropertyMap) bool {
	validity, _ := intOf(in, "validityPeriodHours")
	early, _ := intOf(in, "earlyRenewalHours")
	return validity == 0 || early >= validity
}

var unknown = resource.MakeComputed(resource.NewStringProperty(""))

// previewState is the planned state of a new resource: the defaulted inputs, every generated output unknown.
func (k *kind) previewState(inputs resource.PropertyMap) resource.PropertyMap {
	out := k.withoutWriteOnly(k.withDefaults(inputs))
	for _, o := range k.outputs {
		out[resource.PropertyKey(o)] = unknown
	}
	if k.cert {
		_, vOK := intOf(out, "validityPeriodHours")
		_, eOK := intOf(out, "earlyRenewalHours")
		if vOK && eOK {
			out["readyForRenewal"] = resource.NewBoolProperty(plannedReady(out))
		}
	}
	return out
}

// inputsOf recovers the inputs from a state (Read without inputs).
func (k *kind) inputsOf(state resource.PropertyMap) resource.PropertyMap {
	in := resource.PropertyMap{}
	for _, p := range k.props {
		if v, ok := state[resource.PropertyKey(p.name)]; ok && !p.writeOnly {
			in[resource.PropertyKey(p.name)] = v
		}
	}
	return in
}

// withoutWriteOnly drops the write-only inputs: they never reach the state.
func (k *kind) withoutWriteOnly(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for key, v := range m {
		if p, ok := k.prop(string(key)); !ok || !p.writeOnly {
			out[key] = v
		}
	}
	return out
}

// keyPEM is the private key input: the one in the state or the write-only one.
func (k *kind) keyPEM(in resource.PropertyMap) string {
	if s, ok := strOf(in, k.key); ok {
		return s
	}
	s, _ := strOf(in, k.key+"Wo")
	return s
}

// secretsMarked wraps the properties the real provider marks sensitive as secrets.
func (k *kind) secretsMarked(state resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for key, v := range state {
		out[key] = v
	}
	for _, s := range k.secrets {
		if v, ok := out[resource.PropertyKey(s)]; ok && !v.IsSecret() && !v.IsNull() {
			out[resource.PropertyKey(s)] = resource.MakeSecret(v)
		}
	}
	return out
}
