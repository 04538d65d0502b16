package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/ssh"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	standin "mmc.local/standin-base"
	"mmc.local/standin-base/standintest"
)

func urnOf(token, name string) string {
	return "urn:pulumi:dev::mysql-multicluster::mysql-multicluster:tls:TlsCertificates$" + token + "::" + name
}

func client(t *testing.T) pulumirpc.ResourceProviderClient { return standintest.Client(t, newServer()) }

func props(t *testing.T, m map[string]any) *structpb.Struct { return standintest.Props(t, m) }

func unmarshal(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	return standintest.Unmarshal(t, s)
}

func create(t *testing.T, c pulumirpc.ResourceProviderClient, token string, in map[string]any) (string, resource.PropertyMap) {
	t.Helper()
	r, err := c.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urnOf(token, "x"), Properties: props(t, in)})
	if err != nil {
		t.Fatalf("create %s %v: %v", token, in, err)
	}
	return r.GetId(), unmarshal(t, r.GetProperties())
}

// str reads a string output; secret says whether it must be (true) or must not be (false) a secret.
func str(t *testing.T, m resource.PropertyMap, key string, secret bool) string {
	t.Helper()
	v, ok := m[resource.PropertyKey(key)]
	if !ok {
		t.Fatalf("no %s in %v", key, m)
	}
	if v.IsSecret() != secret {
		t.Fatalf("%s: secret %v, want %v", key, v.IsSecret(), secret)
	}
	return plain(v).StringValue()
}

func parseCert(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("not a certificate PEM: %q", s)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pki is a CA and a member certificate made through the gRPC interface as the program makes them.
type pki struct {
	caKey, caCert, memberKey, csr, memberCert resource.PropertyMap
	ids                                       map[string]string
}

var memberDNS = []string{"db-0.db.mysql.svc.cluster.local", "db-0.db", "mysql-write.mysql.svc.clusterset.local"}

func makePKI(t *testing.T, c pulumirpc.ResourceProviderClient, cn string) pki {
	t.Helper()
	p := pki{ids: map[string]string{}}
	p.ids["caKey"], p.caKey = create(t, c, privateKeyToken, map[string]any{"algorithm": "ECDSA", "ecdsaCurve": "P256"})
	caKeyPEM := str(t, p.caKey, "privateKeyPem", true)
	p.ids["caCert"], p.caCert = create(t, c, selfSignedCertToken, map[string]any{
		"privateKeyPem": resource.MakeSecret(resource.NewStringProperty(caKeyPEM)), "subject": map[string]any{"commonName": cn, "organization": "mysql-multicluster"},
		"isCaCertificate": true, "validityPeriodHours": 825 * 24, "allowedUses": []any{"cert_signing", "crl_signing", "digital_signature"},
	})
	p.ids["memberKey"], p.memberKey = create(t, c, privateKeyToken, map[string]any{"algorithm": "ECDSA", "ecdsaCurve": "P256"})
	dns := make([]any, len(memberDNS))
	for i, d := range memberDNS {
		dns[i] = d
	}
	p.ids["csr"], p.csr = create(t, c, certRequestToken, map[string]any{
		"privateKeyPem": resource.MakeSecret(resource.NewStringProperty(str(t, p.memberKey, "privateKeyPem", true))),
		"subject":       map[string]any{"commonName": "db-member"}, "dnsNames": dns, "ipAddresses": []any{"127.0.0.1", "::1"},
	})
	p.ids["memberCert"], p.memberCert = create(t, c, locallySignedCertToken, map[string]any{
		"certRequestPem": str(t, p.csr, "certRequestPem", false), "caPrivateKeyPem": resource.MakeSecret(resource.NewStringProperty(caKeyPEM)),
		"caCertPem": str(t, p.caCert, "certPem", false), "validityPeriodHours": 825 * 24,
		"allowedUses": []any{"digital_signature", "key_encipherment", "server_auth", "client_auth"},
	})
	return p
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
		Name        string
		Description string
		Types       map[string]struct{ Properties map[string]any }
		Resources   map[string]struct {
			Properties      map[string]struct{ Secret bool }
			InputProperties map[string]any
			RequiredInputs  []string
		}
		Functions map[string]any
	}
	if err := json.Unmarshal([]byte(sc.GetSchema()), &schema); err != nil {
		t.Fatal(err)
	}
	if schema.Name != "tls" || !strings.Contains(schema.Description, "STAND-IN") {
		t.Fatalf("schema name %q, description must name the stand-in: %q", schema.Name, schema.Description)
	}
	if len(schema.Functions) != 0 {
		t.Fatalf("the stand-in implements no functions, schema has %d", len(schema.Functions))
	}
	if got := make([]string, 0); true {
		for k := range schema.Resources {
			got = append(got, k)
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, tokens()) || len(got) != 4 {
			t.Fatalf("schema resources %v, code resources %v", got, tokens())
		}
	}
	// The schema and the code agree: inputs, required inputs, secret properties, outputs, subject fields.
	for token, k := range kinds {
		r := schema.Resources[token]
		var ins, req, secrets, outs []string
		for n := range r.InputProperties {
			ins = append(ins, n)
		}
		for n, p := range r.Properties {
			if p.Secret {
				secrets = append(secrets, n)
			}
			if _, in := r.InputProperties[n]; !in {
				outs = append(outs, n)
			}
		}
		for _, p := range k.props {
			if p.required {
				req = append(req, p.name)
			}
		}
		sort.Strings(ins)
		sort.Strings(secrets)
		sort.Strings(outs)
		sort.Strings(req)
		rq := append([]string{}, r.RequiredInputs...)
		sort.Strings(rq)
		if !reflect.DeepEqual(ins, k.inputNames()) {
			t.Fatalf("%s: schema inputs %v, code inputs %v", token, ins, k.inputNames())
		}
		if fmt.Sprint(rq) != fmt.Sprint(req) {
			t.Fatalf("%s: schema required %v, code required %v", token, rq, req)
		}
		if !reflect.DeepEqual(secrets, k.secrets) {
			t.Fatalf("%s: schema secrets %v, code secrets %v", token, secrets, k.secrets)
		}
		if !reflect.DeepEqual(outs, k.outputs) {
			t.Fatalf("%s: schema outputs %v, code outputs %v", token, outs, k.outputs)
		}
	}
	for _, typ := range []string{"tls:index/CertRequestSubject:CertRequestSubject", "tls:index/SelfSignedCertSubject:SelfSignedCertSubject"} {
		var names, want []string
		for n := range schema.Types[typ].Properties {
			names = append(names, n)
		}
		for _, f := range subjectFields {
			want = append(want, f.name)
		}
		sort.Strings(names)
		if !reflect.DeepEqual(names, want) {
			t.Fatalf("%s: schema fields %v, code fields %v", typ, names, want)
		}
	}
}

