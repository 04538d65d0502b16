package main

// RandomPassword: inputs, defaults, validation and generation, as the real provider
// (pulumi-random v4, bridged from terraform-provider-random's random_password) behaves for them.

import (
	"crypto/rand"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"golang.org/x/crypto/bcrypt"
)

const passwordToken = "random:index/randomPassword:RandomPassword"

// The real provider's character classes and default special characters.
const (
	lowerChars     = "abcdefghijklmnopqrstuvwxyz"
	upperChars     = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	numericChars   = "0123456789"
	defaultSpecial = "!@#$%&*()-_=+[]{}<>:?"
)

// Every input; in the real provider every one of them forces replacement.
var inputKeys = []string{"keepers", "length", "lower", "minLower", "minNumeric", "minSpecial", "minUpper", "number", "numeric", "overrideSpecial", "special", "upper"}

// Outputs the real provider marks sensitive (returned as secrets).
var secretOutputs = []string{"bcryptHash", "result"}

var boolKeys = []string{"lower", "number", "numeric", "special", "upper"}
var minKeys = []string{"minUpper", "minLower", "minNumeric", "minSpecial"} // the order the real length validator names them

func isInput(k string) bool {
	for _, x := range inputKeys {
		if x == k {
			return true
		}
	}
	return false
}

// failure is one Check failure: the property and the reason, as the engine prints them.
type failure struct{ property, reason string }

