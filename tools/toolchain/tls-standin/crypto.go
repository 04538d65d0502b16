package main

// Keys, certificate requests and certificates, made with Go's crypto/x509 the way the real provider
// (terraform-provider-tls) makes them: the same PEM encodings, ids, serial numbers, usages, subject
// key ids and validity times.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"golang.org/x/crypto/ssh"
)

var keyUsages = map[string]x509.KeyUsage{
	"digital_signature":  x509.KeyUsageDigitalSignature,
	"content_commitment": x509.KeyUsageContentCommitment,
	"key_encipherment":   x509.KeyUsageKeyEncipherment,
	"data_encipherment":  x509.KeyUsageDataEncipherment,
	"key_agreement":      x509.KeyUsageKeyAgreement,
	"cert_signing":       x509.KeyUsageCertSign,
	"crl_signing":        x509.KeyUsageCRLSign,
	"encipher_only":      x509.KeyUsageEncipherOnly,
	"decipher_only":      x509.KeyUsageDecipherOnly,
}

var extKeyUsages = map[string]x509.ExtKeyUsage{
	"any_extended":                      x509.ExtKeyUsageAny,
	"server_auth":                       x509.ExtKeyUsageServerAuth,
	"client_auth":                       x509.ExtKeyUsageClientAuth,
	"code_signing":                      x509.ExtKeyUsageCodeSigning,
	"email_protection":                  x509.ExtKeyUsageEmailProtection,
	"ipsec_end_system":                  x509.ExtKeyUsageIPSECEndSystem,
	"ipsec_tunnel":                      x509.ExtKeyUsageIPSECTunnel,
	"ipsec_user":                        x509.ExtKeyUsageIPSECUser,
	"timestamping":                      x509.ExtKeyUsageTimeStamping,
	"ocsp_signing":                      x509.ExtKeyUsageOCSPSigning,
	"microsoft_server_gated_crypto":     x509.ExtKeyUsageMicrosoftServerGatedCrypto,
	"netscape_server_gated_crypto":      x509.ExtKeyUsageNetscapeServerGatedCrypto,
	"microsoft_commercial_code_signing": x509.ExtKeyUsageMicrosoftCommercialCodeSigning,
	"microsoft_kernel_code_signing":     x509.ExtKeyUsageMicrosoftKernelCodeSigning,
}

// hashForState is the real provider's id of a key or request: hex SHA-1 of the trimmed value.
func hashForState(value string) string {
	if value == "" {
		return ""
	}
	h := sha1.Sum([]byte(strings.TrimSpace(value)))
	return hex.EncodeToString(h[:])
}

func pemString(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func createPrivateKey(in resource.PropertyMap) (string, resource.PropertyMap, error) {
	algorithm, _ := strOf(in, "algorithm")
	var key crypto.Signer
	var err error
	switch algorithm {
	case "RSA":
		bits, _ := intOf(in, "rsaBits")
		key, err = rsa.GenerateKey(rand.Reader, int(bits))
	case "ECDSA":
		curve, _ := strOf(in, "ecdsaCurve")
		c := map[string]elliptic.Curve{"P224": elliptic.P224(), "P256": elliptic.P256(), "P384": elliptic.P384(), "P521": elliptic.P521()}[curve]
		if c == nil {
			return "", nil, fmt.Errorf("invalid ECDSA curve; supported values are: %v", curves)
		}
		key, err = ecdsa.GenerateKey(c, rand.Reader)
	case "ED25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return "", nil, fmt.Errorf("Key Algorithm %q is not supported", algorithm)
	}
	if err != nil {
		return "", nil, fmt.Errorf("Unable to generate Key from configuration: %w", err)
	}
	var keyPEM string
	switch k := key.(type) {
	case *rsa.PrivateKey:
		keyPEM = pemString("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k))
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return "", nil, err
		}
		keyPEM = pemString("EC PRIVATE KEY", der)
	case ed25519.PrivateKey:
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return "", nil, err
		}
		keyPEM = pemString("PRIVATE KEY", der)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", nil, err
	}
	// OpenSSH has no P-224: the real provider leaves the OpenSSH forms empty for it.
	var keySSH, pubSSH, md5, sha256 string
	if sshPub, err := ssh.NewPublicKey(key.Public()); err == nil {
		block, err := ssh.MarshalPrivateKey(key, "")
		if err != nil {
			return "", nil, err
		}
		keySSH = string(pem.EncodeToMemory(block))
		pubSSH = string(ssh.MarshalAuthorizedKey(sshPub))
		md5, sha256 = ssh.FingerprintLegacyMD5(sshPub), ssh.FingerprintSHA256(sshPub)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return "", nil, err
	}
	state := in.Copy()
	for k, v := range map[string]string{
		"privateKeyPem": keyPEM, "privateKeyPemPkcs8": pemString("PRIVATE KEY", pkcs8), "privateKeyOpenssh": keySSH,
		"publicKeyPem": pemString("PUBLIC KEY", pubDER), "publicKeyOpenssh": pubSSH,
		"publicKeyFingerprintMd5": md5, "publicKeyFingerprintSha256": sha256,
	} {
		state[resource.PropertyKey(k)] = resource.NewStringProperty(v)
	}
	return hashForState(string(pubDER)), state, nil
}