func TestCheckValidatesLikeTheRealProvider(t *testing.T) {
	c := client(t)
	cert := map[string]any{"privateKeyPem": "k", "validityPeriodHours": 24, "allowedUses": []any{"server_auth"}}
	with := func(base map[string]any, k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range base {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name, token string
		in          map[string]any
		property    string
		reason      string
	}{
		{"key ok", privateKeyToken, map[string]any{"algorithm": "ECDSA", "ecdsaCurve": "P256"}, "", ""},
		{"unknown algorithm", privateKeyToken, map[string]any{"algorithm": "DSA"}, "algorithm", `Attribute algorithm value must be one of: ["\"RSA\"" "\"ECDSA\"" "\"ED25519\""], got: "DSA"`},
		{"unknown curve", privateKeyToken, map[string]any{"algorithm": "ECDSA", "ecdsaCurve": "P255"}, "ecdsaCurve", `got: "P255"`},
		{"missing algorithm", privateKeyToken, map[string]any{"rsaBits": 4096}, "algorithm", `The argument "algorithm" is required`},
		{"rsaBits not an integer", privateKeyToken, map[string]any{"algorithm": "RSA", "rsaBits": "many"}, "rsaBits", "integer"},
		{"unknown argument", privateKeyToken, map[string]any{"algorithm": "RSA", "curve": "P256"}, "curve", "not expected"},
		{"cert ok", selfSignedCertToken, with(cert, "subject", map[string]any{"commonName": "ca", "streetAddresses": []any{"a", "b"}}), "", ""},
		{"unknown use", selfSignedCertToken, with(cert, "allowedUses", []any{"server_auth", "serverAuth"}), "allowedUses[1]", `Attribute allowed_uses[Value("serverAuth")] value must be one of:`},
		{"negative validity", selfSignedCertToken, with(cert, "validityPeriodHours", -1), "validityPeriodHours", "Attribute validity_period_hours value must be at least 0, got: -1"},
		{"negative early renewal", selfSignedCertToken, with(cert, "earlyRenewalHours", -5), "earlyRenewalHours", "at least 0"},
		{"path length below -1", selfSignedCertToken, with(cert, "maxPathLength", -2), "maxPathLength", "at least -1, got: -2"},
		{"missing allowed uses", selfSignedCertToken, with(cert, "allowedUses", nil), "allowedUses", `"allowed_uses" is required`},
		{"empty ip", selfSignedCertToken, with(cert, "ipAddresses", []any{""}), "ipAddresses[0]", "string length must be at least 1"},
		{"subject typo", selfSignedCertToken, with(cert, "subject", map[string]any{"commonname": "x"}), "subject.commonname", "not expected"},
		{"subject wrong type", certRequestToken, map[string]any{"privateKeyPem": "k", "subject": map[string]any{"organization": []any{"a"}}}, "subject.organization", "string"},
		{"request without key", certRequestToken, map[string]any{"dnsNames": []any{"a"}}, "privateKeyPem", "required"},
		{"locally signed without CA", locallySignedCertToken, map[string]any{"certRequestPem": "r", "caPrivateKeyPem": "k", "validityPeriodHours": 1, "allowedUses": []any{}}, "caCertPem", "required"},
		{"no key", selfSignedCertToken, with(cert, "privateKeyPem", nil), "privateKeyPem", "No attribute specified when one (and only one) of [private_key_pem,private_key_pem_wo] is required"},
		{"both keys", certRequestToken, map[string]any{"privateKeyPem": "k", "privateKeyPemWo": "k", "privateKeyPemWoVersion": 1}, "privateKeyPem", "2 attributes specified"},
		{"write-only key without version", locallySignedCertToken, map[string]any{"certRequestPem": "r", "caCertPem": "c", "caPrivateKeyPemWo": "k", "validityPeriodHours": 1, "allowedUses": []any{}}, "caPrivateKeyPemWoVersion", `Attribute "ca_private_key_pem_wo_version" must be specified when "ca_private_key_pem_wo" is specified`},
		{"write-only key ok", certRequestToken, map[string]any{"privateKeyPemWo": "k", "privateKeyPemWoVersion": 1}, "", ""},
		{"dnsNames not strings", certRequestToken, map[string]any{"privateKeyPem": "k", "dnsNames": []any{1}}, "dnsNames[0]", "string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { standintest.CheckFails(t, c, urnOf(tc.token, "x"), tc.in, tc.property, tc.reason) })
	}
	// Unknown values (preview, computed from another resource) are not validated.
	unk, _ := plugin.MarshalProperties(resource.PropertyMap{"privateKeyPem": unknown, "validityPeriodHours": resource.MakeComputed(resource.NewNumberProperty(0)),
		"allowedUses": resource.NewArrayProperty([]resource.PropertyValue{unknown})}, standin.WriteOpts)
	r, err := c.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urnOf(selfSignedCertToken, "x"), News: unk})
	if err != nil || len(r.GetFailures()) != 0 {
		t.Fatalf("unknown inputs: %v %v", r.GetFailures(), err)
	}
	if _, err := c.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urnOf("tls:index/getPublicKey:GetPublicKey", "x"), News: props(t, map[string]any{})}); err == nil {
		t.Fatal("a resource the stand-in does not implement must be refused")
	}
}