// snake gives the Terraform attribute name the real provider's messages use.
func snake(k string) string {
	var b strings.Builder
	for _, r := range k {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// validate checks the inputs as the real provider does (types, length >= 1, min* >= 0,
// length >= the sum of the min* inputs, number and numeric agree). Unknown values are not checked.
func validate(news resource.PropertyMap) []failure {
	var fs []failure
	keys := make([]string, 0, len(news))
	for k := range news {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, "__") {
			continue
		}
		if !isInput(k) {
			fs = append(fs, failure{k, fmt.Sprintf("an argument named %q is not expected here", k)})
		}
	}
	val := func(k string) (resource.PropertyValue, bool) {
		v, ok := news[resource.PropertyKey(k)]
		if !ok || v.IsNull() {
			return v, false
		}
		if v.IsSecret() {
			v = v.SecretValue().Element
		}
		if v.ContainsUnknowns() {
			return v, false
		}
		return v, true
	}
	ints := map[string]int64{}
	unknownInt := map[string]bool{}
	for _, k := range append([]string{"length"}, minKeys...) {
		v, ok := val(k)
		if !ok {
			if _, present := news[resource.PropertyKey(k)]; present && !news[resource.PropertyKey(k)].IsNull() {
				unknownInt[k] = true
			}
			continue
		}
		if !v.IsNumber() || v.NumberValue() != math.Trunc(v.NumberValue()) {
			fs = append(fs, failure{k, fmt.Sprintf("%s must be an integer, got %v", k, v)})
			unknownInt[k] = true
			continue
		}
		ints[k] = int64(v.NumberValue())
	}
	if _, ok := news["length"]; !ok || news["length"].IsNull() {
		fs = append(fs, failure{"length", "Missing required argument. The argument \"length\" is required, but no definition was found."})
	}
	for _, k := range boolKeys {
		if v, ok := val(k); ok && !v.IsBool() {
			fs = append(fs, failure{k, fmt.Sprintf("%s must be a boolean, got %v", k, v)})
		}
	}
	if v, ok := val("overrideSpecial"); ok && !v.IsString() {
		fs = append(fs, failure{"overrideSpecial", fmt.Sprintf("overrideSpecial must be a string, got %v", v)})
	}
	if v, ok := val("keepers"); ok {
		if !v.IsObject() {
			fs = append(fs, failure{"keepers", fmt.Sprintf("keepers must be a map of strings, got %v", v)})
		} else {
			for kk, kv := range v.ObjectValue() {
				if kv.IsSecret() {
					kv = kv.SecretValue().Element
				}
				if !kv.IsString() && !kv.ContainsUnknowns() {
					fs = append(fs, failure{"keepers", fmt.Sprintf("keepers.%s must be a string, got %v", kk, kv)})
				}
			}
		}
	}
	for _, k := range minKeys {
		if n, ok := ints[k]; ok && n < 0 {
			fs = append(fs, failure{k, fmt.Sprintf("Attribute %s value must be at least 0, got: %d", snake(k), n)})
		}
	}
	if n, ok := ints["length"]; ok {
		if n < 1 {
			fs = append(fs, failure{"length", fmt.Sprintf("Attribute length value must be at least 1, got: %d", n)})
		}
		sum, known := int64(0), true
		for _, k := range minKeys {
			if unknownInt[k] {
				known = false
			}
			sum += ints[k]
		}
		if known && n < sum {
			names := make([]string, len(minKeys))
			for i, k := range minKeys {
				names[i] = snake(k)
			}
			fs = append(fs, failure{"length", fmt.Sprintf("Attribute length value must be at least sum of %s, got: %d", strings.Join(names, " + "), n)})
		}
	}
	if a, ok := val("number"); ok && a.IsBool() {
		if b, ok := val("numeric"); ok && b.IsBool() && a.BoolValue() != b.BoolValue() {
			fs = append(fs, failure{"numeric", "number and numeric are both configured with different values; number is deprecated, set only numeric"})
		}
	}
	return fs
}

// withDefaults returns the inputs with the real provider's defaults: lower, upper, special and
// numeric true, min* 0; number and numeric follow each other when only one is set.
func withDefaults(in resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for k, v := range in {
		if isInput(string(k)) && !v.IsNull() {
			out[k] = v
		}
	}
	for _, k := range []string{"lower", "upper", "special"} {
		if _, ok := out[resource.PropertyKey(k)]; !ok {
			out[resource.PropertyKey(k)] = resource.NewBoolProperty(true)
		}
	}
	num, hasNum := out["number"]
	numeric, hasNumeric := out["numeric"]
	switch {
	case hasNum && !hasNumeric:
		out["numeric"] = num
	case hasNumeric && !hasNum:
		out["number"] = numeric
	case !hasNum && !hasNumeric:
		out["number"] = resource.NewBoolProperty(true)
		out["numeric"] = resource.NewBoolProperty(true)
	}
	for _, k := range minKeys {
		if _, ok := out[resource.PropertyKey(k)]; !ok {
			out[resource.PropertyKey(k)] = resource.NewNumberProperty(0)
		}
	}
	return out
}

// passwordSpec is the fully defaulted, known input of one password.
type passwordSpec struct {
	length                                     int
	lower, upper, numeric, special             bool
	minLower, minUpper, minNumeric, minSpecial int
	overrideSpecial                            string
}

func plain(v resource.PropertyValue) resource.PropertyValue {
	if v.IsSecret() {
		return v.SecretValue().Element
	}
	return v
}

func specOf(full resource.PropertyMap) passwordSpec {
	i := func(k string) int { return int(plain(full[resource.PropertyKey(k)]).NumberValue()) }
	b := func(k string) bool { return plain(full[resource.PropertyKey(k)]).BoolValue() }
	s := passwordSpec{
		length: i("length"), lower: b("lower"), upper: b("upper"), numeric: b("numeric"), special: b("special"),
		minLower: i("minLower"), minUpper: i("minUpper"), minNumeric: i("minNumeric"), minSpecial: i("minSpecial"),
	}
	if v, ok := full["overrideSpecial"]; ok && plain(v).IsString() {
		s.overrideSpecial = plain(v).StringValue()
	}
	return s
}

// generate draws the password from crypto/rand as the real provider does: the min* characters of
// each class first, the rest from every enabled class, then a random permutation.
func generate(s passwordSpec) (string, error) {
	special := defaultSpecial
	if s.overrideSpecial != "" {
		special = s.overrideSpecial
	}
	all := ""
	if s.upper {
		all += upperChars
	}
	if s.lower {
		all += lowerChars
	}
	if s.numeric {
		all += numericChars
	}
	if s.special {
		all += special
	}
	out := make([]byte, 0, s.length)
	for _, m := range []struct {
		set string
		n   int
	}{{numericChars, s.minNumeric}, {lowerChars, s.minLower}, {upperChars, s.minUpper}, {special, s.minSpecial}} {
		if err := draw(&out, m.set, m.n); err != nil {
			return "", err
		}
	}
	rest := s.length - len(out)
	if rest > 0 && all == "" {
		return "", fmt.Errorf("no characters to draw from: lower, upper, numeric and special are all false")
	}
	if err := draw(&out, all, rest); err != nil {
		return "", err
	}
	for i := len(out) - 1; i > 0; i-- { // Fisher-Yates with crypto/rand
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
}

func draw(out *[]byte, set string, n int) error {
	for k := 0; k < n; k++ {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return err
		}
		*out = append(*out, set[i.Int64()])
	}
	return nil
}

// hash is the bcrypt hash of the password at the default cost (bcrypt reads at most 72 bytes).
func hash(password string) (string, error) {
	p := []byte(password)
	if len(p) > 72 {
		p = p[:72]
	}
	h, err := bcrypt.GenerateFromPassword(p, bcrypt.DefaultCost)
	return string(h), err
}