// parsePrivateKeyPEM reads an RSA (PKCS#1), EC (SEC 1) or PKCS#8 private key and names its algorithm.
func parsePrivateKeyPEM(s string) (crypto.Signer, string, error) {
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return nil, "", fmt.Errorf("failed to decode PEM block: decoded bytes %d, undecoded %d", len(s)-len(rest), len(rest))
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, "", fmt.Errorf("unable to determine parser for PEM preamble: %s", block.Type)
	}
	if err != nil {
		return nil, "", fmt.Errorf("failed to parse private key given PEM preamble '%s': %w", block.Type, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, "RSA", nil
	case *ecdsa.PrivateKey:
		return k, "ECDSA", nil
	case ed25519.PrivateKey:
		return k, "ED25519", nil
	}
	return nil, "", fmt.Errorf("unsupported private key type: %T", key)
}

func decodePEM(s, typ string) ([]byte, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, fmt.Errorf("failed to decode PEM of expected type %q from bytes", typ)
	}
	if block.Type != typ {
		return nil, fmt.Errorf("invalid PEM type - expected %q, got %q", typ, block.Type)
	}
	return block.Bytes, nil
}

// subjectName is the distinguished name of the subject input, field by field as the real provider maps it.
func subjectName(in resource.PropertyMap) pkix.Name {
	v, ok := in["subject"]
	if !ok || !plain(v).IsObject() {
		return pkix.Name{}
	}
	m := plain(v).ObjectValue()
	one := func(key string) []string {
		if s, ok := strOf(m, key); ok {
			return []string{s}
		}
		return nil
	}
	n := pkix.Name{
		Organization: one("organization"), OrganizationalUnit: one("organizationalUnit"), StreetAddress: stringsOf(m, "streetAddresses"),
		Locality: one("locality"), Province: one("province"), Country: one("country"), PostalCode: one("postalCode"),
	}
	n.CommonName, _ = strOf(m, "commonName")
	n.SerialNumber, _ = strOf(m, "serialNumber")
	if email, ok := strOf(m, "emailAddress"); ok {
		n.ExtraNames = append(n.ExtraNames, pkix.AttributeTypeAndValue{
			Type:  asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1},
			Value: asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(email)},
		})
	}
	return n
}

func emptyName(n pkix.Name) bool {
	return n.CommonName == "" && n.SerialNumber == "" && len(n.Organization)+len(n.OrganizationalUnit)+len(n.StreetAddress)+
		len(n.Locality)+len(n.Province)+len(n.Country)+len(n.PostalCode)+len(n.ExtraNames) == 0
}

// sans parses dnsNames, ipAddresses and uris into the template's subject alternative names.
func sans(in resource.PropertyMap) (dns []string, ips []net.IP, uris []*url.URL, err error) {
	dns = stringsOf(in, "dnsNames")
	for _, s := range stringsOf(in, "ipAddresses") {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, nil, nil, fmt.Errorf("Invalid IP address: Failed to parse %q", s)
		}
		ips = append(ips, ip)
	}
	for _, s := range stringsOf(in, "uris") {
		u, err := url.Parse(s)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("Invalid URI: Failed to parse %q: %v", s, err)
		}
		uris = append(uris, u)
	}
	return dns, ips, uris, nil
}

func createCertRequest(in resource.PropertyMap) (string, resource.PropertyMap, error) {
	key, algorithm, err := parsePrivateKeyPEM(kinds[certRequestToken].keyPEM(in))
	if err != nil {
		return "", nil, fmt.Errorf("Failed to parse private key PEM: %w", err)
	}
	req := x509.CertificateRequest{Subject: subjectName(in)}
	if req.DNSNames, req.IPAddresses, req.URIs, err = sans(in); err != nil {
		return "", nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &req, key)
	if err != nil {
		return "", nil, fmt.Errorf("Error creating certificate request: %w", err)
	}
	state := in.Copy()
	state["keyAlgorithm"] = resource.NewStringProperty(algorithm)
	state["certRequestPem"] = resource.NewStringProperty(pemString("CERTIFICATE REQUEST", der))
	return hashForState(string(der)), state, nil
}

// subjectKeyID is the real provider's: SHA-1 of the public key's bytes.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	var b []byte
	var err error
	switch p := pub.(type) {
	case *rsa.PublicKey:
		b, err = asn1.Marshal(*p)
	case *ecdsa.PublicKey:
		b, err = p.Bytes()
	case ed25519.PublicKey:
		b, err = asn1.Marshal(p)
	default:
		err = fmt.Errorf("unsupported public key type %T", pub)
	}
	if err != nil {
		return nil, err
	}
	h := sha1.Sum(b)
	return h[:], nil
}