func TestPrivateKeysAsTheRealProviderEncodesThem(t *testing.T) {
	c := client(t)
	cases := []struct {
		in       map[string]any
		preamble string
		check    func(any) bool
		openssh  bool
	}{
		{map[string]any{"algorithm": "ECDSA", "ecdsaCurve": "P256"}, "EC PRIVATE KEY", func(k any) bool { e, ok := k.(*ecdsa.PrivateKey); return ok && e.Curve.Params().Name == "P-256" }, true},
		{map[string]any{"algorithm": "ECDSA"}, "EC PRIVATE KEY", func(k any) bool { e, ok := k.(*ecdsa.PrivateKey); return ok && e.Curve.Params().Name == "P-224" }, false},
		{map[string]any{"algorithm": "ED25519"}, "PRIVATE KEY", func(k any) bool { return k != nil }, true},
		{map[string]any{"algorithm": "RSA", "rsaBits": 2048}, "RSA PRIVATE KEY", func(k any) bool { return k != nil }, true},
	}
	for _, tc := range cases {
		id, out := create(t, c, privateKeyToken, tc.in)
		keyPEM := str(t, out, "privateKeyPem", true)
		if b, _ := pem.Decode([]byte(keyPEM)); b == nil || b.Type != tc.preamble {
			t.Fatalf("%v: privateKeyPem preamble %q, want %q", tc.in, keyPEM[:30], tc.preamble)
		}
		key, _, err := parsePrivateKeyPEM(keyPEM)
		if err != nil || !tc.check(key) {
			t.Fatalf("%v: key %T %v", tc.in, key, err)
		}
		pkcs8, _ := pem.Decode([]byte(str(t, out, "privateKeyPemPkcs8", true)))
		if k8, err := x509.ParsePKCS8PrivateKey(pkcs8.Bytes); err != nil || !reflect.DeepEqual(k8, key) {
			t.Fatalf("%v: PKCS#8 form is another key: %v", tc.in, err)
		}
		pub, _ := pem.Decode([]byte(str(t, out, "publicKeyPem", false)))
		pk, err := x509.ParsePKIXPublicKey(pub.Bytes)
		if err != nil || !reflect.DeepEqual(pk, key.Public()) {
			t.Fatalf("%v: publicKeyPem is not the key's: %v", tc.in, err)
		}
		if id != hashForState(string(pub.Bytes)) {
			t.Fatalf("%v: id %s is not the SHA-1 of the public key", tc.in, id)
		}
		sshPub := str(t, out, "publicKeyOpenssh", false)
		if tc.openssh {
			if _, err := ssh.ParseRawPrivateKey([]byte(str(t, out, "privateKeyOpenssh", true))); err != nil {
				t.Fatalf("%v: privateKeyOpenssh: %v", tc.in, err)
			}
			p, _, _, _, err := ssh.ParseAuthorizedKey([]byte(sshPub))
			if err != nil || ssh.FingerprintSHA256(p) != str(t, out, "publicKeyFingerprintSha256", false) || ssh.FingerprintLegacyMD5(p) != str(t, out, "publicKeyFingerprintMd5", false) {
				t.Fatalf("%v: OpenSSH public key/fingerprint: %v", tc.in, err)
			}
		} else if sshPub != "" || str(t, out, "privateKeyOpenssh", true) != "" {
			t.Fatalf("P-224 has no OpenSSH form; the real provider leaves it empty")
		}
		// Defaults in the state, as the real provider's plan fills them.
		if out["ecdsaCurve"].IsNull() || out["rsaBits"].IsNull() {
			t.Fatalf("defaults missing in state: %v", out)
		}
	}
	_, a := create(t, c, privateKeyToken, map[string]any{"algorithm": "ECDSA", "ecdsaCurve": "P256"})
	_, b := create(t, c, privateKeyToken, map[string]any{"algorithm": "ECDSA", "ecdsaCurve": "P256"})
	if str(t, a, "privateKeyPem", true) == str(t, b, "privateKeyPem", true) {
		t.Fatal("two keys are equal")
	}
}

func TestChainVerifiesForServerAndClientAuth(t *testing.T) {
	c := client(t)
	p := makePKI(t, c, "set-a CA")
	ca := parseCert(t, str(t, p.caCert, "certPem", false))
	if !ca.IsCA || !ca.BasicConstraintsValid || ca.Subject.CommonName != "set-a CA" || !reflect.DeepEqual(ca.Subject.Organization, []string{"mysql-multicluster"}) {
		t.Fatalf("CA: IsCA %v, subject %v", ca.IsCA, ca.Subject)
	}
	if ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign|x509.KeyUsageDigitalSignature || len(ca.ExtKeyUsage) != 0 || len(ca.SubjectKeyId) == 0 {
		t.Fatalf("CA key usage %v, ext %v, ski %x", ca.KeyUsage, ca.ExtKeyUsage, ca.SubjectKeyId)
	}
	if ca.CheckSignatureFrom(ca) != nil {
		t.Fatal("the CA is not self-signed")
	}
	if got := ca.NotAfter.Sub(ca.NotBefore); got != 825*24*time.Hour {
		t.Fatalf("CA validity %v", got)
	}
	if str(t, p.caCert, "keyAlgorithm", false) != "ECDSA" || p.ids["caCert"] != ca.SerialNumber.String() {
		t.Fatalf("keyAlgorithm %v, id %s, serial %s", p.caCert["keyAlgorithm"], p.ids["caCert"], ca.SerialNumber)
	}
	// The CA private key input stays secret in the state.
	str(t, p.caCert, "privateKeyPem", true)
	str(t, p.csr, "privateKeyPem", true)
	str(t, p.memberCert, "caPrivateKeyPem", true)

	member := parseCert(t, str(t, p.memberCert, "certPem", false))
	if member.IsCA || member.Subject.CommonName != "db-member" || !reflect.DeepEqual(member.DNSNames, memberDNS) {
		t.Fatalf("member: IsCA %v, subject %v, DNS %v", member.IsCA, member.Subject, member.DNSNames)
	}
	if len(member.IPAddresses) != 2 || !member.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) || !member.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Fatalf("member IP SANs %v", member.IPAddresses)
	}
	if member.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment ||
		!reflect.DeepEqual(member.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Fatalf("member usages %v %v", member.KeyUsage, member.ExtKeyUsage)
	}
	// The member certificate carries the member key's public key and the CA's signature.
	memberKey, _, _ := parsePrivateKeyPEM(str(t, p.memberKey, "privateKeyPem", true))
	if !reflect.DeepEqual(member.PublicKey, memberKey.Public()) || member.CheckSignatureFrom(ca) != nil {
		t.Fatal("the member certificate is not the member key's, signed by the CA")
	}
	if str(t, p.memberCert, "caKeyAlgorithm", false) != "ECDSA" || !reflect.DeepEqual(member.AuthorityKeyId, ca.SubjectKeyId) {
		t.Fatalf("caKeyAlgorithm %v, AKI %x vs CA SKI %x", p.memberCert["caKeyAlgorithm"], member.AuthorityKeyId, ca.SubjectKeyId)
	}
	if p.memberCert["readyForRenewal"].BoolValue() || p.caCert["readyForRenewal"].BoolValue() {
		t.Fatal("a fresh certificate is not ready for renewal")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, dns := range memberDNS {
		for _, use := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := member.Verify(x509.VerifyOptions{Roots: roots, DNSName: dns, KeyUsages: []x509.ExtKeyUsage{use}}); err != nil {
				t.Fatalf("verify %s for %v: %v", dns, use, err)
			}
		}
	}
	if _, err := member.Verify(x509.VerifyOptions{Roots: roots, DNSName: "db-0.other.svc.cluster.local"}); err == nil {
		t.Fatal("a name not in dnsNames verified")
	}
	// A certificate of another CA does not verify against this one (nor this one against the other).
	q := makePKI(t, c, "set-b CA")
	other := parseCert(t, str(t, q.memberCert, "certPem", false))
	if _, err := other.Verify(x509.VerifyOptions{Roots: roots, DNSName: memberDNS[0]}); err == nil {
		t.Fatal("a certificate from another CA verified")
	}
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(parseCert(t, str(t, q.caCert, "certPem", false)))
	if _, err := member.Verify(x509.VerifyOptions{Roots: otherRoots, DNSName: memberDNS[0]}); err == nil {
		t.Fatal("this set's member verified against the other set's CA")
	}
	// A Job certificate (client_auth only) verifies as a client, not as a server.
	_, jobKey := create(t, c, privateKeyToken, map[string]any{"algorithm": "ECDSA", "ecdsaCurve": "P256"})
	_, jobCSR := create(t, c, certRequestToken, map[string]any{"privateKeyPem": str(t, jobKey, "privateKeyPem", true), "subject": map[string]any{"commonName": "job"}})
	_, jobCert := create(t, c, locallySignedCertToken, map[string]any{
		"certRequestPem": str(t, jobCSR, "certRequestPem", false), "caPrivateKeyPem": str(t, p.caKey, "privateKeyPem", true),
		"caCertPem": str(t, p.caCert, "certPem", false), "validityPeriodHours": 24, "allowedUses": []any{"digital_signature", "client_auth"},
	})
	job := parseCert(t, str(t, jobCert, "certPem", false))
	if _, err := job.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("job cert as client: %v", err)
	}
	if _, err := job.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("a client_auth-only certificate verified for server auth")
	}
	// A CA certificate needs a subject, as in the real provider.
	if _, err := c.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urnOf(selfSignedCertToken, "x"), Properties: props(t, map[string]any{
		"privateKeyPem": str(t, p.caKey, "privateKeyPem", true), "isCaCertificate": true, "validityPeriodHours": 1, "allowedUses": []any{"cert_signing"},
	})}); err == nil || !strings.Contains(err.Error(), "at least one Distinguished Name") {
		t.Fatalf("CA without subject: %v", err)
	}
}