// sign fills the template from the inputs (validity, serial, usages, CA, path length, key ids),
// signs it with the parent and the signer's key, and returns the id and the state's certificate fields.
func sign(in resource.PropertyMap, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer, self bool) (string, resource.PropertyMap, error) {
	hours, _ := intOf(in, "validityPeriodHours")
	tmpl.NotBefore = now()
	tmpl.NotAfter = tmpl.NotBefore.Add(time.Duration(hours) * time.Hour)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return "", nil, err
	}
	tmpl.SerialNumber = serial
	for _, use := range stringsOf(in, "allowedUses") {
		if u, ok := keyUsages[use]; ok {
			tmpl.KeyUsage |= u
		}
		if u, ok := extKeyUsages[use]; ok {
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, u)
		}
	}
	if boolOf(in, "isCaCertificate") {
		if emptyName(tmpl.Subject) {
			return "", nil, fmt.Errorf("Invalid Certificate Subject: Must contain at least one Distinguished Name when creating Certificate Authority (CA)")
		}
		tmpl.IsCA = true
		if tmpl.SubjectKeyId, err = subjectKeyID(pub); err != nil {
			return "", nil, err
		}
	}
	if n, ok := intOf(in, "maxPathLength"); ok && n >= 0 {
		tmpl.MaxPathLen = int(n)
	}
	if boolOf(in, "setSubjectKeyId") {
		if tmpl.SubjectKeyId, err = subjectKeyID(pub); err != nil {
			return "", nil, err
		}
	}
	if self && boolOf(in, "setAuthorityKeyId") {
		if len(parent.SubjectKeyId) == 0 {
			return "", nil, fmt.Errorf("Invalid Certificate Authority: Could not determine Authority Key Identifier")
		}
		tmpl.AuthorityKeyId = parent.SubjectKeyId
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return "", nil, fmt.Errorf("Failed to create certificate: %w", err)
	}
	start, _ := tmpl.NotBefore.MarshalText()
	end, _ := tmpl.NotAfter.MarshalText()
	state := in.Copy()
	state["certPem"] = resource.NewStringProperty(pemString("CERTIFICATE", der))
	state["validityStartTime"] = resource.NewStringProperty(string(start))
	state["validityEndTime"] = resource.NewStringProperty(string(end))
	state["readyForRenewal"] = resource.NewBoolProperty(plannedReady(in))
	return serial.String(), state, nil
}

func createSelfSignedCert(in resource.PropertyMap) (string, resource.PropertyMap, error) {
	key, algorithm, err := parsePrivateKeyPEM(kinds[selfSignedCertToken].keyPEM(in))
	if err != nil {
		return "", nil, fmt.Errorf("Failed to parse private key PEM: %w", err)
	}
	tmpl := &x509.Certificate{BasicConstraintsValid: true, Subject: subjectName(in)}
	if tmpl.DNSNames, tmpl.IPAddresses, tmpl.URIs, err = sans(in); err != nil {
		return "", nil, err
	}
	id, state, err := sign(in, tmpl, tmpl, key.Public(), key, true)
	if err != nil {
		return "", nil, err
	}
	state["keyAlgorithm"] = resource.NewStringProperty(algorithm)
	return id, state, nil
}

func createLocallySignedCert(in resource.PropertyMap) (string, resource.PropertyMap, error) {
	reqPEM, _ := strOf(in, "certRequestPem")
	der, err := decodePEM(reqPEM, "CERTIFICATE REQUEST")
	if err != nil {
		return "", nil, fmt.Errorf("Failed to parse certificate request PEM: %w", err)
	}
	req, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return "", nil, fmt.Errorf("Failed to parse certificate request PEM: failed to parse certificate request: %w", err)
	}
	caKey, algorithm, err := parsePrivateKeyPEM(kinds[locallySignedCertToken].keyPEM(in))
	if err != nil {
		return "", nil, fmt.Errorf("Failed to parse CA private key PEM: %w", err)
	}
	caPEM, _ := strOf(in, "caCertPem")
	caDER, err := decodePEM(caPEM, "CERTIFICATE")
	if err != nil {
		return "", nil, fmt.Errorf("Failed to parse CA certificate PEM: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", nil, fmt.Errorf("Failed to parse CA certificate PEM: failed to parse certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject: req.Subject, DNSNames: req.DNSNames, IPAddresses: req.IPAddresses, URIs: req.URIs,
		BasicConstraintsValid: true,
	}
	id, state, err := sign(in, tmpl, ca, req.PublicKey, caKey, false)
	if err != nil {
		return "", nil, err
	}
	state["caKeyAlgorithm"] = resource.NewStringProperty(algorithm)
	return id, state, nil
}