func diff(t *testing.T, c pulumirpc.ResourceProviderClient, token string, state resource.PropertyMap, news map[string]any) *pulumirpc.DiffResponse {
	t.Helper()
	olds, err := plugin.MarshalProperties(state, standin.WriteOpts)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Diff(context.Background(), &pulumirpc.DiffRequest{Id: "x", Urn: urnOf(token, "x"), Olds: olds, News: props(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDiffReplacesOnInputChangesAndUpdatesEarlyRenewal(t *testing.T) {
	c := client(t)
	p := makePKI(t, c, "set-a CA")
	keyPEM := str(t, p.memberKey, "privateKeyPem", true)
	base := map[string]any{"privateKeyPem": keyPEM, "subject": map[string]any{"commonName": "db-member"}, "dnsNames": []any{memberDNS[0], memberDNS[1], memberDNS[2]}, "ipAddresses": []any{"127.0.0.1", "::1"}}
	if r := diff(t, c, certRequestToken, p.csr, base); r.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("the same request: want no change, got %v", r)
	}
	changed := map[string]any{"privateKeyPem": base["privateKeyPem"], "subject": base["subject"], "ipAddresses": base["ipAddresses"], "dnsNames": []any{memberDNS[0], "db-1.db"}}
	r := diff(t, c, certRequestToken, p.csr, changed)
	if r.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || !reflect.DeepEqual(r.GetReplaces(), []string{"dnsNames"}) || r.GetDeleteBeforeReplace() ||
		r.GetDetailedDiff()["dnsNames"].GetKind() != pulumirpc.PropertyDiff_UPDATE_REPLACE {
		t.Fatalf("a change of dnsNames: want replace of [dnsNames], got %v", r)
	}
	// Every input of the key replaces; the defaults spelled out are no change.
	if r := diff(t, c, privateKeyToken, p.memberKey, map[string]any{"algorithm": "ECDSA", "ecdsaCurve": "P256", "rsaBits": 2048}); r.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("defaults spelled out: %v", r)
	}
	for k, v := range map[string]any{"algorithm": "RSA", "ecdsaCurve": "P384", "rsaBits": 4096} {
		in := map[string]any{"algorithm": "ECDSA", "ecdsaCurve": "P256", k: v}
		if r := diff(t, c, privateKeyToken, p.memberKey, in); !reflect.DeepEqual(r.GetReplaces(), []string{k}) {
			t.Fatalf("changing %s: %v", k, r)
		}
	}
	// The member certificate: a new CA, request or validity replaces; earlyRenewalHours updates in place.
	certIn := map[string]any{
		"certRequestPem": str(t, p.csr, "certRequestPem", false), "caPrivateKeyPem": str(t, p.caKey, "privateKeyPem", true),
		"caCertPem": str(t, p.caCert, "certPem", false), "validityPeriodHours": 825 * 24,
		"allowedUses": []any{"digital_signature", "key_encipherment", "server_auth", "client_auth"},
	}
	if r := diff(t, c, locallySignedCertToken, p.memberCert, certIn); r.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("the same certificate: %v", r)
	}
	for k, v := range map[string]any{"validityPeriodHours": 24, "allowedUses": []any{"server_auth"}, "caCertPem": "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n", "isCaCertificate": true, "setSubjectKeyId": true, "maxPathLength": 1} {
		in := map[string]any{}
		for kk, vv := range certIn {
			in[kk] = vv
		}
		in[k] = v
		if r := diff(t, c, locallySignedCertToken, p.memberCert, in); !reflect.DeepEqual(r.GetReplaces(), []string{k}) {
			t.Fatalf("changing %s: want replace, got %v", k, r)
		}
	}
	in := map[string]any{"earlyRenewalHours": 48}
	for kk, vv := range certIn {
		in[kk] = vv
	}
	r = diff(t, c, locallySignedCertToken, p.memberCert, in)
	if r.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || len(r.GetReplaces()) != 0 || r.GetDetailedDiff()["earlyRenewalHours"].GetKind() != pulumirpc.PropertyDiff_UPDATE {
		t.Fatalf("earlyRenewalHours: want an in-place update, got %v", r)
	}
	olds, _ := plugin.MarshalProperties(p.memberCert, standin.WriteOpts)
	u, err := c.Update(context.Background(), &pulumirpc.UpdateRequest{Id: "x", Urn: urnOf(locallySignedCertToken, "x"), Olds: olds, News: props(t, in)})
	if err != nil {
		t.Fatal(err)
	}
	us := unmarshal(t, u.GetProperties())
	if us["earlyRenewalHours"].NumberValue() != 48 || str(t, us, "certPem", false) != str(t, p.memberCert, "certPem", false) {
		t.Fatalf("update kept the certificate and took earlyRenewalHours: %v", us)
	}
	str(t, us, "caPrivateKeyPem", true)
	in["validityPeriodHours"] = 1
	if _, err := c.Update(context.Background(), &pulumirpc.UpdateRequest{Id: "x", Urn: urnOf(locallySignedCertToken, "x"), Olds: olds, News: props(t, in)}); err == nil {
		t.Fatal("Update must refuse a change that forces replacement")
	}
	// ignoreChanges is honoured; an unknown new value is a change.
	olds, _ = plugin.MarshalProperties(p.csr, standin.WriteOpts)
	r, err = c.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: urnOf(certRequestToken, "x"), Olds: olds, News: props(t, changed), IgnoreChanges: []string{"dnsNames"}})
	if err != nil || r.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("ignoreChanges: %v %v", r, err)
	}
	unk := resource.NewPropertyMapFromMap(base)
	unk["dnsNames"] = unknown
	news, _ := plugin.MarshalProperties(unk, standin.WriteOpts)
	r, err = c.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: urnOf(certRequestToken, "x"), Olds: olds, News: news})
	if err != nil || !reflect.DeepEqual(r.GetReplaces(), []string{"dnsNames"}) {
		t.Fatalf("unknown dnsNames: %v %v", r, err)
	}
}

// The write-only key (@pulumi/tls 5.6): used to sign, never kept in the state; its version's change re-issues.
func TestWriteOnlyKeyIsNeverKept(t *testing.T) {
	c := client(t)
	p := makePKI(t, c, "set-a CA")
	caKeyPEM := str(t, p.caKey, "privateKeyPem", true)
	in := map[string]any{
		"certRequestPem": str(t, p.csr, "certRequestPem", false), "caPrivateKeyPemWo": caKeyPEM, "caPrivateKeyPemWoVersion": 1,
		"caCertPem": str(t, p.caCert, "certPem", false), "validityPeriodHours": 24, "allowedUses": []any{"server_auth"},
	}
	_, st := create(t, c, locallySignedCertToken, in)
	if hasKey(st, "caPrivateKeyPemWo") || hasKey(st, "caPrivateKeyPem") || st["caPrivateKeyPemWoVersion"].NumberValue() != 1 {
		t.Fatalf("state keeps the write-only key or lacks its version: %v", st)
	}
	if parseCert(t, str(t, st, "certPem", false)).CheckSignatureFrom(parseCert(t, str(t, p.caCert, "certPem", false))) != nil {
		t.Fatal("not signed by the CA's write-only key")
	}
	if r := diff(t, c, locallySignedCertToken, st, in); r.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("same inputs (the write-only key is not compared): %v", r)
	}
	in["caPrivateKeyPemWoVersion"] = 2
	if r := diff(t, c, locallySignedCertToken, st, in); !reflect.DeepEqual(r.GetReplaces(), []string{"caPrivateKeyPemWoVersion"}) {
		t.Fatalf("a new write-only key version: want replace, got %v", r)
	}
}

func TestReadyForRenewal(t *testing.T) {
	c := client(t)
	_, key := create(t, c, privateKeyToken, map[string]any{"algorithm": "ECDSA", "ecdsaCurve": "P256"})
	in := map[string]any{"privateKeyPem": str(t, key, "privateKeyPem", true), "subject": map[string]any{"commonName": "ca"}, "isCaCertificate": true,
		"validityPeriodHours": 10, "allowedUses": []any{"cert_signing"}}
	_, st := create(t, c, selfSignedCertToken, in)
	if st["readyForRenewal"].BoolValue() {
		t.Fatal("fresh: not ready")
	}
	if r := diff(t, c, selfSignedCertToken, st, in); r.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("fresh, same inputs: %v", r)
	}
	// earlyRenewalHours reaching back past now: the real provider plans a replacement.
	in2 := map[string]any{"earlyRenewalHours": 11}
	for k, v := range in {
		in2[k] = v
	}
	if r := diff(t, c, selfSignedCertToken, st, in2); !reflect.DeepEqual(r.GetReplaces(), []string{"readyForRenewal"}) || !contains(r.GetDiffs(), "earlyRenewalHours") {
		t.Fatalf("inside the early renewal window: want replace on readyForRenewal, got %v", r)
	}
	// Time passing: after 9 h, with earlyRenewalHours 2, Read says ready and Diff replaces.
	in3 := map[string]any{"earlyRenewalHours": 2}
	for k, v := range in {
		in3[k] = v
	}
	_, st3 := create(t, c, selfSignedCertToken, in3)
	defer func(f func() time.Time) { now = f }(now)
	now = func() time.Time { return time.Now().Add(9 * time.Hour) }
	sp, _ := plugin.MarshalProperties(st3, standin.WriteOpts)
	rd, err := c.Read(context.Background(), &pulumirpc.ReadRequest{Id: "x", Urn: urnOf(selfSignedCertToken, "x"), Properties: sp})
	if err != nil || !unmarshal(t, rd.GetProperties())["readyForRenewal"].BoolValue() {
		t.Fatalf("Read after 9 h of 10 (2 early): want readyForRenewal true: %v %v", rd, err)
	}
	if r := diff(t, c, selfSignedCertToken, st3, in3); !reflect.DeepEqual(r.GetReplaces(), []string{"readyForRenewal"}) {
		t.Fatalf("after 9 h: want replace, got %v", r)
	}
	// Read keeps the secrets secret and recovers the inputs when none are given.
	str(t, unmarshal(t, rd.GetProperties()), "privateKeyPem", true)
	if ins := unmarshal(t, rd.GetInputs()); ins["validityPeriodHours"].NumberValue() != 10 || hasKey(ins, "certPem") {
		t.Fatalf("Read inputs %v", ins)
	}
	// A zero validity is ready at once, as in the real provider.
	in4 := map[string]any{}
	for k, v := range in {
		in4[k] = v
	}
	in4["validityPeriodHours"] = 0
	if _, st4 := create(t, c, selfSignedCertToken, in4); !st4["readyForRenewal"].BoolValue() {
		t.Fatal("validityPeriodHours 0: readyForRenewal must be true")
	}
}

func TestPreviewReadUpdateDelete(t *testing.T) {
	c := client(t)
	r, err := c.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urnOf(privateKeyToken, "x"), Preview: true, Properties: props(t, map[string]any{"algorithm": "ECDSA"})})
	if err != nil {
		t.Fatal(err)
	}
	pv := unmarshal(t, r.GetProperties())
	if !pv["privateKeyPem"].IsComputed() || !pv["publicKeyPem"].IsComputed() || pv["ecdsaCurve"].StringValue() != "P224" || r.GetId() != "" {
		t.Fatalf("preview: outputs unknown, defaults known: %v", pv)
	}
	unk, _ := plugin.MarshalProperties(resource.PropertyMap{"privateKeyPem": unknown, "validityPeriodHours": resource.NewNumberProperty(1), "allowedUses": resource.NewArrayProperty(nil)}, standin.WriteOpts)
	r, err = c.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urnOf(selfSignedCertToken, "x"), Preview: true, Properties: unk})
	if err != nil || !unmarshal(t, r.GetProperties())["certPem"].IsComputed() {
		t.Fatalf("preview with an unknown key: %v %v", r, err)
	}
	if _, err := c.Read(context.Background(), &pulumirpc.ReadRequest{Id: "abc", Urn: urnOf(privateKeyToken, "x")}); err == nil {
		t.Fatal("import is not implemented and must say so")
	}
	_, st := create(t, c, privateKeyToken, map[string]any{"algorithm": "ED25519"})
	sp, _ := plugin.MarshalProperties(st, standin.WriteOpts)
	rd, err := c.Read(context.Background(), &pulumirpc.ReadRequest{Id: "x", Urn: urnOf(privateKeyToken, "x"), Properties: sp})
	if err != nil || !unmarshal(t, rd.GetProperties()).DeepEquals(st) {
		t.Fatalf("Read must return the state: %v %v", rd, err)
	}
	if _, err := c.Update(context.Background(), &pulumirpc.UpdateRequest{Id: "x", Urn: urnOf(privateKeyToken, "x"), Olds: sp, News: props(t, map[string]any{"algorithm": "RSA"})}); err == nil {
		t.Fatal("Update must refuse: every input of a key forces replacement")
	}
	if _, err := c.Delete(context.Background(), &pulumirpc.DeleteRequest{Id: "x", Urn: urnOf(privateKeyToken, "x"), Properties: sp}); err != nil {
		t.Fatal(err)
	}
	cfg, err := c.Configure(context.Background(), &pulumirpc.ConfigureRequest{})
	if err != nil || !cfg.GetAcceptSecrets() || !cfg.GetSupportsPreview() {
		t.Fatalf("Configure: %v %v", cfg, err)
	}
	// A request whose key is not PEM fails at create with the field's meaning, as in the real provider.
	if _, err := c.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urnOf(certRequestToken, "x"), Properties: props(t, map[string]any{"privateKeyPem": "not a key"})}); err == nil || !strings.Contains(err.Error(), "Failed to parse private key PEM") {
		t.Fatalf("bad key: %v", err)
	}
}

func TestConfigureWarnsThroughTheEngineOnce(t *testing.T) {
	standintest.WarnsThroughTheEngineOnce(t, newServer())
}
